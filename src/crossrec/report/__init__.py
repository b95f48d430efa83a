"""Run metrics → selection, statistics, the papers' tables and figures.

The output names are here (no heavy imports) so the workflow can list them cheaply.
"""

TABLES = ("runs", "selection", "main", "table2", "ablation", "cost", "paper_vs_ours")
TABLE_FORMATS = ("md", "csv", "tex")
FIGURES = ("curves", "improvement", "sensitivity", "modality_scores")
FIGURE_FORMATS = ("png", "pdf")
