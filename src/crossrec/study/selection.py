"""How a stage selects: successive halving's cut at a rung (:func:`select_rung`) and the stage's
winner among its finalists (:func:`select_stage`), each written as a file
(:mod:`crossrec.study.files`). Torch-free."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossrec.errors import ConfigError, DataError
from crossrec.run import IDENTITY, RunKey, read_metrics, train_settings
from crossrec.safeload import read_json
from crossrec.study.confirm import top
from crossrec.study.files import Confirm, Rung, Selection
from crossrec.study.staged import StagedStudy


def _metrics(runs: Path, key: RunKey) -> dict[str, Any]:
    """The run's ``metrics.json``, checked to be that run's: DataError naming the file when its
    identity is another run's (a copied or swapped file would select the wrong point)."""
    path = runs / key.path() / "metrics.json"
    blob = read_metrics(path)
    for field in IDENTITY:
        if blob["identity"].get(field) != getattr(key, field):
            raise DataError(
                path,
                f"identity {field}={blob['identity'].get(field)!r}, expected "
                f"{getattr(key, field)!r}: another run's metrics.json (copied or swapped)",
            )
    return blob


def survivors(scores: Sequence[tuple[str, float]], eta: int) -> list[str]:
    """The best ``ceil(n / eta)`` of ``(variant, best-so-far score)`` pairs, best first, ties
    in the given (grid) order; NaN scores last (successive halving's cut)."""
    return top(scores, math.ceil(len(scores) / eta))


def best(candidates: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The first (variant, score) with the highest score, in the given (grid) order; a NaN score
    never wins."""
    chosen: tuple[str, float] | None = None
    for variant, score in candidates:
        if math.isfinite(score) and (chosen is None or score > chosen[1]):
            chosen = (variant, score)
    if chosen is None:
        raise ValueError("no candidate with a finite score")
    return chosen


def _progress(runs: Path, key: RunKey, rung: int, metric: str | None = None) -> dict[str, Any]:
    """A candidate's progress file at a rung (``rung<r>.json``), with its variant and run;
    checked against its schema (``best_value`` a metric in [0, 1], ``epochs_run`` a count) and,
    given the study's validation ``metric``, measured on it (DataError naming the file)."""
    from crossrec.schemas import check_document

    path = runs / key.path() / f"rung{rung}.json"
    blob = read_json(path, "did the rung fail?")
    check_document(blob, "progress", path)
    if metric is not None and blob["valid_metric"] != metric:
        raise DataError(
            path, f"valid_metric {blob['valid_metric']!r}: the study selects on {metric}"
        )
    return {"variant": key.variant, "run": key.path(), **blob}


def candidates_of(
    study: StagedStudy, stage: str, dataset: str, backbone: str, plugin: str
) -> tuple[list[list[RunKey]], list[RunKey] | None]:
    """The stage's rungs and finalists (:meth:`StagedStudy.rungs`); ConfigError when the stage
    is pinned or not yet reached."""
    if not study.stage_runs(stage, dataset, backbone, plugin):
        raise ConfigError(
            f"{dataset}/{backbone}/{plugin}: the {stage} stage is pinned or not yet reached"
        )
    return study.rungs(stage, dataset, backbone, plugin)


def select_rung(
    study: StagedStudy, stage: str, dataset: str, backbone: str, plugin: str, rung: int,
    runs: Path,
) -> Rung:  # fmt: skip
    """The points of a successive-halving rung that go on, by best-so-far validation value
    (:func:`survivors`), from the candidates' progress files below ``runs``."""
    paused, _ = candidates_of(study, stage, dataset, backbone, plugin)
    if rung >= len(paused):
        raise ConfigError(f"--rung {rung}: the {stage} stage has {len(paused)} rung(s)")
    metric = train_settings(study.config).valid_metric
    rows = [_progress(runs, key, rung, metric) for key in paused[rung]]
    eta = study.halving[stage].eta  # type: ignore[union-attr]
    kept = survivors([(r["variant"], r["best_value"]) for r in rows], eta)
    return Rung(stage, rung, study.rung_epochs(stage, rung), len(kept), rows, kept)


def select_stage(
    study: StagedStudy, stage: str, dataset: str, backbone: str, plugin: str, runs: Path
) -> Selection:
    """The stage's best finalist on validation (or test with ``selection: mmrec_test``), with
    every candidate listed — an eliminated one with its score at the rung it stopped at."""
    paused, finalists = candidates_of(study, stage, dataset, backbone, plugin)
    if finalists is None:
        raise ConfigError(f"{study.selections}: a rung of {dataset}/{backbone}/{plugin} is missing")
    split = "test" if study.selection == "mmrec_test" else "valid"
    metric = train_settings(study.config).valid_metric
    candidates = []
    for key in finalists:
        blob = _metrics(runs, key)
        candidates.append({"variant": key.variant, "run": key.path(), "score": blob[split][metric],
                           "epochs_run": blob["epochs_run"]})  # fmt: skip
    ranked = [(c["variant"], c["score"]) for c in candidates]
    confirmation = study.confirmation[stage]
    if confirmation is not None:  # the best seed mean among the confirmed finalists
        for c in candidates:
            if c["variant"] in confirm_of(study, stage, dataset, backbone, plugin).top:
                seeds = {finalists[0].seed: c["score"]}
                for seed in confirmation.seeds:
                    key = RunKey(dataset, backbone, plugin, c["variant"], seed)
                    seeds[seed] = _metrics(runs, key)[split][metric]
                c["confirm_scores"] = [{"seed": k, "score": v} for k, v in seeds.items()]
                c["seed_mean"] = sum(seeds.values()) / len(seeds)
        ranked = [(c["variant"], c["seed_mean"]) for c in candidates if "seed_mean" in c]
    variant, score = best(ranked)
    final = {k.variant for k in finalists}
    for rung, keys in reversed(list(enumerate(paused))):  # eliminated: where they stopped
        for key in keys:
            if key.variant not in final and all(c["variant"] != key.variant for c in candidates):
                row = _progress(runs, key, rung)
                candidates.append({"variant": key.variant, "run": key.path(),
                                   "score": row["best_value"], "epochs_run": row["epochs_run"],
                                   "stopped_at_rung": rung})  # fmt: skip
    var = study.variant(backbone, plugin, variant)
    keys = study.stage_keys(stage, backbone, plugin)
    point = {k: var.grid[k] for k in var.grid if k in keys}
    return Selection(stage, dataset, backbone, plugin, variant, point, score, f"{split} {metric}",
                     finalists[0].seed, candidates)  # fmt: skip


def confirm_of(study: StagedStudy, stage: str, dataset: str, backbone: str, plugin: str) -> Confirm:
    """A stage's confirmation file (ConfigError while it is not written)."""
    from crossrec.study.files import confirm_path

    path = confirm_path(study.selections or Path("."), stage, dataset, backbone, plugin)
    if not path.exists():
        raise ConfigError(f"{path}: missing (the {stage} stage confirms its top finalists first)")
    return Confirm.read(path)


def select_confirm(
    study: StagedStudy, stage: str, dataset: str, backbone: str, plugin: str, runs: Path
) -> Confirm:
    """The finalists that go on to the confirmation seeds: the best ``confirm.top`` by their
    score at the stage seed (:func:`crossrec.study.confirm.top`)."""
    confirmation = study.confirmation[stage]
    if confirmation is None:
        raise ConfigError(f"stages.{stage}.confirm: not set; the stage selects directly")
    _, finalists = candidates_of(study, stage, dataset, backbone, plugin)
    if finalists is None:
        raise ConfigError(f"{study.selections}: a rung of {dataset}/{backbone}/{plugin} is missing")
    split = "test" if study.selection == "mmrec_test" else "valid"
    metric = train_settings(study.config).valid_metric
    rows = [
        {
            "variant": k.variant,
            "run": k.path(),
            "score": _metrics(runs, k)[split][metric],
        }  # fmt: skip
        for k in finalists
    ]
    chosen = top([(r["variant"], r["score"]) for r in rows], confirmation.top)
    return Confirm(stage, rows, chosen, list(confirmation.seeds))
