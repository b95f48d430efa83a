"""Row blocks for the CPU passes over wide score tensors (CLA at large K), bit-identical to whole-tensor
operations (docs/performance.md, "Row blocks for CLA's K-wide passes")."""

from __future__ import annotations

import math

import torch
from torch import Tensor

BLOCK_ELEMENTS = 1 << 18
BLOCK_MIN_ELEMENTS = 1 << 22

Block = tuple[slice, slice]


def as_tables(x: Tensor) -> Tensor:
    """``x`` [..., R, K] as a [T, R, K] view (T = the product of the leading sizes; [R, K] → [1,
    R, K], [K] → [1, 1, K]); ``x`` must be contiguous in its leading dimensions."""
    rows = x.shape[-2] if x.dim() > 1 else 1
    return x.view(-1, rows, x.shape[-1])


def row_blocks(x: Tensor, across_tables: bool = False) -> list[Block]:
    """``(tables, rows)`` slices that cover :func:`as_tables` (x) [T, R, K].

    One block — the whole tensor — off the CPU, below ``BLOCK_MIN_ELEMENTS`` or under
    ``torch.compile`` (``train.compile``: the compiler fuses the passes itself, and a loop over a
    batch-dependent number of blocks would recompile at every step); otherwise, per
    table, runs of ``BLOCK_ELEMENTS // K`` rows (rounded down to a multiple of ``64 / gcd(K,
    64)`` rows, at least that many), or with ``across_tables`` the same rows of all T tables at
    once (for operations that combine the tables), ``BLOCK_ELEMENTS // (T K)`` rows per block.
    """
    n_tables, n_rows, width = as_tables(x).shape
    if x.device.type != "cpu" or torch.compiler.is_compiling() or x.numel() < BLOCK_MIN_ELEMENTS:
        return [(slice(None), slice(None))]
    align = 64 // math.gcd(width, 64)
    per_row = width * (n_tables if across_tables else 1)
    step = max(align, BLOCK_ELEMENTS // per_row // align * align)
    tables = [slice(None)] if across_tables else [slice(t, t + 1) for t in range(n_tables)]
    return [(t, slice(r, r + step)) for t in tables for r in range(0, n_rows, step)]
