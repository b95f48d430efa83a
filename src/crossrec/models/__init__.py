"""Recommender backbones on one interface (:class:`crossrec.models.base.Backbone`).

Importing this package registers every backbone shipped with crossrec.
"""

from crossrec.models import (  # noqa: F401  (registration)
    bpr,
    directau,
    dualgnn,
    freedom,
    grcn,
    lattice,
    lightgcn,
    ncl,
    sgl,
    slmrec,
    vbpr,
)
from crossrec.models.base import Backbone, DataSpec, Encoded
from crossrec.models.registry import BACKBONES, build_backbone

__all__ = ["BACKBONES", "Backbone", "DataSpec", "Encoded", "build_backbone"]
