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


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register ``tables`` and ``figures`` on the CLI's subparsers."""
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
