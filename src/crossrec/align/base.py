"""The alignment plug-in contract (design §3).

A plug-in owns its own parameters (e.g. feature projection heads for CF backbones), reads only
the backbone's :class:`~crossrec.models.base.Encoded` output and returns named loss terms, which
the trainer adds to the backbone's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from torch import Tensor, nn

from crossrec.data.sampler import Batch
from crossrec.models.base import DataSpec, Encoded


class Plugin(nn.Module, ABC):
    """Base class of alignment plug-ins; subclasses set ``Params`` and implement :meth:`loss`."""

    Params: ClassVar[type]

    def __init__(self, spec: DataSpec, params: Any) -> None:  # noqa: ANN401
        super().__init__()
        self.spec = spec
        self.params = params

    @abstractmethod
    def loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """Named, already-weighted scalar loss terms for one batch."""

    def on_epoch_start(self, epoch: int) -> None:  # noqa: B027  (optional hook)
        """Called by the trainer before each epoch (0-based); default: nothing."""
