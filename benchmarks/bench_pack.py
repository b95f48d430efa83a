"""Throughput of training runs packed on one device: N concurrent ``crossrec train`` processes
(run on demand, not in CI; the question it answers is for a GPU node).

    python benchmarks/bench_pack.py --device cuda --shape baby --runs 1 4 8
    python benchmarks/bench_pack.py --device cpu --shape tiktok --runs 1 2 --epochs 1   # smoke

For each N in ``--runs``, N ``crossrec train`` processes (FREEDOM + CROSS by default, seeds
1…N, ``--epochs`` epochs each, no early stop, 1 thread each) start together on one seeded
synthetic folder of the dataset's shape; the wall time until the last one finishes gives
``runs_per_hour = N / wall × 3600`` and ``epochs_per_hour``. This is what N runs sharing one GPU
achieve: N local CUDA jobs per GPU (``--resources gpu_slot``), or N SLURM jobs on one GPU's
shards (``resources.gpu_gres: shard:1``, docs/cluster.md §3); choose the N where runs/hour
stops growing. Writes ``benchmarks/results/pack_<shape>_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_align import synthetic_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def packed(folder: Path, shape: str, n: int, args: argparse.Namespace, work: Path) -> dict:
    """Train ``n`` runs side by side; their wall time and per-run training seconds."""
    procs = []
    t0 = time.perf_counter()
    for seed in range(1, n + 1):
        out = work / f"n{n}" / f"seed{seed}"
        cmd = [
            sys.executable, "-m", "crossrec", "train", "--data", str(folder),
            "--dataset", shape, "--backbone", args.backbone, "--plugin", args.plugin,
            "--seed", str(seed), "--threads", "1", "--out", str(out),
            "--train", f"epochs={args.epochs}", "--train", f"patience={args.epochs}",
            "--train", f"device={args.device}",
        ]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        sys.exit(f"N={n}: a run failed\n{next(e for e in errors if e).decode()[-2000:]}")
    train_s = [
        json.loads((work / f"n{n}" / f"seed{s}" / "metrics.json").read_text())["cost"]
        for s in range(1, n + 1)
    ]
    return {
        "runs": n,
        "wall_s": round(wall, 2),
        "runs_per_hour": round(n / wall * 3600, 2),
        "epochs_per_hour": round(n * args.epochs / wall * 3600, 1),
        "cost_per_run": train_s,
    }


def main() -> None:
    """Measure each N and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="baby", choices=("baby", "sports", "clothing", "tiktok"))
    parser.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backbone", default="freedom")
    parser.add_argument("--plugin", default="cross")
    parser.add_argument("--out")
    args = parser.parse_args()
    folder = synthetic_folder(args.shape, 0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="crossrec-bench-pack-") as work:
        for n in args.runs:
            rows.append(packed(folder, args.shape, n, args, Path(work)))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "cost_per_run"}))
    import torch

    from crossrec.device import device_name

    report = {
        "benchmark": f"crossrec runs packed on one {args.device}: {args.backbone}+{args.plugin}, "
        f"{args.shape} shape, {args.epochs} epochs per run, 1 thread per run",
        "machine": {
            "device_name": device_name(torch.device(args.device)),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "results": rows,
    }
    out = Path(
        args.out or ROOT / "benchmarks" / "results" / f"pack_{args.shape}_{args.device}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
