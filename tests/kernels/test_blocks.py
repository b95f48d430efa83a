"""Row-blocked passes over wide score tensors (crossrec.kernels.blocks): the same bits as one pass."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from crossrec.align.cla import CLALoss, sinkhorn
from crossrec.kernels import blocks
from crossrec.kernels.fused import logsumexp_rows, soft_cross_entropy_rows


@pytest.mark.parametrize("shape", [(3, 50, 100), (2, 37, 77), (700, 333), (4, 64), (9,)])
@pytest.mark.parametrize("across", [False, True])
def test_blocks_cover_every_row_once(shape: tuple[int, ...], across: bool, monkeypatch) -> None:
    monkeypatch.setattr(blocks, "BLOCK_MIN_ELEMENTS", 1)
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 1 << 12)
    x = torch.zeros(shape)
    seen = torch.zeros_like(blocks.as_tables(x))
    found = blocks.row_blocks(x, across_tables=across)
    for block in found:
        seen[block] += 1
    assert torch.equal(seen, torch.ones_like(seen))
    for _, rows in found:  # every block but a table's last holds whole 64-element runs
        if rows.stop is not None and rows.stop < seen.shape[1]:
            assert ((rows.stop - rows.start) * shape[-1]) % 64 == 0


def test_small_tensors_and_other_devices_are_one_block() -> None:
    assert blocks.row_blocks(torch.zeros(3, 777, 256)) == [(slice(None), slice(None))]
    assert len(blocks.row_blocks(torch.zeros(3, 300, 10240))) == 3 * 12  # 25 rows per block


def _losses(z: Tensor, t: Tensor, w: Tensor) -> dict[str, Tensor]:
    out = {"sinkhorn": sinkhorn(z, 0.167, 3), "sinkhorn_w": sinkhorn(z, torch.tensor(0.2), 3, w)}
    for name, fn in (
        ("ce", lambda x: soft_cross_entropy_rows(x, t, 2.0)),
        ("lse", logsumexp_rows),
    ):
        x = z.clone().requires_grad_(True)
        value = fn(x)
        (value * w).sum().backward()
        out[name], out[f"{name}_grad"] = value.detach(), x.grad
    return out


@pytest.mark.parametrize("shape", [(3, 50, 100), (2, 37, 77), (700, 333), (3, 40, 1024)])
def test_blocked_losses_are_bit_identical(shape: tuple[int, ...], monkeypatch) -> None:
    """Sinkhorn (with and without row weights), the soft cross-entropy and the log-sum-exp,
    values and gradients: one pass each against blocks of 4,096 elements, K a multiple of 64
    or not (the blocks then end inside a vector's lanes)."""
    g = torch.Generator().manual_seed(sum(shape))
    z = (torch.rand(shape, generator=g) * 2 - 1) * 3.3  # tempered cosines, as in CLA
    t = torch.rand(shape, generator=g)
    w = torch.randint(1, 4, shape[:-1], generator=g).float()
    monkeypatch.setattr(blocks, "BLOCK_MIN_ELEMENTS", 1 << 62)
    whole = _losses(z, t, w)
    monkeypatch.setattr(blocks, "BLOCK_MIN_ELEMENTS", 1)
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 1 << 12)
    blocked = _losses(z, t, w)
    for name, value in whole.items():
        assert not value.isnan().any(), name
        assert torch.equal(value, blocked[name]), name


def _cla_step(monkeypatch, min_elements: int) -> list[Tensor]:
    monkeypatch.setattr(blocks, "BLOCK_MIN_ELEMENTS", min_elements)
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 1 << 12)
    torch.manual_seed(5)
    loss = CLALoss(K=512, D=16, temp=0.3)
    user = torch.randn(30, 16, requires_grad=True)
    tables = [torch.randn(40, 16, requires_grad=True) for _ in range(3)]
    users, items = torch.randint(0, 30, (200,)), torch.randint(0, 40, (200,))
    value = loss(user, *tables, users, items)
    value.backward()
    params = [loss.ui_codebook.weight, loss.item_codebook.weight, loss.temperature]
    return [value.detach(), user.grad, *(t.grad for t in tables), *(p.grad for p in params)]


def test_cla_loss_and_gradients_are_bit_identical(monkeypatch) -> None:
    whole = _cla_step(monkeypatch, 1 << 62)
    blocked = _cla_step(monkeypatch, 1)
    assert all(torch.equal(a, b) for a, b in zip(whole, blocked, strict=True))
