"""The papers' datasets without network: a fake Drive listing, TikTok pickles/json, every error path."""

from __future__ import annotations

import json
import pickle
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from crossrec.cli import main
from crossrec.data.formats import load_mmrec
from crossrec.data.sources import amazon, tiktok
from crossrec.data.sources.amazon import (
    DriveFile,
    Expected,
    download_amazon,
    prepare_amazon,
    select_files,
)
from crossrec.data.sources.tiktok import prepare_tiktok
from crossrec.errors import DataError, DownloadError

TINY = Path(__file__).parents[1] / "fixtures" / "tiny"
TINY_STATS = Expected(users=40, items=30, inters=442, train=362, valid=40, test=40)


def _amazon_folder(folder: Path, name: str = "baby") -> Path:
    """The tiny interactions in MMRec's Amazon layout (4096-d float64 image, 384-d text)."""
    folder.mkdir(parents=True)
    shutil.copy(TINY / "tiny.inter", folder / f"{name}.inter")
    rng = np.random.default_rng(0)
    np.save(folder / "image_feat.npy", rng.random((30, 4096)))
    np.save(folder / "text_feat.npy", rng.random((30, 384)).astype(np.float32))
    return folder


def _drive(tmp_path: Path, layout: str) -> Path:
    """A local stand-in for MMRec's Drive folder: baby (sub-folder or zip) and a large elec."""
    root = tmp_path / "drive"
    baby = _amazon_folder(tmp_path / "staging" / "baby")
    if layout == "folder":
        shutil.copytree(baby, root / "baby")
    else:
        root.mkdir(parents=True)
        with zipfile.ZipFile(root / "baby.zip", "w") as zf:
            for path in baby.iterdir():
                zf.write(path, f"baby/{path.name}")
    (root / "elec").mkdir(parents=True)
    (root / "elec" / "elec.inter").write_text("never fetched\n")
    return root


def _lister(root: Path):
    def lister(folder_id: str) -> list[DriveFile]:
        assert folder_id == amazon.DRIVE_FOLDER
        return [
            DriveFile(str(p), p.relative_to(root).as_posix())
            for p in sorted(root.rglob("*"))
            if p.is_file()
        ]

    return lister


def _fetcher(log: list[str]):
    def fetch(file_id: str, out: Path) -> None:
        log.append(Path(file_id).name)
        shutil.copy(file_id, out)

    return fetch


@pytest.fixture
def tiny_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(amazon.EXPECTED, "baby", TINY_STATS)


def test_select_files_layouts() -> None:
    entries = [DriveFile("1", "Baby/baby.inter"), DriveFile("2", "Baby/image_feat.npy")]
    entries += [DriveFile("3", "elec/elec.inter"), DriveFile("4", "sports.zip")]
    assert [e.id for e in select_files(entries, "baby")] == ["1", "2"]
    assert [e.id for e in select_files(entries, "sports")] == ["4"]
    with pytest.raises(DownloadError, match="no 'clothing' sub-folder or clothing.zip"):
        select_files(entries, "clothing")


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_download_fetches_only_the_requested_dataset(
    tmp_path: Path, layout: str, tiny_stats: None
) -> None:
    fetched: list[str] = []
    dest = tmp_path / "resources" / "baby"
    download_amazon(
        "baby", dest, lister=_lister(_drive(tmp_path, layout)), fetcher=_fetcher(fetched)
    )
    assert "elec.inter" not in fetched
    assert sorted(p.name for p in dest.iterdir()) == [
        ".crossrec",
        "baby.inter",
        "image_feat.npy",
        "text_feat.npy",
    ]
    data = load_mmrec(dest)
    assert data.n_items == 30 and data.features["image"].shape == (30, 4096)


def test_manual_placement_is_validated_and_kept(tmp_path: Path, tiny_stats: None) -> None:
    dest = _amazon_folder(tmp_path / "resources" / "baby")

    def no_network(folder_id: str) -> list[DriveFile]:
        raise AssertionError("a valid manual placement must not touch the network")

    assert download_amazon("baby", dest, lister=no_network) == dest


def test_validation_names_expected_and_found(tmp_path: Path) -> None:
    folder = _amazon_folder(tmp_path / "baby")
    with pytest.raises(DataError, match=r"baby.inter: interactions: expected 160,792, found 442"):
        amazon.validate_amazon(folder, "baby")
    problems = amazon.validate_amazon(folder, "baby", allow_variant=True)
    assert any("train rows: expected 118,551, found 362" in p for p in problems)


def test_feature_shape_and_dtype_checked(tmp_path: Path, tiny_stats: None) -> None:
    folder = _amazon_folder(tmp_path / "baby")
    np.save(folder / "image_feat.npy", np.zeros((30, 4096), dtype=np.float32))
    with pytest.raises(DataError, match="image_feat.npy: dtype: expected float64, found float32"):
        amazon.validate_amazon(folder, "baby")
    np.save(folder / "image_feat.npy", np.zeros((30, 4096)))
    np.save(folder / "text_feat.npy", np.zeros((29, 384), dtype=np.float32))
    with pytest.raises(DataError, match=r"shape: expected \(30, 384\), found \(29, 384\)"):
        amazon.validate_amazon(folder, "baby")


def test_offline_download_fails_fast_and_leaves_nothing(tmp_path: Path) -> None:
    import requests

    def offline(folder_id: str) -> list[DriveFile]:
        raise requests.exceptions.ConnectionError("Failed to resolve 'drive.google.com'")

    dest = tmp_path / "resources" / "baby"
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download_amazon("baby", dest, lister=offline, wait=0.01)
    assert time.monotonic() - start < 5
    assert "could not reach Google Drive" in str(err.value)
    assert "put its files (baby.inter, image_feat.npy, text_feat.npy) in resources/baby/" in str(
        err.value
    )
    assert not dest.exists() and not any(tmp_path.joinpath("resources").glob("*"))


def test_quota_error_explains_cookies(tmp_path: Path) -> None:
    def quota(folder_id: str) -> list[DriveFile]:
        raise RuntimeError("Too many users have viewed or downloaded this file recently.")

    with pytest.raises(DownloadError, match="--cookies-from-browser") as err:
        download_amazon("baby", tmp_path / "baby", lister=quota, wait=0.01)
    assert "crossrec download --cookies" in str(err.value)


def test_failed_fetch_leaves_nothing(tmp_path: Path, tiny_stats: None) -> None:
    def broken(file_id: str, out: Path) -> None:
        raise OSError("connection reset")

    dest = tmp_path / "baby"
    with pytest.raises(DownloadError):
        download_amazon("baby", dest, _lister(_drive(tmp_path, "folder")), broken, wait=0.01)
    assert not dest.exists()


def test_prepare_amazon_records_the_source(tmp_path: Path, tiny_stats: None) -> None:
    meta = prepare_amazon(_amazon_folder(tmp_path / "baby"), tmp_path / "out", "baby", [3], [4])
    assert meta["origin"] == amazon.DRIVE_URL and meta["n_items"] == 30
    assert (tmp_path / "out" / "neighbors_k3.npy").is_file()


# ---- TikTok -------------------------------------------------------------------------------


def _tiktok_raw(folder: Path, fmt: str = "pkl") -> Path:
    """A tiny TikTok folder: 5 users × 6 items, three modalities (float16 like DiffMM)."""
    folder.mkdir(parents=True)
    splits = {
        "train": [(0, 0), (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (1, 0), (2, 1)],
        "valid": [(0, 2), (1, 3)],
        "test": [(2, 4), (3, 5), (4, 0)],
    }
    for split, pairs in splits.items():
        rows, cols = zip(*pairs, strict=True)
        if fmt == "pkl":
            mat = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(5, 6))
            (folder / tiktok.PKL_FILES[split]).write_bytes(pickle.dumps(mat, protocol=3))
        else:
            blob: dict[str, list[int]] = {}
            for u, i in pairs:
                blob.setdefault(str(u), []).append(i)
            (folder / tiktok.JSON_FILES[split]).write_text(json.dumps(blob))
    rng = np.random.default_rng(0)
    for name, dim in (("image_feat.npy", 4), ("audio_feat.npy", 4), ("text_feat.npy", 8)):
        np.save(folder / name, rng.random((6, dim)).astype(np.float16))
    return folder


@pytest.mark.parametrize("fmt", ["pkl", "json"])
def test_tiktok_conversion_labels_and_dtypes(tmp_path: Path, fmt: str) -> None:
    raw = _tiktok_raw(tmp_path / "raw", fmt)
    found = tiktok.convert_tiktok(raw, tmp_path / "out", allow_variant=True)
    assert found == {"users": 5, "items": 6, "train": 8, "valid": 2, "test": 3}
    df = pd.read_csv(tmp_path / "out" / "tiktok.inter", sep="\t")
    # valid comes from valMat / val.json and is x_label 1; test from tstMat / test.json is 2
    valid = set(map(tuple, df[df.x_label == 1][["userID", "itemID"]].to_numpy()))
    test = set(map(tuple, df[df.x_label == 2][["userID", "itemID"]].to_numpy()))
    assert valid == {(0, 2), (1, 3)} and test == {(2, 4), (3, 5), (4, 0)}
    for name in tiktok.FEATURE_FILES:
        assert np.load(tmp_path / "out" / name).dtype == np.float32
    data = load_mmrec(tmp_path / "out")
    assert sorted(data.features) == ["audio", "image", "text"]


def test_tiktok_counts_checked_unless_variant(tmp_path: Path) -> None:
    raw = _tiktok_raw(tmp_path / "raw")
    with pytest.raises(DataError, match="users: expected 9,308, found 5"):
        tiktok.convert_tiktok(raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_malicious_pickle_is_rejected_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (Path.touch, (marker,))

    raw = _tiktok_raw(tmp_path / "raw")
    (raw / "trnMat.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match=r"trnMat.pkl: unsafe or invalid pickle \(refusing to load"):
        tiktok.convert_tiktok(raw, tmp_path / "out", allow_variant=True)
    assert not marker.exists() and not (tmp_path / "out").exists()
    (raw / "trnMat.pkl").write_bytes(pickle.dumps({"not": "a matrix"}))
    with pytest.raises(DataError, match="refusing to load|expected a scipy sparse matrix"):
        tiktok.safe_load_pickle(raw / "trnMat.pkl")
    (raw / "trnMat.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="expected a scipy sparse matrix, found list"):
        tiktok.safe_load_pickle(raw / "trnMat.pkl")


def test_tiktok_download_from_a_pinned_url_and_offline(tmp_path: Path) -> None:
    served = _tiktok_raw(tmp_path / "served")
    dest = tmp_path / "resources" / "tiktok"
    tiktok.download_tiktok(dest, base_url=served.as_uri())
    assert json.loads((dest / "source.json").read_text())["commit"] == tiktok.DIFFMM_COMMIT
    assert tiktok.DIFFMM_COMMIT in tiktok.BASE_URL and len(tiktok.DIFFMM_COMMIT) == 40
    meta = prepare_tiktok(dest, tmp_path / "prepared", "tiktok", [2], [3], allow_variant=True)
    assert meta["conversion"]["commit"] == tiktok.DIFFMM_COMMIT
    gone = tmp_path / "resources" / "tiktok2"
    with pytest.raises(DownloadError, match="by hand and put trnMat.pkl"):
        tiktok.download_tiktok(gone, base_url=(tmp_path / "nowhere").as_uri(), wait=0.01)
    assert not gone.exists()


def test_cli_prepare_tiktok_and_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = _tiktok_raw(tmp_path / "raw")
    args = ["prepare", "--dataset", "tiktok", "--source", "tiktok", "--raw", str(raw)]
    assert main([*args, "--out", str(tmp_path / "a"), "--allow-variant"]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "users: expected 9,308, found 5" in err[0]
    assert not (tmp_path / "b").exists()
