"""Output folders crossrec owns: never delete or overwrite what crossrec did not create.

Every folder crossrec writes holds a :data:`MARKER` file. An existing, non-empty output folder
is written into (:func:`claim_dir`) or replaced (:func:`atomic_dir`) only when it holds the
marker or is recognised as an earlier crossrec output; an output that is, or contains, one of
the command's inputs is refused. A folder is replaced by a rename-swap after the new one is
complete, and the partials of a killed earlier run are removed by the next one
(:func:`clean_stale`, only when marked by crossrec and their writer is gone).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from crossrec.errors import OutputError
from crossrec.io import umask

MARKER = ".crossrec"
"""The file crossrec writes into every folder it creates; a folder holding it is crossrec's own."""


def _marker_text(kind: str) -> str:
    from crossrec import __version__

    info = {"kind": kind, "crossrec": __version__, "pid": os.getpid(), "host": socket.gethostname()}
    return json.dumps(info, sort_keys=True) + "\n"


def write_marker(folder: str | Path, kind: str) -> None:
    """Mark ``folder`` as crossrec's own output of ``kind`` (``prepare``, ``run``, ...)."""
    (Path(folder) / MARKER).write_text(_marker_text(kind))


LOCK = ".crossrec.lock"
"""The lock file of a folder one process writes at a time (a run folder)."""


def open_lock(path: Path, what: str, mode: int = 0o644) -> IO[bytes]:
    """A lock file opened read-write, created with ``mode`` if missing, never through a
    symbolic link (``O_NOFOLLOW``: a planted link creates nothing at its target) and only if
    it is a regular file; OutputError naming it and ``what`` otherwise."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        why = "a symbolic link (refused)" if os.path.islink(path) else err.strerror
        raise OutputError(f"{path}: cannot open {what} ({why})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputError(f"{path}: not a regular file ({what}); remove it")
    return os.fdopen(fd, "r+b")


def lock_folder(folder: str | Path) -> IO[bytes]:
    """Hold an exclusive ``flock`` on ``folder``'s :data:`LOCK` until the returned handle is
    closed or the process dies (the kernel releases it; no stale lock survives a kill). The
    file is opened without following a symbolic link. OutputError naming the folder and the
    holder's pid when another process holds it."""
    handle = open_lock(Path(folder) / LOCK, "the folder's lock")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = handle.read(32).decode(errors="replace").strip() or "?"
        handle.close()
        raise OutputError(
            f"{folder}: another crossrec process (pid {holder}) is writing this folder; "
            "wait for it to finish or stop it"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return handle


OwnTest = Callable[[Path], bool]
"""Recognises an existing folder as an earlier crossrec output written before the marker."""


def _is_own(folder: Path, unmarked: OwnTest | None) -> bool:
    """Whether an existing folder may be replaced or written into: empty, marked by crossrec,
    or recognised by ``unmarked`` (a folder crossrec wrote before it marked its folders)."""
    entries = [p.name for p in folder.iterdir()]
    if not entries or MARKER in entries:
        return True
    return unmarked is not None and unmarked(folder)


def only_names(names: Iterable[str]) -> OwnTest:
    """An :data:`OwnTest`: the folder holds nothing but ``names`` (and crossrec's temporaries)."""
    allowed = frozenset(names)

    def test(folder: Path) -> bool:
        return all(p.name in allowed or _TMP_NAME.fullmatch(p.name) for p in folder.iterdir())

    return test


_TMP_NAME = re.compile(r"\..+\.[A-Za-z0-9_]+\.(tmp|old)")


def _check_not_inside(out: Path, protect: Iterable[str | Path], flag: str) -> None:
    for other in protect:
        other_abs = Path(other).resolve()
        if out == other_abs or out in other_abs.parents:
            raise OutputError(
                f"{out}: output folder {'is' if out == other_abs else 'contains'} the input "
                f"{other}; choose another {flag}"
            )


def claim_dir(
    path: str | Path,
    kind: str,
    unmarked: OwnTest | None = None,
    protect: Iterable[str | Path] = (),
    flag: str = "--out",
) -> Path:
    """Make ``path`` crossrec's output folder of ``kind`` to write files into, or refuse
    (OutputError) as :func:`check_replaceable` does. Returns ``path``."""
    target = check_replaceable(path, unmarked, protect, flag)
    target.mkdir(parents=True, exist_ok=True)
    if not (target / MARKER).exists():
        write_marker(target, kind)
    return Path(path)


def _alive(info: dict[str, Any]) -> bool:
    if info.get("host") != socket.gethostname():
        return True  # another machine's job: cannot tell, leave it
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def clean_stale(path: Path) -> list[Path]:
    """Remove the ``.<name>.*.tmp`` / ``.old`` siblings of ``path`` that a killed crossrec
    process left (marked by crossrec, writer no longer running on this host). Returns them."""
    removed = []
    if not path.parent.is_dir():
        return removed
    for sibling in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if not (_TMP_NAME.fullmatch(sibling.name) and sibling.is_dir()):
            continue
        if sibling.is_symlink():
            continue
        from crossrec.errors import CrossrecError
        from crossrec.safeload import load_json

        try:
            info = load_json(sibling / MARKER)
        except CrossrecError:
            continue  # not ours: never touched
        if not isinstance(info, dict):
            continue
        if sibling.name.endswith(".old") or not _alive(info):
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
    return removed


def check_replaceable(
    path: str | Path,
    unmarked: OwnTest | None = None,
    protect: Iterable[str | Path] = (),
    flag: str = "--out",
) -> Path:
    """Refuse (OutputError) a folder output at ``path`` that would replace something crossrec
    did not create, or an input of ``protect``; return the resolved path. Call it before the
    expensive work so a refusal comes first."""
    shown = Path(path)
    path = shown.resolve()
    if path.parent == path:
        raise OutputError(f"{shown}: cannot replace the file-system root; choose another {flag}")
    _check_not_inside(path, protect, flag)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{shown}: exists and is not a folder; choose another {flag}")
    if path.is_dir() and not _is_own(path, unmarked):
        raise OutputError(
            f"{shown}: not empty and not made by crossrec; refusing to replace it "
            f"(choose an empty or new {flag}, or move its contents away)"
        )
    return path


@contextlib.contextmanager
def atomic_dir(
    path: str | Path,
    kind: str = "output",
    unmarked: OwnTest | None = None,
    protect: Iterable[str | Path] = (),
    flag: str = "--out",
) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; it replaces ``path`` only on success.

    Never deletes what crossrec did not create: an existing ``path`` is replaced only when it is
    crossrec's (see :func:`claim_dir`), checked before anything is written, and only by a
    rename-swap (old → ``.<name>.*.old``, new → ``path``, then the old one removed). ``path``
    equal to or containing an input of ``protect`` is refused. Partials of a killed earlier run
    are cleaned first (:func:`clean_stale`).
    """
    path = check_replaceable(path, unmarked, protect, flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        (tmp / MARKER).write_text(_marker_text(kind))
        yield tmp
        os.chmod(tmp, 0o777 & ~umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old)  # an empty directory target is replaced
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
