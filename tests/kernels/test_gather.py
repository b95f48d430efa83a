"""Row gathers of the training step (crossrec.kernels.gather): the values and gradients of ``table[ids]``."""

from __future__ import annotations

import pytest
import torch

from crossrec.kernels.gather import take, take_unique


def _grads(fn, table: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = table.clone().requires_grad_(True)
    rows = fn(x, ids)
    (rows * torch.arange(rows.numel(), dtype=rows.dtype).view_as(rows)).sum().backward()
    return rows.detach(), x.grad


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_gathers_equal_advanced_indexing(device: str) -> None:
    g = torch.Generator().manual_seed(0)
    table = torch.randn(50, 8, generator=g).to(device)
    repeated = torch.randint(0, 50, (200,), generator=g).to(device)
    unique = torch.randperm(50, generator=g)[:30].to(device)
    for fn, ids in ((take, repeated), (take, unique), (take_unique, unique)):
        got, want = _grads(fn, table, ids), _grads(lambda t, i: t[i], table, ids)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert take(table, repeated.view(20, 10)).shape == (20, 10, 8)
