"""Cost of the alignment plug-ins over their backbone (run on demand, not in CI).

    python benchmarks/bench_align.py                                   # ml100k (results/data)
    python benchmarks/bench_align.py --shape baby --device cpu         # synthetic Baby shape
    python benchmarks/bench_align.py --shape baby --device cuda --prototypes 10240

Data: ``--data DIR`` (a prepared folder with ``neighbors_k3.npy``), or ``--shape`` — a seeded
synthetic folder with that dataset's users, items, interactions and feature widths
(``crossrec synth``; generated and prepared once into a cache folder under the temp dir).

For the backbone (``--backbone``, default LightGCN-2L) with each plug-in row — ``none``,
``fettle``, ``cross`` and CROSS without one component at a time (``cross_no_ilda``,
``cross_no_cla``, ``cross_no_cna``), plus ``bm3`` — at batch 2048:

* seconds per training step (median of ``--steps`` after one warm-up step; CUDA synchronised
  around each step) and the ratio to ``none``;
* per step, from ``torch.profiler`` over ``--profile-steps`` steps: host synchronisations
  (``aten::_local_scalar_dense`` — every ``.item()``/``float(t)`` —, ``aten::nonzero`` and
  ``aten::_unique2``, whose output shapes depend on the data), in total and per region of the
  trainer's step (``backbone``, ``plugin``, ``backward``, ``optimizer``: the
  ``crossrec::<region>`` profiler ranges of :meth:`crossrec.train.Trainer.step`), and, on CUDA,
  kernel launches (total and inside the plug-in) and ``cudaStreamSynchronize`` calls (on the
  CPU: aten operator calls, total and inside the plug-in). On the CPU, fused Adam reads each
  parameter's step counter with ``item()`` — a plain memory read there, counted under
  ``optimizer``; on CUDA the counters stay on the device;
* optionally seconds per epoch (median of ``--epochs`` after a warm-up epoch).

``--compile`` sets ``train.compile`` (the plug-in's losses through ``torch.compile``; the warm-up
step pays the compilation).

Writes ``benchmarks/results/align_<shape or folder>_<device>.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from crossrec.data.formats import load_mmrec
from crossrec.device import device_name
from crossrec.kernels.heap import retain_freed_memory
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("none", "fettle", "cross", "cross_no_ilda", "cross_no_cla", "cross_no_cna", "bm3")
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::_unique2")
LAUNCH_OPS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")
BACKBONES = {
    "lightgcn": {"n_layers": 2},
    "freedom": {"dropout": 0.8, "reg_weight": 0.0},
}


def synthetic_folder(shape: str, seed: int) -> Path:
    """A prepared synthetic folder of ``shape`` (cached under the temp dir)."""
    from crossrec.data.sources.folder import prepare_folder
    from crossrec.data.synthetic import write_synthetic

    cache = Path(tempfile.gettempdir()) / f"crossrec-bench-{shape}-seed{seed}"
    prepared = cache / "prepared-ug"  # with the user graph (DualGNN), for bench_cost too
    if not (prepared / "meta.json").is_file():
        if not (cache / "raw").is_dir():
            write_synthetic(cache / "raw", shape, shape, seed)
        prepare_folder(
            cache / "raw", prepared, shape, neighbor_ks=[3], knn_ks=[10], user_graph=True
        )
    return prepared


def trainer(
    data, backbone: str, plugin: str, prototypes: int, device: str, compile: bool = False
) -> Trainer:
    params = {"cla_prototypes": prototypes} if plugin not in ("none", "bm3") else {}
    run = RunSpec(
        dataset=data.name,
        backbone=backbone,
        plugin=plugin,
        plugin_params=params,
        backbone_params=BACKBONES[backbone],
        train=TrainConfig(epochs=2, device=device, topk=(10, 20), compile=compile),
    )
    return Trainer(run, data, Path(tempfile.gettempdir()) / "crossrec-bench-align")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_seconds(t: Trainer, batches: list, steps: int) -> float:
    """Median seconds of one optimiser step (after one warm-up step)."""
    t.step(t.ready(batches[0]))
    times = []
    for batch in batches[1 : steps + 1]:
        batch = t.ready(batch)
        _sync(t.device)
        t0 = time.perf_counter()
        t.step(batch)
        _sync(t.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


REGIONS = ("backbone", "plugin", "backward", "optimizer")


def _region(event) -> str:  # noqa: ANN001  (a torch.profiler event)
    """The trainer's ``crossrec::<region>`` range an event ran in (``other`` if none)."""
    while event is not None:
        if event.name.startswith("crossrec::"):
            return event.name.removeprefix("crossrec::")
        event = event.cpu_parent
    return "other"


def profile_counts(t: Trainer, batches: list, steps: int) -> dict[str, float]:
    """Per-step counts of host syncs (also per trainer region), and kernel launches (CUDA) or
    aten calls (CPU)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if t.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    moved = [t.ready(b) for b in batches[:steps]]
    _sync(t.device)
    with profile(activities=activities) as prof:
        for batch in moved:
            t.step(batch)
        _sync(t.device)
    events = prof.events()
    counts = Counter(e.name for e in events)
    out = {op.removeprefix("aten::"): counts[op] / steps for op in SYNC_OPS}
    out["host_syncs"] = sum(counts[op] for op in SYNC_OPS) / steps
    where = Counter(_region(e) for e in events if e.name in SYNC_OPS)
    for region in (*REGIONS, "other"):
        out[f"host_syncs_{region}"] = where[region] / steps
    if t.device.type == "cuda":
        out["kernel_launches"] = sum(counts[op] for op in LAUNCH_OPS) / steps
        launches = Counter(_region(e) for e in events if e.name in LAUNCH_OPS)
        out["kernel_launches_plugin"] = launches["plugin"] / steps
        out["stream_syncs"] = (
            counts["cudaStreamSynchronize"] + counts["cudaDeviceSynchronize"]
        ) / steps
    else:
        aten = [e for e in events if e.name.startswith("aten::")]
        out["aten_calls"] = len(aten) / steps
        out["aten_calls_plugin"] = sum(_region(e) == "plugin" for e in aten) / steps
    return {k: round(v, 1) for k, v in out.items()}


def epoch_seconds(t: Trainer, epochs: int) -> float:
    t.train_epoch(0)
    times = []
    for epoch in range(1, epochs + 1):
        _sync(t.device)
        t0 = time.perf_counter()
        t.train_epoch(epoch)
        _sync(t.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Measure and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="prepared folder (default: results/data/ml100k)")
    parser.add_argument("--shape", choices=("baby", "sports", "clothing", "tiktok", "ml100k"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="lightgcn")
    parser.add_argument("--prototypes", type=int, help="CLA's K (default: 256 CPU, 10240 CUDA)")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--profile-steps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=0, help="also time this many epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--compile", action="store_true", help="train.compile: the plug-in's losses compiled"
    )
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retain_freed_memory()  # as `crossrec train` does
    if args.shape:
        folder, label = synthetic_folder(args.shape, args.seed), f"synthetic {args.shape}"
    else:
        folder = Path(args.data or ROOT / "results" / "data" / "ml100k")
        label = str(folder)
    data = load_mmrec(folder)
    if 3 not in data.neighbors:
        raise SystemExit(f"{folder}: no neighbors_k3.npy; prepare it with --neighbors-k 3")
    device = args.device
    k = args.prototypes or (10240 if device.startswith("cuda") else 256)
    rows = {}
    for plugin in args.rows:
        t = trainer(data, args.backbone, plugin, k, device, args.compile)
        batches = list(t.sampler.epoch())
        need = max(args.steps + 1, args.profile_steps)
        if len(batches) < need:
            batches = (batches * (need // len(batches) + 1))[:need]
        row = {"seconds_per_step": round(step_seconds(t, batches, args.steps), 4)}
        row["per_step"] = profile_counts(t, batches, args.profile_steps)
        if args.epochs:
            row["seconds_per_epoch"] = round(epoch_seconds(t, args.epochs), 3)
        rows[plugin] = row
        print(plugin, json.dumps(row), flush=True)
    base = rows.get("none")
    for row in rows.values():
        if base:
            row["step_ratio_vs_none"] = round(row["seconds_per_step"] / base["seconds_per_step"], 2)
            if "seconds_per_epoch" in row and "seconds_per_epoch" in base:
                ratio = row["seconds_per_epoch"] / base["seconds_per_epoch"]
                row["epoch_ratio_vs_none"] = round(ratio, 2)
    report = {
        "benchmark": f"alignment plug-in cost over {args.backbone}, {label}, batch 2048",
        "data": {"users": data.n_users, "items": data.n_items, "train": len(data.train)},
        "device": str(t.device),
        "device_name": device_name(t.device),
        "threads": args.threads,
        "cla_prototypes": k,
        "compile": args.compile,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "rows": rows,
    }
    name = args.shape or Path(folder).name
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"align_{name}_{t.device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
