"""Successive halving's schedule (Jamieson & Talwalkar, AISTATS 2016), as a staged study runs it:
rung ``r`` trains every surviving point to ``min_epochs · eta^r`` epochs and keeps the best
``ceil(points / eta)``; the finalists train to early stopping. Pure arithmetic on the config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Halving:
    """A stage searched by successive halving: ``eta`` (1 / the fraction kept per rung) and the
    first rung's epoch budget ``min_epochs``."""

    eta: int
    min_epochs: int

    @classmethod
    def of(cls, config: Mapping[str, Any], stage: str) -> Halving | None:
        """The halving of ``stages.<stage>.search``, None for an exhaustive (``grid``) search."""
        search = ((config.get("stages") or {}).get(stage) or {}).get("search", "grid")
        if isinstance(search, Mapping):
            spec = search["halving"]
            return cls(int(spec.get("eta", 3)), int(spec["min_epochs"]))
        return None

    def rung_epochs(self, rung: int) -> int:
        """The epoch budget of a rung: ``min_epochs · eta^rung``."""
        return self.min_epochs * self.eta**rung


def rung_epochs(halving: Halving | None, rung: int) -> int:
    """A rung's budget (0 for an exhaustive search, which has no rungs)."""
    return 0 if halving is None else halving.rung_epochs(rung)


def rung_sizes(halving: Halving | None, n: int, max_epochs: int) -> tuple[list[int], int]:
    """The schedule of ``n`` candidates: how many points each rung pauses and how many
    finalists train to early stopping. A rung is added while more than ``eta`` points remain
    and its budget is below ``max_epochs`` (``train.epochs``); each keeps ``ceil(points /
    eta)``. Exhaustive search (``halving`` None): no rungs, every candidate final."""
    sizes: list[int] = []
    while halving and n > halving.eta and halving.rung_epochs(len(sizes)) < max_epochs:
        sizes.append(n)
        n = -(-n // halving.eta)
    return sizes, n


def epochs_per_point(
    halving: Halving | None, n: int, max_epochs: int, epochs_to_stop: int
) -> list[int]:
    """Epochs each of ``n`` candidates (in grid order) is expected to train: a point cut at
    rung ``r`` trains the rung's budget (at most ``epochs_to_stop``), a finalist
    ``epochs_to_stop``. The schedule keeps the first points (the estimate's stand-in for the
    unknown winners: counts do not depend on which points survive)."""
    sizes, final = rung_sizes(halving, n, max_epochs)
    out = [epochs_to_stop] * n
    kept_after = [*sizes[1:], final] if sizes else []  # points left after rung r
    for rung, (size, kept) in enumerate(zip(sizes, kept_after, strict=True)):
        for i in range(kept, size):
            out[i] = min(rung_epochs(halving, rung), epochs_to_stop)
    return out
