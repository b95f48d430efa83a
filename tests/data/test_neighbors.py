"""CNA neighbour files: train interactions only, no self, sorted, padding rule, prepare output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_mmrec

from crossrec.data.formats import load_mmrec
from crossrec.data.neighbors import item_neighbors
from crossrec.data.sources.folder import prepare_folder
from crossrec.errors import DataError


def test_golden_small_case() -> None:
    # users: 0 {0, 1, 2}, 1 {0, 1}, 2 {1, 3}; item 4 has no train interaction.
    users = np.array([0, 0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 2, 0, 1, 1, 3])
    arrays, summary = item_neighbors(users, items, n_users=3, n_items=5, ks=[1, 2, 3])
    # cos(0,1) = 2/sqrt(2*3) = .816, cos(0,2) = 1/sqrt(2) = .707, cos(1,2) = 1/sqrt(3) = .577,
    # cos(1,3) = .577, cos(0,3) = 0 (no shared user), cos(2,3) = 0.
    assert arrays[1][:, 0].tolist() == [1, 0, 0, 1, 4]
    assert arrays[2].tolist()[:4] == [[1, 2], [0, 2], [0, 1], [1, 1]]  # 1 vs 2 tie → lower id
    assert arrays[3].tolist() == [[1, 2, 1], [0, 2, 3], [0, 1, 0], [1, 1, 1], [4, 4, 4]]
    assert summary[3] == {"padded": 3, "self_fallback": 1}  # items 0, 2, 3 padded; 4 → itself
    assert arrays[3].dtype == np.int64


def test_properties_on_fixture(tiny_dir: Path) -> None:
    data = load_mmrec(tiny_dir)
    arrays, summary = item_neighbors(
        data.train.users, data.train.items, data.n_users, data.n_items, [3, 5]
    )
    nb = arrays[5]
    assert nb.shape == (data.n_items, 5)
    fallback = summary[5]["self_fallback"]
    assert (nb == np.arange(data.n_items)[:, None]).any(1).sum() == fallback
    # sorted by decreasing cosine of train user-sets
    r = np.zeros((data.n_users, data.n_items))
    r[data.train.users, data.train.items] = 1
    norms = np.linalg.norm(r, axis=0)
    sim = (r.T @ r) / np.outer(norms, norms).clip(1e-12)
    for i in range(data.n_items):
        s = sim[i, nb[i]]
        assert (np.diff(s) <= 1e-12).all()
        others = np.delete(sim[i], [i, *nb[i]])
        assert (others <= s.min() + 1e-12).all()  # nothing better was left out


def test_only_train_interactions_count(tmp_path: Path) -> None:
    train = [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 2, 0), (2, 3, 0), (2, 1, 0)]
    held = [(0, 3, 1), (0, 2, 2), (1, 3, 1), (1, 1, 2), (2, 0, 1), (2, 2, 2)]
    a = prepare_folder(write_mmrec(tmp_path / "a", train + held), tmp_path / "pa", "a", [2])
    held2 = [(u, i, 3 - x) for u, i, x in held]  # valid and test swapped
    prepare_folder(write_mmrec(tmp_path / "b", train + held2), tmp_path / "pb", "b", [2])
    na = np.load(tmp_path / "pa" / "neighbors_k2.npy")
    nb = np.load(tmp_path / "pb" / "neighbors_k2.npy")
    assert np.array_equal(na, nb)
    assert a["neighbors"]["k2"] == {"padded": 2, "self_fallback": 0}  # items 2 and 3: 1 each
    assert load_mmrec(tmp_path / "pa").neighbors[2].shape == (4, 2)


def test_bad_neighbour_file(tiny_dir: Path) -> None:
    np.save(tiny_dir / "neighbors_k3.npy", np.zeros((30, 2), np.int64))
    with pytest.raises(DataError, match=r"neighbors_k3.npy: shape \(30, 2\), expected \(30, 3\)"):
        load_mmrec(tiny_dir)
    np.save(tiny_dir / "neighbors_k3.npy", np.full((30, 3), 30, np.int64))
    with pytest.raises(DataError, match="outside"):
        load_mmrec(tiny_dir)
    np.save(tiny_dir / "neighbors_k3.npy", np.zeros((30, 3), np.float32))
    with pytest.raises(DataError, match="must be integers"):
        load_mmrec(tiny_dir)
