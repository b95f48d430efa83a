"""Runs spread over a machine's GPUs through slot locks (crossrec.device.gpu_slots); the locks are
plain files, so this runs without a GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crossrec.device import gpu_slots


def test_claims_fill_the_gpus_evenly_and_freed_slots_are_reused(tmp_path: Path) -> None:
    try:
        assert [gpu_slots.claim(2, tmp_path) for _ in range(5)] == [0, 1, 0, 1, 0]
        gpu_slots.release()
        assert [gpu_slots.claim(3, tmp_path) for _ in range(4)] == [0, 1, 2, 0]
    finally:
        gpu_slots.release()


def test_a_slot_is_held_across_processes_until_its_holder_exits(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from crossrec.device import gpu_slots; "
        f"print(gpu_slots.claim(2, Path({str(tmp_path)!r}))); sys.stdout.flush(); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "0"
        assert gpu_slots.claim(2, tmp_path) == 1  # GPU 0 is taken by the other process
        gpu_slots.release()
    finally:
        holder.communicate("")  # the holder exits: its lock goes with it
    try:
        assert gpu_slots.claim(2, tmp_path) == 0
    finally:
        gpu_slots.release()


def test_slot_folder_is_per_user_and_visible_devices(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    a = gpu_slots.slot_dir()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert a != gpu_slots.slot_dir() and a.name.endswith("-2,3")
