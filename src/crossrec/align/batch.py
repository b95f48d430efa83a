"""The batch as the alignment losses see it (:class:`BatchView`: its unique users and items and
their rows), L2-normalised rows and the ordered pairs of tables (docs/method.md §1)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from crossrec.data.groups import Groups
from crossrec.kernels.gather import take, take_unique

EPS = 1e-12


def l2norm(x: Tensor) -> Tensor:
    """Row-wise L2 normalisation ``x / max(||x||, 1e-12)`` (the reference divides without eps;
    the results are identical unless a row is zero, docs/method.md §6, item 1)."""
    return F.normalize(x, dim=-1, eps=EPS)


def normalised_rows(tables: list[Tensor], ids: Tensor) -> Tensor:
    """[T, N, d]: rows ``ids`` [N] of each table [I, d], L2-normalised (``ê^m``)."""
    return l2norm(torch.stack([take_unique(t, ids) for t in tables]))


def ordered_pairs(n: int) -> list[tuple[int, int]]:
    """All ordered pairs ``(a, b)``, ``a != b``, of ``n`` modalities, in a fixed order.

    With ID = 0, image = 1, text = 2 this gives the paper's six directions.
    """
    return [(a, b) for a, b in itertools.product(range(n), repeat=2) if a != b]


@dataclass(frozen=True)
class BatchView:
    """What ILA, CLA and CNA share for one batch, gathered and normalised once per step
    (docs/method.md §1).

    For a batch of B interactions (u_b, i_b) with N_u unique users and N unique items:

    Attributes:
        users: the batch's unique users (``ids`` [N_u], ``inverse`` [B], ``counts`` [N_u]).
        items: the batch's unique positive items (``ids`` [N], ``inverse`` [B], ``counts`` [N]).
        u_hat: [N_u, d] ``û = normalise(E^U[users.ids])``.
        e_hat: [T, N, d] ``ê^m = normalise(E^m[items.ids])`` for the T = M+1 tables (ID first).
    """

    users: Groups
    items: Groups
    u_hat: Tensor
    e_hat: Tensor

    @classmethod
    def build(cls, user: Tensor, tables: list[Tensor], users: Groups, items: Groups) -> BatchView:
        """Gather and normalise the rows of the full tables ``user`` [U, d] and ``tables``
        (each [I, d]) at the batch's unique users and items."""
        u_hat = l2norm(take_unique(user, users.ids))
        e_hat = normalised_rows(tables, items.ids)
        return cls(users, items, u_hat, e_hat)

    @classmethod
    def of(cls, user: Tensor, tables: list[Tensor], users: Tensor, items: Tensor) -> BatchView:
        """The view for raw id tensors [B] (groups by ``torch.unique``: the losses' standalone
        call shape; the trainer's batches carry host-computed groups instead)."""
        return cls.build(user, tables, Groups.of(users), Groups.of(items))

    @property
    def size(self) -> int:
        """B, the number of interactions in the batch."""
        return self.items.rows

    def user_rows(self) -> Tensor:
        """[B, d] ``û_{u_b}``: each interaction's normalised user."""
        return take(self.u_hat, self.users.inverse)
