"""Host → device transfer of a training batch's index tensors without stalling the host.

A batch is ~10 small host tensors (users, positives, negatives, their groups, the plug-in's
rows). Copied one by one from ordinary (pageable) memory, each CUDA copy makes the host wait
until the device has finished everything queued before it (torch synchronises the stream after a
blocking host-to-device copy): ~10 host synchronisations per batch, and the host cannot sample
the next batch while the device still runs the last step. :func:`to_device` packs the tensors of
each dtype into one page-locked (pinned) buffer and copies it with ``non_blocking=True``: one
asynchronous copy per dtype, no synchronisation, and the views it returns are ordered after the
copy on the current stream, so kernels that read them wait on the device, not on the host.
Torch's pinned-memory allocator keeps a buffer reserved until its copy has completed, so freeing
it right away is safe. On the CPU (and MPS) the tensors are moved as they are.
"""

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
