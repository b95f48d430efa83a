"""MMRec preprocessing (k-core, re-indexing, random split) and the ml100k prepare step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossrec.data.formats import load_mmrec
from crossrec.data.prepare import describe
from crossrec.data.preprocess import clean_interactions, k_core, random_split, reindex, split_labels
from crossrec.data.sources import ml100k
from crossrec.data.sources.ml100k import prepare_ml100k
from crossrec.errors import DataError


def _frame(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(u, i, 5, t) for t, (u, i) in enumerate(pairs)],
        columns=["userID", "itemID", "rating", "timestamp"],
    )


def test_clean_drops_na_and_exact_duplicates_only() -> None:
    df = pd.DataFrame(
        {
            "userID": [1, 1, 1, 2],
            "itemID": [7, 7, 7, None],
            "rating": [5, 4, 3, 1],
            "timestamp": [10, 10, 11, 12],
        }
    )
    out = clean_interactions(df)
    assert out["timestamp"].tolist() == [10, 11]  # same (u,i,t) dropped; same (u,i) new t kept


def test_k_core_is_iterative() -> None:
    # Users 0-1 have 2 items each; dropping user 2 (1 interaction) leaves item 9 with 1 -> dropped.
    pairs = [(0, 1), (0, 2), (1, 1), (1, 2), (2, 9), (3, 9), (3, 1), (3, 2)]
    out = k_core(_frame(pairs), k=2)
    assert sorted(set(out["itemID"])) == [1, 2]
    assert sorted(set(out["userID"])) == [0, 1, 3]
    counts_u = out["userID"].value_counts()
    counts_i = out["itemID"].value_counts()
    assert counts_u.min() >= 2 and counts_i.min() >= 2


def test_reindex_by_first_appearance() -> None:
    df, raw_users, raw_items = reindex(_frame([(50, 7), (20, 9), (50, 9)]))
    assert df["userID"].tolist() == [0, 1, 0]
    assert df["itemID"].tolist() == [0, 1, 1]
    assert raw_users.tolist() == [50, 20] and raw_items.tolist() == [7, 9]


@pytest.mark.parametrize(
    "n,expected",
    [
        (5, [0, 0, 0, 1, 2]),
        (9, [0] * 7 + [1, 2]),
        (10, [0] * 8 + [1, 2]),
        (14, [0] * 12 + [1, 2]),
        (15, [0] * 12 + [1, 2, 2]),
        (23, [0] * 19 + [1, 1, 2, 2]),
    ],
)
def test_split_labels_golden(n: int, expected: list[int]) -> None:
    assert split_labels(n) == expected


def test_random_split_matches_rule_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    pairs = [(u, int(i)) for u in range(30) for i in rng.choice(200, rng.integers(5, 40), False)]
    df = _frame(pairs)
    a, b, c = random_split(df, 1), random_split(df, 1), random_split(df, 2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert a["userID"].is_monotonic_increasing
    for _, group in a.groupby("userID"):
        assert group["x_label"].tolist() == split_labels(len(group))


def _fake_raw(folder: Path) -> Path:
    """RecBole-format raw files: 12 users x 10 items, every user rates 6-10 items."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(1, 13):
        for i in rng.choice(np.arange(1, 11), rng.integers(6, 11), replace=False):
            lines.append(f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + len(lines)}")
    lines.append("99\t1\t3\t880000001")  # a user with 1 rating: removed by the 5-core
    (folder / "ml-100k.inter").write_text("\n".join(lines) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for i in range(1, 11):
        year = "" if i == 4 else str(1950 + 5 * i)
        items.append(f"{i}\tMovie {i}\t{year}\t{'Drama Comedy' if i % 2 else 'Action'}")
    (folder / "ml-100k.item").write_text("\n".join(items) + "\n")
    return folder


def _fake_encoder(texts: list[str]) -> np.ndarray:
    return np.stack([np.full(384, len(t), np.float32) for t in texts])


def test_prepare_ml100k_on_fixture(tmp_path: Path) -> None:
    raw = _fake_raw(tmp_path / "raw")
    with pytest.raises(DataError, match="differs from MovieLens-100k's recorded"):
        prepare_ml100k(raw, tmp_path / "out", name="mini", encoder=_fake_encoder)
    assert not (tmp_path / "out").exists()
    meta = prepare_ml100k(
        raw, tmp_path / "out", name="mini", encoder=_fake_encoder, allow_variant=True
    )
    assert meta["source_verified"] is False
    data = load_mmrec(tmp_path / "out")
    assert meta["n_users"] == data.n_users == 12 and meta["n_items"] == data.n_items == 10
    assert meta["n_interactions"] == len(data.train) + len(data.valid) + len(data.test)
    assert meta["splits"]["valid"] == len(data.valid)
    assert set(meta["source_files"]) == {"ml-100k.inter", "ml-100k.item"}
    assert json.loads((tmp_path / "out" / "meta.json").read_text()) == meta
    assert data.features["text"].shape == (10, 384)
    genre = data.features["genre"]
    # 3 genres + decades {1950s..2000s} + year_z; the item without a year has no decade.
    names = meta["modalities"]["genre"]["columns"]
    assert names[:3] == ["genre=Action", "genre=Comedy", "genre=Drama"] and names[-1] == "year_z"
    row = meta["raw_item_ids"].index(4)
    assert genre[row, 3:-1].sum() == 0 and genre[row, -1] == 0
    known = [r for r, i in enumerate(meta["raw_item_ids"]) if i != 4]
    assert genre[known, -1].mean() == pytest.approx(0, abs=1e-6)
    assert "12 users, 10 items" in describe(meta)


def test_prepare_ml100k_missing_raw(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="ml-100k.inter: not found"):
        prepare_ml100k(tmp_path, tmp_path / "out", encoder=_fake_encoder)
    assert not (tmp_path / "out").exists()


def test_item_texts() -> None:
    items = pd.DataFrame({"title": ["Heat", "Alien"], "year": [1995.0, np.nan]})
    assert ml100k.item_texts(items) == ["Heat (1995)", "Alien"]


def test_minilm_encoder_offline() -> None:
    encode = ml100k.minilm_encoder()
    out = encode(["Toy Story (1995)", "GoldenEye (1995)", "Toy Story (1995)"])
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[0], out[2])
    assert float(out[0] @ out[1]) < 0.99
