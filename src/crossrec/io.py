"""Atomic file output: write to a temporary sibling, then ``os.replace`` it into place.

A job that fails half-way therefore never leaves a file that a later rule would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

from crossrec.errors import OutputError


def umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | Path) -> None:
    """OutputError unless ``path`` (a file or folder to create or replace) can be written: the
    nearest existing folder on its way must be writable and searchable (a read-only file
    system, a folder of another user). Called before any work, so nothing is left behind."""
    path = Path(path).absolute()
    ancestor = path if path.is_dir() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only(ancestor) else "permission denied"
        raise OutputError(f"{path}: cannot write in {ancestor} ({why})")


def _read_only(folder: Path) -> bool:
    """Whether ``folder`` lies on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; refusing to replace it with a file")
    if path.parent.exists() and not path.parent.is_dir():
        raise OutputError(f"{path.parent}: is a file, cannot hold {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, path)
    except OSError as err:
        if err.filename is None:  # a write's error names no file: name the destination
            raise OSError(err.errno, err.strerror or str(err), str(path)) from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing and rename it onto ``path`` on success."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: str | Path, obj: Any) -> None:  # noqa: ANN401
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.write("\n")


def write_yaml(path: str | Path, obj: Any) -> None:  # noqa: ANN401
    """Write ``obj`` as YAML (insertion order kept), atomically."""
    with atomic_open(path) as fh:
        yaml.safe_dump(obj, fh, sort_keys=False)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary name, then rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def regular_file(path: str | Path) -> Path:
    """``path`` if it is a readable, non-empty regular file (symlinks followed); otherwise a
    DataError naming it. Checked by ``stat`` before any open, so a FIFO never blocks and a
    device (``/dev/zero``) is never read."""
    from crossrec.errors import DataError

    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        what = "dangling symbolic link" if path.is_symlink() else "not found"
        raise DataError(path, what) from None
    except OSError as err:
        raise DataError(path, f"cannot read ({err.strerror or err})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(path, "is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(path, "not a regular file (a FIFO, socket or device); refusing to read it")
    if st.st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    return path


def load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a plain (never pickled) ``.npy`` file; every failure is a DataError."""
    from crossrec.errors import DataError

    path = regular_file(path)
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, EOFError, OSError) as err:
        raise DataError(path, f"not a plain numeric .npy array ({err})") from None
