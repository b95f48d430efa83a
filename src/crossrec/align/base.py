"""The alignment plug-in contract (docs/design.md §3).

A plug-in owns its own parameters (e.g. feature projection heads for CF backbones), reads only
the backbone's :class:`~crossrec.models.base.Encoded` output and returns named loss terms, which
the trainer adds to the backbone's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from torch import Tensor, nn

from crossrec.data.needs import DataNeeds
from crossrec.data.sampler import Batch
from crossrec.models.base import BackboneInfo, DataSpec, Encoded


class Plugin(nn.Module, ABC):
    """Base class of alignment plug-ins; subclasses set ``Params`` and implement :meth:`loss`.

    Besides loss terms, a plug-in may :meth:`record` diagnostic scalars per batch (e.g. ILA's
    modality scores); the trainer logs their epoch means from :meth:`pop_stats`.
    """

    Params: ClassVar[type]

    def __init__(self, spec: DataSpec, params: Any, info: BackboneInfo) -> None:  # noqa: ANN401
        super().__init__()
        self.spec = spec
        self.params = params
        self.info = info
        self._stat_sums: dict[str, Tensor] = {}
        self._stat_count = 0

    def record(self, stats: dict[str, Tensor]) -> None:
        """Accumulate one batch's diagnostic scalars (detached; no host sync here)."""
        for key, value in stats.items():
            value = value.detach().float()
            self._stat_sums[key] = self._stat_sums[key] + value if key in self._stat_sums else value
        self._stat_count += 1

    def pop_stats(self) -> dict[str, float]:
        """Means over the batches recorded since the last call, then reset."""
        out = {k: float(v) / self._stat_count for k, v in self._stat_sums.items()}
        self._stat_sums, self._stat_count = {}, 0
        return out

    @classmethod
    def data_needs(cls, params: Any) -> DataNeeds:  # noqa: ANN401
        """The prepared files this plug-in reads with ``params`` (default: none)."""
        return DataNeeds()

    def prepare(self, batch: Batch) -> Batch:
        """Host-side work on a batch before it moves to the device (index tensors derived from
        its ids, in ``batch.extra``), so that the step needs no host synchronisation; default:
        the batch unchanged."""
        return batch

    @abstractmethod
    def loss(self, enc: Encoded, batch: Batch) -> dict[str, Tensor]:
        """Named, already-weighted scalar loss terms for one batch."""

    def compile_losses(  # noqa: B027  (optional)
        self, log: Callable[[str], None], cuda: bool = False
    ) -> None:
        """Hand the plug-in's pure loss computation to ``torch.compile`` (``train.compile``;
        ``cuda``: the run's device is a GPU); default: nothing to compile."""

    def on_epoch_start(self, epoch: int) -> None:  # noqa: B027  (optional hook)
        """Called by the trainer before each epoch (0-based); default: nothing."""
