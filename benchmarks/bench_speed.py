"""Training and evaluation speed of every backbone on ml100k (run on demand, not in CI).

    python benchmarks/bench_speed.py [--data results/data/ml100k] [--out benchmarks/results/speed.json]
    python benchmarks/bench_speed.py --only grcn slmrec   # re-measure some rows, keep the others

For each backbone × thread count, a fresh subprocess (so peak RSS is per configuration) builds
the run exactly as ``crossrec train`` does, trains ``--epochs`` epochs at batch 2048 after one
warm-up epoch, and times full valid+test evaluations (MMRec protocol: all items ranked, top-50,
16 metrics). Reports the median seconds per epoch and per valid+test evaluation, the test
Recall@20 after the timed epochs (so speed is never bought with different numbers), and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "bpr": {"reg_weight": 1e-4},
    "lightgcn-2L": {"n_layers": 2, "reg_weight": 1e-4},
    "vbpr": {"reg_weight": 1e-4},
    "freedom": {"dropout": 0.8, "reg_weight": 0.0, "mm_weights": {"genre": 0.1, "text": 0.9}},
    # NCL after its warm-up, so the per-epoch k-means (E-step) and the prototype term are timed
    "ncl": {"num_clusters": 100, "warm_up": 0},
    "lattice": {"reg_weight": 0.0},
    "sgl": {},
    "directau": {},
    "dualgnn": {"reg_weight": 1e-4},
    "grcn": {"reg_weight": 1e-4, "routing": "mmrec"},  # paper.yaml's; paper routing ~2x slower
    "slmrec": {},
}


def measure(data_dir: str, name: str, threads: int, epochs: int, evals: int) -> dict:
    """One configuration, in this process."""
    import torch

    from crossrec.data.formats import load_mmrec
    from crossrec.kernels.heap import retain_freed_memory
    from crossrec.run import RunSpec, TrainConfig
    from crossrec.train import Trainer

    torch.set_num_threads(threads)
    retain_freed_memory()  # as `crossrec train` does
    backbone = name.split("-")[0]
    data = load_mmrec(data_dir)
    if backbone == "dualgnn" and data.user_graph is None:  # folder prepared without --user-graph
        import dataclasses

        from crossrec.data.user_graph import user_cooccurrence

        graph = user_cooccurrence(data.train.users, data.train.items, data.n_users, data.n_items)
        data = dataclasses.replace(data, user_graph=graph)
    run = RunSpec(
        dataset="ml100k",
        backbone=backbone,
        backbone_params=CONFIGS[name],
        seed=999,
        train=TrainConfig(epochs=epochs + 1, device="cpu"),
    )
    trainer = Trainer(run, data, "/tmp/crossrec-bench", log=lambda line: None)
    trainer.train_epoch(0)  # warm-up
    epoch_s = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        trainer.train_epoch(epoch)
        epoch_s.append(time.perf_counter() - t0)
    eval_s = []
    for _ in range(evals):
        t0 = time.perf_counter()
        trainer.evaluate("valid")
        test, _ = trainer.evaluate("test")
        eval_s.append(time.perf_counter() - t0)
    return {
        "backbone": name,
        "threads": threads,
        "epochs_timed": epochs,
        "seconds_per_epoch": round(statistics.median(epoch_s), 4),
        "seconds_per_valid_test_eval": round(statistics.median(eval_s), 4),
        "test_recall@20_after": test["recall@20"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    """Run every configuration in a subprocess and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "results" / "data" / "ml100k"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speed.json"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--evals", type=int, default=10)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(CONFIGS),
        help="measure these configurations and replace their rows in an existing --out report",
    )
    parser.add_argument("--one", nargs=2, metavar=("BACKBONE", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = measure(args.data, args.one[0], int(args.one[1]), args.epochs, args.evals)
        print(json.dumps(result))
        return
    if not Path(args.data).is_dir():
        sys.exit(
            f"{args.data}: not found; prepare it first: snakemake --cores all results/data/ml100k"
        )
    import torch

    default_threads = torch.get_num_threads()
    rows = []
    for name in args.only or CONFIGS:
        for threads in sorted({1, default_threads}):
            cmd = [
                sys.executable,
                __file__,
                "--data",
                args.data,
                "--epochs",
                str(args.epochs),
                "--evals",
                str(args.evals),
                "--one",
                name,
                str(threads),
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]))
    if args.only and Path(args.out).is_file():
        previous = json.loads(Path(args.out).read_text())["results"]
        kept = [r for r in previous if r["backbone"] not in args.only]
        order = list(CONFIGS)
        rows = sorted(kept + rows, key=lambda r: (order.index(r["backbone"]), r["threads"]))
    report = {
        "benchmark": "crossrec train/eval speed, ml100k, batch 2048, CPU",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
