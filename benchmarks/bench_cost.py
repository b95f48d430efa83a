"""The measured cost table behind ``crossrec estimate`` and the train jobs' resources
(run on demand, not in CI).

    python benchmarks/bench_cost.py --shape baby tiktok sports clothing --device cpu
    python benchmarks/bench_cost.py --shape baby --device cuda        # on a GPU node

For each dataset shape (a seeded synthetic MMRec folder with the real dataset's users, items,
interactions and feature widths: ``crossrec synth``) × every backbone of ``config/paper.yaml`` at
its parameters there × plug-in ``none``, ``bm3``, ``fettle``, ``cross`` (the papers' K = 10,240
prototypes), a fresh subprocess builds the run exactly as ``crossrec train`` does and measures:

* ``build_s`` — loading the folder and building the trainer;
* ``epoch_hooks_s`` — the per-epoch hooks (NCL's k-means E-step, FREEDOM's edge pruning,
  SGL's views, …) timed once, at epoch 100 (past NCL's warm-up);
* ``step_s`` — median seconds of one optimiser step over ``--steps`` batches after one warm-up
  step (CUDA synchronised around each), and ``steps_per_epoch`` (batches of 2048);
* ``eval_s`` — one valid + test evaluation (all items ranked, MMRec protocol);
* ``peak_mb`` — peak resident memory (CPU) or peak allocated CUDA memory of the process.

``epoch_s = epoch_hooks_s + steps_per_epoch × step_s``. The table is written to
``src/crossrec/costs/<device>.json`` (``--out``), where :mod:`crossrec.costs` reads it: measured
rows for a new device (a GPU) are added by running this script there; ``--merge`` keeps the rows
already in the file that this call does not measure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_align import _sync, step_seconds, synthetic_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("none", "bm3", "fettle", "cross")
LATE_EPOCH = 100


def paper_backbones() -> dict[str, dict]:
    """Backbone → one point of its config/paper.yaml parameters: a grid (a list) at its last
    value — paper.yaml lists layers and clusters in increasing order, so the row is the grid's
    most expensive point, an upper bound for the estimate —, the per-backbone ``train`` key
    (trainer settings, not parameters) left out."""
    backbones = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["backbones"]
    return {
        name: {
            key: value[-1] if isinstance(value, list) else value
            for key, value in (params or {}).items()
            if key != "train"
        }
        for name, params in backbones.items()
    }


def measure(shape: str, backbone: str, plugin: str, device: str, steps: int) -> dict:
    """One row, in this process."""
    import torch

    from crossrec.data.formats import load_mmrec
    from crossrec.device import peak_memory_mb
    from crossrec.kernels.heap import retain_freed_memory
    from crossrec.run import RunSpec, TrainConfig
    from crossrec.train import Trainer

    torch.set_num_threads(1)
    retain_freed_memory()  # as `crossrec train` does
    folder = synthetic_folder(shape, 0)
    t0 = time.perf_counter()
    data = load_mmrec(folder)
    run = RunSpec(
        dataset=shape,
        backbone=backbone,
        plugin=plugin,
        backbone_params=paper_backbones()[backbone],
        train=TrainConfig(epochs=2, device=device, topk=(10, 20, 50)),
    )
    out = Path(tempfile.gettempdir()) / "crossrec-bench-cost"
    trainer = Trainer(run, data, out, log=lambda line: None)
    build = time.perf_counter() - t0

    trainer.backbone.train()
    trainer.plugin.train()
    _sync(trainer.device)
    t0 = time.perf_counter()
    # a late epoch (100), past warm-ups such as NCL's: its k-means E-step and prototype term
    # are in every epoch after warm_up, i.e. in most of a run
    trainer.backbone.on_epoch_start(LATE_EPOCH)
    trainer.plugin.on_epoch_start(LATE_EPOCH)
    _sync(trainer.device)
    hooks = time.perf_counter() - t0

    # median of `steps` optimiser steps after one warm-up step
    step = step_seconds(trainer, list(itertools.islice(trainer.sampler.epoch(), steps + 1)), steps)

    t0 = time.perf_counter()
    trainer.evaluate("valid")
    trainer.evaluate("test")
    _sync(trainer.device)
    evaluation = time.perf_counter() - t0
    n_steps = len(trainer.sampler)
    return {
        "shape": shape,
        "backbone": backbone,
        "plugin": plugin,
        "build_s": round(build, 3),
        "epoch_hooks_s": round(hooks, 4),
        "step_s": round(step, 4),
        "steps_per_epoch": n_steps,
        "epoch_s": round(hooks + n_steps * step, 3),
        "eval_s": round(evaluation, 3),
        "peak_mb": round(peak_memory_mb(trainer.device), 1),
    }


def main() -> None:
    """Measure every row in a subprocess and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shape", nargs="+", default=["baby"],
        choices=("baby", "sports", "clothing", "tiktok", "ml100k"),
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--backbones", nargs="+", help="default: every backbone of paper.yaml")
    parser.add_argument("--plugins", nargs="+", choices=PLUGINS, default=list(PLUGINS))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", help="default: src/crossrec/costs/<device>.json")
    parser.add_argument("--merge", action="store_true", help="keep rows of other shapes")
    parser.add_argument("--one", nargs=3, metavar=("SHAPE", "BACKBONE", "PLUGIN"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.device, args.steps)))
        return
    import torch

    out = Path(args.out or ROOT / "src" / "crossrec" / "costs" / f"{args.device}.json")
    rows = []
    backbones = args.backbones or list(paper_backbones())
    measured = {(s, b, p) for s in args.shape for b in backbones for p in args.plugins}
    if args.merge and out.is_file():
        rows = json.loads(out.read_text())["rows"]
        rows = [r for r in rows if (r["shape"], r["backbone"], r["plugin"]) not in measured]
    for shape in args.shape:
        synthetic_folder(shape, 0)  # generate once, outside the timed subprocesses
        for backbone in backbones:
            for plugin in args.plugins:
                cmd = [sys.executable, __file__, "--device", args.device, "--steps",
                       str(args.steps), "--one", shape, backbone, plugin]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"{shape} {backbone} {plugin}: failed\n{proc.stderr[-2000:]}")
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)
    from crossrec.device import device_name

    report = {
        "benchmark": "crossrec cost table: synthetic dataset shapes, paper.yaml backbones, "
        "batch 2048, 1 torch thread",
        "device": args.device,
        "machine": {
            "device_name": device_name(torch.device(args.device)),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
        },
        "cla_prototypes": 10240,
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
