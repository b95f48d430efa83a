"""Golden values, computed by hand, for the losses and the MMRec metrics."""

from __future__ import annotations

import math

import pytest
import torch

from crossrec.losses import bpr_loss, bpr_rows, emb_loss
from crossrec.metrics import per_user_metrics, summarise


def test_bpr_golden() -> None:
    loss = bpr_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(0.5)) / 2  # 0.5032044
    assert loss.item() == pytest.approx(expected, abs=1e-7)


def test_bpr_forms_and_reductions() -> None:
    """Each model's published BPR: MMRec's log(1e-10 + σ), log σ (FREEDOM, LATTICE, GRCN),
    summed (SGL) and base 2 (DualGNN)."""
    pos, neg = torch.tensor([2.0, -1.0, 30.0]), torch.tensor([0.0, 1.0, -30.0])
    x = [2.0, -2.0, 60.0]
    log_sig = [-math.log1p(math.exp(-v)) for v in x]
    assert bpr_loss(pos, neg, "logsigmoid").item() == pytest.approx(-sum(log_sig) / 3, abs=1e-6)
    assert bpr_loss(pos, neg, "logsigmoid", "sum").item() == pytest.approx(-sum(log_sig), abs=1e-6)
    assert bpr_loss(pos, neg, "log2").item() == pytest.approx(
        -sum(v / math.log(2) for v in log_sig) / 3, abs=1e-6
    )
    mmrec = [-math.log(1e-10 + 1 / (1 + math.exp(-v))) for v in x]
    assert bpr_loss(pos, neg).item() == pytest.approx(sum(mmrec) / 3, abs=1e-6)
    # far in the tail the forms differ: MMRec's floors at -log(1e-10), log σ keeps growing
    far = bpr_loss(torch.tensor([-40.0]), torch.tensor([0.0]))
    assert far.item() == pytest.approx(-math.log(1e-10), rel=1e-3)
    assert bpr_loss(torch.tensor([-40.0]), torch.tensor([0.0]), "logsigmoid").item() > 39
    u = torch.randn(4, 3)
    p, n = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(bpr_rows(u, p, n, "log2"), bpr_loss((u * p).sum(1), (u * n).sum(1), "log2"))


def test_emb_loss_is_unsquared_frobenius_over_batch() -> None:
    u = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # ||u||_F = 5
    p = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # ||p||_F = 1
    assert emb_loss(u, p).item() == pytest.approx((5 + 1) / 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_emb_loss_gradients_are_autograds_bit_for_bit(dtype) -> None:
    g = torch.Generator().manual_seed(4)
    rows = [torch.randn(257, 16, generator=g, dtype=dtype, requires_grad=True) for _ in range(3)]
    ref = sum(torch.linalg.vector_norm(e) for e in rows) / 257
    ref_grads = torch.autograd.grad(1e-4 * ref, rows)
    out = emb_loss(*rows)
    grads = torch.autograd.grad(1e-4 * out, rows)
    assert torch.equal(out, ref)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads, strict=True))


def test_emb_loss_zero_rows_give_zero_gradient_not_nan() -> None:
    zero = torch.zeros(4, 3, requires_grad=True)
    other = torch.ones(4, 3, requires_grad=True)
    emb_loss(zero, other).backward()
    assert torch.equal(zero.grad, torch.zeros(4, 3))
    assert torch.allclose(other.grad, torch.full((4, 3), 1 / (4 * math.sqrt(12))))


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
def test_nce_rows_matches_autograd_reference(dtype: torch.dtype, lead: tuple[int, ...]) -> None:
    """Both forms behind ``nce_rows`` (the CPU's fused kernel, the batched product) against
    ``logsumexp(q Cᵀ) − q·p`` by autograd: values and the gradients of q, p and C."""
    from crossrec.kernels.fused import _NCE, _FusedNCE, nce_rows

    gen = torch.Generator().manual_seed(0)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype).requires_grad_(True)

    q, p, c = leaf(*lead, 7, 5), leaf(*lead, 7, 5), leaf(*lead, 4, 5)
    weights = torch.randn(*lead, 7, generator=gen, dtype=dtype)  # signed upstream gradient
    ref = torch.logsumexp(q @ c.transpose(-1, -2), dim=-1) - (q * p).sum(-1)
    ref_grads = torch.autograd.grad((ref * weights).sum(), (q, p, c))
    for fn in (_FusedNCE.apply, _NCE.apply, nce_rows):
        got = fn(q, p, c)
        grads = torch.autograd.grad((got * weights).sum(), (q, p, c))
        tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {}
        torch.testing.assert_close(got, ref, **tol)
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, r, **tol)


@pytest.mark.parametrize("lead", [(), (3,)])
def test_nce_rows_candidates_as_their_own_positives(lead: tuple[int, ...]) -> None:
    """``nce_rows(q, c, c)`` (CNA: row r's positive is candidate r) passes C into the autograd
    Function once, and gives bit for bit the values and gradients of the same call with a
    separate copy of C as the positives (autograd then sums the two gradients of C) — in both
    forms; and ``torch.compile`` traces it without a graph break."""
    from crossrec.kernels.fused import _NCE, _FusedNCE, nce_rows

    gen = torch.Generator().manual_seed(2)
    q = torch.randn(*lead, 6, 5, generator=gen).requires_grad_(True)
    c = torch.randn(*lead, 6, 5, generator=gen).requires_grad_(True)
    weights = torch.randn(*lead, 6, generator=gen)

    def run(fn, positives_of) -> tuple[torch.Tensor, ...]:  # noqa: ANN001
        cand = c * 1.0  # a non-leaf, as CNA's normalised keys
        got = fn(q, positives_of(cand), cand)
        return (got, *torch.autograd.grad((got * weights).sum(), (q, c)))

    def same(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    for fn in (_FusedNCE.apply, _NCE.apply):
        assert same(run(fn, lambda cand: None), run(fn, torch.clone))
    # nce_rows with the same tensor twice: a problem this small takes the _NCE form
    assert same(run(nce_rows, lambda cand: cand), run(_NCE.apply, torch.clone))
    explanation = torch._dynamo.explain(lambda a, b: nce_rows(a, b, b))(q, c * 1.0)
    assert explanation.graph_break_count == 0, explanation.break_reasons


def test_nce_rows_broadcast_candidates_and_far_logits() -> None:
    """Candidates shared across leading dimensions get their summed gradient; logits far
    below a row's maximum (a candidate nobody attends to) give a zero gradient, not NaN."""
    from crossrec.kernels.fused import _FusedNCE

    gen = torch.Generator().manual_seed(1)
    q = (torch.randn(3, 6, 4, generator=gen, dtype=torch.float64) * 40).requires_grad_(True)
    p = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    c = torch.randn(5, 4, generator=gen, dtype=torch.float64).requires_grad_(True)
    got = _FusedNCE.apply(q, p, c)
    ref = torch.logsumexp(q @ c.T, dim=-1) - (q * p).sum(-1)
    torch.testing.assert_close(got, ref)
    grads = torch.autograd.grad(got.sum(), (q, c))
    ref_grads = torch.autograd.grad(ref.sum(), (q, c))
    for g, r in zip(grads, ref_grads, strict=True):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, r)
