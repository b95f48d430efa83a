"""Run metrics → selection, statistics, the papers' tables and figures.

The output names are here (no heavy imports) so the workflow can list them cheaply.
"""

from collections.abc import Sequence

TABLES = (
    "runs",
    "selection",
    "main",
    "significance",
    "table2",
    "ablation",
    "cost",
    "paper_vs_ours",
    "tuning",
    "activity",
    "knockout",
)
TABLE_FORMATS = ("md", "csv", "tex")
LATEX_OMITTED = ("runs",)
"""Data dumps with no LaTeX (one column per metric and parameter: no paper page holds them);
their Markdown and CSV are written."""
DEFAULT_K = (10, 20)
"""The cut-offs of the main and ablation tables when a config sets no ``tables.k``: FETTLE's
main table (R@10, R@20, N@10, N@20); every caption names the cut-offs shown."""
FIGURES = ("curves", "improvement", "sensitivity", "modality_scores", "tuning")
FIGURE_FORMATS = ("png", "pdf")
PAPER_DATASETS = ("baby", "sports", "clothing", "tiktok")
"""The datasets with published numbers (``paper_vs_ours``), matched by name in any case."""
CONDITIONAL = ("ablation", "sensitivity", "knockout", "tuning", "paper_vs_ours")
"""Tables and figures written only where the study has what they show (the config's study,
a search, a dataset with published numbers): :meth:`crossrec.study.base.Planner.outputs`."""
# The one format of each output `snakemake --report` shows (the others are the same content)
REPORT_FORMATS = ("csv", "png")
# Where each output sits in `snakemake --report` (its category: the study it belongs to).
REPORT_STUDY = {
    "main": "Main study",
    "table2": "Main study",
    "selection": "Main study",
    "significance": "Main study",
    "paper_vs_ours": "Main study",
    "curves": "Main study",
    "improvement": "Main study",
    "ablation": "Ablation",
    "modality_scores": "Main study",  # drawn from the main study's runs
    "sensitivity": "Sensitivity",
    "cost": "Cost",
    "runs": "Runs",
    "tuning": "Tuning",
    "activity": "Main study",
    "knockout": "Modality knock-out",
}


def table_files(names: Sequence[str], folder: str = "results/tables") -> list[str]:
    """``<folder>/<name>.<format>`` of each table of ``names`` (no ``.tex`` for
    :data:`LATEX_OMITTED`)."""
    return [
        f"{folder}/{name}.{ext}"
        for name in names
        for ext in TABLE_FORMATS
        if not (ext == "tex" and name in LATEX_OMITTED)
    ]
