"""Cost of the alignment plug-ins on ml100k (run on demand, not in CI).

    python benchmarks/bench_align.py [--data results/data/ml100k] [--out benchmarks/results/align.json]

Measures, on LightGCN (2 layers) at batch 2048 and 1 thread:
* seconds per training step (median of ``--steps`` after one warm-up step) with the ``cross``
  preset at K = 256 and K = 10,240 prototypes, and with ``none``;
* seconds per training epoch (median of ``--epochs`` after a warm-up epoch) for ``none``,
  ``fettle``, ``cross`` (K = 256) and ``bm3``, and the overhead ratio of each over ``none``.
The data folder needs ``neighbors_k3.npy`` (the default workflow's prepare step writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from crossrec.data.formats import load_mmrec
from crossrec.train import RunSpec, TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]


def trainer(data, plugin: str, prototypes: int | None) -> Trainer:
    params = {"cla_prototypes": prototypes} if prototypes else {}
    run = RunSpec(
        dataset="ml100k",
        backbone="lightgcn",
        plugin=plugin,
        plugin_params=params,
        backbone_params={"n_layers": 2},
        train=TrainConfig(epochs=2, device="cpu"),
    )
    return Trainer(run, data, "/tmp/crossrec-bench-align", log=lambda line: None)


def step_seconds(data, plugin: str, prototypes: int | None, steps: int) -> float:
    t = trainer(data, plugin, prototypes)
    batches = list(t.sampler.epoch())
    t.step(batches[0])
    times = []
    for batch in batches[1 : steps + 1]:
        t0 = time.perf_counter()
        t.step(batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def epoch_seconds(data, plugin: str, prototypes: int | None, epochs: int) -> float:
    t = trainer(data, plugin, prototypes)
    t.train_epoch(0)
    times = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        t.train_epoch(epoch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Measure and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "results" / "data" / "ml100k"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "align.json"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mmrec(args.data)
    if 3 not in data.neighbors:
        raise SystemExit(f"{args.data}: no neighbors_k3.npy; run the workflow's prepare step")
    steps = {
        "none": step_seconds(data, "none", None, args.steps),
        "cross_K256": step_seconds(data, "cross", 256, args.steps),
        "cross_K10240": step_seconds(data, "cross", 10240, min(args.steps, 3)),
    }
    epochs = {
        name: epoch_seconds(data, name, None if name in ("none", "bm3") else 256, args.epochs)
        for name in ("none", "fettle", "cross", "bm3")
    }
    report = {
        "benchmark": "alignment plug-in cost, LightGCN-2L, ml100k, batch 2048, CPU",
        "threads": args.threads,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "seconds_per_step": {k: round(v, 4) for k, v in steps.items()},
        "seconds_per_epoch": {k: round(v, 3) for k, v in epochs.items()},
        "overhead_vs_none_per_epoch": {k: round(v / epochs["none"], 2) for k, v in epochs.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
