"""The rows of a training batch every BPR-trained backbone reads: the user's, the positive
item's and the negative item's (the gathers themselves: :mod:`crossrec.kernels.gather`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from crossrec.kernels.gather import take

if TYPE_CHECKING:
    from crossrec.data.sampler import Batch


def triple(user: Tensor, item: Tensor, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
    """The batch's BPR rows of a user table [U, d] and an item table [I, d]: ``(user[users],
    item[pos], item[neg])``, each [B, d], gathered by :func:`take` in that order."""
    return take(user, batch.users), take(item, batch.pos), take(item, batch.neg)
