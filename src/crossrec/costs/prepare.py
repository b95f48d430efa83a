"""A ``prepare`` job's memory and time (SLURM ``--mem``, ``-t``), sized to its dataset from
measurements: ``prepare.json`` beside this module, written by ``benchmarks/bench_prepare.py``
(the peak resident memory and wall time of ``crossrec prepare`` on a synthetic folder of each
published dataset's shape, with the papers' neighbour lists, kNN graphs and user graph; ml100k
with its MiniLM text encoding).

* a source with a published shape (``ml100k``; ``amazon`` as ``baby``/``sports``/``clothing``,
  named by the dataset; ``tiktok``): that shape's measurement;
* a ``folder`` source: from its files' size on disk, by the measured shapes' memory per MB of
  input (the largest ratio) — prepare holds the feature arrays and their kNN graphs;
* any other source: the largest measured shape.

The limits are the measurement with head room: memory × 1.5 rounded up to 500 MB (at least
1,000), time × 3 rounded up to minutes (at least 10): a cluster node may be slower than the
machine that measured.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
MEMORY_HEADROOM = 1.5
TIME_HEADROOM = 3.0
AMAZON = ("baby", "sports", "clothing")


@functools.cache
def measured() -> dict[str, dict[str, float]]:
    """Shape → ``{peak_mb, seconds, input_mb}`` (``prepare.json``'s ``shapes``)."""
    from crossrec.safeload import read_json

    return read_json(HERE / "prepare.json", "shipped with crossrec")["shapes"]


def _folder_mb(path: Path) -> float:
    """Megabytes of the regular files directly in ``path`` (an MMRec folder is flat)."""
    if not path.is_dir():
        return 0.0
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 2**20


def prepare_need(name: str, spec: Mapping[str, Any]) -> dict[str, float]:
    """The measured (or, for a folder, scaled) ``{peak_mb, seconds}`` of preparing dataset
    ``name`` configured as ``spec`` (its ``datasets`` entry)."""
    shapes = measured()
    source = spec.get("source")
    shape = {"ml100k": "ml100k", "tiktok": "tiktok"}.get(str(source))
    if source == "amazon" and name in AMAZON:
        shape = name
    if shape is not None and shape in shapes:
        return shapes[shape]
    largest = max(shapes.values(), key=lambda row: row["peak_mb"])
    if source == "folder" and spec.get("path"):
        size = _folder_mb(Path(str(spec["path"])))
        per_mb = max(row["peak_mb"] / max(row["input_mb"], 1.0) for row in shapes.values())
        rate = max(row["seconds"] / max(row["input_mb"], 1.0) for row in shapes.values())
        smallest = min(shapes.values(), key=lambda row: row["peak_mb"])
        return {"peak_mb": max(smallest["peak_mb"], per_mb * size),
                "seconds": max(smallest["seconds"], rate * size)}  # fmt: skip
    return largest


def prepare_limits(name: str, spec: Mapping[str, Any]) -> tuple[int, int]:
    """Memory (MB) and time (minutes) to ask for a ``prepare`` job of dataset ``name``
    (:func:`prepare_need` with the module's head room)."""
    need = prepare_need(name, spec)
    mb = max(1000, math.ceil(need["peak_mb"] * MEMORY_HEADROOM / 500) * 500)
    minutes = max(10, math.ceil(need["seconds"] * TIME_HEADROOM / 60))
    return mb, minutes
