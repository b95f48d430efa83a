"""Peak memory and wall time of ``crossrec prepare`` per dataset shape: what a SLURM prepare
job must ask for (``resources.prepare_mem_mb`` / ``prepare_runtime``; the defaults of
``crossrec.costs.prepare``).

    python benchmarks/bench_prepare.py --shapes ml100k baby sports clothing tiktok

Each shape is a seeded synthetic MMRec folder of the published dataset's size (users, items,
interactions, feature widths; ``crossrec.data.synthetic``), prepared as the workflow prepares a
dataset for the default study: every CNA neighbour list and FREEDOM kNN graph the papers' study
uses (``--neighbors-k 10 --knn-k 10``) and DualGNN's user graph, with ``--threads``. The peak
resident set size of the ``crossrec prepare`` process (``getrusage`` of the child) and its wall
time, with the input folder's size, go to ``src/crossrec/costs/prepare.json``: the table a
SLURM ``prepare`` job's limits come from (:mod:`crossrec.costs.prepare`). A real Amazon
download is prepared from the same arrays (features, interactions), so its memory is the
synthetic folder's; ml100k's own prepare also encodes its text with MiniLM (``crossrec prepare
--source ml100k``): with ``--ml100k-raw`` (a folder ``crossrec download`` wrote) its row is that
measurement instead of the synthetic shape's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(argv: list[str]) -> dict[str, float]:
    """Peak RSS (MB) and wall seconds of one ``crossrec`` child process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "crossrec", *argv], capture_output=True,
                          text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench_prepare: {' '.join(argv[:4])} failed: {proc.stderr[-500:]}")
    # ru_maxrss of the children waited for so far: the largest of them, in kB on Linux
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mb": round(peak, 1), "seconds": round(wall, 2)}


def folder_mb(path: Path) -> float:
    """Megabytes of the regular files below ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    """Prepare each shape in a fresh child process (one per shape, so each peak is its own)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["ml100k", "baby"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ml100k-raw", type=Path, help="a downloaded ml100k folder to prepare")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src" / "crossrec" / "costs" / "prepare.json"
    )
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the child: one shape, so RUSAGE_CHILDREN is its prepare alone
        shape, work = args.one[0], Path(args.one[1])
        if shape == "ml100k" and args.ml100k_raw is not None:  # the real one, MiniLM included
            row = measure(["prepare", "--dataset", "ml100k", "--source", "ml100k", "--raw",
                           str(args.ml100k_raw), "--out", str(work / "out"), "--neighbors-k",
                           "10", "--knn-k", "10", "--threads", str(args.threads)])  # fmt: skip
            row |= {"input_mb": round(folder_mb(args.ml100k_raw), 1), "note": "MiniLM text"}
            print(json.dumps(row))
            return 0
        from crossrec.data.synthetic import write_synthetic

        write_synthetic(work / "raw", shape, shape, 0)
        row = measure(["prepare", "--dataset", shape, "--source", "folder", "--raw",
                       str(work / "raw"), "--path", str(work / "raw"), "--out", str(work / "out"),
                       "--neighbors-k", "10", "--knn-k", "10", "--user-graph", "--threads",
                       str(args.threads)])  # fmt: skip
        print(json.dumps(row | {"input_mb": round(folder_mb(work / "raw"), 1)}))
        return 0
    rows = {}
    for shape in args.shapes:
        raw = [] if args.ml100k_raw is None else ["--ml100k-raw", str(args.ml100k_raw)]
        with tempfile.TemporaryDirectory() as work:
            proc = subprocess.run([sys.executable, __file__, "--one", shape, work, "--threads",
                                   str(args.threads), *raw], capture_output=True, text=True)  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-1000:])
            rows[shape] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(shape, rows[shape], flush=True)
    report = {
        "benchmark": "crossrec prepare: peak RSS and wall time per dataset shape",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d"),
        },  # fmt: skip
        "threads": args.threads,
        "shapes": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
