"""The data verbs: ``download`` (a dataset's raw files), ``prepare`` (an MMRec-format folder),
``subset`` (a prepared folder with some modalities only, for a modality knock-out) and ``synth``
(a seeded synthetic folder with a real dataset's shape)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from crossrec.cli.args import dataset_name, k_int, parse_assignments, seed_int, thread_count


def _source(args: argparse.Namespace) -> tuple[Any, Any]:
    """The ``--source`` and its typed options from the flags given (``--path``, ``--cookies``,
    ``--split-seed``, ``--allow-variant``, ``--option KEY=VALUE``; crossrec.data.sources)."""
    from crossrec.data.sources import source_params

    options = parse_assignments(args.option, "--option")
    for key in ("path", "cookies", "split_seed"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.allow_variant:
        options["allow_variant"] = True
    return source_params(args.source, options, f"--source {args.source}")


def cmd_download(args: argparse.Namespace) -> None:
    """Fetch a dataset's raw files into ``--out``."""
    source, params = _source(args)
    source.download(args.dataset, args.out, params)
    print(f"{args.dataset}: raw files in {args.out}", file=sys.stderr)


def cmd_prepare(args: argparse.Namespace) -> None:
    """Turn the raw files into an MMRec-format folder and print its counts."""
    from crossrec.data.needs import DataNeeds
    from crossrec.data.prepare import describe

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    source, params = _source(args)
    needs = DataNeeds(
        frozenset(args.neighbors_k or ()), frozenset(args.knn_k or ()), args.user_graph
    )
    print(describe(source.prepare(args.raw, args.out, args.dataset, params, needs)))


def cmd_subset(args: argparse.Namespace) -> None:
    """Write a prepared folder restricted to the ``--keep`` modalities (crossrec.data.subset)."""
    from crossrec.data.prepare import describe
    from crossrec.data.subset import write_subset

    print(describe(write_subset(args.data, args.out, args.keep, args.modalities)))


def cmd_synth(args: argparse.Namespace) -> None:
    """Write a seeded synthetic MMRec folder with a real dataset's shape."""
    from crossrec.data.synthetic import write_synthetic

    summary = write_synthetic(
        args.out, args.dataset or args.shape, args.shape, args.seed, args.scale
    )
    print(
        f"{args.out}: synthetic {args.shape} (scale {args.scale}, seed {args.seed}): "
        f"{summary['users']:,} users, {summary['items']:,} items, "
        f"{summary['interactions']:,} interactions; features "
        + ", ".join(f"{m} {w[1]}-d" for m, w in summary["features"].items())
    )


def add_parsers(sub: Any) -> None:  # noqa: ANN401
    """Register ``download``, ``prepare``, ``subset`` and ``synth`` on the CLI's subparsers."""
    for name, func, what, description in (
        ("download", cmd_download, "fetch a dataset's raw files",
         "Fetch the raw files of --source into --out (a folder crossrec creates; a source "
         "folder is checked and linked, nothing is copied). Offline, it ends with one line "
         "naming what it could not reach."),
        ("prepare", cmd_prepare, "raw files -> MMRec-format folder",
         "Turn the raw files of --raw into an MMRec-format folder --out: interactions with the "
         "per-user split, modality features, and the graphs and neighbour files the planned "
         "models need (--user-graph, --neighbors-k, --knn-k)."),
    ):  # fmt: skip
        p = sub.add_parser(name, help=what, description=description)
        p.add_argument(
            "--dataset", required=True, type=dataset_name,
            help="the dataset's name (the config's datasets key; names the .inter file)",
        )  # fmt: skip
        p.add_argument(
            "--source",
            required=True,
            help="ml100k, amazon, tiktok, folder, or one an installed package registers "
            "(crossrec list)",
        )
        if name == "prepare":
            p.add_argument("--raw", type=Path, required=True, help="the downloaded raw files")
        p.add_argument(
            "--out", type=Path, required=True,
            help="the folder to write (created; a folder crossrec did not create is refused)",
        )  # fmt: skip
        p.add_argument("--path", help="the MMRec-format folder (source folder)")
        p.add_argument(
            "--cookies",
            help="Netscape cookie file for Google Drive (source amazon), see docs/datasets.md",
        )
        p.add_argument(
            "--split-seed", type=seed_int, help="seed of the per-user split (source ml100k)"
        )
        p.add_argument(
            "--allow-variant",
            action="store_true",
            help="accept data whose statistics differ from the published ones",
        )
        p.add_argument(
            "--option",
            action="append",
            metavar="KEY=VALUE",
            help="any option of the source (repeatable; the workflow passes the dataset's "
            "config entry this way)",
        )
        p.set_defaults(func=func)
    p = sub.choices["prepare"]  # what the planned models need (the workflow derives it)
    p.add_argument(
        "--user-graph", action="store_true", help="write DualGNN's user co-occurrence graph"
    )
    p.add_argument(
        "--neighbors-k",
        type=k_int,
        nargs="*",
        metavar="K",
        help="write neighbors_k{K}.npy (CNA item neighbours) for each K",
    )
    p.add_argument(
        "--knn-k",
        type=k_int,
        nargs="*",
        metavar="K",
        help="write feature-kNN item graphs knn_<modality>_k<K>_<hash>.npy (FREEDOM) for each K",
    )
    p.add_argument(
        "--threads",
        type=thread_count,
        default=0,
        help="torch threads (0: torch default, every core): the CPUs a cluster job was given",
    )

    p = sub.add_parser(
        "subset",
        help="a prepared folder with some of its modalities only (a modality knock-out's data)",
        description="Write --out: the prepared folder --data without the modalities --keep "
        "leaves out (their features and kNN graphs); interactions, split and neighbour files "
        "are carried over unchanged.",
    )
    p.add_argument("--data", type=Path, required=True, help="a folder `crossrec prepare` wrote")
    p.add_argument("--keep", nargs="+", required=True, metavar="MODALITY", help="kept modalities")
    p.add_argument(
        "--modalities",
        nargs="+",
        required=True,
        metavar="MODALITY",
        help="every modality --data must hold (the config's knockout.modalities)",
    )
    p.add_argument("--out", type=Path, required=True, help="the derived folder to write")
    p.set_defaults(func=cmd_subset)

    p = sub.add_parser(
        "synth",
        help="a seeded synthetic MMRec folder with a real dataset's shape (benchmarks)",
        description="Write a synthetic MMRec-format folder whose users, items, interactions and "
        "feature widths follow a real dataset's (--shape, scaled by --scale), for benchmarks "
        "and tests: the same --seed gives the same bytes.",
    )
    p.add_argument(
        "--shape",
        required=True,
        help="a real dataset's shape: baby, sports, clothing, tiktok or ml100k (crossrec.data."
        "synthetic.SHAPES)",
    )
    p.add_argument("--out", type=Path, required=True, help="the folder to write")
    p.add_argument("--dataset", type=dataset_name, help="name of the .inter file (default: shape)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the data (default 0)")
    p.add_argument(
        "--scale", type=float, default=1.0, help="users and items x scale, interactions x scale^2"
    )
    p.set_defaults(func=cmd_synth)
