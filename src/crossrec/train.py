"""The single trainer (design §3): every backbone × plug-in pair trains through :func:`fit`.

Per epoch (MMRec's loop, protocol §4): ``on_epoch_start`` hooks → batches of the MMRec sampler →
for each batch ``encode`` → backbone and plug-in loss terms summed **here, in one place** →
Adam step. Then the valid split is evaluated; early stopping watches the rounded valid
Recall@20 (strict improvement; stop once ``patience`` + 1 evaluations passed without one, as
MMRec's ``cur_step > stopping_step``). The test split is evaluated at each new best-valid epoch,
so the reported test metrics are those at the best-validation epoch — the same numbers MMRec
reports, without looking at test anywhere else.

Outputs in the run folder: ``history.csv`` (one row per epoch: loss terms, valid metrics,
seconds), ``metrics.json`` (design §4 schema), ``test_per_user.csv`` (each test user's metrics at
the best-valid epoch, for per-user significance tests), ``config.yaml`` (the resolved run), and
``checkpoint.pt`` while training (removed at the end) from which ``resume=True`` continues a
killed job to the same final result.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from crossrec import __version__
from crossrec.align import build_plugin
from crossrec.data.formats import InteractionData
from crossrec.data.sampler import TrainSampler
from crossrec.errors import ConfigError
from crossrec.evaluate import EvalSet, evaluate
from crossrec.io import atomic_open, atomic_path, write_json, write_yaml
from crossrec.metrics import metric_names
from crossrec.models import DataSpec, build_backbone

METRICS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and evaluation settings (MMRec defaults)."""

    epochs: int = 1000
    patience: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 2048
    eval_batch_size: int = 4096
    topk: tuple[int, ...] = (5, 10, 20, 50)
    valid_metric: str = "recall@20"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.valid_metric not in metric_names(self.topk):
            raise ConfigError(
                f"train.valid_metric {self.valid_metric!r} is not computed with topk "
                f"{list(self.topk)} (choose one of {', '.join(metric_names(self.topk))})"
            )
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1")


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one training run (and nothing about the machine)."""

    dataset: str
    backbone: str
    plugin: str = "none"
    variant: str = "default"
    seed: int = 999
    backbone_params: dict[str, Any] = field(default_factory=dict)
    plugin_params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (tuples as lists), as written to ``config.yaml``."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def resolve_device(name: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's RNGs (CUDA included)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_memory_mb(device: torch.device) -> float:
    """Peak resident memory of this process (CPU) or peak allocated CUDA memory, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


@dataclass
class _State:
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


class Trainer:
    """Builds the model pair for a :class:`RunSpec` and runs :meth:`fit`.

    Args:
        run: the run definition.
        data: the loaded dataset (its features become the plug-ins' and backbones' inputs).
        out_dir: the run folder.
        log: a function receiving one plain line per epoch (default: stderr).
    """

    def __init__(
        self,
        run: RunSpec,
        data: InteractionData,
        out_dir: str | Path,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.run = run
        self.out_dir = Path(out_dir)
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.device = resolve_device(run.train.device)
        seed_everything(run.seed)
        spec = DataSpec.from_data(data)
        self.backbone = build_backbone(run.backbone, spec, run.backbone_params).to(self.device)
        self.plugin = build_plugin(run.plugin, spec, self.backbone.info(), run.plugin_params).to(
            self.device
        )
        groups: list[dict[str, Any]] = [{"params": list(self.backbone.parameters())}]
        decay = self.backbone.weight_decay()
        if decay is not None:
            groups[0]["weight_decay"] = decay
        plugin_params = list(self.plugin.parameters())
        if plugin_params:
            groups.append({"params": plugin_params})
        self.optimizer = torch.optim.Adam(
            groups, lr=run.train.lr, weight_decay=run.train.weight_decay
        )
        self.sampler = TrainSampler(
            data.train.users, data.train.items, data.n_items, run.train.batch_size, run.seed
        )
        self.valid_set = EvalSet.build(data, "valid")
        self.test_set = EvalSet.build(data, "test")
        self.data_summary = {
            "n_users": data.n_users,
            "n_items": data.n_items,
            "n_train": len(data.train),
            "n_valid": len(data.valid),
            "n_test": len(data.test),
            "modalities": sorted(data.features),
        }
        self.state = _State()

    @property
    def checkpoint_path(self) -> Path:
        """Where the per-epoch checkpoint lives."""
        return self.out_dir / "checkpoint.pt"

    def step(self, batch: Any) -> dict[str, Tensor]:  # noqa: ANN401
        """One optimiser step; returns the detached named terms and their sum ``loss``."""
        self.optimizer.zero_grad(set_to_none=True)
        enc = self.backbone.encode()
        terms = self.backbone.rec_loss(enc, batch)
        extra = self.plugin.loss(enc, batch)
        clash = set(terms) & set(extra)
        if clash or "loss" in terms or "loss" in extra:
            raise RuntimeError(f"loss term names collide: {sorted(clash | {'loss'})}")
        terms.update(extra)
        total = torch.stack([t.reshape(()) for t in terms.values()]).sum()
        total.backward()
        self.optimizer.step()
        out = {k: v.detach().reshape(()) for k, v in terms.items()}
        out["loss"] = total.detach()
        return out

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Learning-rate schedule and hooks, then one pass over the sampler; returns the mean of
        each term over batches and the plug-in's diagnostics (``stat_*``)."""
        self.backbone.train()
        self.plugin.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.run.train.lr * self.backbone.lr_factor(epoch)
        self.backbone.on_epoch_start(epoch)
        self.plugin.on_epoch_start(epoch)
        sums: dict[str, Tensor] = {}
        n = 0
        for batch in self.sampler.epoch():
            terms = self.step(batch.to(self.device))
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v
            n += 1
        values = {k: float(v) / n for k, v in sums.items()}
        if not all(np.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"non-finite loss at epoch {epoch + 1}: {values}")
        values.update({f"stat_{k}": v for k, v in self.plugin.pop_stats().items()})
        return values

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[dict[str, float], dict[str, Tensor]]:
        """Metrics of the current model on ``valid`` or ``test`` (MMRec protocol)."""
        self.backbone.eval()
        self.plugin.eval()
        enc = self.backbone.encode()
        evalset = self.valid_set if split == "valid" else self.test_set
        return evaluate(
            lambda users: self.backbone.score(enc, users),
            evalset,
            self.run.train.topk,
            self.run.train.eval_batch_size,
            self.device,
        )

    def _save_checkpoint(self) -> None:
        blob = {
            "config_hash": self.run.config_hash(),
            "backbone": self.backbone.state_dict(),
            "plugin": self.plugin.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "state": dataclasses.asdict(self.state),
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(blob, tmp)

    def _load_checkpoint(self) -> bool:
        path = self.checkpoint_path
        if not path.is_file():
            return False
        blob = torch.load(path, map_location=self.device, weights_only=False)
        if blob.get("config_hash") != self.run.config_hash():
            self.log(f"{path}: written by another configuration; starting afresh")
            return False
        self.backbone.load_state_dict(blob["backbone"])
        self.plugin.load_state_dict(blob["plugin"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.sampler.load_state_dict(blob["sampler"])
        torch.set_rng_state(blob["torch_rng"].cpu())
        if blob["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in blob["cuda_rng"]])
        self.state = _State(**blob["state"])
        self.log(f"resumed from {path} after epoch {self.state.epoch}")
        return True

    def _finished(self) -> bool:
        st, cfg = self.state, self.run.train
        return st.epoch >= cfg.epochs or st.bad_evals > cfg.patience

    def fit(self, resume: bool = False, progress: bool | None = None) -> dict[str, Any]:
        """Train until early stopping or ``epochs``; write the outputs; return ``metrics.json``."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._load_checkpoint()
        cfg, st = self.run.train, self.state
        show_bar = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show_bar:
            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs, initial=st.epoch, desc=self.run.backbone, unit="epoch")
        while not self._finished():
            epoch = st.epoch
            t0 = time.perf_counter()
            terms = self.train_epoch(epoch)
            t1 = time.perf_counter()
            valid, _ = self.evaluate("valid")
            value = valid[cfg.valid_metric]
            improved = value > st.best_value
            if improved:
                st.best_value, st.best_epoch, st.bad_evals = value, epoch + 1, 0
                st.best_valid = valid
                st.best_test, per_user = self.evaluate("test")
                st.best_test_per_user = {k: v.tolist() for k, v in per_user.items()}
            else:
                st.bad_evals += 1
            t2 = time.perf_counter()
            st.train_seconds += t1 - t0
            st.eval_seconds += t2 - t1
            st.epoch = epoch + 1
            st.history.append(
                {
                    "epoch": epoch + 1,
                    **terms,
                    **{f"valid_{k}": v for k, v in valid.items()},
                    "train_seconds": round(t1 - t0, 4),
                    "eval_seconds": round(t2 - t1, 4),
                    "improved": improved,
                }
            )
            line = (
                f"epoch {epoch + 1:4d} loss {terms['loss']:.5f} valid {cfg.valid_metric} "
                f"{value:.4f}{' *' if improved else ''} ({t1 - t0:.2f}s train, "
                f"{t2 - t1:.2f}s eval)"
            )
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{cfg.valid_metric} {value:.4f} best {st.best_value:.4f}")
            else:
                self.log(line)
            self._save_checkpoint()
        if bar is not None:
            bar.close()
        metrics = self._metrics()
        self._write_outputs(metrics)
        self.checkpoint_path.unlink(missing_ok=True)
        return metrics

    def _metrics(self) -> dict[str, Any]:
        st, run = self.state, self.run
        return {
            "schema": METRICS_SCHEMA_VERSION,
            "identity": {
                "dataset": run.dataset,
                "backbone": run.backbone,
                "plugin": run.plugin,
                "variant": run.variant,
                "seed": run.seed,
            },
            "best_epoch": st.best_epoch,
            "epochs_run": st.epoch,
            "stopped_early": st.bad_evals > run.train.patience,
            "valid_metric": run.train.valid_metric,
            "valid": st.best_valid,
            "test": st.best_test,
            "cost": {
                "train_seconds": round(st.train_seconds, 3),
                "eval_seconds": round(st.eval_seconds, 3),
                "seconds_per_epoch": round(st.train_seconds / max(st.epoch, 1), 4),
                "peak_memory_mb": round(peak_memory_mb(self.device), 1),
                "threads": torch.get_num_threads(),
            },
            "provenance": {
                "crossrec_version": __version__,
                "torch_version": torch.__version__,
                "device": str(self.device),
                "config_hash": run.config_hash(),
                "data": self.data_summary,
            },
        }

    def _write_outputs(self, metrics: dict[str, Any]) -> None:
        keys: list[str] = []
        for row in self.state.history:
            keys.extend(k for k in row if k not in keys)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.state.history)
        with atomic_open(self.out_dir / "history.csv") as fh:
            fh.write(buf.getvalue())
        write_yaml(self.out_dir / "config.yaml", self.run.to_dict())
        per_user = {"user": self.test_set.users.tolist(), **self.state.best_test_per_user}
        with atomic_open(self.out_dir / "test_per_user.csv") as fh:
            pd.DataFrame(per_user).to_csv(fh, index=False, float_format="%.6g")
        write_json(self.out_dir / "metrics.json", metrics)
