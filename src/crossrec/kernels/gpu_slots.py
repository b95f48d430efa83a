"""Spread one machine's CUDA runs over its GPUs: a slot per (GPU, level), held as an exclusive
``flock`` for the life of the run (docs/cluster.md, packing runs on GPUs)."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import tempfile
from pathlib import Path
from typing import IO

_HELD: list[IO[str]] = []  # locks of this process, kept open until it exits


def slot_dir() -> Path:
    """The lock folder of this user and set of visible GPUs."""
    visible = re.sub(r"[^A-Za-z0-9,_-]", "_", os.environ.get("CUDA_VISIBLE_DEVICES", "all"))
    return Path(tempfile.gettempdir()) / f"crossrec-gpu-slots-{os.getuid()}-{visible[:64]}"


def claim(n_devices: int, folder: Path | None = None) -> int:
    """Index (0 ≤ i < ``n_devices``) of the GPU whose lowest free slot is lowest, the first
    such GPU on ties; the slot stays held until this process exits (or :func:`release`)."""
    if n_devices < 1:
        raise ValueError(f"n_devices must be >= 1, got {n_devices}")
    folder = folder or slot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for level in itertools.count():
        for device in range(n_devices):
            handle = open(folder / f"gpu{device}.slot{level}", "a")  # noqa: SIM115 (held)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _HELD.append(handle)
            return device
    raise AssertionError("unreachable")


def release() -> None:
    """Give back every slot this process holds."""
    while _HELD:
        _HELD.pop().close()
