"""A finished run's files: ``metrics.json`` (docs/design.md §4 schema: identity, best epoch,
valid and test metrics, cost, provenance), ``history.csv`` (one row per epoch) and
``test_per_user.csv`` (each test user's metrics at the best-valid epoch). A mixin of
:class:`crossrec.train.Trainer`, whose attributes it reads."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pandas as pd
import torch

from crossrec import __version__
from crossrec.device import device_name, peak_memory_mb
from crossrec.io import atomic_open, write_json
from crossrec.provenance import package_digest, run_code_digest
from crossrec.run import METRICS_SCHEMA_VERSION


class RunOutputs:
    """The output files of a :class:`crossrec.train.Trainer`'s finished run."""

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
                "source": package_digest(),
                "run_code_sha256_16": run_code_digest(
                    type(self.backbone).__module__, type(self.plugin).__module__
                ),
                "torch_version": torch.__version__,
                "numpy_version": np.__version__,
                "device": str(self.device),
                "device_name": device_name(self.device),
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
        per_user = {"user": self.test_set.users.tolist(), **self.state.best_test_per_user}
        with atomic_open(self.out_dir / "test_per_user.csv") as fh:
            pd.DataFrame(per_user).to_csv(fh, index=False, float_format="%.6g")
        write_json(self.out_dir / "metrics.json", metrics)
