"""Bucketed sizes for the compiled step (``train.compile``): a batch's unique users, unique
items and the item rows the losses read vary from batch to batch; padded to a few bucket sizes,
the compiled losses see a handful of shapes and are never recompiled after the warm-up.

Padding is exactly neutral (docs/performance.md, "The compiled step"):

* padded users and items are groups with count 0 (id 0 / position 0, which exist): every
  per-interaction sum goes through the groups' ``inverse`` [B], which never points at a pad;
  count-weighted sums (CLA's log-sum-exps and cross-entropies, Sinkhorn's masses) weight them
  by 0;
* where a loss reduces over the unique items — ILA's modality scores and their variance, its
  contrastive and DT terms, CNA's mean and its regulariser — the pads are masked
  (``counts > 0``) and the real count is a tensor (no host read);
* as candidate keys of an InfoNCE row the pads get a logit of −10⁹ (:func:`masked_keys`),
  whose exponential is exactly 0 in float32 and float64, so they add nothing to any
  log-sum-exp or gradient.

Without ``train.compile`` nothing is padded and the eager arithmetic is unchanged.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from crossrec.data.groups import Groups

FRACTIONS = (4, 5, 6, 7)  # bucket sizes 2^k · {1, 1.25, 1.5, 1.75}: at most 25 % padding
SMALLEST = 8
PAD_LOGIT = 1e9  # −PAD_LOGIT: exp underflows to exactly 0 next to any real logit


def bucket(n: int) -> int:
    """The smallest size ``2^k · f / 4`` (f in 4..7) that holds ``n`` (at least 8)."""
    k = max(3, n.bit_length() - 1)  # sizes f · 2^(k-2): 8, 10, 12, 14, 16, 20, ...
    while True:
        for f in FRACTIONS:
            if f << (k - 2) >= n:
                return f << (k - 2)
        k += 1


def pad_groups(groups: Groups, size: int) -> Groups:
    """``groups`` with ``size - N`` pad groups appended: id 0, count 0, never in ``inverse``."""
    extra = size - len(groups)
    if extra <= 0:
        return groups
    return dataclasses.replace(
        groups,
        ids=torch.cat([groups.ids, groups.ids.new_zeros(extra)]),
        counts=torch.cat([groups.counts, groups.counts.new_zeros(extra)]),
    )


def pad_rows(values: Tensor, size: int) -> Tensor:
    """``values`` [R, ...] padded with zeros (row 0 / position 0) to ``size`` rows."""
    extra = size - values.shape[0]
    if extra <= 0:
        return values
    return torch.cat([values, values.new_zeros(extra, *values.shape[1:])])


def masked_keys(query: Tensor, keys: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """``(query', keys')`` with one more feature so that ``query'·key'`` is ``query·key`` for
    a real key and ``query·key − 10⁹`` for a pad (``real`` [N] bool over the keys' rows):
    query [..., R, d] → [..., R, d+1] (a 1 appended), keys [..., N, d] → [..., N, d+1]
    (0 or −10⁹ appended)."""
    ones = query.new_ones(*query.shape[:-1], 1)
    shift = (~real).to(keys.dtype) * -PAD_LOGIT
    shift = shift.reshape(*([1] * (keys.dim() - 2)), -1, 1).expand(*keys.shape[:-1], 1)
    return torch.cat([query, ones], dim=-1), torch.cat([keys, shift], dim=-1)


def masked_mean_var(values: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased variance of ``values`` [T, N] over its real columns (``real`` [N]
    bool), per row: [T] each; the variance is 0 with fewer than two real columns."""
    weight = real.to(values.dtype)
    n = weight.sum()
    mean = (values * weight).sum(dim=1) / n.clamp(min=1)
    var = (((values - mean[:, None]) ** 2) * weight).sum(dim=1) / (n - 1).clamp(min=1)
    return mean, torch.where(n > 1, var, torch.zeros_like(var))


def masked_mean(values: Tensor, real: Tensor, dim: int = -1) -> Tensor:
    """Mean of ``values`` over the real entries (``real`` bool, broadcast) along ``dim``."""
    weight = real.to(values.dtype)
    return (values * weight).sum(dim) / weight.sum(dim).clamp(min=1)
