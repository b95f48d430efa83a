"""The single trainer (docs/design.md §3): every backbone × plug-in pair trains through :func:`fit`.

Per epoch (MMRec's loop, docs/protocol.md §4): ``on_epoch_start`` hooks → batches of the MMRec sampler →
for each batch ``encode`` → backbone and plug-in loss terms summed **here, in one place** →
Adam step. Then the valid split is evaluated; early stopping watches the rounded valid
Recall@20 (strict improvement; stop once ``patience`` + 1 evaluations passed without one, as
MMRec's ``cur_step > stopping_step``). The test split is evaluated at each new best-valid epoch,
so the reported test metrics are those at the best-validation epoch — the same numbers MMRec
reports, without looking at test anywhere else.

Outputs in the run folder: ``history.csv`` (one row per epoch: loss terms, valid metrics,
seconds), ``metrics.json`` (docs/design.md §4 schema), ``test_per_user.csv`` (each test user's metrics at
the best-valid epoch, for per-user significance tests), ``run.yaml`` (the resolved run), and
``checkpoint.pt`` while training (removed at the end) from which ``resume=True`` continues a
killed job to the same final result. The checkpoint is written at an epoch's end, at most every
``checkpoint_seconds`` of wall time (a large model's checkpoint is hundreds of MB), when the run
pauses after ``pause_at`` epochs, and when SIGTERM arrived (which SLURM sends before a job's time
limit): only the latest is kept, replaced atomically.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.profiler import record_function

from crossrec.align import PLUGINS, build_plugin
from crossrec.checkpoint import Checkpointing, TrainState
from crossrec.data.formats import InteractionData
from crossrec.data.sampler import TrainSampler
from crossrec.device import (
    deterministic_kernels,
    resolve_device,
    seed_everything,
)
from crossrec.epochs import EpochEvent, RunObserver, epoch_line
from crossrec.errors import (
    ConfigError,
    CrossrecError,
    InterruptedRun,
    NonFiniteLossError,
)
from crossrec.evaluate import EvalSet, evaluate
from crossrec.models import BACKBONES, DataSpec, build_backbone
from crossrec.outputs import claim_dir, lock_folder, only_names
from crossrec.run import (
    RUN_FILE,
    RUN_FILES,
    RunSpec,
    read_run_file,
    write_run_file,
)
from crossrec.run_outputs import RunOutputs
from crossrec.signals import StopOnSigterm

LOG = logging.getLogger("crossrec.train")
"""The trainer's log (``crossrec train`` gives it timestamps, or JSON lines with --log-json)."""


def resolve_run(run: RunSpec) -> RunSpec:
    """``run`` with every backbone and plug-in parameter present (their ``Params`` defaults
    filled in): the form its ``run.yaml`` and its checkpoint's config hash record."""
    return dataclasses.replace(
        run,
        backbone_params=BACKBONES.resolve(run.backbone, run.backbone_params),
        plugin_params=PLUGINS.resolve(run.plugin, run.plugin_params),
    )


class Trainer(Checkpointing, RunOutputs):
    """Builds the model pair for a :class:`RunSpec` and runs :meth:`fit`.

    Args:
        run: the run definition.
        data: the loaded dataset (its features become the plug-ins' and backbones' inputs).
        out_dir: the run folder.
        log: a function receiving each message, one line per epoch among them (default: the
            ``crossrec.train`` logger at INFO; :func:`crossrec.epochs.epoch_line`).
        checkpoint_seconds: the least wall time between two checkpoints (0: after every epoch).
        observers: what watches the run (experiment trackers, :mod:`crossrec.tracking`): told
            the run's definition, each epoch's values (:class:`crossrec.epochs.EpochEvent`) and
            the final metrics; they only read.
    """

    def __init__(
        self,
        run: RunSpec,
        data: InteractionData,
        out_dir: str | Path,
        log: Callable[[str], None] | None = None,
        checkpoint_seconds: float = 0.0,
        observers: Sequence[RunObserver] = (),
    ) -> None:
        self.run = resolve_run(run)
        self.checkpoint_seconds = checkpoint_seconds
        self.out_dir = Path(out_dir)
        self.log = log or LOG.info
        self.observers = list(observers)
        self.device = resolve_device(run.train.device)
        deterministic_kernels(self.device)
        self.data = data
        self.data_digest = data.digest()
        self.data_summary = {
            "n_users": data.n_users,
            "n_items": data.n_items,
            "n_train": len(data.train),
            "n_valid": len(data.valid),
            "n_test": len(data.test),
            "modalities": sorted(data.features),
            "sha256_16": self.data_digest,
        }
        self.valid_set = EvalSet.build(data, "valid")
        self.test_set = EvalSet.build(data, "test")
        self._build()
        too_large = [k for k in run.train.topk if k > data.n_items]
        if too_large:
            raise ConfigError(
                f"train.topk: cut-off {too_large[0]} exceeds the {data.n_items} items of "
                f"{data.name} (set train.topk, e.g. [5, 10, 20])"
            )

    def _build(self) -> None:
        """Seed, then build backbone, plug-in, optimiser, sampler and a fresh state (also used
        to start afresh after a checkpoint that could not be applied)."""
        run, data = self.run, self.data
        seed_everything(run.seed)
        spec = DataSpec.from_data(data)
        try:
            self.backbone = build_backbone(run.backbone, spec, run.backbone_params).to(self.device)
            self.plugin = build_plugin(
                run.plugin, spec, self.backbone.info(), run.plugin_params
            ).to(self.device)
        except (MemoryError, RuntimeError) as err:
            if not isinstance(err, MemoryError | torch.OutOfMemoryError) and (
                "allocate" not in str(err)
            ):
                raise
            raise CrossrecError(
                f"{run.backbone}+{run.plugin}: cannot allocate the model for {data.n_users:,} "
                f"users x {data.n_items:,} items on {self.device} ({type(err).__name__}); "
                "check the ids of the .inter file and the sizes in the parameters"
            ) from None
        groups: list[dict[str, Any]] = [{"params": list(self.backbone.parameters())}]
        decay = self.backbone.weight_decay()
        if decay is not None:
            groups[0]["weight_decay"] = decay
        plugin_params = list(self.plugin.parameters())
        if plugin_params:
            groups.append({"params": plugin_params})
        # fused: one kernel per step, and the step counters stay on the device, so Adam's
        # bias correction needs no `.item()` per parameter (torch's default implementation
        # reads every step counter back to the host).
        if run.train.compile:
            self.plugin.compile_losses(self.log, cuda=self.device.type == "cuda")
        self.optimizer = torch.optim.Adam(
            groups, lr=run.train.lr, weight_decay=run.train.weight_decay, fused=True
        )
        self.sampler = TrainSampler(
            data.train.users, data.train.items, data.n_items, run.train.batch_size, run.seed
        )
        self.state = TrainState()

    def ready(self, batch: Any) -> Any:  # noqa: ANN401
        """A sampler batch prepared by the plug-in on the host, then moved to the device."""
        return self.plugin.prepare(batch).to(self.device)

    def step(self, batch: Any) -> dict[str, Tensor]:  # noqa: ANN401
        """One optimiser step; returns the detached named terms and their sum ``loss``."""
        self.optimizer.zero_grad(set_to_none=True)
        # Named regions for torch.profiler (benchmarks/bench_align.py attributes host syncs
        # and kernel launches to them); a no-op when no profiler is running.
        with record_function("crossrec::backbone"):
            enc = self.backbone.encode()
            terms = self.backbone.rec_loss(enc, batch)
        with record_function("crossrec::plugin"):
            extra = self.plugin.loss(enc, batch)
        clash = set(terms) & set(extra)
        if clash or "loss" in terms or "loss" in extra:
            raise RuntimeError(f"loss term names collide: {sorted(clash | {'loss'})}")
        terms.update(extra)
        total = torch.stack([t.reshape(()) for t in terms.values()]).sum()
        with record_function("crossrec::backward"):
            total.backward()
        with record_function("crossrec::optimizer"):
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
            terms = self.step(self.ready(batch))
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v
            n += 1
        values = {k: float(v) / n for k, v in sums.items()}  # the epoch's one read-back
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            term = next((k for k in bad if k != "loss"), "loss")
            raise NonFiniteLossError(
                f"{self.out_dir}: training diverged at epoch {epoch + 1}: loss term {term!r} is "
                f"{values[term]} (lower train.lr or the term's weight)"
            )
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

    def progress(self) -> dict[str, Any]:
        """Where the run stands: ``{epochs_run, best_epoch, best_value, valid_metric,
        finished}`` (best_value: the best validation value so far)."""
        st = self.state
        return {
            "epochs_run": st.epoch,
            "best_epoch": st.best_epoch,
            "best_value": st.best_value,
            "valid_metric": self.run.train.valid_metric,
            "finished": self._finished(),
        }

    def _record_run(self) -> None:
        """The run folder's ``run.yaml`` holds this run: left untouched when it already
        defines it (defaults written out or not; the planner's header kept), else written."""
        path = self.out_dir / RUN_FILE
        try:
            same = resolve_run(read_run_file(path)) == self.run
        except (CrossrecError, OSError):
            same = False
        if not same:
            write_run_file(self.run, path)

    def _finished(self) -> bool:
        st, cfg = self.state, self.run.train
        return st.epoch >= cfg.epochs or st.bad_evals > cfg.patience

    def fit(
        self, resume: bool = False, progress: bool | None = None, pause_at: int | None = None
    ) -> dict[str, Any] | None:
        """Train until early stopping or ``epochs``; write the outputs; return ``metrics.json``.

        With ``pause_at``, stop once ``pause_at`` epochs are done (unless the run finished
        first), write the checkpoint and return None: resumed later, the run continues to the
        same history and metrics as one never paused (a successive-halving rung's end). On
        SIGTERM the epoch in progress is finished, the checkpoint written, and
        :class:`crossrec.errors.InterruptedRun` raised."""
        claim_dir(self.out_dir, "run", only_names(RUN_FILES))
        # one writer per run folder: a second `crossrec train` on it is refused in one line
        self._lock = lock_folder(self.out_dir)
        self._record_run()
        if resume:
            self._load_checkpoint()
        for observer in self.observers:
            observer.start(self.run.to_dict(), self.out_dir)
        metrics = None
        try:
            metrics = self._fit(progress, pause_at)
        finally:
            for observer in self.observers:
                observer.finish(metrics)
        return metrics

    def _fit(self, progress: bool | None, pause_at: int | None) -> dict[str, Any] | None:
        """:meth:`fit`'s loop, once the folder is claimed and the checkpoint read."""
        cfg, st = self.run.train, self.state
        show_bar = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show_bar:
            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs, initial=st.epoch, desc=self.run.backbone, unit="epoch")
        saved = time.monotonic()
        with StopOnSigterm() as stop:
            while not self._finished():
                self._train_and_evaluate_epoch(bar)
                if self._finished():
                    break
                paused = pause_at is not None and st.epoch >= pause_at
                if stop.requested or paused or time.monotonic() - saved >= self.checkpoint_seconds:
                    self._save_checkpoint()
                    saved = time.monotonic()
                if stop.requested:
                    raise InterruptedRun(
                        f"{self.out_dir}: stopped by SIGTERM after epoch {st.epoch}; "
                        f"{self.checkpoint_path.name} written (run the same command to continue)"
                    )
                if paused:
                    if bar is not None:
                        bar.close()
                    self.log(f"paused after epoch {st.epoch}; {self.checkpoint_path} written")
                    return None
        if bar is not None:
            bar.close()
        metrics = self._metrics()
        self._write_outputs(metrics)
        self.checkpoint_path.unlink(missing_ok=True)
        return metrics

    def _train_and_evaluate_epoch(self, bar: Any) -> None:  # noqa: ANN401
        """One epoch: train, evaluate valid (and test at a new best), update the state and the
        history, report one line."""
        cfg, st = self.run.train, self.state
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
        event = EpochEvent(
            epoch=st.epoch,
            epochs=cfg.epochs,
            values=st.history[-1],
            valid_metric=cfg.valid_metric,
            value=value,
            improved=improved,
            best_value=st.best_value,
            best_epoch=st.best_epoch,
            bad_evals=st.bad_evals,
            patience=cfg.patience,
            elapsed=st.train_seconds + st.eval_seconds,
        )
        for observer in self.observers:
            observer.epoch(event)
        if bar is not None:  # its ETA runs to early stopping, not to the epoch cap
            bar.total = st.epoch + event.epochs_left()[0]
            bar.update(1)
            bar.set_postfix_str(
                f"{cfg.valid_metric} {value:.4f} best {st.best_value:.4f} "
                f"patience {st.bad_evals}/{cfg.patience}"
            )
        else:
            self.log(epoch_line(event))
