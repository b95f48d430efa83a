"""The ``amazon`` source: Amazon Baby / Sports / Clothing as preprocessed by MMRec, from MMRec's
public Google Drive.

The Drive folder (:data:`DRIVE_FOLDER`) holds one entry per dataset — a sub-folder or a zip —
plus datasets that are not asked for (Elec is large): the folder is *listed* without downloading
(``gdown.download_folder(..., skip_download=True)``), the requested dataset's files selected, and
only those fetched (``gdown.download`` with resume, retries and a socket timeout).

Copies of these files differ in line endings, so instead of checksums every folder — downloaded
or placed in ``resources/<dataset>/`` by hand — is validated against the published statistics
(:data:`EXPECTED`): split sizes, users, items, id ranges, feature shapes and dtypes. A mismatch is
an error naming the expected and found values, unless ``allow_variant`` is set for a user's own
variant of the data.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossrec.data.formats import feature_files, find_inter_file, read_inter
from crossrec.data.needs import DataNeeds
from crossrec.data.prepare import is_prepared
from crossrec.data.retry import retry
from crossrec.data.sources.base import SOURCES, Source, VerifiedParams, needs_kwargs
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import DataError, DownloadError
from crossrec.extras import require
from crossrec.outputs import atomic_dir, check_replaceable

DRIVE_FOLDER = "13cBy1EA_saTUuXxVllKgtfci2A09jyaG"
DRIVE_URL = f"https://drive.google.com/drive/folders/{DRIVE_FOLDER}"


@dataclass(frozen=True)
class Expected:
    """Published statistics of one MMRec dataset."""

    users: int
    items: int
    inters: int
    train: int
    valid: int
    test: int


EXPECTED: dict[str, Expected] = {
    "baby": Expected(19445, 7050, 160792, 118551, 20559, 21682),
    "sports": Expected(35598, 18357, 296337, 218409, 37899, 40029),
    "clothing": Expected(39387, 23033, 278677, 197338, 40150, 41189),
}
FEATURES = {"image": (4096, np.float64), "text": (384, np.float32)}


@dataclass(frozen=True)
class DriveFile:
    """One file of the Drive listing: its id and its path inside the shared folder."""

    id: str
    path: str


def manual_help(dataset: str) -> str:
    """How to place a dataset by hand."""
    return (
        f"download the '{dataset}' folder (or {dataset}.zip) from {DRIVE_URL} in a browser and "
        f"put its files ({dataset}.inter, image_feat.npy, text_feat.npy) in resources/{dataset}/"
    )


def gdown_lister(folder_id: str) -> list[DriveFile]:
    """List a public Drive folder with gdown, downloading nothing."""
    gdown = require("gdown", "--source amazon")

    entries = gdown.download_folder(id=folder_id, skip_download=True, quiet=True)
    if entries is None:
        raise DownloadError(f"gdown could not list Drive folder {folder_id}")
    return [DriveFile(e.id, e.path) for e in entries]


def gdown_fetcher(file_id: str, out: Path) -> None:
    """Fetch one Drive file to ``out`` with gdown (resuming a partial file)."""
    gdown = require("gdown", "--source amazon")

    result = gdown.download(id=file_id, output=str(out), quiet=True, resume=True)
    if result is None:
        raise DownloadError(f"gdown could not fetch Drive file {file_id}")


def select_files(entries: Sequence[DriveFile], dataset: str) -> list[DriveFile]:
    """The listing's files of ``dataset``: everything under a ``<dataset>/`` folder, else a
    ``<dataset>.zip`` (case-insensitive). Other datasets are never selected."""
    name = dataset.lower()
    inside = [e for e in entries if e.path.replace("\\", "/").lower().split("/")[0] == name]
    inside = [e for e in inside if "/" in e.path.replace("\\", "/")]
    if inside:
        return inside
    zips = [e for e in entries if Path(e.path).name.lower() == f"{name}.zip"]
    if zips:
        return zips[:1]
    found = sorted({e.path.split("/")[0] for e in entries})
    raise DownloadError(
        f"the Drive folder has no '{dataset}' sub-folder or {dataset}.zip (found: "
        f"{', '.join(found) or 'nothing'}); {manual_help(dataset)}"
    )


def _explain(err: Exception, dataset: str) -> DownloadError:
    text = str(err).strip().splitlines()
    first = text[0] if text else type(err).__name__
    if any(k in str(err) for k in ("Too many users", "quota", "Permission", "Cannot retrieve")):
        return DownloadError(
            f"Google Drive refused the download ({first}). Drive limits anonymous downloads of "
            "popular files: sign in to Google in a browser, export its cookies for "
            "drive.google.com in Netscape format (e.g. `yt-dlp --cookies-from-browser chrome "
            "--cookies cookies.txt`, or a cookies.txt browser extension) and pass them with "
            f"`crossrec download --cookies cookies.txt`, or {manual_help(dataset)}"
        )
    return DownloadError(f"could not reach Google Drive ({first}); {manual_help(dataset)}")


def install_cookies(cookies: str | Path) -> Path:
    """Copy a Netscape cookie file to where gdown reads it (``~/.cache/gdown/cookies.txt``)."""
    src = Path(cookies)
    if not src.is_file():
        raise DataError(src, "cookie file not found")
    dest = Path.home() / ".cache" / "gdown" / "cookies.txt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def download_amazon(
    dataset: str,
    dest: str | Path,
    lister: Callable[[str], list[DriveFile]] = gdown_lister,
    fetcher: Callable[[str, Path], None] = gdown_fetcher,
    tries: int = 3,
    timeout: float = 60.0,
    wait: float = 2.0,
    allow_variant: bool = False,
) -> Path:
    """Fetch and validate MMRec's ``dataset`` into ``dest`` (nothing there unless it succeeds).

    Files already in ``dest`` that validate are kept (manual placement). ``lister`` and
    ``fetcher`` default to gdown; tests pass local ones.
    """
    dest = Path(dest)
    if dataset not in EXPECTED and not allow_variant:
        raise DownloadError(f"unknown MMRec dataset {dataset!r} (known: {', '.join(EXPECTED)})")
    if dest.is_dir() and any(dest.iterdir()):
        validate_amazon(dest, dataset, allow_variant)
        return dest
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        try:
            entries = retry(lambda: lister(DRIVE_FOLDER), tries, wait)
        except DownloadError:
            raise
        except Exception as err:  # network, gdown: one clear message
            raise _explain(err, dataset) from None
        chosen = select_files(entries, dataset)
        with tempfile.TemporaryDirectory(prefix="crossrec-drive-") as tmp:
            fetched = []
            for entry in chosen:
                out = Path(tmp) / Path(entry.path.replace("\\", "/")).name
                try:
                    retry(lambda e=entry, o=out: fetcher(e.id, o), tries, wait)
                except DownloadError:
                    raise
                except Exception as err:
                    raise _explain(err, dataset) from None
                fetched.append(out)
            with atomic_dir(dest, "download") as stage:
                _unpack(fetched, stage)
                validate_amazon(stage, dataset, allow_variant)
    finally:
        socket.setdefaulttimeout(old_timeout)
    return dest


def _unpack(files: Sequence[Path], stage: Path) -> None:
    """Copy downloaded files into ``stage``; a zip is extracted (its inner folder flattened)."""
    for path in files:
        if path.suffix.lower() != ".zip":
            shutil.copy2(path, stage / path.name)
            continue
        with zipfile.ZipFile(path) as zf:
            for member in zf.infolist():
                name = Path(member.filename).name
                if member.is_dir() or not name or name.startswith("."):
                    continue
                if not (name.endswith(".inter") or name.endswith(".npy")):
                    continue
                (stage / name).write_bytes(zf.read(member))


def validate_amazon(folder: str | Path, dataset: str, allow_variant: bool = False) -> list[str]:
    """Check a Baby/Sports/Clothing folder against :data:`EXPECTED`; return the mismatches
    (always empty unless ``allow_variant``, where they are reported instead of raised)."""
    folder = Path(folder)
    inter = find_inter_file(folder)
    df = read_inter(inter)
    problems: list[tuple[Path, str]] = []
    exp = EXPECTED.get(dataset)
    n_users, n_items = int(df["userID"].max()) + 1, int(df["itemID"].max()) + 1
    counts = df["x_label"].value_counts()
    if exp is not None:
        found = {
            "interactions": (len(df), exp.inters),
            "train rows": (int(counts.get(0, 0)), exp.train),
            "valid rows": (int(counts.get(1, 0)), exp.valid),
            "test rows": (int(counts.get(2, 0)), exp.test),
            "users (max id + 1)": (n_users, exp.users),
            "items (max id + 1)": (n_items, exp.items),
            "distinct users": (df["userID"].nunique(), exp.users),
            "distinct items": (df["itemID"].nunique(), exp.items),
        }
        for what, (got, want) in found.items():
            if got != want:
                problems.append((inter, f"{what}: expected {want:,}, found {got:,}"))
    feats = feature_files(folder)
    for name, (dim, dtype) in FEATURES.items():
        path = feats.get(name)
        if path is None:
            problems.append((folder / f"{name}_feat.npy", "missing"))
            continue
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if arr.shape != (n_items, dim):
            problems.append((path, f"shape: expected ({n_items}, {dim}), found {arr.shape}"))
        if arr.dtype != dtype:
            problems.append((path, f"dtype: expected {np.dtype(dtype)}, found {arr.dtype}"))
    if problems and not allow_variant:
        path, problem = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(path, problem + more + "; set allow_variant for a variant of the data")
    return [f"{p}: {m}" for p, m in problems]


def prepare_amazon(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str,
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    allow_variant: bool = False,
    user_graph: bool = False,
) -> dict[str, Any]:
    """MMRec's Baby/Sports/Clothing folder, validated against the published statistics, →
    ``out_dir`` (features are loaded as float32 by the loader; files are copied unchanged)."""
    check_replaceable(out_dir, is_prepared, [raw_dir])
    variant = validate_amazon(raw_dir, name, allow_variant)
    source = {"origin": DRIVE_URL, "variant_mismatches": variant}
    return prepare_folder(raw_dir, out_dir, name, neighbor_ks, knn_ks, source, user_graph)


@dataclass(frozen=True)
class AmazonParams(VerifiedParams):
    """Options of the ``amazon`` source.

    Attributes:
        cookies: a Netscape cookie file for Google Drive (when Drive asks for a login).
    """

    cookies: str | None = None


@SOURCES.register("amazon")
class Amazon(Source):
    """MMRec's Baby, Sports and Clothing from its Google Drive folder (the dataset name picks)."""

    Params = AmazonParams
    description = "MMRec's Amazon Baby/Sports/Clothing from Google Drive (the dataset name picks)"

    def download(self, dataset: str, out: Path, params: AmazonParams) -> None:
        """The dataset's files from the Drive folder, checked against the published counts."""
        if params.cookies:
            install_cookies(params.cookies)
        download_amazon(dataset, out, allow_variant=params.allow_variant)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: AmazonParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """The folder validated against the published statistics, copied."""
        return prepare_amazon(
            raw, out, dataset, allow_variant=params.allow_variant, **needs_kwargs(needs)
        )
