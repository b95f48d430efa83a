"""Synthetic folders with a real dataset's shape (``crossrec synth``, benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crossrec.cli import main
from crossrec.data.formats import load_mmrec
from crossrec.data.synthetic import SHAPES, scaled, write_synthetic


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shape_and_loadable(tmp_path: Path, shape: str) -> None:
    summary = write_synthetic(tmp_path / shape, shape, shape, seed=1, scale=0.02)
    data = load_mmrec(tmp_path / shape)
    want = scaled(SHAPES[shape], 0.02)
    assert (data.n_users, data.n_items) == (want.users, want.items)
    assert len(data.train) + len(data.valid) + len(data.test) == summary["interactions"]
    assert abs(summary["interactions"] - want.interactions) <= want.interactions * 0.01
    assert {m: f.shape[1] for m, f in data.features.items()} == SHAPES[shape].features
    assert np.bincount(data.train.users, minlength=data.n_users).min() >= 1


def test_full_baby_counts(tmp_path: Path) -> None:
    """At scale 1 the users, items and interactions are Amazon Baby's exactly."""
    summary = write_synthetic(tmp_path / "baby", "baby", "baby", seed=0)
    assert (summary["users"], summary["items"], summary["interactions"]) == (19445, 7050, 160792)
    assert summary["features"] == {"image": [7050, 4096], "text": [7050, 384]}


def test_seeded(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_synthetic(tmp_path / name, "x", "tiktok", seed=seed, scale=0.05)
    same = [(tmp_path / n / "x.inter").read_bytes() for n in ("a", "b", "c")]
    assert same[0] == same[1] != same[2]
    feats = [np.load(tmp_path / n / "text_feat.npy") for n in ("a", "b")]
    assert np.array_equal(*feats)


def test_topic_structure(tmp_path: Path) -> None:
    """A user's items are closer in feature space than random item pairs (so the modalities
    carry the feedback's structure)."""
    write_synthetic(tmp_path / "s", "s", "ml100k", seed=0, scale=0.5)
    data = load_mmrec(tmp_path / "s")
    f = data.features["text"]
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    same, rand = [], []
    for u in range(50):
        items = data.train.items[data.train.users == u]
        a, b = rng.choice(items, 2, replace=False)
        same.append(f[a] @ f[b])
        x, y = rng.choice(data.n_items, 2, replace=False)
        rand.append(f[x] @ f[y])
    assert np.mean(same) > np.mean(rand) + 0.2


def test_cli(tmp_path: Path, capsys) -> None:
    out = tmp_path / "tt"
    assert main(["synth", "--shape", "tiktok", "--scale", "0.05", "--out", str(out)]) == 0
    assert "synthetic tiktok" in capsys.readouterr().out
    assert json.loads((out / "synthetic.json").read_text())["shape"] == "tiktok"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("keep")
    argv = ["synth", "--shape", "ml100k", "--scale", "0.1", "--out", str(tmp_path / "mine")]
    assert main(argv) == 2
    assert (tmp_path / "mine" / "keep.txt").read_text() == "keep"
