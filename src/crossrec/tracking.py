"""Experiment tracking, optional (``pip install crossrec[tracking]``): a run's parameters, each
epoch's values (every loss term, the validation metrics, the seconds), its final test metrics
and its folder, written to TensorBoard event files or an MLflow tracking store.

Trackers are :class:`crossrec.epochs.RunObserver`\\ s: they receive values the trainer has
already computed at an epoch's end, so a tracked run's results are bit-identical to an untracked
one's (tested). Their libraries are imported when a tracker is made, never by the trainer.

* ``tensorboard`` — ``torch.utils.tensorboard.SummaryWriter`` in ``<dir>/tensorboard/<run>``: a scalar per
  history column and epoch (``train/…``, ``valid/…``, ``seconds/…``), ``test/…`` scalars at the
  best-valid epoch, the run definition and the run folder as text.
* ``mlflow`` — ``mlflow.MlflowClient`` on ``<dir>/mlflow`` (a folder: MLflow's file
  store, which MLflow 3 keeps in maintenance behind ``MLFLOW_ALLOW_FILE_STORE``, set here for
  the process; or any URI MLflow takes, e.g. ``sqlite:///mlflow.db`` or a tracking server), experiment ``crossrec``, one MLflow run per crossrec run
  named by its folder: the flattened run definition as parameters, the epoch values as metrics
  with their step (TensorBoard's tags, ``@`` spelt ``_at_``: ``valid/recall_at_20``),
  ``test/…`` metrics, the run folder as the tag ``crossrec.run_folder``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossrec.epochs import EpochEvent
from crossrec.errors import ConfigError

BACKENDS = ("tensorboard", "mlflow")
EXPERIMENT = "crossrec"


def _group(column: str) -> str:
    """The TensorBoard tag of a history column: ``valid/recall@20``, ``seconds/train``,
    ``train/loss``."""
    if column.startswith("valid_"):
        return f"valid/{column.removeprefix('valid_')}"
    if column.endswith("_seconds"):
        return f"seconds/{column.removesuffix('_seconds')}"
    return f"train/{column}"


def _mlflow_name(tag: str) -> str:
    """A tag as an MLflow metric name, which may not hold ``@``: ``valid/recall_at_20``."""
    return tag.replace("@", "_at_")


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a history row (the epoch and the ``improved`` flag left out)."""
    return {
        k: float(v)
        for k, v in values.items()
        if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _flat(blob: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train.lr": "0.001", ...}``: a nested mapping as MLflow parameters (strings)."""
    out: dict[str, str] = {}
    for key, value in blob.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= _flat(value, f"{name}.")
        else:
            out[name] = json.dumps(value) if not isinstance(value, str) else value
    return out


class TensorBoardTracker:
    """TensorBoard event files of each run in ``<log_dir>/<run folder name>``."""

    def __init__(self, log_dir: str | Path, name: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ConfigError(
                f"--track tensorboard: {err.msg} (pip install 'crossrec[tracking]')"
            ) from None
        self._writer_class = SummaryWriter
        self.path = Path(log_dir) / name
        self.writer: Any = None

    def start(self, params: Mapping[str, Any], out_dir: Path) -> None:
        """Open the writer; the run definition and folder as text."""
        self.writer = self._writer_class(log_dir=str(self.path))
        self.writer.add_text("run", json.dumps(dict(params), indent=1, default=str))
        self.writer.add_text("run_folder", str(Path(out_dir).resolve()))

    def epoch(self, event: EpochEvent) -> None:
        """A scalar per numeric history column at step ``epoch``."""
        for column, value in _numbers(event.values).items():
            self.writer.add_scalar(_group(column), value, event.epoch)

    def finish(self, metrics: Mapping[str, Any] | None) -> None:
        """The test metrics at the best-valid epoch (when the run finished); close."""
        if self.writer is None:
            return
        if metrics is not None:
            for name, value in metrics["test"].items():
                self.writer.add_scalar(f"test/{name}", float(value), metrics["best_epoch"])
        self.writer.close()


class MLflowTracker:
    """One MLflow run per crossrec run, in the experiment ``crossrec`` of ``uri``."""

    def __init__(self, uri: str | Path, name: str) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError as err:
            raise ConfigError(
                f"--track mlflow: {err.msg} (pip install 'crossrec[tracking]')"
            ) from None
        uri = str(uri)
        if "://" not in uri:  # a folder: MLflow's file store, which MLflow 3 keeps behind a flag
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = Path(uri).resolve().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        self.name = name
        self.run_id: str | None = None

    def start(self, params: Mapping[str, Any], out_dir: Path) -> None:
        """Create the MLflow run: parameters, the run folder as a tag."""
        from mlflow.entities import Param, RunTag

        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        exp_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(EXPERIMENT)
        )
        run = self.client.create_run(exp_id, run_name=self.name)
        self.run_id = run.info.run_id
        flat = [Param(k, v[:6000]) for k, v in _flat(params).items()]
        tags = [RunTag("crossrec.run_folder", str(Path(out_dir).resolve()))]
        for i in range(0, len(flat), 100):  # MLflow's batch limit on parameters
            self.client.log_batch(
                self.run_id, params=flat[i : i + 100], tags=tags if i == 0 else []
            )

    def epoch(self, event: EpochEvent) -> None:
        """Every numeric history column as a metric at step ``epoch``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [
            Metric(_mlflow_name(_group(k)), v, now, event.epoch)
            for k, v in _numbers(event.values).items()
        ]
        self.client.log_batch(self.run_id, metrics=values)

    def finish(self, metrics: Mapping[str, Any] | None) -> None:
        """The test metrics (``test.<name>``), and the run's end: FINISHED, or KILLED when it
        paused or stopped before its end."""
        from mlflow.entities import Metric

        if self.run_id is None:
            return
        if metrics is not None:
            now = int(time.time() * 1000)
            step = int(metrics["best_epoch"])
            test = [
                Metric(_mlflow_name(f"test/{k}"), float(v), now, step)
                for k, v in metrics["test"].items()
            ]
            self.client.log_batch(self.run_id, metrics=test)
        self.client.set_terminated(self.run_id, "FINISHED" if metrics is not None else "KILLED")


def make_tracker(backend: str, where: str | Path, name: str) -> TensorBoardTracker | MLflowTracker:
    """The tracker of ``backend`` (:data:`BACKENDS`) for the run ``name`` (its folder path):
    TensorBoard's files in ``<where>/tensorboard/<name with . for />``, MLflow's store in
    ``<where>/mlflow`` (or ``where`` itself when it is a URI)."""
    where = str(where)
    if backend == "tensorboard":
        return TensorBoardTracker(Path(where) / "tensorboard", name.replace("/", "."))
    if backend == "mlflow":
        return MLflowTracker(where if "://" in where else Path(where) / "mlflow", name)
    raise ConfigError(f"--track: unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
