"""The report verbs: ``tables`` and ``figures`` of a study's runs."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any


def cmd_tables(args: argparse.Namespace) -> None:
    """Write the study's tables (those plan.json lists) as .md, .csv and .tex from its runs'
    metrics and per-user results: selection, main comparison, significance, costs, …"""
    from crossrec.extras import require
    from crossrec.models import BACKBONES
    from crossrec.outputs import check_replaceable, claim_dir, only_names
    from crossrec.report import DEFAULT_K, TABLE_FORMATS, TABLES, table_files
    from crossrec.report.analysis import load_analysis
    from crossrec.report.latex import Form
    from crossrec.report.tables import build_tables

    for module in ("jinja2", "tabulate", "matplotlib"):  # Styler, to_markdown, font metrics
        require(module, "crossrec tables")
    plan, analysis = load_analysis(args.plan, args.runs, args.selections, args.data)
    own = only_names(f"{n}.{e}" for n in TABLES for e in TABLE_FORMATS)
    check_replaceable(args.out, own)  # refused before any work; claimed after it
    families = {
        name: "multi-modal" if BACKBONES[name].uses_modalities else "CF"
        for name in analysis.runs["backbone"].unique()
    }
    plugins = list(dict.fromkeys(r["plugin"] for r in plan["runs"] if r["study"] == "main"))
    ks = plan["tables"].get("k", list(DEFAULT_K))
    claim = functools.partial(claim_dir, kind="tables", unmarked=own)
    shown = (plan.get("outputs") or {}).get("tables", list(TABLES))
    form = Form.of(plan["tables"])
    build_tables(analysis, ks, plugins, families, args.out, claim=claim, names=shown, form=form)
    print(f"{len(analysis.runs)} runs -> {len(table_files(shown, args.out))} files in "
          f"{args.out} ({', '.join(shown)})", file=sys.stderr)  # fmt: skip


def cmd_figures(args: argparse.Namespace) -> None:
    """Draw the study's figures (those plan.json lists) as .png and .pdf from its runs'
    histories and metrics, in the config's figures style."""
    from crossrec.extras import require
    from crossrec.outputs import check_replaceable, claim_dir, only_names
    from crossrec.report import FIGURE_FORMATS, FIGURES

    matplotlib = require("matplotlib", "crossrec figures")
    from crossrec.report.analysis import load_analysis

    matplotlib.use("Agg")  # files only, whatever display the machine has
    from crossrec.report.figstyle import FigureForm
    from crossrec.report.figures import build_figures

    plan, analysis = load_analysis(args.plan, args.runs, args.selections)
    own = only_names(f"{n}.{e}" for n in FIGURES for e in FIGURE_FORMATS)
    check_replaceable(args.out, own)  # refused before any work; claimed after it
    shown = (plan.get("outputs") or {}).get("figures", list(FIGURES))
    claim = functools.partial(claim_dir, kind="figures", unmarked=own)
    form = FigureForm.of(plan.get("figures") or {}, plan.get("tables"))
    build_figures(analysis, args.out, claim=claim, names=shown, form=form)
    n, names = len(analysis.runs), ",".join(shown)
    print(f"{n} runs -> {args.out}/{{{names}}}.{{png,pdf}}", file=sys.stderr)


def cmd_compare(args: argparse.Namespace) -> None:
    """Compare hand-trained runs (no plan needed): the first RUN_DIR is the baseline; print
    every run's test metrics, and for each other run the paired t and Wilcoxon tests over the
    test users against the baseline, corrected across the comparisons, with the paired effect
    size d_z and its 95 % interval."""
    import pandas as pd

    from crossrec.extras import require
    from crossrec.report.compare import compare
    from crossrec.report.render import Layout, to_markdown
    from crossrec.report.significance import interval_text
    from crossrec.report.stats import CORRECTIONS, check_correction

    require("tabulate", "crossrec compare")  # DataFrame.to_markdown
    check_correction(args.correction, Path("--correction"))
    runs, tests = compare(args.runs, args.metric, args.correction)
    metrics = sorted(
        (c for c in runs.columns if c.startswith(("test_recall@", "test_ndcg@"))),
        key=lambda c: (not c.startswith("test_recall"), int(c.split("@")[1])),
    )
    shown = runs[["run", "backbone", "plugin", "variant", "seed", "best_epoch", *metrics]]
    shown = shown.astype(object).map(lambda v: f"{v:.4f}" if isinstance(v, float) else str(v))
    print(to_markdown(shown.rename(columns={"plugin": "plug-in"}), Layout("runs", "runs")))
    table = pd.DataFrame(
        {
            "run": tests["run"],
            "test": tests["test"],
            "n": tests["n"].astype(str),
            f"Δ {args.metric}": tests["mean_diff"].map("{:+.4f}".format),
            "statistic": tests["statistic"].map(lambda v: "–" if v != v else f"{v:.4g}"),
            "p": tests["p"].map("{:.3g}".format),
            "p (adj.)": tests["p_adj"].map("{:.3g}".format),
            "d_z [95% CI]": [interval_text(d, lo, hi, "{:+.3f}") for d, lo, hi in
                             tests[["dz", "dz_low", "dz_high"]].itertuples(index=False)],
        }
    )  # fmt: skip
    note = (
        f"Each run against the baseline {args.runs[0]} over its test users ({args.metric}); "
        f"p adjusted with {CORRECTIONS[args.correction]} across the comparisons of each test."
    )
    print(to_markdown(table, Layout("tests", "tests"), note))


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register ``tables``, ``figures`` and ``compare`` on the CLI's subparsers."""
    p = sub.add_parser(
        "compare",
        help="hand-trained runs side by side, with paired per-user tests against the first",
        description=cmd_compare.__doc__,
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="run folders `crossrec train --out` wrote; the first is the baseline")  # fmt: skip
    p.add_argument("--metric", default="recall@20",
                   help="the per-user metric the tests compare (default recall@20)")  # fmt: skip
    p.add_argument("--correction", default="bh",
                   help="bh (default), holm, bonferroni or none: across the comparisons")  # fmt: skip
    p.set_defaults(func=cmd_compare)
    for name, func, what in (
        ("tables", cmd_tables, "the study's tables (.md, .csv, .tex)"),
        ("figures", cmd_figures, "the study's figures (.png, .pdf)"),
    ):
        p = sub.add_parser(name, help=what, description=func.__doc__)
        p.add_argument("--plan", type=Path, required=True, help="plan.json from `crossrec plan`")
        p.add_argument("--runs", type=Path, required=True, help="root of the run folders")
        p.add_argument(
            "--selections",
            type=Path,
            help="a staged study's selection files (results/selections): the searches' candidates",
        )
        if name == "tables":
            p.add_argument(
                "--data",
                type=Path,
                help="the prepared datasets' folder (results/data): the split behind the "
                "user-activity breakdown",
            )
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.set_defaults(func=func)
