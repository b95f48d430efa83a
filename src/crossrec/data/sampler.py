"""MMRec's training sampler (docs/protocol.md §3), vectorised.

Per epoch: a seeded permutation of the train rows, consecutive batches of ``batch_size`` rows
(the last one partial), and exactly one negative per positive drawn uniformly from the items that
occur in the train split, redrawn while it lies in the user's train history. Valid/test items may
be drawn as negatives, as in MMRec.

Membership of ``key = user * n_items + item`` is tested in a bit set of all (user, item) cells
when it takes at most ``BITSET_MAX_BYTES`` (one bit per cell: ml100k 0.16 MB, Amazon Baby 17 MB),
and otherwise on the sorted keys with ``np.searchsorted`` (memory O(train size) whatever the
number of users and items). Both give the same answers, so the same negatives are drawn; the bit
set is ~50× faster per lookup (ml100k, 80k lookups: 0.2 ms against 10.8 ms), which is ~10 % of a
BPR epoch there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from crossrec.data.groups import Groups
from crossrec.errors import CrossrecError
from crossrec.kernels.transfer import to_device

# The membership bit set's largest size (Amazon Sports and Clothing are above it).
BITSET_MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class Batch:
    """One training batch: aligned int64 tensors [B] of users, positive and negative items.

    ``user_groups`` / ``pos_groups`` are the batch's unique users and positive items; the
    sampler computes them on the host (:mod:`crossrec.data.groups`) so that the plug-ins never
    call ``torch.unique`` in the step. A batch built by hand gets them from :meth:`grouped`.
    ``extra`` holds index tensors a plug-in derives on the host before the batch moves to the
    device (:meth:`crossrec.align.base.Plugin.prepare`).
    """

    users: Tensor
    pos: Tensor
    neg: Tensor
    user_groups: Groups | None = None
    pos_groups: Groups | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Batch:
        """The batch (its groups and extras too) on ``device``; on CUDA in one pinned,
        non-blocking copy per dtype (:func:`crossrec.kernels.transfer.to_device`: no host
        synchronisation)."""
        host = [self.users, self.pos, self.neg, *self.extra.values()]
        for g in (self.user_groups, self.pos_groups):
            host += [] if g is None else [g.ids, g.inverse, g.counts]
        moved = iter(to_device(host, device))
        users, pos, neg = next(moved), next(moved), next(moved)
        extra = {key: next(moved) for key in self.extra}
        user_groups, pos_groups = (
            None if g is None else Groups(next(moved), next(moved), next(moved))
            for g in (self.user_groups, self.pos_groups)
        )
        return Batch(users, pos, neg, user_groups, pos_groups, extra)

    def grouped(self) -> tuple[Groups, Groups]:
        """``(user_groups, pos_groups)``, computed with ``torch.unique`` where the batch lacks them."""
        users = self.user_groups if self.user_groups is not None else Groups.of(self.users)
        pos = self.pos_groups if self.pos_groups is not None else Groups.of(self.pos)
        return users, pos


class TrainSampler:
    """Epoch iterator over (user, pos, neg) batches with MMRec semantics.

    Args:
        users, items: int64 [n] train pairs.
        n_items: number of items (``max id + 1``).
        batch_size: rows per batch (MMRec: 2048).
        seed: seed of the sampler's own ``numpy.random.Generator`` (PCG64).
    """

    def __init__(
        self, users: np.ndarray, items: np.ndarray, n_items: int, batch_size: int, seed: int
    ) -> None:
        self.users = np.asarray(users, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        self.n_items = int(n_items)
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.vocab = np.unique(self.items)
        self.keys = np.unique(self.users * self.n_items + self.items)
        cells = (int(self.users.max()) + 1) * self.n_items if self.users.size else 0
        self.bits: np.ndarray | None = None
        if 0 < cells <= 8 * BITSET_MAX_BYTES:  # bit k % 8 of byte k // 8 is key k
            self.bits = np.zeros(-(-cells // 8), dtype=np.uint8)
            masks = np.left_shift(np.uint8(1), (self.keys & 7).astype(np.uint8))
            np.bitwise_or.at(self.bits, self.keys >> 3, masks)
        per_user = np.bincount(self.keys // self.n_items)  # distinct train items per user
        if per_user.size and per_user.max() >= self.vocab.size:
            user = int(per_user.argmax())
            raise CrossrecError(
                f"user {user} has interacted with every train item: no negative can be sampled"
            )

    def __len__(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def in_history(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """bool [n]: whether each (user, item) is a train interaction (``users`` are train users)."""
        q = users * self.n_items + items
        if self.bits is not None:
            return (self.bits[q >> 3] >> (q & 7).astype(np.uint8) & 1).astype(bool)
        pos = np.searchsorted(self.keys, q)
        pos = np.minimum(pos, self.keys.size - 1)
        return self.keys[pos] == q

    def negatives(self, users: np.ndarray) -> np.ndarray:
        """One uniform train-vocabulary negative per user, rejection-resampled. int64 [n]."""
        neg = self.vocab[self.rng.integers(0, self.vocab.size, size=users.size)]
        bad = np.flatnonzero(self.in_history(users, neg))
        while bad.size:
            neg[bad] = self.vocab[self.rng.integers(0, self.vocab.size, size=bad.size)]
            bad = bad[self.in_history(users[bad], neg[bad])]
        return neg

    def epoch(self) -> Iterator[Batch]:
        """Shuffle the train rows and yield the epoch's batches (negatives drawn per epoch)."""
        order = self.rng.permutation(len(self.users))
        users, pos = self.users[order], self.items[order]
        neg = self.negatives(users)
        for start in range(0, len(users), self.batch_size):
            sl = slice(start, start + self.batch_size)
            yield Batch(
                torch.from_numpy(users[sl]),
                torch.from_numpy(pos[sl]),
                torch.from_numpy(neg[sl]),
                Groups.of_numpy(users[sl]),
                Groups.of_numpy(pos[sl]),
            )

    def state_dict(self) -> dict[str, Any]:
        """The RNG state, for checkpoints."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the RNG state saved by :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
