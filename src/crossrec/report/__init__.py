"""Run metrics → selection, statistics, the papers' tables and figures.

The output names are here (no heavy imports) so the workflow can list them cheaply.
"""

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
FIGURES = ("curves", "improvement", "sensitivity", "modality_scores", "tuning")
FIGURE_FORMATS = ("png", "pdf")
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
