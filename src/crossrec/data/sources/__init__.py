"""Dataset sources, one module each: where a dataset's raw files come from and how they become
an MMRec folder (the interface: :mod:`crossrec.data.sources.base`).

Built in: ``ml100k`` (MovieLens-100k from the recbole wheel), ``amazon`` (MMRec's Baby, Sports,
Clothing), ``tiktok`` (MMSSL's split) and ``folder`` (an MMRec folder on disk). Other packages
add sources through the ``crossrec.sources`` entry-point group (docs/extending.md).
"""

from crossrec.data.sources import amazon, folder, ml100k, tiktok  # noqa: F401  (registration)
from crossrec.data.sources.base import SOURCES, Source, needs_kwargs, source_params

__all__ = ["SOURCES", "Source", "needs_kwargs", "source_params"]
