"""The MMRec sampler and the full-ranking evaluator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_mmrec

from crossrec.data.formats import load_mmrec
from crossrec.data.sampler import TrainSampler
from crossrec.errors import CrossrecError
from crossrec.evaluate import MASK_VALUE, EvalSet, evaluate


def _sampler(seed: int = 0, batch: int = 7) -> TrainSampler:
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(6), 5)
    items = np.concatenate([rng.choice(12, 5, replace=False) for _ in range(6)])
    return TrainSampler(users, items, n_items=15, batch_size=batch, seed=seed)


def test_epoch_is_a_permutation_in_batches() -> None:
    s = _sampler()
    batches = list(s.epoch())
    assert [len(b.users) for b in batches] == [7, 7, 7, 7, 2] and len(s) == 5
    pairs = sorted(
        zip(
            torch.cat([b.users for b in batches]).tolist(),
            torch.cat([b.pos for b in batches]).tolist(),
            strict=True,
        )
    )
    assert pairs == sorted(zip(s.users.tolist(), s.items.tolist(), strict=True))


def test_negatives_avoid_history_and_come_from_train_vocabulary() -> None:
    s = _sampler()
    history = set(zip(s.users.tolist(), s.items.tolist(), strict=True))
    seen = set()
    for _ in range(50):
        for b in s.epoch():
            for u, n in zip(b.users.tolist(), b.neg.tolist(), strict=True):
                assert (u, n) not in history
                seen.add(n)
    assert seen == set(s.vocab.tolist())  # items 12-14 never appear in train: never drawn
    assert seen <= set(range(12))


def test_seeded_and_resumable() -> None:
    a, b = _sampler(seed=5), _sampler(seed=5)
    next(iter(a.epoch()))
    state = a.state_dict()
    first = [x.neg for x in a.epoch()]
    b.load_state_dict(state)
    second = [x.neg for x in b.epoch()]
    assert all(torch.equal(x, y) for x, y in zip(first, second, strict=True))
    assert not torch.equal(
        next(iter(_sampler(seed=6).epoch())).neg, next(iter(_sampler(seed=5).epoch())).neg
    )


def test_bit_set_and_sorted_keys_agree_and_draw_the_same_negatives(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 40, 600), rng.integers(0, 70, 600)
    with_bits = TrainSampler(users, items, n_items=70, batch_size=64, seed=2)
    monkeypatch.setattr("crossrec.data.sampler.BITSET_MAX_BYTES", 0)
    sorted_keys = TrainSampler(users, items, n_items=70, batch_size=64, seed=2)
    assert with_bits.bits is not None and sorted_keys.bits is None
    qu, qi = rng.integers(0, 40, 5000), rng.integers(0, 70, 5000)
    history = set(zip(users.tolist(), items.tolist(), strict=True))
    truth = np.array([(u, i) in history for u, i in zip(qu.tolist(), qi.tolist(), strict=True)])
    assert truth.any() and not truth.all()
    assert np.array_equal(with_bits.in_history(qu, qi), truth)
    assert np.array_equal(sorted_keys.in_history(qu, qi), truth)
    for a, b in zip(with_bits.epoch(), sorted_keys.epoch(), strict=True):
        assert torch.equal(a.neg, b.neg)


def test_user_with_every_item_is_an_error() -> None:
    with pytest.raises(CrossrecError, match="user 0 has interacted with every train item"):
        TrainSampler(np.array([0, 0, 1]), np.array([0, 1, 0]), 2, 4, 0)


@pytest.fixture
def small_data(tmp_path: Path):
    # 6 items. user 0: train {0, 1}, valid {2}, test {3, 4}; user 1: train {2}, valid {0}, test {5}.
    rows = [(0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 2), (0, 4, 2), (1, 2, 0), (1, 0, 1), (1, 5, 2)]
    return load_mmrec(write_mmrec(tmp_path / "ds", rows))


def _fixed_scores(table: list[list[float]]):
    scores = torch.tensor(table)
    return lambda users: scores[users].clone()


def test_train_items_masked_valid_items_not(small_data) -> None:
    evalset = EvalSet.build(small_data, "test")
    assert evalset.users.tolist() == [0, 1]
    # user 0 scores train items highest, then its valid item 2, then test item 3.
    score = _fixed_scores([[9, 8, 7, 6, 0, 1], [0, 0, 0, 0, 0, 5]])
    means, per_user = evaluate(score, evalset, ks=[1, 2], batch_users=1)
    # user 0 ranks 2 (valid, not masked) first, 3 second: recall@1 = 0, recall@2 = 1/2.
    assert per_user["recall@1"].tolist() == [0.0, 1.0]
    assert per_user["recall@2"].tolist() == [0.5, 1.0]
    assert means["recall@2"] == 0.75


def test_masked_items_never_ranked_even_if_all_tied(small_data) -> None:
    evalset = EvalSet.build(small_data, "valid")
    score = _fixed_scores([[0.0] * 6, [0.0] * 6])
    _, per_user = evaluate(score, evalset, ks=[4])
    # 4 unmasked items for each user: ties among them, the top-4 is exactly the unmasked set.
    assert per_user["recall@4"].tolist() == [1.0, 1.0]
    assert MASK_VALUE == -1e10


def test_ties_between_relevant_items(small_data) -> None:
    evalset = EvalSet.build(small_data, "test")
    score = _fixed_scores([[0, 0, 1, 5, 5, 0], [0, 0, 0, 0, 0, 0]])
    means, per_user = evaluate(score, evalset, ks=[2])
    assert per_user["ndcg@2"][0].item() == pytest.approx(1.0)
    assert per_user["map@2"][0].item() == pytest.approx(1.0)


def test_top_k_larger_than_items_is_an_error(small_data) -> None:
    with pytest.raises(ValueError, match="only 6 items"):
        evaluate(_fixed_scores([[0] * 6] * 2), EvalSet.build(small_data, "test"), ks=[50])


def test_batched_equals_unbatched(tiny_dir: Path) -> None:
    data = load_mmrec(tiny_dir)
    scores = torch.randn(data.n_users, data.n_items, generator=torch.Generator().manual_seed(0))
    evalset = EvalSet.build(data, "test")
    a, _ = evaluate(lambda u: scores[u].clone(), evalset, ks=[5, 10], batch_users=7)
    b, _ = evaluate(lambda u: scores[u].clone(), evalset, ks=[5, 10], batch_users=4096)
    assert a == b


def test_evaluator_matches_naive_python(tiny_dir: Path) -> None:
    data = load_mmrec(tiny_dir)
    scores = torch.randn(data.n_users, data.n_items, generator=torch.Generator().manual_seed(1))
    means, _ = evaluate(lambda u: scores[u].clone(), EvalSet.build(data, "test"), ks=[5])
    train = {}
    for u, i in zip(data.train.users, data.train.items, strict=True):
        train.setdefault(int(u), set()).add(int(i))
    truth = {}
    for u, i in zip(data.test.users, data.test.items, strict=True):
        truth.setdefault(int(u), set()).add(int(i))
    recalls = []
    for u, t in truth.items():
        s = scores[u].clone()
        s[list(train.get(u, ()))] = MASK_VALUE
        top = torch.argsort(s, descending=True)[:5].tolist()
        recalls.append(sum(i in t for i in top) / len(t))
    assert means["recall@5"] == round(float(np.mean(recalls)), 4)
