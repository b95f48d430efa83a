"""A confirmed winner (``stages.<stage>.confirm: {top: m, seeds: s}``, opt-in): a stage's best m
finalists by their score at the stage seed are re-run over s more seeds, and the stage selects
the best mean over the stage seed and those s. The extra seeds follow the largest seed the
study uses (``seeds`` and the stages' seeds), so the replicate runs the tables report are never
the runs a winner was chosen on, and a confirmation adds exactly m × s runs. Torch-free."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Confirmation:
    """A stage's confirmation: how many finalists go on (``top``) and with which seeds."""

    top: int
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, config: Mapping[str, Any], stage: str, used: Sequence[int]) -> Confirmation | None:
        """``stages.<stage>.confirm`` of ``config`` (None when off); ``used``: every seed the
        study trains with otherwise."""
        spec = ((config.get("stages") or {}).get(stage) or {}).get("confirm")
        if not spec:
            return None
        first = max(used) + 1
        return cls(int(spec["top"]), tuple(range(first, first + int(spec["seeds"]))))


def top(scores: Sequence[tuple[str, float]], m: int) -> list[str]:
    """The ``m`` best variants of ``(variant, score)`` pairs, best first, ties in the given
    (grid) order, NaN scores last."""
    order = sorted(
        range(len(scores)),
        key=lambda i: (
            not math.isfinite(scores[i][1]),
            -scores[i][1] if math.isfinite(scores[i][1]) else 0,
            i,
        ),
    )
    return [scores[i][0] for i in order[:m]]
