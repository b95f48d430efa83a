"""Each table's caption, label and rendering hints (:class:`crossrec.report.render.Layout`),
with the study's metric put into the captions that name it."""

from __future__ import annotations

from dataclasses import replace

from crossrec.report.render import Layout, long_name, short

LAYOUTS = {
    "main": Layout(
        "Test metrics at the best-validation epoch of each backbone alone and with each "
        "alignment plug-in (selected variant per group); ΔImprov. = (plug-in − none) / none.",
        "tab:crossrec-main",
        mark_numeric=True,
        skip="model",
        skip_prefixes=("ΔImprov",),
        stack_std=True,
        size="footnotesize",  # the default study's 492 pt in \small: little room for † marks
    ),
    "table2": Layout(
        "FETTLE's Table 2 layout: every backbone alone and with BM3, FETTLE and CROSS, with the "
        "average relative change per backbone family.",
        "tab:crossrec-table2",
        mark_numeric=True,
        skip="backbone",
        skip_prefixes=("avg Δ",),
    ),
    "ablation": Layout(
        "CROSS ablations: each preset drops one component; Δ against the full cross preset.",
        "tab:crossrec-ablation",
        mark_numeric=True,
    ),
    "cost": Layout(
        "Cost per run group: seconds per epoch, epochs to the best validation epoch, epochs "
        "run and peak memory.",
        "tab:crossrec-cost",
    ),
    "selection": Layout(
        "The variant selected per group on mean validation {Metric} over seeds, and the "
        "paired test against the backbone alone (raw and corrected p).",
        "tab:crossrec-selection",
    ),
    "activity": Layout(
        "The main comparison by user activity: test {M} of each plug-in and its backbone "
        "alone per quartile of the test users' train interactions, with a paired test.",
        "tab:crossrec-activity",
    ),
    "knockout": Layout(
        "Modality knock-out: each backbone alone and with each plug-in at its main-study point, "
        "trained on all modalities and on each kept subset; Δ against all modalities and "
        "ΔImprov. over the backbone alone on the same modalities.",
        "tab:crossrec-knockout",
    ),
    "tuning": Layout(
        "Every candidate of the search behind each selected point: its grid point, validation "
        "score (a staged study's stage seed; a flat study's mean over seeds), epochs trained, "
        "the successive-halving rung that stopped it, its rank; ★ the winner.",
        "tab:crossrec-tuning",
        group="stage",
    ),
    "paper_vs_ours": Layout(
        "Published numbers (FETTLE Table 2, CROSS README) beside this study's: test metric at "
        "the best-validation epoch, mean ± std over seeds; Δ = ours − published.",
        "tab:crossrec-paper-vs-ours",
    ),
    "runs": Layout("Every run of the study with its test metrics.", "tab:crossrec-runs"),
    "significance": Layout(
        "Each plug-in against its backbone alone over the test users (test {Metric}): paired "
        "t-test and Wilcoxon signed-rank test, per seed and on the per-user metric averaged "
        "over the seeds (seed mean); statistic (t, or W), n users, raw and corrected p, and the "
        "paired effect size d_z = mean / SD of the per-user differences with its exact 95 % "
        "interval (noncentral t).",
        "tab:crossrec-significance",
    ),
}
"""Each table's caption and label; ``{Metric}`` / ``{M}`` in a caption stand for the study's
metric (:func:`crossrec.report.analysis.study_metric`), long (``Recall@20``) and short
(``R@20``)."""


def layout_of(name: str, metric: str = "recall@20") -> Layout:
    """Table ``name``'s :data:`LAYOUTS` entry with the study's ``metric`` in its caption (a
    table without one: its name as caption, ``tab:<name>`` as label)."""
    layout = LAYOUTS.get(name, Layout(caption=name, label=f"tab:{name}"))
    caption = layout.caption.replace("{Metric}", long_name(metric)).replace("{M}", short(metric))
    return replace(layout, caption=caption)
