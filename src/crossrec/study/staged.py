"""The staged planner: tune each backbone, align the plug-ins at the selected point, replicate
the selected points over the seeds, as the papers ran their studies (docs/workflow.md, "Staged
studies"). With ``stages:`` in the config, a list value of a backbone parameter is the
backbone's own grid and a list value of a plug-in parameter the plug-in's grid; per (dataset,
backbone):

1. **tune** — the backbone's grid alone (plug-in ``none``), one seed (``stages.tune.seed``, by
   default the first of ``seeds``); the point with the best validation metric (the trainer's
   ``valid_metric``; test with ``selection: mmrec_test``) is selected.
2. **align** — each plug-in's grid at the backbone's selected point, one seed
   (``stages.align.seed``); one point selected per plug-in.
3. **replicate** — the selected (backbone, plug-in) points, ``none`` included, over every seed:
   the main study that the tables, significance tests and figures read. The seed a point was
   selected on is the same run, trained once.

Each stage's choice is a selection file (:mod:`crossrec.study.files`), made by
:mod:`crossrec.study.selection`; a stage may search by successive halving
(:mod:`crossrec.study.halving`); a ``pin:`` fixes a point and skips its stage. The ablation and
sensitivity studies run at each backbone's selected point. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crossrec.errors import ConfigError, DataError
from crossrec.run import RunKey, train_settings
from crossrec.study.at_point import ABLATION, SENSITIVITY, selected_studies
from crossrec.study.base import STUDIES, Planner
from crossrec.study.confirm import Confirmation
from crossrec.study.files import (
    STAGES,
    Confirm,
    Rung,
    Selection,
    confirm_path,
    rung_path,
    selection_path,
)
from crossrec.study.grid import (
    TRAIN_KEY,
    Variant,
    excluded,
    flat_params,
    grid_variants,
    variant_name,
)
from crossrec.study.halving import Halving, epochs_per_point, rung_epochs, rung_sizes
from crossrec.study.pins import Pin, pins

if TYPE_CHECKING:
    from pathlib import Path


class StagedStudy(Planner):
    """A study with ``stages:``: its tune and align candidates, its replicate runs once the
    selections (``selections``, the folder of the selection files) are made."""

    staged = True
    run_studies = (*STUDIES, *STAGES, "confirm")

    def __init__(self, config: Mapping[str, Any], selections: Path | None = None) -> None:
        """Register the pinned points' variants; plan every run known before any selection
        (tune runs; align and replicate runs of pinned points) and, with ``selections``, those
        the selection files made so far determine."""
        super().__init__(config, selections)
        if "none" not in config["plugins"]:
            raise ConfigError(
                "stages: the tune stage trains each backbone alone; add `none: {}` to `plugins`"
            )
        spec = config["stages"]
        self.stage_seed = {s: int((spec.get(s) or {}).get("seed", self.seeds[0])) for s in STAGES}
        self.halving = {s: Halving.of(config, s) for s in STAGES}
        used = [*self.seeds, *self.stage_seed.values()]
        self.confirmation = {s: Confirmation.of(config, s, used) for s in STAGES}
        self.pins = pins(config)
        for pin in self.pins:
            self._register_pin(pin)
        for dataset in self.datasets:
            for backbone in config["backbones"]:
                self._plan_backbone(dataset, backbone)
        order = {name: list(config[name]) for name in ("backbones", "plugins")}
        self._studies["main"].sort(
            key=lambda k: (
                self.datasets.index(k.dataset),
                order["backbones"].index(k.backbone),
                order["plugins"].index(k.plugin),
                k.seed,
            )
        )

    def _plan_backbone(self, dataset: str, backbone: str) -> None:
        """The runs of one (dataset, backbone) known so far."""
        self._studies["tune"] += self.tune_runs(dataset, backbone)
        self._studies["confirm"] += self.confirm_runs("tune", dataset, backbone, "none")
        chosen = self.chosen(dataset, backbone, "none")
        if chosen is None:
            return
        for plugin in self.plugins_of(dataset, backbone):
            self._studies["align"] += self.align_runs(dataset, backbone, plugin, chosen)
            self._studies["confirm"] += self.confirm_runs("align", dataset, backbone, plugin)
        for study, key, swept in selected_studies(self, dataset, backbone, chosen):
            self._studies[study].append(key)
            if swept is not None:
                self._sensitivity.append((*swept, key))
        for plugin in ["none", *self.plugins_of(dataset, backbone)]:
            final = self.chosen(dataset, backbone, plugin)
            if final is not None:
                self._studies["main"] += [
                    RunKey(dataset, backbone, plugin, final, s) for s in self.seeds
                ]
                self._studies["knockout"] += self.knockout_runs(dataset, backbone, plugin, final)

    def knockout_runs(self, dataset: str, backbone: str, plugin: str, variant: str) -> list[RunKey]:
        """The knock-out runs (:mod:`crossrec.study.knockout`) of a selected point ([] when the
        knock-out does not train this backbone or plug-in)."""
        spec = self.knockout
        if spec is None or backbone not in spec.backbones:
            return []
        if plugin not in spec.plugins_of(["none", *self.plugins_of(dataset, backbone)]):
            return []
        return spec.runs(dataset, backbone, plugin, variant)

    def stage_seeds(self) -> dict[str, int]:
        """The seed each stage trains its candidates with."""
        return self.stage_seed

    def plan_studies(self) -> tuple[str, ...]:
        """plan.json lists the stages' candidates too; study.json (with ``selections``) only the
        replicate runs the tables read."""
        return (
            ("main", "ablation", "knockout")
            if self.selections is not None
            else ("main", "ablation", "knockout", *STAGES)
        )

    def _grid_keys(self, section: str, name: str) -> list[str]:
        """The grid keys of a backbone or plug-in entry (a backbone's own trainer settings'
        included, by their names)."""
        return list(flat_params(self.config[section].get(name) or {}, lists_only=True))

    def _register_pin(self, pin: Pin) -> None:
        """Check a pin fixes every grid key of its stage; register a pinned backbone point."""
        section, name = ("plugins", pin.plugin) if pin.plugin else ("backbones", pin.backbone)
        missing = [k for k in self._grid_keys(section, name) if k not in flat_params(pin.params)]
        if missing:
            label = pin.backbone + (f"/{pin.plugin}" if pin.plugin else "")
            raise ConfigError(
                f"pin {label}: fix the grid key {missing[0]!r} too (a pin skips the whole stage)"
            )
        if pin.plugin is None:
            entry = self.config["backbones"][pin.backbone] or {}
            own = {**(entry.get(TRAIN_KEY) or {}), **(pin.params.get(TRAIN_KEY) or {})}
            b_params = {**entry, **pin.params, **({TRAIN_KEY: own} if own else {})}
            grid = flat_params(pin.params)
            var = Variant(b_params, dict(self.config["plugins"]["none"] or {}), grid)
            self.variants.add(pin.backbone, "none", variant_name(grid), var, "pin")

    def _variants_at(
        self, backbone: str, plugin: str, backbone_variant: str, point: Mapping[str, Any] | None
    ) -> list[str]:
        """The variants of a plug-in at a backbone variant: its grid, or the one ``point``
        (a pin), registered under names carrying the backbone's and the plug-in's values."""
        b_var = self.variant(backbone, "none", backbone_variant)
        p_params = {**(self.config["plugins"][plugin] or {}), **(point or {})}
        names = []
        for var in grid_variants(b_var.backbone_params, p_params).values():
            grid = {**b_var.grid, **var.grid, **(point or {})}
            name = variant_name(grid)
            origin = "pin" if point else f"plugins.{plugin}"
            merged = Variant(var.backbone_params, var.plugin_params, grid)
            self.variants.add(backbone, plugin, name, merged, origin)
            names.append(name)
        return names

    def _pinned(self, dataset: str, backbone: str, plugin: str | None) -> Pin | None:
        found = [p for p in self.pins if p.applies(dataset, backbone, plugin)]
        exact = [p for p in found if p.dataset == dataset]
        return (exact or found or [None])[0]

    def is_pinned(self, dataset: str, backbone: str, plugin: str | None = None) -> bool:
        """Whether a pin fixes the backbone's point (``plugin`` None) or the plug-in's."""
        return self._pinned(dataset, backbone, plugin) is not None

    def plugins_of(self, dataset: str, backbone: str) -> list[str]:
        """The plug-ins (not ``none``) aligned on a (dataset, backbone), config order."""
        return [
            p
            for p in self.config["plugins"]
            if p != "none" and not excluded(self.exclude, dataset, backbone, p)
        ]

    def stage_keys(self, stage: str, backbone: str, plugin: str) -> list[str]:
        """The grid keys a stage chooses: the backbone's (tune) or the plug-in's (align)."""
        return self._grid_keys(
            *(("backbones", backbone) if stage == "tune" else ("plugins", plugin))
        )

    def tune_runs(self, dataset: str, backbone: str) -> list[RunKey]:
        """The tune stage's runs of a (dataset, backbone): its grid with plug-in ``none``, one
        seed; none when the backbone is pinned."""
        if self._pinned(dataset, backbone, None) is not None:
            return []
        names = grid_variants(self.config["backbones"][backbone] or {}, {})
        return [RunKey(dataset, backbone, "none", n, self.stage_seed["tune"]) for n in names]

    def align_runs(
        self, dataset: str, backbone: str, plugin: str, backbone_variant: str
    ) -> list[RunKey]:
        """The align stage's runs of a plug-in at the backbone's selected variant (none when the
        plug-in is pinned there)."""
        if self._pinned(dataset, backbone, plugin) is not None:
            return []
        names = self._variants_at(backbone, plugin, backbone_variant, None)
        return [RunKey(dataset, backbone, plugin, n, self.stage_seed["align"]) for n in names]

    def selection_of(
        self, stage: str, dataset: str, backbone: str, plugin: str
    ) -> Selection | None:
        """The selection file of a stage, when it exists (``self.selections``), checked
        (:meth:`crossrec.study.files.Selection.check`) and against this study: its ``point``
        holds the stage's grid keys, its seed is the stage's, its metric the study's."""
        if self.selections is None:
            return None
        path = selection_path(self.selections, stage, dataset, backbone, plugin)
        if not path.exists():
            return None
        sel = Selection.read(path)
        check_selection(self, sel, path)
        return sel

    def confirm_runs(self, stage: str, dataset: str, backbone: str, plugin: str) -> list[RunKey]:
        """A stage's confirmation runs (:mod:`crossrec.study.confirm`): its top finalists over
        the extra seeds, once its confirmation file is written ([] before, or when off)."""
        spec = self.confirmation[stage]
        if spec is None or self.selections is None:
            return []
        path = confirm_path(self.selections, stage, dataset, backbone, plugin)
        if not path.exists():
            return []
        chosen = Confirm.read(path).top
        return [RunKey(dataset, backbone, plugin, v, s) for v in chosen for s in spec.seeds]

    def chosen(self, dataset: str, backbone: str, plugin: str) -> str | None:
        """The variant the replicate stage trains for (dataset, backbone, plug-in): pinned, or
        selected (tune for ``none``, align for a plug-in); None while not yet selected."""
        b_pin = self._pinned(dataset, backbone, None)
        if b_pin is not None:
            b_variant = variant_name(flat_params(b_pin.params))
        else:
            sel = self.selection_of("tune", dataset, backbone, "none")
            if sel is None:
                return None
            b_variant = sel.variant
        if plugin == "none":
            return b_variant
        p_pin = self._pinned(dataset, backbone, plugin)
        if p_pin is not None:
            return self._variants_at(backbone, plugin, b_variant, p_pin.params)[0]
        sel = self.selection_of("align", dataset, backbone, plugin)
        return None if sel is None else sel.variant

    def runs_by_stage(self) -> dict[str, list[RunKey]]:
        """Every run the study will train, by stage (``tune``, ``align``, ``main`` = the
        replicate runs), before any selection: each selection stands in as the first grid
        point — the counts and the (dataset, backbone, plug-in) of every run do not depend on
        which point wins (what the cost estimate needs)."""
        out: dict[str, list[RunKey]] = {
            s: [] for s in ("tune", "align", "confirm", "main", *STUDIES[1:])
        }

        def confirmed(stage: str, keys: list[RunKey]) -> list[RunKey]:
            """Stand-ins for a stage's confirmation runs: its first finalists."""
            spec = self.confirmation[stage]
            if spec is None:
                return []
            finals = keys[: self.rung_sizes(stage, len(keys))[1]][: spec.top]
            return [RunKey(k.dataset, k.backbone, k.plugin, k.variant, s) for k in finals
                    for s in spec.seeds]  # fmt: skip

        for dataset in self.datasets:
            for backbone in self.config["backbones"]:
                tune = self.tune_runs(dataset, backbone)
                out["tune"] += tune
                out["confirm"] += confirmed("tune", tune)
                b_variant = self.chosen(dataset, backbone, "none") or tune[0].variant
                finals = {"none": b_variant}
                for plugin in self.plugins_of(dataset, backbone):
                    align = self.align_runs(dataset, backbone, plugin, b_variant)
                    out["align"] += align
                    out["confirm"] += confirmed("align", align)
                    pinned = self.is_pinned(dataset, backbone, plugin)
                    finals[plugin] = (
                        self.chosen(dataset, backbone, plugin) if pinned else align[0].variant
                    )
                for study, key, _ in selected_studies(self, dataset, backbone, b_variant):
                    out[study].append(key)
                for plugin, variant in finals.items():
                    out["main"] += [
                        RunKey(dataset, backbone, plugin, variant, s) for s in self.seeds
                    ]
                    out["knockout"] += self.knockout_runs(dataset, backbone, plugin, variant)
        return out

    def typed_variants(self) -> list[tuple[str, str, str]]:
        """Every variant any stage may train, each selection standing in as its first point."""
        self.runs_by_stage()
        return self.variants.keys()

    def validate(self) -> None:
        """:meth:`Planner.validate` over every stage's variants (:meth:`typed_variants`)."""
        self.runs_by_stage()
        super().validate()

    def stage_runs(self, stage: str, dataset: str, backbone: str, plugin: str) -> list[RunKey]:
        """A stage's candidate runs: the tune grid, or the plug-in's align grid at the selected
        backbone point ([] while that is not selected)."""
        if stage == "tune":
            return self.tune_runs(dataset, backbone)
        chosen = self.chosen(dataset, backbone, "none")
        return [] if chosen is None else self.align_runs(dataset, backbone, plugin, chosen)

    def rung_epochs(self, stage: str, rung: int) -> int:
        """The epoch budget of a rung of ``stage`` (:mod:`crossrec.study.halving`)."""
        return rung_epochs(self.halving[stage], rung)

    def rung_sizes(self, stage: str, n: int) -> tuple[list[int], int]:
        """The successive-halving schedule of ``n`` candidates of ``stage``."""
        return rung_sizes(self.halving[stage], n, train_settings(self.config).epochs)

    def rungs(
        self, stage: str, dataset: str, backbone: str, plugin: str
    ) -> tuple[list[list[RunKey]], list[RunKey] | None]:
        """Successive halving of a stage (:meth:`rung_sizes`), as far as its rung files go: the
        runs paused at each rung so far, and the finalists, among which the stage selects (None
        while a rung's selection is missing)."""
        alive = self.stage_runs(stage, dataset, backbone, plugin)
        paused: list[list[RunKey]] = []
        for rung in range(len(self.rung_sizes(stage, len(alive))[0])):
            paused.append(alive)
            if self.selections is None:
                return paused, None
            path = rung_path(self.selections, stage, dataset, backbone, plugin, rung)
            if not path.exists():
                return paused, None
            kept = set(Rung.read(path).survivors)
            alive = [k for k in alive if k.variant in kept]
        return paused, alive

    def planned_epochs(self, epochs_to_stop: int, halving: bool = True) -> dict[RunKey, int]:
        """Epochs each candidate of a stage is expected to train (runs of
        :meth:`runs_by_stage`): with successive halving a point cut at rung r trains its rung's
        budget, a finalist ``epochs_to_stop``; ``halving=False``: as if every stage were
        searched exhaustively (the comparison the estimate prints)."""
        out: dict[RunKey, int] = {}
        by_stage = self.runs_by_stage()
        max_epochs = train_settings(self.config).epochs
        for stage in STAGES:
            groups: dict[tuple[str, str, str], list[RunKey]] = {}
            for key in by_stage[stage]:
                groups.setdefault((key.dataset, key.backbone, key.plugin), []).append(key)
            schedule = self.halving[stage] if halving else None
            for keys in groups.values():
                epochs = epochs_per_point(schedule, len(keys), max_epochs, epochs_to_stop)
                out.update(zip(keys, epochs, strict=True))
        return out

    def stage_of(self, key: RunKey) -> tuple[str, str, str, str] | None:
        """``(stage, dataset, backbone, plugin)`` when ``key`` is a candidate of a stage."""
        d, b, p = key.dataset, key.backbone, key.plugin
        if key.variant.startswith((f"{ABLATION}+", f"{SENSITIVITY}+")) or d not in self.datasets:
            return None  # a knock-out dataset's runs are no stage's candidates
        if p != "none" and p not in self.plugins_of(d, b):
            return None
        stage = "tune" if p == "none" else "align"
        if key in self.stage_runs(stage, d, b, p):
            return stage, d, b, p
        return None

    def determined_by(self, key: RunKey) -> tuple[str, ...]:
        """What writes a run's ``run.yaml``: ``("plan",)`` for a run known before any selection,
        ``("tune", dataset, backbone)`` or ``("align", dataset, backbone, plugin)`` for one a
        selection determines."""
        d, b, p = self.base_dataset(key.dataset), key.backbone, key.plugin
        b_pinned = self._pinned(d, b, None) is not None
        if key.variant.startswith((f"{ABLATION}+", f"{SENSITIVITY}+")):
            return ("plan",) if b_pinned else ("tune", d, b)
        if d != key.dataset:  # a knock-out run: its point's selection writes it
            if p == "none" or self._pinned(d, b, p) is not None:
                return ("plan",) if b_pinned else ("tune", d, b)
            return ("align", d, b, p)
        stage = "tune" if p == "none" else "align"
        spec = self.confirmation[stage]
        if spec is not None and key.seed in spec.seeds:  # never a replicate or stage seed
            return ("confirm", stage, d, b, *([p] if stage == "align" else []))
        if p == "none":
            tuned = key.seed == self.stage_seed["tune"] and not b_pinned
            return ("plan",) if tuned or b_pinned else ("tune", d, b)
        p_pinned = self._pinned(d, b, p) is not None
        if key.seed == self.stage_seed["align"] or p_pinned:
            return ("plan",) if b_pinned else ("tune", d, b)
        return ("align", d, b, p)


def check_selection(study: StagedStudy, sel: Selection, path: Path) -> None:
    """DataError naming ``path`` unless the selection file fits ``study``: its ``point`` holds
    the stage's grid keys, its seed is the stage's, its metric the study's."""
    keys = set(study.stage_keys(sel.stage, sel.backbone, sel.plugin))
    if set(sel.point) != keys:
        raise DataError(
            path, f"point keys {sorted(sel.point)}: the {sel.stage} stage chooses {sorted(keys)}"
        )
    if sel.seed != study.stage_seed[sel.stage]:
        raise DataError(path, f"seed {sel.seed}: the {sel.stage} stage trains with seed "
                              f"{study.stage_seed[sel.stage]}")  # fmt: skip
    split = "test" if study.selection == "mmrec_test" else "valid"
    metric = f"{split} {train_settings(study.config).valid_metric}"
    if sel.metric != metric:
        raise DataError(path, f"metric {sel.metric!r}: this study selects on {metric!r}")
