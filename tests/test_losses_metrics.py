"""Golden values, computed by hand, for the losses and the MMRec metrics."""

from __future__ import annotations

import math

import pytest
import torch

from crossrec.losses import bpr_loss, emb_loss
from crossrec.metrics import per_user_metrics, summarise


def test_bpr_golden() -> None:
    loss = bpr_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(0.5)) / 2  # 0.5032044
    assert loss.item() == pytest.approx(expected, abs=1e-7)


def test_emb_loss_is_unsquared_frobenius_over_batch() -> None:
    u = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # ||u||_F = 5
    p = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # ||p||_F = 1
    assert emb_loss(u, p).item() == pytest.approx((5 + 1) / 2)


def _lg(i: int) -> float:
    return 1 / math.log2(i + 1)


def test_metrics_golden_fewer_held_out_than_k() -> None:
    hits = torch.tensor([[1, 0, 1, 0, 0]], dtype=torch.bool)
    m = per_user_metrics(hits, torch.tensor([3]), ks=[5])
    assert m["recall@5"].item() == pytest.approx(2 / 3)
    assert m["precision@5"].item() == pytest.approx(2 / 5)
    assert m["ndcg@5"].item() == pytest.approx((_lg(1) + _lg(3)) / (_lg(1) + _lg(2) + _lg(3)))
    assert m["map@5"].item() == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_metrics_golden_more_held_out_than_k() -> None:
    # 8 held-out items, K = 5: Recall divides by 8 (not min(K, 8)); NDCG's ideal list has 5 hits.
    hits = torch.tensor([[1, 1, 0, 1, 0, 1]], dtype=torch.bool)
    m = per_user_metrics(hits, torch.tensor([8]), ks=[3, 5])
    assert m["recall@5"].item() == pytest.approx(3 / 8)
    assert m["recall@3"].item() == pytest.approx(2 / 8)
    ideal5 = sum(_lg(i) for i in range(1, 6))
    assert m["ndcg@5"].item() == pytest.approx((_lg(1) + _lg(2) + _lg(4)) / ideal5)
    assert m["map@5"].item() == pytest.approx((1 + 1 + 3 / 4) / 5)
    assert m["map@3"].item() == pytest.approx((1 + 1) / 3)


def test_summary_means_and_rounds() -> None:
    hits = torch.tensor([[1, 0], [0, 0], [0, 1]], dtype=torch.bool)
    m = summarise(per_user_metrics(hits, torch.tensor([1, 2, 3]), ks=[2]))
    assert m["recall@2"] == round((1 + 0 + 1 / 3) / 3, 4) == 0.4444
    assert m["precision@2"] == round((0.5 + 0 + 0.5) / 3, 4)


def test_too_short_ranking_rejected() -> None:
    with pytest.raises(ValueError, match="need at least 5"):
        per_user_metrics(torch.zeros(1, 3, dtype=torch.bool), torch.tensor([1]), ks=[5])
