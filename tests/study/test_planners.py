"""The experiment matrix: grids, variant names, exclusions, ablation and sensitivity studies."""

from __future__ import annotations

import pytest

from crossrec.errors import ConfigError
from crossrec.run import RunKey
from crossrec.study import open_study
from crossrec.study.grid import grid_variants, variant_name


def _config(**extra) -> dict:
    base = {
        "datasets": {"d1": {"source": "ml100k"}, "d2": {"source": "ml100k"}},
        "backbones": {"bpr": {"reg_weight": [1e-4, 1e-3]}, "freedom": {"knn_k": 10}},
        "plugins": {"none": {}, "cross": {"alpha": 1e-3, "beta": [1e-4, 1e-2]}},
        "seeds": [1, 2],
    }
    base.update(extra)
    return base


def test_variant_names_are_stable_slugs() -> None:
    assert variant_name({}) == "default"
    assert variant_name({"beta": 1e-4, "alpha": 0.001}) == "alpha=0.001+beta=0.0001"
    assert variant_name({"cna_k": 5, "flag": True}) == "cna_k=5+flag=true"
    with pytest.raises(ConfigError, match="valid variant name"):
        variant_name({"name": "a b"})


def test_grid_is_the_product_of_both_sides() -> None:
    grid = grid_variants({"reg_weight": [1e-4, 1e-3], "n_layers": 2}, {"beta": [1, 2, 3]})
    assert len(grid) == 6
    v = grid["beta=2+reg_weight=0.001"]
    assert v.backbone_params == {"reg_weight": 1e-3, "n_layers": 2} and v.plugin_params == {
        "beta": 2
    }
    with pytest.raises(ConfigError, match="both the backbone and the plug-in"):
        grid_variants({"x": [1, 2]}, {"x": [3]})
    with pytest.raises(ConfigError, match="empty list"):
        grid_variants({"x": []}, {})


def test_main_study_counts_and_exclusions() -> None:
    exp = open_study(_config())
    # bpr: 2 (none) + 4 (cross); freedom: 1 + 2 → 9 variants × 2 datasets × 2 seeds
    assert len(exp.runs("main")) == 36
    exp = open_study(_config(exclude=[{"backbone": "bpr", "plugin": "cross"}, {"dataset": "d2"}]))
    runs = exp.runs("main")
    assert {r.dataset for r in runs} == {"d1"}
    assert not any(r.backbone == "bpr" and r.plugin == "cross" for r in runs)
    assert RunKey("d1", "freedom", "cross", "beta=0.01", 2) in runs
    assert exp.variant("bpr", "none", "reg_weight=0.001").backbone_params == {"reg_weight": 1e-3}
    with pytest.raises(ConfigError, match="no planned variant"):
        exp.variant("bpr", "none", "default")


def test_ablation_and_sensitivity() -> None:
    cfg = _config(
        plugins={"none": {}, "cross": {"alpha": 1e-3, "cla_prototypes": 64}},
        ablation={"backbones": ["freedom"], "presets": ["cross", "cross_no_cla"], "seeds": [7]},
        sensitivity={
            "backbone": "freedom",
            "plugin": "cross",
            "params": {"alpha": [1e-4, 1e-3], "cna_k": [1, 5]},
            "seeds": [1],
        },
    )
    exp = open_study(cfg)
    abl = exp.runs("ablation")
    assert {(r.plugin, r.seed) for r in abl if r.dataset == "d1"} == {
        ("cross", 7),
        ("cross_no_cla", 7),
    }
    sens = exp.runs("sensitivity")
    # alpha=1e-3 is the configured value: the main run (variant default) is reused
    assert {r.variant for r in sens} == {"alpha=0.0001", "default", "cna_k=1", "cna_k=5"}
    assert exp.variant("freedom", "cross", "cna_k=5").plugin_params["cna_k"] == 5
    assert exp.data_needs().neighbors_k == {1, 3, 5}
    plan = exp.plan()
    swept = [
        r["swept"] for r in plan["runs"] if r["study"] == "sensitivity" and r["dataset"] == "d1"
    ]
    assert sorted(map(tuple, swept)) == [
        ("alpha", 1e-4),
        ("alpha", 1e-3),
        ("cna_k", 1),
        ("cna_k", 5),
    ]
    # a run shared by two studies is trained once
    assert len(exp.runs()) < len(exp.runs("main")) + len(abl) + len(sens)


def test_studies_need_scalar_parameters() -> None:
    cfg = _config(sensitivity={"backbone": "bpr", "plugin": "cross", "params": {"alpha": [1]}})
    with pytest.raises(ConfigError, match="is a grid"):
        open_study(cfg)
    cfg["sensitivity"]["backbone_params"] = {"reg_weight": 1e-4}
    cfg["sensitivity"]["plugin_params"] = {"beta": 1e-4}
    assert open_study(cfg).runs("sensitivity")
    with pytest.raises(ConfigError, match="not in `backbones`"):
        open_study(_config(ablation={"backbones": ["ncl"], "presets": ["cross"]}))
    with pytest.raises(ConfigError, match="selection"):
        open_study(_config(selection="test"))


def test_user_graph_only_when_dualgnn_is_planned() -> None:
    assert not open_study(_config()).data_needs().user_graph
    cfg = _config()
    cfg["backbones"]["dualgnn"] = {"reg_weight": 1e-4}
    assert open_study(cfg).data_needs().user_graph
    assert not open_study({**cfg, "exclude": [{"backbone": "dualgnn"}]}).data_needs().user_graph


def test_data_needs_are_declared_by_the_models() -> None:
    cfg = _config()
    cfg["backbones"]["freedom"] = {"knn_k": [4, 6]}  # a grid over FREEDOM's kNN graph
    cfg["item_knn_k"] = [10]
    needs = open_study(cfg).data_needs()
    assert needs.item_knn_k == {4, 6, 10}  # no hand-copying into item_knn_k
    cfg["plugins"] = {"none": {}, "cross_no_cna": {"cna_k": 7}}  # CNA off: no neighbour file
    assert 7 not in open_study(cfg).data_needs().neighbors_k
    cfg["plugins"] = {"none": {}, "cross": {"cna_k": 7}}
    assert 7 in open_study(cfg).data_needs().neighbors_k


def test_a_backbone_can_grid_its_own_trainer_settings() -> None:
    """MMRec tunes learning_rate per model: `train:` inside a backbone's entry overrides the
    config's trainer settings for that backbone, and a list there is part of its grid."""
    from crossrec.workflow_config import checked

    config = _config(
        backbones={"bpr": {"reg_weight": [1e-4, 1e-3], "train": {"lr": [1e-4, 1e-2]}}},
        train={"epochs": 3, "lr": 5e-4, "topk": [5, 10, 20]},
    )
    exp = open_study(checked(config))
    names = sorted({k.variant for k in exp.runs() if k.plugin == "none"})
    assert names == [
        f"lr={lr}+reg_weight={r}" for lr in ("0.0001", "0.01") for r in ("0.0001", "0.001")
    ]
    run = exp.run_definition(RunKey("d1", "bpr", "none", "lr=0.01+reg_weight=0.0001", 1))
    assert run.train.lr == 1e-2 and run.train.epochs == 3 and "train" not in run.backbone_params
    other = exp.run_definition(RunKey("d1", "bpr", "none", "lr=0.0001+reg_weight=0.0001", 1))
    assert other.train.lr == 1e-4
    bad = _config(backbones={"bpr": {"train": {"lr": -1.0}}})
    with pytest.raises(ConfigError, match="backbones.bpr.train.lr"):
        checked(bad)


def test_the_default_table_cut_offs_must_be_computed() -> None:
    """Without `tables.k` the tables show R@10 and R@20 (FETTLE's main table); a `train.topk`
    that lacks them is refused in one line naming the default."""
    from crossrec.report import DEFAULT_K
    from crossrec.workflow_config import checked

    assert DEFAULT_K == (10, 20)
    checked(_config())  # the default topk computes 10 and 20
    with pytest.raises(
        ConfigError, match=r"tables.k: 10 \(the default tables.k \[10, 20\]\) is not"
    ):
        checked(_config(train={"topk": [5, 20]}))


def test_a_study_has_only_the_outputs_of_what_it_runs() -> None:
    """No placeholder table or figure: ablation, sensitivity, knock-out, tuning and the papers'
    comparison only where the config has them (the workflow's targets follow this list)."""
    from crossrec.report import CONDITIONAL, FIGURES, TABLES
    from crossrec.workflow_config import checked

    plain = _config(backbones={"bpr": {}}, plugins={"none": {}, "cross": {}})
    out = open_study(checked(plain)).outputs()
    assert set(TABLES) - set(out["tables"]) == set(CONDITIONAL) - {"sensitivity"}
    assert set(FIGURES) - set(out["figures"]) == {"sensitivity", "tuning"}
    full = _config(
        datasets={"Baby": {"source": "amazon"}},
        ablation={"backbones": ["freedom"], "presets": ["cross", "cross_no_cla"]},
        sensitivity={"backbone": "freedom", "plugin": "cross", "params": {"alpha": [0.1, 1.0]}},
        knockout={"modalities": ["image", "text"], "backbones": ["freedom"]},
        plugins={"none": {}, "cross": {"alpha": 1e-3, "beta": 1e-4}},
    )  # bpr's reg_weight grid is a search
    out = open_study(checked(full)).outputs()
    assert out == {"tables": list(TABLES), "figures": list(FIGURES)}
    assert open_study(checked(full)).plan()["outputs"] == out
