"""The ml100k download against a local wheel index (no internet needed)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from crossrec.data.sources.folder import copy_mmrec_folder
from crossrec.data.sources.ml100k import RECBOLE_WHEEL, download_ml100k
from crossrec.errors import DataError, DownloadError

INTER = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t3\t4\n"
ITEM = b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n2\tX\t1990\tDrama\n"


def _fake_index(folder: Path, with_item: bool = True) -> str:
    folder.mkdir()
    with zipfile.ZipFile(folder / RECBOLE_WHEEL, "w") as zf:
        zf.writestr("recbole/__init__.py", "")
        zf.writestr("recbole/dataset_example/ml-100k/ml-100k.inter", INTER)
        if with_item:
            zf.writestr("recbole/dataset_example/ml-100k/ml-100k.item", ITEM)
        zf.writestr(
            "recbole-1.2.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: recbole\nVersion: 1.2.1\n",
        )
        zf.writestr(
            "recbole-1.2.1.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr("recbole-1.2.1.dist-info/RECORD", "")
    return hashlib.sha256((folder / RECBOLE_WHEEL).read_bytes()).hexdigest()


def _members() -> dict[str, str | None]:
    return {
        "ml-100k.inter": hashlib.sha256(INTER).hexdigest(),
        "ml-100k.item": hashlib.sha256(ITEM).hexdigest(),
    }


def test_download_extracts_and_verifies(tmp_path: Path) -> None:
    sha = _fake_index(tmp_path / "index")
    args = ["--no-index", "--find-links", str(tmp_path / "index")]
    dest = download_ml100k(tmp_path / "ml100k", args, wheel_sha256=sha, member_sha256=_members())
    assert (dest / "ml-100k.inter").read_bytes() == INTER
    assert (dest / "ml-100k.item").read_bytes() == ITEM
    # Idempotent: present files with the right hashes are kept without a download.
    assert download_ml100k(dest, ["--no-index"], wheel_sha256="x", member_sha256=_members())


def test_wheel_hash_mismatch_writes_nothing(tmp_path: Path) -> None:
    _fake_index(tmp_path / "index")
    args = ["--no-index", "--find-links", str(tmp_path / "index")]
    with pytest.raises(DataError, match="does not match the pinned"):
        download_ml100k(tmp_path / "ml100k", args, wheel_sha256="0" * 64, member_sha256=_members())
    assert not (tmp_path / "ml100k").exists()


def test_member_hash_mismatch(tmp_path: Path) -> None:
    sha = _fake_index(tmp_path / "index")
    args = ["--no-index", "--find-links", str(tmp_path / "index")]
    with pytest.raises(DataError, match="ml-100k.item has sha256"):
        download_ml100k(
            tmp_path / "ml100k",
            args,
            wheel_sha256=sha,
            member_sha256={"ml-100k.inter": None, "ml-100k.item": "0" * 64},
        )
    assert not (tmp_path / "ml100k").exists()


def test_missing_member(tmp_path: Path) -> None:
    sha = _fake_index(tmp_path / "index", with_item=False)
    args = ["--no-index", "--find-links", str(tmp_path / "index")]
    with pytest.raises(DataError, match="ml-100k.item is missing"):
        download_ml100k(tmp_path / "ml100k", args, wheel_sha256=sha, member_sha256=_members())


def test_offline_gives_manual_instructions(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    args = ["--no-index", "--find-links", str(tmp_path / "empty")]
    with pytest.raises(DownloadError) as err:
        download_ml100k(tmp_path / "ml100k", args)
    msg = str(err.value)
    assert "could not fetch recbole==1.2.1" in msg and "resources/ml100k/ by hand" in msg
    assert "\n" not in msg
    assert not (tmp_path / "ml100k").exists()


def test_copy_folder_validates_first(tiny_dir: Path, tmp_path: Path) -> None:
    out = copy_mmrec_folder(tiny_dir, tmp_path / "copy")
    assert sorted(p.name for p in out.iterdir()) == [
        ".crossrec",
        "image_feat.npy",
        "text_feat.npy",
        "tiny.inter",
    ]
    (tiny_dir / "text_feat.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="text_feat.npy"):
        copy_mmrec_folder(tiny_dir, tmp_path / "copy2")
    assert not (tmp_path / "copy2").exists()


def test_hand_edited_ml100k_is_not_replaced(tmp_path: Path) -> None:
    """A hand-placed folder whose files fail the recorded digests is refused, never replaced."""
    dest = tmp_path / "ml100k"
    dest.mkdir()
    (dest / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    (dest / "ml-100k.item").write_text("item_id:token\n2\n")
    with pytest.raises(DataError, match="ml-100k.inter: differs from MovieLens-100k"):
        download_ml100k(dest, ["--no-index"])
    assert (dest / "ml-100k.inter").read_text().startswith("user_id")
