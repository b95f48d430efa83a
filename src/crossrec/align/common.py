"""Small tensor helpers shared by the alignment losses (docs/method.md §1)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-12


def l2norm(x: Tensor) -> Tensor:
    """Row-wise L2 normalisation ``x / max(||x||, 1e-12)`` (the reference divides without eps;
    the results are identical unless a row is zero, docs/method.md §6, item 1)."""
    return F.normalize(x, dim=-1, eps=EPS)


def ordered_pairs(n: int) -> list[tuple[int, int]]:
    """All ordered pairs ``(a, b)``, ``a != b``, of ``n`` modalities, in a fixed order.

    With ID = 0, image = 1, text = 2 this gives the paper's six directions.
    """
    return [(a, b) for a, b in itertools.product(range(n), repeat=2) if a != b]


@dataclass(frozen=True)
class UniqueItems:
    """The batch's unique-item view (docs/method.md §1).

    Attributes:
        items: int64 [N] sorted unique item ids.
        inverse: int64 [B] position r(b) of interaction b's item in ``items``.
        counts: float [N] c_i, occurrences of each unique item in the batch.
    """

    items: Tensor
    inverse: Tensor
    counts: Tensor

    @classmethod
    def of(cls, batch_items: Tensor) -> UniqueItems:
        """Sort-unique the batch's item ids."""
        items, inverse, counts = torch.unique(
            batch_items, sorted=True, return_inverse=True, return_counts=True
        )
        return cls(items, inverse, counts.to(torch.float32))

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def mean(self, values: Tensor) -> Tensor:
        """Per-item means ``(1/c_i) Σ_{b: i_b = i} values[..., b]`` of values [..., B] → [..., N]."""
        shape = (*values.shape[:-1], len(self))
        sums = values.new_zeros(shape).index_add_(-1, self.inverse, values)
        return sums / self.counts.to(values.dtype)
