"""A prepared folder restricted to some modalities (a knock-out's data): exactly the dropped
modalities' files gone, the rest carried over unchanged, and every refusal one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crossrec.data.formats import load_mmrec
from crossrec.data.sources.folder import prepare_folder
from crossrec.data.subset import write_subset
from crossrec.errors import ConfigError, CrossrecError, DataError
from crossrec.safeload import load_json

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    prepare_folder(TINY, out, "tiny", neighbor_ks=[2], knn_ks=[3])
    return out


def test_only_the_dropped_modality_files_go(prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny-only-text"
    meta = write_subset(prepared, out, ["text"], ["image", "text"])
    before = {p.name for p in prepared.iterdir()}
    after = {p.name for p in out.iterdir()}
    gone = before - after
    assert gone == {"image_feat.npy"} | {n for n in before if n.startswith("knn_image_")}
    assert any(n.startswith("knn_text_k3_") for n in after) and "neighbors_k2.npy" in after
    for name in after - {"meta.json", ".crossrec"}:  # carried over byte for byte
        assert (out / name).read_bytes() == (prepared / name).read_bytes(), name
    data, full = load_mmrec(out), load_mmrec(prepared)
    assert list(data.features) == ["text"] and list(full.features) == ["image", "text"]
    assert np.array_equal(data.features["text"], full.features["text"])
    assert set(data.item_knn) == {("text", 3)}
    assert meta["dataset"] == "tiny-only-text" and list(meta["modalities"]) == ["text"]
    assert meta["knockout"] == {"derived_from": str(prepared), "kept": ["text"],
                                "dropped": ["image"]}  # fmt: skip
    assert load_json(out / "meta.json") == meta


def test_files_are_hard_links_where_the_file_system_allows(prepared: Path, tmp_path: Path) -> None:
    """The data files are shared; the folder's own hidden files are not (Snakemake touches a
    directory output's .snakemake_timestamp: a shared one made the full dataset look updated
    and every run on it retrain)."""
    (prepared / ".snakemake_timestamp").touch()
    out = tmp_path / "tiny-only-image"
    write_subset(prepared, out, ["image"], ["image", "text"])
    assert os.path.samefile(out / "image_feat.npy", prepared / "image_feat.npy")
    assert not (out / ".snakemake_timestamp").exists()
    assert not os.path.samefile(out / ".crossrec", prepared / ".crossrec")


@pytest.mark.parametrize(
    ("keep", "modalities", "error", "message"),
    [
        (["text"], ["audio", "text"], ConfigError,
         r"knockout.modalities: .* holds the modalities \['image', 'text'\], the config names "
         r"\['audio', 'text'\]"),
        (["image", "text"], ["image", "text"], ConfigError, "not a non-empty proper subset"),
        (["audio"], ["image", "text"], ConfigError, "not a non-empty proper subset"),
    ],
)  # fmt: skip
def test_a_bad_subset_is_refused_before_anything_is_written(
    prepared: Path, tmp_path: Path, keep: list, modalities: list, error: type, message: str
) -> None:
    out = tmp_path / "x"
    with pytest.raises(error, match=message):
        write_subset(prepared, out, keep, modalities)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_raw_folder_or_a_users_folder_is_refused(prepared: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder `crossrec prepare` wrote"):
        write_subset(TINY, tmp_path / "x", ["text"], ["image", "text"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(CrossrecError, match="not made by crossrec; refusing to replace it"):
        write_subset(prepared, mine, ["text"], ["image", "text"])
    assert (mine / "notes.txt").read_text() == "keep me"


def test_cli_subset_and_its_error_line(prepared: Path, tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "crossrec", "subset", "--data", str(prepared)]
    ok = subprocess.run([*cli, "--keep", "text", "--modalities", "image", "text", "--out",
                         str(tmp_path / "a")], capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "modalities: text" in ok.stdout
    bad = subprocess.run([*cli, "--keep", "text", "--modalities", "genre", "text", "--out",
                          str(tmp_path / "b")], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("crossrec: error: knockout.modalities:")
    assert not (tmp_path / "b").exists()
