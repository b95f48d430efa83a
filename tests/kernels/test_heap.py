"""crossrec.kernels.heap: freed large buffers stay in the heap (no page faults on reuse), results unchanged.

Each check runs in a fresh interpreter: the setting is process-wide and must not leak into the
rest of the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crossrec.kernels import heap

needs_glibc = pytest.mark.skipif(not heap.is_glibc(), reason="mallopt is glibc's")

FAULTS = """
import resource, sys, torch
from crossrec.kernels.heap import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
faults = []
for _ in range(40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(1 << 24)  # 64 MiB: far above glibc's default mmap threshold
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del x
print(applied, sum(faults[-10:]))
"""


def _python(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


@needs_glibc
def test_a_freed_buffer_is_reused_without_page_faults() -> None:
    """A 64 MiB tensor allocated and freed 40 times: under glibc's defaults each one is a fresh
    mapping whose 16,384 pages fault in again; with retained memory the heap settles after a few
    rounds (small allocations take the start of a freed block, ~8 rounds here) and the last ten
    fault in no page."""
    applied, retained = _python(FAULTS, "retain").split()
    assert applied == "True"
    _, system = _python(FAULTS, "system").split()
    assert int(system) > 10 * 8000
    assert int(retained) < 500


TRAIN = """
import json, sys
import pandas as pd
from crossrec.data.formats import load_mmrec
from crossrec.kernels.heap import retain_freed_memory
from crossrec.run import RunSpec, TrainConfig
from crossrec.train import Trainer
if sys.argv[1] == "retain":
    assert retain_freed_memory()
run = RunSpec(dataset="tiny", backbone="lightgcn", plugin="cross", seed=3,
              plugin_params={"cla_prototypes": 2048},
              train=TrainConfig(epochs=3, batch_size=64, topk=(5, 10, 20)))
metrics = Trainer(run, load_mmrec(sys.argv[2]), sys.argv[3], log=lambda line: None).fit(
    progress=False)
history = pd.read_csv(sys.argv[3] + "/history.csv")
history = history.drop(columns=[c for c in history if c.endswith("seconds")])
print(json.dumps({"test": metrics["test"], "history": history.to_dict("list")}))
"""


@needs_glibc
def test_results_do_not_depend_on_the_heap(tiny_dir: Path, tmp_path: Path) -> None:
    """lightgcn + cross at K = 2,048 (its [3, N, K] buffers are above the mmap threshold):
    every history value and test metric bit-identical with and without retained memory."""
    from crossrec.data.sources.folder import prepare_folder

    data = tmp_path / "data"
    prepare_folder(tiny_dir, data, "tiny", neighbor_ks=[3])
    runs = [
        json.loads(_python(TRAIN, mode, str(data), str(tmp_path / mode)))
        for mode in ("retain", "system")
    ]
    assert runs[0] == runs[1]
    assert len(runs[0]["history"]["epoch"]) == 3


def test_limit_is_checked() -> None:
    for bad in (0, heap.RETAIN_BYTES + 1):
        with pytest.raises(ValueError, match="limit"):
            heap.retain_freed_memory(bad)


def test_glibc_settings_from_the_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    monkeypatch.setattr(heap.ctypes, "CDLL", None)  # never reached
    assert heap.retain_freed_memory() is False


def test_other_c_libraries_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_glibc(name: str) -> str:
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(heap.os, "confstr", no_glibc)
    monkeypatch.setattr(heap.ctypes, "CDLL", None)  # never reached
    assert heap.retain_freed_memory() is False
