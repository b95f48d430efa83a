"""The ``tiktok`` source: TikTok as split by MMSSL, from the copy committed in HKUDS/DiffMM, converted to MMRec format.

MMSSL's own Drive links are dead; HKUDS/DiffMM commits the same split in ``Datasets/tiktok/``:
``trnMat.pkl``, ``valMat.pkl``, ``tstMat.pkl`` (scipy sparse user × item matrices, 9,308 × 6,710
with 59,541 / 3,051 / 6,130 entries) and ``image_feat.npy``, ``audio_feat.npy`` (6,710 × 128,
float16), ``text_feat.npy`` (6,710 × 768). The files are fetched over HTTPS from the pinned commit
:data:`DIFFMM_COMMIT` (timeouts, retries, resume); MMSSL's json format (``train.json``,
``val.json``, ``test.json``: user → list of items) is accepted too when a user has it.

**A pickle from the internet is code.** :func:`safe_load_pickle` admits only the numpy and
scipy.sparse classes a sparse matrix needs and rejects anything else before it runs.

:func:`convert_tiktok` writes MMRec format: ``x_label`` 0 train, 1 valid, 2 test (a public
converter swaps valid and test; a test pins ours), all three modalities as float32, and a
``source.json`` naming the commit.
"""

from __future__ import annotations

import io
import pickle
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from crossrec.data.needs import DataNeeds
from crossrec.data.prepare import is_prepared
from crossrec.data.retry import retry
from crossrec.data.sources.base import SOURCES, Source, VerifiedParams, needs_kwargs
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import DataError, DownloadError
from crossrec.io import save_npy, write_json
from crossrec.outputs import atomic_dir, check_replaceable
from crossrec.safeload import load_json

DIFFMM_REPO = "HKUDS/DiffMM"
DIFFMM_COMMIT = "fae20e642aeeaad4284be6f7fb3432ebb551da8e"
BASE_URL = f"https://raw.githubusercontent.com/{DIFFMM_REPO}/{DIFFMM_COMMIT}/Datasets/tiktok"
PKL_FILES = {"train": "trnMat.pkl", "valid": "valMat.pkl", "test": "tstMat.pkl"}
JSON_FILES = {"train": "train.json", "valid": "val.json", "test": "test.json"}
FEATURE_FILES = ("image_feat.npy", "audio_feat.npy", "text_feat.npy")
LABELS = {"train": 0, "valid": 1, "test": 2}
EXPECTED = {"users": 9308, "items": 6710, "train": 59541, "valid": 3051, "test": 6130}


def _multiarray() -> Any:  # noqa: ANN401
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray


_MULTIARRAY = _multiarray()
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _MULTIARRAY._reconstruct
    _ALLOWED[(_module, "scalar")] = _MULTIARRAY.scalar
for _module in ("scipy.sparse.coo", "scipy.sparse._coo"):
    _ALLOWED[(_module, "coo_matrix")] = sp.coo_matrix
for _module in ("scipy.sparse.csr", "scipy.sparse._csr"):
    _ALLOWED[(_module, "csr_matrix")] = sp.csr_matrix


class _SparseUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the classes of :data:`_ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:  # noqa: ANN401
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return _ALLOWED[(module, name)]


def safe_load_pickle(path: str | Path) -> sp.csr_matrix:
    """A scipy sparse matrix from a pickle, loading nothing but numpy/scipy.sparse classes."""
    path = Path(path)
    try:
        obj = _SparseUnpickler(io.BytesIO(path.read_bytes())).load()
    except FileNotFoundError:
        raise DataError(path, "missing") from None
    except pickle.UnpicklingError as err:
        raise DataError(path, f"unsafe or invalid pickle ({err})") from None
    except Exception as err:  # truncated or malformed data
        raise DataError(path, f"cannot unpickle ({type(err).__name__}: {err})") from None
    if not sp.issparse(obj):
        raise DataError(path, f"expected a scipy sparse matrix, found {type(obj).__name__}")
    try:  # the unpickled arrays are not checked by scipy until used: check them all now
        if sp.isspmatrix_coo(obj):
            row, col = np.asarray(obj.row), np.asarray(obj.col)
            if not (len(row) == len(col) == len(np.asarray(obj.data))):
                raise ValueError("row, col and data differ in length")
            if len(row) and (row.min() < 0 or col.min() < 0):
                raise ValueError("negative row or column index")
        mat = sp.csr_matrix(obj)
        mat.check_format(full_check=True)
    except Exception as err:  # noqa: BLE001 (any inconsistency of untrusted arrays)
        raise DataError(
            path, f"not a valid sparse matrix ({type(err).__name__}: {str(err)[:200]})"
        ) from None
    return mat


def _fetch(url: str, out: Path, tries: int, timeout: float, wait: float) -> None:
    """HTTP(S) GET ``url`` to ``out`` with retries (:func:`crossrec.data.retry.retry`); a
    partial ``out.part`` is resumed."""
    part = out.with_name(out.name + ".part")

    def once() -> None:
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = getattr(resp, "status", 200)
            mode = "ab" if have and status == 206 else "wb"
            with part.open(mode) as fh:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
        part.replace(out)

    network = (urllib.error.URLError, TimeoutError, ConnectionError, OSError)
    try:
        retry(once, tries, wait, retry_on=network)
    except network as err:
        raise DownloadError(
            f"could not fetch {url} ({getattr(err, 'reason', err)}). Without internet, "
            f"download Datasets/tiktok/ of github.com/{DIFFMM_REPO} at commit "
            f"{DIFFMM_COMMIT} by hand and put {', '.join(PKL_FILES.values())} and "
            f"{', '.join(FEATURE_FILES)} in resources/tiktok/"
        ) from None


def download_tiktok(
    dest: str | Path,
    base_url: str = BASE_URL,
    tries: int = 3,
    timeout: float = 60.0,
    wait: float = 2.0,
) -> Path:
    """Fetch the DiffMM TikTok files into ``dest`` (kept if already there and loadable)."""
    dest = Path(dest)
    if dest.is_dir() and _source_format(dest) is not None:
        return dest
    with atomic_dir(dest, "download") as stage:
        for name in (*PKL_FILES.values(), *FEATURE_FILES):
            _fetch(f"{base_url}/{name}", stage / name, tries, timeout, wait)
            if name.endswith(".pkl"):
                safe_load_pickle(stage / name)  # reject a bad pickle before keeping anything
        write_json(stage / "source.json", {"repository": DIFFMM_REPO, "commit": DIFFMM_COMMIT})
    return dest


def _source_format(folder: Path) -> str | None:
    if all((folder / f).is_file() for f in PKL_FILES.values()):
        return "pkl"
    if all((folder / f).is_file() for f in JSON_FILES.values()):
        return "json"
    return None


def _read_json_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    blob = load_json(path, DataError)
    if not isinstance(blob, dict):
        raise DataError(path, "expected an object user -> list of items")
    users, items = [], []
    for user, its in blob.items():
        if not isinstance(its, list):
            raise DataError(path, f"user {user}: expected a list of items")
        try:
            users.extend([int(user)] * len(its))
            items.extend(int(i) for i in its)
        except (TypeError, ValueError):
            raise DataError(path, f"user {user}: ids must be integers") from None
    return np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)


def read_splits(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split → (users, items) from the pickles (preferred) or MMSSL's json files."""
    folder = Path(folder)
    fmt = _source_format(folder)
    if fmt is None:
        raise DataError(
            folder,
            f"no TikTok split: expected {', '.join(PKL_FILES.values())} or "
            f"{', '.join(JSON_FILES.values())}",
        )
    out = {}
    for split in LABELS:
        if fmt == "pkl":
            mat = safe_load_pickle(folder / PKL_FILES[split]).tocoo()
            keep = mat.data != 0
            out[split] = (mat.row[keep].astype(np.int64), mat.col[keep].astype(np.int64))
        else:
            out[split] = _read_json_split(folder / JSON_FILES[split])
    return out


def convert_tiktok(
    raw: str | Path, out: str | Path, name: str = "tiktok", allow_variant: bool = False
) -> dict[str, Any]:
    """MMSSL TikTok files in ``raw`` → MMRec-format ``out`` (``<name>.inter`` + three float32
    ``*_feat.npy``); returns a summary. Counts are checked against :data:`EXPECTED`."""
    raw = Path(raw)
    splits = read_splits(raw)
    frames = [
        pd.DataFrame({"userID": u, "itemID": i, "rating": 1, "timestamp": 0, "x_label": LABELS[s]})
        for s, (u, i) in splits.items()
    ]
    inter = pd.concat(frames, ignore_index=True)
    feats = {}
    for fname in FEATURE_FILES:
        path = raw / fname
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(path, "missing") from None
        except ValueError as err:
            raise DataError(path, f"not a plain .npy array ({err})") from None
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
            raise DataError(path, f"expected a 2-D float array, found {arr.dtype} {arr.shape}")
        feats[fname] = arr.astype(np.float32)
    n_items = {a.shape[0] for a in feats.values()}
    if len(n_items) != 1:
        raise DataError(raw, f"feature files disagree on the number of items: {sorted(n_items)}")
    found = {
        "users": int(inter["userID"].max()) + 1,
        "items": n_items.pop(),
        **{s: len(splits[s][0]) for s in LABELS},
    }
    if int(inter["itemID"].max()) >= found["items"]:
        raise DataError(
            raw, f"item id {int(inter['itemID'].max())} ≥ feature rows {found['items']}"
        )
    if not allow_variant:
        for key, want in EXPECTED.items():
            if found[key] != want:
                raise DataError(raw, f"{key}: expected {want:,}, found {found[key]:,}")
    source = {}
    if (raw / "source.json").is_file():
        source = load_json(raw / "source.json", DataError)
    with atomic_dir(out, "convert", protect=[raw]) as stage:
        inter.to_csv(stage / f"{name}.inter", sep="\t", index=False)
        for fname, arr in feats.items():
            save_npy(stage / fname, arr)
        write_json(stage / "source.json", {**source, "format": _source_format(raw), **found})
    return found


def prepare_tiktok(
    raw_dir: str | Path,
    out_dir: str | Path,
    name: str,
    neighbor_ks: Sequence[int] = (),
    knn_ks: Sequence[int] = (),
    allow_variant: bool = False,
    user_graph: bool = False,
) -> dict[str, Any]:
    """MMSSL's TikTok files (pickles or json) → MMRec format → ``out_dir``."""
    import tempfile

    check_replaceable(out_dir, is_prepared, [raw_dir])
    with tempfile.TemporaryDirectory(prefix="crossrec-tiktok-") as tmp:
        converted = Path(tmp) / name
        found = convert_tiktok(raw_dir, converted, name, allow_variant)
        origin = load_json(converted / "source.json", DataError)
        try:
            return prepare_folder(
                converted,
                out_dir,
                name,
                neighbor_ks,
                knn_ks,
                {"conversion": origin, **found},
                user_graph,
            )
        except DataError as err:  # name the user's folder, not the temporary conversion
            if Path(tmp) in err.path.parents:
                raise DataError(
                    raw_dir, f"after conversion, {err.path.name}: {err.problem}"
                ) from None
            raise


class TikTokParams(VerifiedParams):
    """Options of the ``tiktok`` source (``allow_variant`` only)."""


@SOURCES.register("tiktok")
class TikTok(Source):
    """MMSSL's TikTok split, from a pinned commit of HKUDS/DiffMM."""

    Params = TikTokParams
    description = "MMSSL's TikTok split from a pinned commit of HKUDS/DiffMM"

    def download(self, dataset: str, out: Path, params: TikTokParams) -> None:
        """The split's pickles and feature files into ``out``."""
        download_tiktok(out)

    def prepare(
        self, raw: Path, out: Path, dataset: str, params: TikTokParams, needs: DataNeeds
    ) -> dict[str, Any]:
        """MMSSL's files converted to MMRec format."""
        return prepare_tiktok(
            raw, out, dataset, allow_variant=params.allow_variant, **needs_kwargs(needs)
        )
