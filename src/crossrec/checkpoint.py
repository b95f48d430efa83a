"""A run's checkpoint: what the trainer writes to continue a killed or paused run to the same
result (docs/design.md §3) — tensors and plain data only, loaded with
``torch.load(weights_only=True)`` so a planted file can never run code, keyed by the run's
configuration and the data's digest, and checked before it trains (:meth:`Checkpointing.
_check_restored`). A mixin of :class:`crossrec.train.Trainer`, whose attributes it reads."""

from __future__ import annotations

import dataclasses
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from crossrec.errors import DataError
from crossrec.io import atomic_path, regular_file

CHECKPOINT_FORMAT = 2  # 2: loaded with weights_only=True, keyed by config and data digests


@dataclass
class TrainState:
    """Mutable training state; everything in it goes into the checkpoint."""

    epoch: int = 0
    best_value: float = -1.0
    best_epoch: int = 0
    bad_evals: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    best_test: dict[str, float] = field(default_factory=dict)
    best_test_per_user: dict[str, list[float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0


class Checkpointing:
    """Writing, reading and checking the checkpoint of a :class:`crossrec.train.Trainer`."""

    state: TrainState
    out_dir: Path

    @property
    def checkpoint_path(self) -> Path:
        """Where the per-epoch checkpoint lives."""
        return self.out_dir / "checkpoint.pt"

    def _save_checkpoint(self) -> None:
        """Everything needed to continue, as tensors and plain data only, so that loading uses
        ``torch.load(weights_only=True)`` and can never run code."""
        blob = {
            "format": CHECKPOINT_FORMAT,
            "config_hash": self.run.config_hash(),
            "data_sha256_16": self.data_digest,
            "backbone": self.backbone.state_dict(),
            "plugin": self.plugin.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "state": dataclasses.asdict(self.state),
        }
        # serialised in memory first: a full disk then fails in a plain write (OSError ENOSPC,
        # one line) instead of inside torch's zip writer, and the previous checkpoint stays
        # until the new one is complete (atomic_path renames it into place)
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        with atomic_path(self.checkpoint_path) as tmp:
            tmp.write_bytes(buffer.getbuffer())

    def _read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's content, or None (one log line saying why) when it is absent,
        unreadable, not a crossrec checkpoint, or written for another run or other data."""
        path = self.checkpoint_path
        if not os.path.lexists(path):
            return None
        if path.is_dir() and not path.is_symlink():
            raise DataError(path, "is a directory, not a checkpoint; remove it to train this run")
        try:
            regular_file(path)
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except DataError as err:
            self.log(f"{path}: ignored ({err.problem}); starting afresh")
            return None
        except Exception as err:  # noqa: BLE001 - any unreadable or unsafe file: one line
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            self.log(
                f"{path}: ignored, not a loadable crossrec checkpoint ({reason}); starting afresh"
            )
            return None
        if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
            self.log(f"{path}: ignored, not a crossrec checkpoint of this version; starting afresh")
            return None
        if blob.get("config_hash") != self.run.config_hash():
            self.log(f"{path}: written by another configuration; starting afresh")
            return None
        if blob.get("data_sha256_16") != self.data_digest:
            self.log(f"{path}: written for other data (digest differs); starting afresh")
            return None
        return blob

    def _load_checkpoint(self) -> bool:
        blob = self._read_checkpoint()
        if blob is None:
            return False
        path = self.checkpoint_path
        try:
            self.backbone.load_state_dict(blob["backbone"])
            self.plugin.load_state_dict(blob["plugin"])
            self.optimizer.load_state_dict(blob["optimizer"])
            self.sampler.load_state_dict(blob["sampler"])
            torch.set_rng_state(blob["torch_rng"].cpu())
            if blob["cuda_rng"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in blob["cuda_rng"]])
            self.state = TrainState(**blob["state"])
            self._check_restored()
        except Exception as err:  # noqa: BLE001 - a damaged checkpoint never half-applies
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            self.log(f"{path}: ignored, does not fit this run ({reason}); starting afresh")
            self._build()
            return False
        self.log(f"resumed from {path} after epoch {self.state.epoch}")
        return True

    def _check_restored(self) -> None:
        """ValueError unless a restored checkpoint is one this trainer could have written: the
        counters are non-negative integers in order, the best value and per-user lists
        finite numbers, the parameters finite, and every optimizer state tensor shaped like
        its parameter. A checkpoint whose digests match but whose content was edited is
        caught here, before it trains (otherwise it fails mid-epoch with a traceback)."""
        st = self.state
        counters = (st.epoch, st.best_epoch, st.bad_evals)
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counters):
            raise ValueError(f"state counters {counters} are not non-negative integers")
        if st.best_epoch > st.epoch or st.epoch > self.run.train.epochs:
            raise ValueError(f"state epochs {st.best_epoch}/{st.epoch} out of order")
        if not isinstance(st.best_value, (int, float)) or not math.isfinite(st.best_value):
            raise ValueError(f"state best_value {st.best_value!r} is not a finite number")
        if not isinstance(st.history, list) or len(st.history) != st.epoch:
            raise ValueError("state history does not hold one entry per epoch")
        for values in st.best_test_per_user.values():
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ValueError("state per-user metrics are not finite numbers")
        for name, p in [*self.backbone.named_parameters(), *self.plugin.named_parameters()]:
            if not bool(torch.isfinite(p).all()):
                raise ValueError(f"parameter {name} is not finite")
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                for key, value in self.optimizer.state.get(p, {}).items():
                    if torch.is_tensor(value) and value.dim() > 0 and value.shape != p.shape:
                        raise ValueError(f"optimizer {key} of shape {tuple(value.shape)} is not "
                                         f"its parameter's {tuple(p.shape)}")  # fmt: skip
