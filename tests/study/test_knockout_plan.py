"""The modality knock-out study: its runs in a flat and a staged study, their data names and
restricted parameters, what a bad `knockout:` section says, and what the estimate counts."""

from __future__ import annotations

import pytest

from crossrec.errors import ConfigError
from crossrec.run import RunKey
from crossrec.study import open_study
from crossrec.study.knockout import derived_name, proper_subsets, restrict
from crossrec.workflow_config import checked


def _config(knockout: dict | None = None, **extra) -> dict:
    base = {
        "datasets": {"d1": {"source": "ml100k"}},
        "backbones": {
            "lightgcn": {"n_layers": 2},
            "freedom": {"knn_k": 10, "mm_weights": {"genre": 0.1, "text": 0.9}},
        },
        "plugins": {"none": {}, "fettle": {"alpha": 1e-3}},
        "seeds": [1, 2],
        "knockout": {"modalities": ["genre", "text"], "backbones": ["freedom"]}
        if knockout is None
        else knockout,
    }
    base.update(extra)
    return checked(base)


def test_proper_subsets_largest_first_in_the_declared_order() -> None:
    assert proper_subsets(["image", "audio", "text"]) == [
        ("image", "audio"), ("image", "text"), ("audio", "text"),
        ("image",), ("audio",), ("text",),
    ]  # fmt: skip
    assert proper_subsets(["genre", "text"]) == [("genre",), ("text",)]
    assert derived_name("baby", ("image", "text")) == "baby-only-image-text"


def test_restrict_keeps_and_renormalises_the_kept_modalities() -> None:
    params = {"mm_weights": {"image": 0.1, "text": 0.9}, "modalities": ["image", "text"], "k": 3}
    out = restrict(params, ("text",))
    assert out == {"mm_weights": {"text": 1.0}, "modalities": ["text"], "k": 3}
    three = restrict({"mm_weights": {"a": 0.2, "b": 0.3, "c": 0.5}}, ("a", "b"))
    assert three["mm_weights"] == pytest.approx({"a": 0.4, "b": 0.6})
    assert restrict({"mm_weights": {}, "modalities": None}, ("a",)) == {
        "mm_weights": {},
        "modalities": None,
    }


def test_a_flat_knockout_trains_each_point_on_each_subset_over_the_seeds() -> None:
    study = open_study(_config())
    runs = study.runs("knockout")
    # freedom x (none, fettle) x (all, genre only, text only) x 2 seeds
    assert len(runs) == 2 * 3 * 2
    assert {r.dataset for r in runs} == {"d1", "d1-only-genre", "d1-only-text"}
    assert {(r.backbone, r.variant) for r in runs} == {("freedom", "default")}
    # the full-modality runs are the main study's own (trained once)
    assert RunKey("d1", "freedom", "fettle", "default", 2) in study.runs("main")
    assert len(study.runs()) == len(study.runs("main")) + 2 * 2 * 2
    text_only = study.run_definition(RunKey("d1-only-text", "freedom", "none", "default", 1))
    assert text_only.backbone_params["mm_weights"] == {"text": 1.0}
    full = study.run_definition(RunKey("d1", "freedom", "none", "default", 1))
    assert full.backbone_params["mm_weights"] == {"genre": 0.1, "text": 0.9}
    plan = study.plan()
    assert plan["knockout"] == {
        "d1-only-genre": {"dataset": "d1", "kept": ["genre"]},
        "d1-only-text": {"dataset": "d1", "kept": ["text"]},
    }
    row = next(r for r in plan["runs"] if r["dataset"] == "d1-only-genre")
    assert row["study"] == "knockout" and row["backbone_params"]["mm_weights"] == {"genre": 1.0}
    assert study.base_dataset("d1-only-text") == "d1" and study.base_dataset("d1") == "d1"


def test_without_a_knockout_the_plan_is_unchanged() -> None:
    cfg = _config()
    cfg.pop("knockout")
    plan = open_study(cfg).plan()
    assert "knockout" not in plan and {r["study"] for r in plan["runs"]} == {"main"}


def test_a_flat_grid_point_is_fixed_by_knockout_params() -> None:
    ko = {
        "modalities": ["genre", "text"],
        "backbones": ["freedom"],
        "plugins": ["fettle"],
        "subsets": [["text"]],
        "seeds": [1],
        "plugin_params": {"alpha": 1e-2},
    }
    study = open_study(_config(ko, plugins={"none": {}, "fettle": {"alpha": [1e-3, 1e-2]}}))
    runs = study.runs("knockout")
    # the point is one of the main grid's: its variant, the full-data run shared with main
    assert [(r.dataset, r.plugin, r.variant, r.seed) for r in runs] == [
        ("d1", "fettle", "alpha=0.01", 1),
        ("d1-only-text", "fettle", "alpha=0.01", 1),
    ]
    off_grid = open_study(
        _config({**ko, "plugin_params": {"alpha": 0.5}},
                plugins={"none": {}, "fettle": {"alpha": [1e-3, 1e-2]}})
    )  # fmt: skip
    assert {r.variant for r in off_grid.runs("knockout")} == {"knockout"}
    assert off_grid.variant("freedom", "fettle", "knockout").plugin_params["alpha"] == 0.5
    with pytest.raises(ConfigError, match="knockout: freedom/fettle parameter 'alpha' is a grid"):
        open_study(_config({**ko, "plugin_params": {}}, plugins={"none": {}, "fettle": {"alpha": [1e-3, 1e-2]}}))  # fmt: skip


@pytest.mark.parametrize(
    ("knockout", "message"),
    [
        ({"modalities": ["text"], "backbones": ["freedom"]}, "knockout.modalities"),
        ({"modalities": ["a-b", "c"], "backbones": ["freedom"]}, "'a-b' is not a modality name"),
        ({"modalities": ["genre", "text"], "backbones": ["vbpr"]}, "knockout.backbones: 'vbpr'"),
        ({"modalities": ["genre", "text"], "backbones": ["freedom"], "plugins": ["cross"]},
         "knockout.plugins: 'cross'"),
        ({"modalities": ["genre", "text"], "backbones": ["freedom"], "subsets": [["genre", "text"]]},
         "not a non-empty proper subset"),
        ({"modalities": ["genre", "text"], "backbones": ["freedom"], "subsets": [["image"]]},
         "not a non-empty proper subset"),
        ({"modalities": ["genre", "text"], "backbones": ["freedom"], "seeds": [7]},
         r"knockout.seeds: \[7\] not among `seeds`"),
        ({"modalities": {"d2": ["genre", "text"]}, "backbones": ["freedom"]},
         "knockout.modalities.d1"),
    ],
)  # fmt: skip
def test_a_bad_knockout_is_one_line_naming_its_key(knockout: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(knockout)


def test_a_derived_name_may_not_shadow_a_dataset() -> None:
    datasets = {"d1": {"source": "ml100k"}, "d1-only-text": {"source": "ml100k"}}
    with pytest.raises(ConfigError, match="'d1-only-text' is also a configured dataset"):
        _config(datasets=datasets)


def test_a_plugin_left_without_modalities_is_refused_at_plan_time() -> None:
    """(A workflow config cannot name a plug-in's ``modalities`` today — a list is a grid — but
    a variant that does is refused on a subset that keeps none of them.)"""
    from crossrec.study.grid import Variant

    study = open_study(_config())
    b = study.variant("freedom", "fettle", "default").backbone_params
    study.variants.add("freedom", "fettle", "m", Variant(b, {"modalities": ["genre"]}), "test")
    assert study.run_definition(RunKey("d1-only-genre", "freedom", "fettle", "m", 1))
    with pytest.raises(ConfigError, match="aligns only \\['genre'\\], none of which d1-only-text"):
        study.run_definition(RunKey("d1-only-text", "freedom", "fettle", "m", 1))


STAGED = {
    "backbones": {"freedom": {"knn_k": 10, "dropout": [0.8, 0.9]}},
    "plugins": {"none": {}, "fettle": {"alpha": [1e-3, 1e-2]}},
    "stages": {"tune": {}, "align": {}},
}


def test_staged_knockout_runs_follow_the_selections(tmp_path) -> None:  # noqa: ANN001
    from crossrec.study.files import Selection, selection_path

    cfg = _config(**STAGED)
    before = open_study(cfg, tmp_path)
    assert before.runs("knockout") == []  # nothing selected yet
    # every knock-out run counted before any selection (the estimate's stand-ins)
    assert len(before.runs_by_stage()["knockout"]) == 2 * 3 * 2

    def select(stage: str, plugin: str, variant: str, grid: dict) -> None:
        sel = Selection(stage, "d1", "freedom", plugin, variant, grid, 0.5, "valid recall@20",
                        1, [{"variant": variant, "run": f"d1/freedom/{plugin}/{variant}/seed1",
                          "score": 0.5}])  # fmt: skip
        sel.write(selection_path(tmp_path, stage, "d1", "freedom", plugin))

    select("tune", "none", "dropout=0.9", {"dropout": 0.9})
    tuned = open_study(cfg, tmp_path)
    ko = tuned.runs("knockout")
    assert {(r.dataset, r.plugin, r.variant) for r in ko} == {
        (d, "none", "dropout=0.9") for d in ("d1", "d1-only-genre", "d1-only-text")
    }
    derived = RunKey("d1-only-text", "freedom", "none", "dropout=0.9", 1)
    assert tuned.determined_by(derived) == ("tune", "d1", "freedom")
    assert tuned.stage_of(derived) is None  # never a stage's candidate
    assert derived in tuned.runs_determined_by(("tune", "d1", "freedom"))
    select("align", "fettle", "alpha=0.01+dropout=0.9", {"alpha": 0.01})
    aligned = open_study(cfg, tmp_path)
    fettle = [r for r in aligned.runs("knockout") if r.plugin == "fettle"]
    assert len(fettle) == 3 * 2 and {r.variant for r in fettle} == {"alpha=0.01+dropout=0.9"}
    assert aligned.determined_by(fettle[-1]) == ("align", "d1", "freedom", "fettle")


def test_the_estimate_counts_knockout_runs_under_their_dataset() -> None:
    from crossrec.costs import CostTable, estimate

    est = estimate(_config(), CostTable.load("cpu"))
    assert est["studies"]["knockout"]["jobs"] == 12
    main = est["studies"]["main"]["jobs"]
    assert est["total"]["jobs"] == main + 8  # the 4 full-modality runs are main runs
    assert est["datasets"]["d1"]["jobs"] == est["total"]["jobs"]
