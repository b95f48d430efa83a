"""Everything a GPU window should measure, in one call (issue 30): run it from a fresh clone on
a one-GPU machine that has torch (no snakemake needed).

    python benchmarks/gpu_check.py                          # cuda, Baby shape, <= 8 minutes
    python benchmarks/gpu_check.py --device cpu --quick     # the test suite's smoke mode

On a seeded synthetic folder with the Baby shape (``crossrec synth``; ``--quick``: the small
ml100k shape) it measures, section by section, each inside the time budget (``--budget-s``,
default 420 s of the 8 minutes, the rest for start-up and writing):

1. ``plugins`` — seconds per training step of LightGCN-2L alone, +FETTLE and +CROSS, eager and
   with ``train.compile``, and per CROSS component (CROSS without ILA/DT, CLA or CNA: the
   component's cost is the difference), K = 10,240 prototypes on CUDA;
2. ``syncs`` — per step, kernel launches (CUDA) or aten calls (CPU), and every host
   synchronisation (``.item()``, ``nonzero``, ``unique``) with the Python stack that made it
   (``torch.profiler`` with ``with_stack``), eager and compiled;
3. ``costs`` — cost-table rows (``benchmarks/bench_cost.py --one``, one subprocess each) for the
   four paper shapes × the eleven backbones × {none, fettle, cross}, the most expensive first
   (by the CPU table's estimate) while the budget lasts; the rest are listed as unmeasured. The
   rows are written as a cost table (``partial`` when rows are missing) that
   ``crossrec estimate --device <device> --costs <table>`` reads; on CUDA (not
   ``--quick``) it is ``src/crossrec/costs/cuda.json``, the table the estimate and the
   workflow's time limits use by default;
4. ``packing`` — runs per hour of 1, 4 and 8 concurrent ``crossrec train`` processes on the
   device (FREEDOM + CROSS; ``benchmarks/bench_pack.py``).

Writes ``<out-dir>/gpu_check_<device>.json`` (``--out-dir``, default ``benchmarks/results``).
A section cut short by the budget says which of its parts were not measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("baby", "sports", "clothing", "tiktok")
PLUGINS = ("none", "fettle", "cross")
ROWS = ("none", "fettle", "cross", "cross_no_ilda", "cross_no_cla", "cross_no_cna")
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::_unique2")
PY_FRAME = re.compile(r"^[^ ]+\.py\(\d+\): ")  # a Python frame event of torch.profiler


class Budget:
    """Seconds left of the check's budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def plugin_rows(data: Any, device: str, k: int, steps: int, rows: tuple[str, ...],  # noqa: ANN401
                compiled: bool, budget: Budget) -> dict[str, Any]:  # fmt: skip
    """Section 1 (and the syncs of section 2): per row, eager and compiled."""
    from bench_align import profile_counts, step_seconds, trainer

    out: dict[str, Any] = {}
    for mode in ("eager", "compiled") if compiled else ("eager",):
        for row in rows:
            if budget.left() <= 0:
                out.setdefault("unmeasured", []).append(f"{row} {mode}")
                continue
            t = trainer(data, "lightgcn", row, k, device, compile=mode == "compiled")
            batches = list(t.sampler.epoch())
            batches = (batches * (steps + 2))[: steps + 2]
            entry = {"seconds_per_step": round(step_seconds(t, batches, steps), 5)}
            entry["per_step"] = profile_counts(t, batches, min(steps, 3))
            entry["syncs"] = sync_stacks(t, batches[:2])
            out.setdefault(mode, {})[row] = entry
            print(f"plugins {mode} {row}: {entry['seconds_per_step']} s/step", flush=True)
    for mode, rows_of in out.items():
        if mode == "unmeasured" or not isinstance(rows_of, dict):
            continue
        cross = rows_of.get("cross", {}).get("seconds_per_step")
        for row, entry in rows_of.items():
            if row.startswith("cross_no_") and cross is not None:
                component = row.removeprefix("cross_no_")
                entry["component_seconds"] = round(cross - entry["seconds_per_step"], 5)
                entry["component"] = component
    return out


def sync_stacks(t: Any, batches: list) -> list[dict[str, Any]]:  # noqa: ANN401
    """Every host synchronisation of ``len(batches)`` steps: the op and the innermost Python
    frames (file:line function) that made it, counted."""
    from torch.profiler import ProfilerActivity, profile

    moved = [t.ready(b) for b in batches]
    activities = [ProfilerActivity.CPU]
    if t.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, with_stack=True) as prof:
        for batch in moved:
            t.step(batch)
    found: dict[tuple[str, tuple[str, ...]], int] = {}
    for event in prof.events():
        if event.name not in SYNC_OPS:
            continue
        # with_stack records the Python frames as the op's ancestors ("file.py(line): name")
        frames, parent = [], event.cpu_parent
        while parent is not None:
            if PY_FRAME.match(parent.name):
                frames.append(parent.name)
            parent = parent.cpu_parent
        ours = [f for f in frames if not f.startswith("torch/")]
        stack = tuple((frames[:2] + ours)[:8])  # the innermost torch frames, then crossrec's
        key = (event.name, stack)
        found[key] = found.get(key, 0) + 1
    return [
        {"op": op, "per_step": n / len(batches), "stack": list(stack)}
        for (op, stack), n in sorted(found.items(), key=lambda kv: -kv[1])
    ]


def cost_order(shapes: tuple[str, ...], backbones: list[str]) -> list[tuple[str, str, str]]:
    """Every (shape, backbone, plug-in) row, the most expensive first by the CPU table's
    estimate of a 100-epoch run (unknown rows last)."""
    from crossrec.costs import CostTable, run_seconds

    cpu = CostTable.load("cpu")
    rows = [(s, b, p) for s in shapes for b in backbones for p in PLUGINS]

    def cost(key: tuple[str, str, str]) -> float:
        row = cpu.row(*key)
        return run_seconds(row, 100) if row else -1.0

    return sorted(rows, key=cost, reverse=True)


def cost_rows(order: list[tuple[str, str, str]], device: str, steps: int,
              budget: Budget) -> tuple[list[dict], list[list[str]]]:  # fmt: skip
    """Section 3: measured rows (subprocesses of bench_cost.py --one) and the unmeasured."""
    measured, unmeasured = [], []
    for shape, backbone, plugin in order:
        if budget.left() <= 0:
            unmeasured.append([shape, backbone, plugin])
            continue
        cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_cost.py"), "--device", device,
               "--steps", str(steps), "--one", shape, backbone, plugin]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=max(30.0, budget.left() + 60))  # fmt: skip
        if proc.returncode != 0:
            unmeasured.append([shape, backbone, plugin, proc.stderr.strip()[-300:]])
            continue
        measured.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"costs {shape} {backbone} {plugin}: {measured[-1]['epoch_s']} s/epoch", flush=True)
    return measured, unmeasured


def packing(shape: str, device: str, runs: list[int], epochs: int, budget: Budget,
            model: tuple[str, str] = ("freedom", "cross")) -> dict:  # fmt: skip
    """Section 4: runs per hour for N concurrent runs of ``model`` (backbone, plug-in;
    bench_pack.packed)."""
    from bench_align import synthetic_folder
    from bench_pack import packed

    args = argparse.Namespace(backbone=model[0], plugin=model[1], epochs=epochs, device=device)
    folder = synthetic_folder(shape, 0)
    out: dict[str, Any] = {"results": [], "unmeasured": []}
    with tempfile.TemporaryDirectory(prefix="crossrec-gpu-check-pack-") as work:
        for n in runs:
            if budget.left() <= 0:
                out["unmeasured"].append(n)
                continue
            row = packed(folder, shape, n, args, Path(work))
            out["results"].append(row)
            print(f"packing {n} runs: {row['runs_per_hour']} runs/h", flush=True)
    return out


def unwritable(path: Path) -> str | None:
    """Why the cost table cannot be written at ``path`` (checked before hours of measuring),
    or None: a folder, something other than a regular file, a file that refuses appending
    (``/proc/version``), or a missing folder above it (created) that cannot take it."""
    if path.is_dir():
        return "a folder, not a file"
    if path.exists():
        if not path.is_file():
            return "not a regular file"
        try:
            with path.open("ab"):  # appends nothing: only asks whether it could
                pass
        except OSError as err:
            return f"cannot be written ({err.strerror})"
        return None
    parent = next((q for q in path.parents if q.exists()), Path("/"))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} cannot take it"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the sections and write the report (exit 0 when every section ran)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="small shape, few rows (CI)")
    parser.add_argument("--budget-s", type=float, help="seconds for all sections (default 420)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--table", type=Path, help="where the cost table goes (module doc)")
    args = parser.parse_args(argv)
    if args.budget_s is not None and not (math.isfinite(args.budget_s) and args.budget_s > 0):
        parser.error(f"--budget-s {args.budget_s}: a positive number of seconds")
    problem = None if args.table is None else unwritable(args.table)
    if problem is not None:
        parser.error(f"--table {args.table}: {problem}")
    import torch
    from bench_align import synthetic_folder
    from bench_cost import paper_backbones

    from crossrec.data.formats import load_mmrec
    from crossrec.device import device_name
    from crossrec.kernels.heap import retain_freed_memory

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --device cpu", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    retain_freed_memory()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    budget = Budget(args.budget_s or (300 if args.quick else 420))
    shape = "ml100k" if args.quick else "baby"
    k = 10240 if args.device == "cuda" else 256
    data = load_mmrec(synthetic_folder(shape, 0))
    report: dict[str, Any] = {
        "benchmark": f"crossrec GPU-window check on {args.device}"
        + (" (quick smoke mode)" if args.quick else ""),
        "machine": {
            "device_name": device_name(torch.device(args.device)),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "date": started[:10],
        },
        "shape": shape,
        "cla_prototypes": k,
    }
    sections_ok = True
    try:
        rows = ("none", "cross") if args.quick else ROWS
        # --quick leaves the compiled rows out: compiling on a CPU takes about a minute, and
        # the compiled step's behaviour is tested on its own (tests/train/test_step.py)
        report["plugins"] = plugin_rows(data, args.device, k, 2 if args.quick else 10, rows,
                                        not args.quick, budget)  # fmt: skip
        if args.quick:
            report["plugins"]["compiled"] = "not in --quick (a CPU compile takes a minute)"
        backbones = ["bpr", "lightgcn"] if args.quick else list(paper_backbones())
        shapes = ("ml100k",) if args.quick else SHAPES
        order = cost_order(shapes, backbones)
        if args.quick:
            order = [r for r in order if r[2] == "none"][:2]  # bpr, lightgcn alone
        measured, unmeasured = cost_rows(order, args.device, 1 if args.quick else 3, budget)
        table = args.table or (
            ROOT / "src" / "crossrec" / "costs" / f"{args.device}.json"
            if args.device == "cuda" and not args.quick
            else args.out_dir / f"cost_{args.device}_check.json"
        )
        blob = {
            "benchmark": "crossrec cost table from benchmarks/gpu_check.py"
            + (f" (PARTIAL: {len(unmeasured)} rows unmeasured)" if unmeasured else ""),
            "device": args.device,
            "partial": bool(unmeasured),
            "machine": report["machine"],
            "cla_prototypes": 10240,
            "rows": measured,
            "unmeasured": unmeasured,
        }
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text(json.dumps(blob, indent=1) + "\n")
        report["costs"] = {"table": str(table), "measured": len(measured),
                           "unmeasured": unmeasured}  # fmt: skip
        runs = [1, 2] if args.quick else [1, 4, 8]
        model = ("lightgcn", "none") if args.quick else ("freedom", "cross")
        report["packing"] = packing(shape, args.device, runs, 1 if args.quick else 3, budget,
                                    model)  # fmt: skip
    except Exception:  # noqa: BLE001 - keep what was measured; say what failed
        report["error"] = traceback.format_exc()[-3000:]
        sections_ok = False
    report["budget_left_s"] = round(budget.left(), 1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"gpu_check_{args.device}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if sections_ok else 1


if __name__ == "__main__":
    sys.exit(main())
