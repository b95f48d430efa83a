"""Seeded synthetic MMRec folders with a real dataset's shape, for benchmarks and for sizing a
cluster run before the real data is at hand (``crossrec synth``).

A folder of shape ``baby`` has Amazon Baby's users, items and interactions and its feature
widths (image 4,096-d, text 384-d); likewise ``sports``, ``clothing``, ``tiktok`` (image 128,
audio 128, text 768) and ``ml100k`` (genre 28, text 384). The numbers are the published ones
(``amazon.EXPECTED``, ``tiktok.EXPECTED``, and ml100k as ``crossrec prepare`` writes it).

So that metrics mean something (a model can learn; the alignment losses see modalities that
agree with the feedback), the data has topic structure: each of ``topics`` topics has a centroid
per modality; an item belongs to one topic and its features are ``centroid + noise`` (float32);
a user prefers one topic and draws ``affinity`` of its interactions from that topic's items and
the rest from all items, both weighted by a Zipf popularity (at most ``items / (2 × mean
interactions per user)`` topics, so that a topic can hold a user's preferred items). Per-user interaction counts are
log-normal (at least 5), scaled to the target total; the split is MMRec's random per-user split
(:func:`crossrec.data.preprocess.random_split`). Every id in ``[0, n)`` occurs, so ``max id + 1``
equals the shape's counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossrec.data.preprocess import random_split
from crossrec.errors import ConfigError
from crossrec.io import save_npy, write_json
from crossrec.outputs import atomic_dir


@dataclass(frozen=True)
class Shape:
    """Sizes of a dataset: users, items, interactions, and feature width per modality."""

    users: int
    items: int
    interactions: int
    features: dict[str, int]


SHAPES: dict[str, Shape] = {
    "baby": Shape(19445, 7050, 160792, {"image": 4096, "text": 384}),
    "sports": Shape(35598, 18357, 296337, {"image": 4096, "text": 384}),
    "clothing": Shape(39387, 23033, 278677, {"image": 4096, "text": 384}),
    "tiktok": Shape(9308, 6710, 68722, {"image": 128, "audio": 128, "text": 768}),
    "ml100k": Shape(943, 1349, 99287, {"genre": 28, "text": 384}),
}
MIN_PER_USER = 5


def scaled(shape: Shape, scale: float) -> Shape:
    """``shape`` with users and items multiplied by ``scale`` and interactions by ``scale²``
    (the density of the user–item matrix is kept; at least 5 per user); widths are kept."""
    if not 0 < scale <= 1:
        raise ConfigError(f"--scale: {scale} is out of range (0 < scale <= 1)")
    users = max(10, round(shape.users * scale))
    items = max(MIN_PER_USER * 4, round(shape.items * scale))
    inter = max(users * MIN_PER_USER, round(shape.interactions * scale**2))
    return Shape(users, items, inter, dict(shape.features))


def _counts(rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Interactions per user [U]: log-normal, >= MIN_PER_USER, summing to the target total
    (capped at half the items so a user always has negatives)."""
    cap = max(MIN_PER_USER, shape.items // 2)
    raw = rng.lognormal(mean=0.0, sigma=0.8, size=shape.users)
    extra = shape.interactions - MIN_PER_USER * shape.users
    counts = MIN_PER_USER + np.floor(raw / raw.sum() * max(extra, 0)).astype(np.int64)
    counts = np.minimum(counts, cap)
    short = shape.interactions - int(counts.sum())
    order = rng.permutation(shape.users)
    i = 0
    while short > 0 and i < 10 * shape.users:  # hand out the rounding remainder, one each
        u = order[i % shape.users]
        if counts[u] < cap:
            counts[u] += 1
            short -= 1
        i += 1
    return counts


def generate(
    shape: Shape, seed: int = 0, topics: int = 32, affinity: float = 0.8, noise: float = 1.0
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The interactions (``userID, itemID, rating, timestamp, x_label``) and the features
    (modality → float32 [items, width]) of one synthetic dataset; deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    per_user = shape.interactions / shape.users  # a topic holds >= 2x a user's interactions
    topics = max(1, min(topics, int(shape.items // (2 * per_user))))
    item_topic = np.arange(shape.items) % topics  # every topic has items
    rng.shuffle(item_topic)
    popularity = 1.0 / np.arange(1, shape.items + 1) ** 0.8
    popularity = popularity[rng.permutation(shape.items)]
    by_topic = [np.flatnonzero(item_topic == t) for t in range(topics)]
    topic_p = [popularity[ids] / popularity[ids].sum() for ids in by_topic]
    all_p = popularity / popularity.sum()
    user_topic = rng.integers(0, topics, size=shape.users)
    counts = _counts(rng, shape)
    users, items = [], []
    for u in range(shape.users):
        c, t = int(counts[u]), int(user_topic[u])
        n_topic = min(rng.binomial(c, affinity), by_topic[t].size)
        own = rng.choice(by_topic[t], size=n_topic, replace=False, p=topic_p[t])
        picked = set(own.tolist())
        while len(picked) < c:  # the rest from all items, without repeats
            draw = rng.choice(shape.items, size=2 * (c - len(picked)), p=all_p)
            for i in draw.tolist():
                if len(picked) < c:
                    picked.add(i)
        users.append(np.full(c, u, dtype=np.int64))
        items.append(np.fromiter(picked, dtype=np.int64, count=c))
    df = pd.DataFrame({"userID": np.concatenate(users), "itemID": np.concatenate(items)})
    missing = np.setdiff1d(np.arange(shape.items), df["itemID"].to_numpy())
    if missing.size:  # every item id occurs once at least: give each to a random user's row
        rows = rng.choice(len(df), size=missing.size, replace=False)
        df.loc[rows, "itemID"] = missing
        df = df.drop_duplicates(["userID", "itemID"]).reset_index(drop=True)
    df["rating"] = 5
    df["timestamp"] = np.arange(len(df), dtype=np.int64)
    split = random_split(df, seed)[["userID", "itemID", "rating", "timestamp", "x_label"]]
    features = {}
    for m, width in shape.features.items():
        centroids = rng.normal(size=(topics, width)).astype(np.float32)
        noisy = centroids[item_topic] + noise * rng.normal(size=(shape.items, width)).astype(
            np.float32
        )
        features[m] = noisy.astype(np.float32)
    return split, features


def write_synthetic(
    out: str | Path, name: str, shape_name: str, seed: int = 0, scale: float = 1.0
) -> dict[str, Any]:
    """Generate a synthetic folder of shape ``shape_name`` (:data:`SHAPES`) at ``scale`` into
    ``out`` (``<name>.inter``, ``<modality>_feat.npy``, ``synthetic.json``); returns the
    summary written to ``synthetic.json``."""
    if shape_name not in SHAPES:
        raise ConfigError(f"--shape: unknown shape {shape_name!r} (one of {', '.join(SHAPES)})")
    shape = scaled(SHAPES[shape_name], scale) if scale != 1.0 else SHAPES[shape_name]
    df, features = generate(shape, seed)
    summary = {
        "shape": shape_name,
        "scale": scale,
        "seed": seed,
        "users": int(df["userID"].max()) + 1,
        "items": int(df["itemID"].max()) + 1,
        "interactions": len(df),
        "splits": {
            s: int((df["x_label"] == i).sum()) for i, s in enumerate(("train", "valid", "test"))
        },
        "features": {m: list(f.shape) for m, f in features.items()},
        "structure": "topic-clustered users, items and features (crossrec.data.synthetic)",
    }
    with atomic_dir(out, "synthetic") as stage:
        df.to_csv(stage / f"{name}.inter", sep="\t", index=False)
        for m, arr in features.items():
            save_npy(stage / f"{m}_feat.npy", arr)
        write_json(stage / "synthetic.json", summary)
    return summary
