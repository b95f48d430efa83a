"""Host → device copy of a batch's index tensors: one pinned, non-blocking copy per dtype, no host
synchronisation (docs/performance.md, "On a GPU")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def to_device(tensors: Sequence[Tensor], device: torch.device | str) -> list[Tensor]:
    """``[t.to(device) for t in tensors]``; on CUDA one pinned, non-blocking copy per dtype.

    Args:
        tensors: host tensors of any shapes and dtypes.
        device: the target device.

    Returns:
        The tensors on ``device``, same order, shapes and dtypes (on CUDA, contiguous views of one
        device buffer per dtype: read them, do not resize them).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return [t.to(device) for t in tensors]
    return packed_copy(tensors, device, pin=True)


def packed_copy(tensors: Sequence[Tensor], device: torch.device, pin: bool) -> list[Tensor]:
    """Pack the tensors of each dtype into one flat host buffer (page-locked if ``pin``), copy
    each buffer to ``device`` with ``non_blocking=True`` and return views of the copies in the
    order of ``tensors``."""
    out: list[Tensor | None] = [None] * len(tensors)
    by_dtype: dict[torch.dtype, list[int]] = {}
    for i, t in enumerate(tensors):
        by_dtype.setdefault(t.dtype, []).append(i)
    for dtype, members in by_dtype.items():
        sizes = [tensors[i].numel() for i in members]
        host = torch.empty(sum(sizes), dtype=dtype, pin_memory=pin)
        torch.cat([tensors[i].reshape(-1) for i in members], out=host)
        flat = host.to(device, non_blocking=True)
        for i, part in zip(members, flat.split(sizes), strict=True):
            out[i] = part.view(tensors[i].shape)
    return out  # type: ignore[return-value]
