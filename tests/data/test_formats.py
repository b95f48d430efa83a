"""The MMRec-format loader: semantics and one test per kind of bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_mmrec

from crossrec.data.formats import load_mmrec
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import DataError

GOOD_ROWS = [
    (0, 0, 0),
    (0, 1, 0),
    (0, 2, 1),
    (0, 3, 2),
    (1, 1, 0),
    (1, 2, 0),
    (1, 0, 1),
    (1, 4, 2),
    (3, 5, 1),
    (3, 1, 2),  # user 3 has no train row: cold, filtered
]


def test_mmrec_semantics(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS, {"image": np.ones((6, 4), np.float64)})
    data = load_mmrec(folder)
    assert (data.n_users, data.n_items) == (4, 6)  # max id + 1 over the whole file
    assert data.train.users.tolist() == [0, 0, 1, 1]
    assert data.valid.users.tolist() == [0, 1]  # user 3 dropped (cold)
    assert data.test.items.tolist() == [3, 4]
    assert data.features["image"].dtype == np.float32
    assert data.name == "ds"


def _expect(folder: Path, culprit: str, words: str) -> None:
    with pytest.raises(DataError) as err:
        load_mmrec(folder)
    msg = str(err.value)
    assert culprit in msg and words in msg and "\n" not in msg


def test_missing_column(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    pd.DataFrame({"userID": [0], "itemID": [0]}).to_csv(folder / "ds.inter", sep="\t", index=False)
    _expect(folder, "ds.inter", "missing column(s) x_label")


@pytest.mark.parametrize("bad", ["a", "1.5"])
def test_non_integer_ids(tmp_path: Path, bad: str) -> None:
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS)
    text = (folder / "ds.inter").read_text().splitlines()
    cells = text[1].split("\t")
    cells[1] = bad
    text[1] = "\t".join(cells)
    (folder / "ds.inter").write_text("\n".join(text) + "\n")
    _expect(folder, "ds.inter", "column itemID has non-integer values")


def test_negative_ids(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", [*GOOD_ROWS, (-1, 0, 0)])
    _expect(folder, "ds.inter", "column userID has negative ids")


def test_bad_x_label(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", [*GOOD_ROWS, (0, 5, 3)])
    _expect(folder, "ds.inter", "x_label must be 0, 1 or 2 (found [3])")


@pytest.mark.parametrize("split,label", [("train", 0), ("valid", 1), ("test", 2)])
def test_empty_split(tmp_path: Path, split: str, label: int) -> None:
    rows = [r for r in GOOD_ROWS if r[2] != label]
    folder = write_mmrec(tmp_path / "ds", rows)
    _expect(folder, "ds.inter", f"the {split} split is empty")


def test_split_empty_after_cold_user_filter(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", [(0, 0, 0), (0, 1, 1), (1, 2, 2)])
    _expect(folder, "ds.inter", "the test split is empty")


def test_feature_rows_mismatch(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS, {"text": np.ones((5, 3), np.float32)})
    _expect(folder, "text_feat.npy", "has 5 rows but the dataset has 6 items")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_feature_nan_inf(tmp_path: Path, value: float) -> None:
    arr = np.ones((6, 3), np.float32)
    arr[2, 1] = value
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS, {"text": arr})
    _expect(folder, "text_feat.npy", "contains NaN or inf values in 1 row(s)")


def test_feature_dtype(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS, {"text": np.ones((6, 3), np.int64)})
    _expect(folder, "text_feat.npy", "feature dtype must be floating point, found int64")


@pytest.mark.parametrize("shape", [(6,), (6, 2, 2)])
def test_feature_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS, {"text": np.ones(shape, np.float32)})
    _expect(folder, "text_feat.npy", "features must be 2-D")


def test_feature_pickled_object_rejected(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", GOOD_ROWS)
    np.save(folder / "text_feat.npy", np.array([{"a": 1}] * 6, dtype=object), allow_pickle=True)
    _expect(folder, "text_feat.npy", "not a plain numeric .npy array")
    assert pickle  # the loader never unpickles: allow_pickle=False


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    folder = write_mmrec(tmp_path / "ds", [*GOOD_ROWS, (0, 5, 7)])
    out = tmp_path / "out"
    with pytest.raises(DataError):
        prepare_folder(folder, out, name="ds")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [folder]  # no temporary leftovers either


def test_tiny_fixture_loads(tiny_dir: Path) -> None:
    data = load_mmrec(tiny_dir)
    assert (data.n_users, data.n_items) == (40, 30)
    assert sorted(data.features) == ["image", "text"]
    assert data.features["image"].shape == (30, 16)
