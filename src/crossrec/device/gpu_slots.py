"""Spread one machine's CUDA runs over its GPUs: a slot per (GPU, level), held as an exclusive
``flock`` for the life of the run (docs/cluster.md, packing runs on GPUs).

The lock files live in a folder of this user only: ``$XDG_RUNTIME_DIR/crossrec`` where the
session has one, else ``<temp dir>/crossrec-<uid>``, created ``0700`` and refused unless it is a
real folder (not a symbolic link) owned by this user and closed to others; each lock file is
opened with ``O_NOFOLLOW``, so a link planted in the folder creates nothing at its target.
Every failure is one line naming the folder (OutputError)."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import IO

from crossrec.errors import OutputError
from crossrec.outputs import open_lock

_HELD: list[IO[bytes]] = []  # locks of this process, kept open until it exits


def user_dir() -> Path:
    """This user's private folder for crossrec's lock files (module docstring)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.stat(runtime).st_uid == os.getuid():
        return Path(runtime) / "crossrec"
    return Path(tempfile.gettempdir()) / f"crossrec-{os.getuid()}"


def slot_dir() -> Path:
    """The lock folder of this user and set of visible GPUs."""
    visible = re.sub(r"[^A-Za-z0-9,_-]", "_", os.environ.get("CUDA_VISIBLE_DEVICES", "all"))
    return user_dir() / f"gpu-slots-{visible[:64]}"


def _private_dir(folder: Path) -> None:
    """Create ``folder`` 0700 (and its missing parents below an existing one), or check that
    the existing one is a real folder of this user that nobody else can write or list."""
    try:
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (folder.parent, folder):
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
                raise OutputError(f"{path}: exists and is not a folder (the GPU slot locks' place)")
            if st.st_uid != os.getuid():
                raise OutputError(f"{path}: owned by uid {st.st_uid}, not by you; remove it")
            if st.st_mode & 0o077:
                raise OutputError(
                    f"{path}: open to other users (mode {stat.S_IMODE(st.st_mode):o}); "
                    "crossrec keeps its locks in a 0700 folder: chmod 700 it or remove it"
                )
    except OSError as err:
        raise OutputError(f"{folder}: cannot create the GPU slot folder ({err.strerror})") from None


def claim(n_devices: int, folder: Path | None = None) -> int:
    """Index (0 ≤ i < ``n_devices``) of the GPU whose lowest free slot is lowest, the first
    such GPU on ties; the slot stays held until this process exits (or :func:`release`)."""
    if n_devices < 1:
        raise ValueError(f"n_devices must be >= 1, got {n_devices}")
    folder = folder or slot_dir()
    _private_dir(folder)
    for level in itertools.count():
        for device in range(n_devices):
            handle = open_lock(folder / f"gpu{device}.slot{level}", "the GPU slot lock", 0o600)
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
