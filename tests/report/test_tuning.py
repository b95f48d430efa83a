"""The tuning evidence: every candidate of a search with the scores its selection file holds, a
warning where the winner sits on its grid's edge or within seed noise (and none where it does
not), the α × β map of every two-key grid."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from crossrec.report.figures import searches, tuning
from crossrec.report.tuning import (
    edge_warnings,
    flat_rows,
    noise_warnings,
    parse_point,
    staged_rows,
    tuning_table,
)
from crossrec.study.files import Selection, selection_path
from crossrec.study.grid import variant_name

ALPHAS = [1e-3, 1e-2, 1e-1]
BETAS = [1e-4, 1e-3]


def _align(root: Path, scores: dict[tuple[float, float], float], winner: tuple) -> Selection:
    """An align selection of FETTLE on LightGCN over α × β with ``scores``."""
    candidates = [
        {
            "variant": variant_name({"alpha": a, "beta": b, "n_layers": 2}),
            "run": f"d/lightgcn/fettle/{variant_name({'alpha': a, 'beta': b, 'n_layers': 2})}/seed1",
            "score": s,
            "epochs_run": 10,
        }  # fmt: skip
        for (a, b), s in scores.items()
    ]
    win = variant_name({"alpha": winner[0], "beta": winner[1], "n_layers": 2})
    sel = Selection("align", "d", "lightgcn", "fettle", win,
                    {"alpha": winner[0], "beta": winner[1]}, scores[winner], "valid recall@20", 1,
                    candidates)  # fmt: skip
    sel.write(selection_path(root, "align", "d", "lightgcn", "fettle"))
    return sel


def _replicates(variant: str, values: list[float]) -> pd.DataFrame:
    """The winner's replicate runs (main study) with these validation scores."""
    return pd.DataFrame(
        {
            "study": "main",
            "dataset": "d",
            "backbone": "lightgcn",
            "plugin": "fettle",
            "variant": variant,
            "seed": range(1, len(values) + 1),
            "valid_recall@20": values,
            "epochs_run": 10,
        }  # fmt: skip
    )


def _grid(best: tuple, gap: float) -> dict[tuple[float, float], float]:
    scores = {p: 0.30 for p in itertools.product(ALPHAS, BETAS)}
    scores[best] = 0.30 + gap
    return scores


def test_every_candidate_with_the_selection_files_scores(tmp_path: Path) -> None:
    sel = _align(tmp_path, _grid((1e-2, 1e-3), 0.01), (1e-2, 1e-3))
    rows = staged_rows(tmp_path, [("d", "lightgcn", "none"), ("d", "lightgcn", "fettle")])
    assert len(rows) == len(sel.candidates) == 6  # the pinned (fileless) tune stage: no rows
    assert rows["score"].tolist() == [c["score"] for c in sel.candidates]
    assert rows["winner"].sum() == 1 and rows.loc[rows["winner"], "variant"].item() == sel.variant
    assert rows.loc[rows["winner"], "rank"].item() == 1
    assert rows["point"].iloc[0] == {"alpha": 1e-3, "beta": 1e-4}  # the stage's keys only
    display, numeric = tuning_table(rows)
    assert display["winner"].tolist().count("★") == 1 and "alpha=0.01, beta=0.001" in set(
        numeric["point"]
    )


@pytest.mark.parametrize(
    ("best", "warned"),
    [((1e-1, 1e-3), "widen `plugins.fettle.alpha` above 0.1"),
     ((1e-3, 1e-3), "widen `plugins.fettle.alpha` below 0.001"),
     ((1e-2, 1e-3), None)],
)  # fmt: skip
def test_an_edge_winner_of_a_grid_of_three_is_warned(tmp_path: Path, best, warned) -> None:
    _align(tmp_path, _grid(best, 0.01), best)
    rows = staged_rows(tmp_path, [("d", "lightgcn", "fettle")])
    found = edge_warnings(rows, {"runs": []})
    if warned is None:
        assert found == []  # interior in alpha; beta has two values: never an edge
    else:
        assert len(found) == 1 and warned in found[0], found


def test_a_winner_within_seed_noise_is_warned_and_a_clear_one_is_not(tmp_path: Path) -> None:
    best = (1e-2, 1e-3)
    sel = _align(tmp_path, _grid(best, 0.001), best)
    rows = staged_rows(tmp_path, [("d", "lightgcn", "fettle")])
    noisy = _replicates(sel.variant, [0.300, 0.305, 0.295])  # SD 0.005 > margin 0.001
    (line,) = noise_warnings(rows, noisy)
    assert "by 0.0010, less than its seed-to-seed SD 0.0050 (n = 3 seeds)" in line
    steady = _replicates(sel.variant, [0.3000, 0.3002, 0.2998])  # SD 0.0002 < margin
    assert noise_warnings(rows, steady) == []


def test_a_flat_studys_grid_is_its_candidates() -> None:
    runs = pd.concat(
        [_replicates("alpha=0.01", [0.30, 0.32]), _replicates("alpha=0.1", [0.31, 0.35])]
    )
    selection = pd.DataFrame([{"dataset": "d", "backbone": "lightgcn", "plugin": "fettle",
                               "variant": "alpha=0.1"}])  # fmt: skip
    grids = {("d", "lightgcn", "fettle", v): {"alpha": float(v.split("=")[1])}
             for v in ("alpha=0.01", "alpha=0.1")}  # fmt: skip
    rows = flat_rows(runs, selection, grids)
    assert rows["score"].tolist() == pytest.approx([0.31, 0.33])
    assert rows["winner"].tolist() == [False, True] and rows["search"].iloc[0].startswith("grid, 2")
    # a flat study's winner is checked against its seed noise too: margin 0.02 < its SD 0.028
    assert rows["metric"].tolist() == ["valid recall@20"] * 2
    (line,) = noise_warnings(rows, runs)
    assert "the winner alpha=0.1 beats the runner-up alpha=0.01 by 0.0200, less than" in line


def test_every_two_key_grid_is_a_heat_map(tmp_path: Path) -> None:
    _align(tmp_path, _grid((1e-2, 1e-3), 0.01), (1e-2, 1e-3))
    rows = staged_rows(tmp_path, [("d", "lightgcn", "fettle")])
    ((title, sub, keys),) = searches(rows)
    assert keys == ["alpha", "beta"] and len(sub) == 6 and "FETTLE align" in title
    fig, _ = tuning(rows)
    (image,) = fig.axes[0].images
    assert image.get_array().shape == (3, 2)  # alpha x beta, every cell filled
    assert parse_point("alpha=0.01+n_layers=2", ["alpha"]) == {"alpha": 0.01}


def test_a_winner_at_zero_is_not_an_edge(tmp_path: Path) -> None:
    candidates = [{"variant": f"reg_weight={v:g}", "run": f"d/freedom/none/reg_weight={v:g}/seed1",
                   "score": s, "epochs_run": 5}
                  for v, s in ((0.0, 0.35), (1e-5, 0.34), (1e-4, 0.33))]  # fmt: skip
    Selection("tune", "d", "freedom", "none", "reg_weight=0", {"reg_weight": 0.0}, 0.35,
              "valid recall@20", 1, candidates).write(
        selection_path(tmp_path, "tune", "d", "freedom", "none"))  # fmt: skip
    rows = staged_rows(tmp_path, [("d", "freedom", "none")])
    assert edge_warnings(rows, {"runs": []}) == []
