"""Effect sizes and intervals (crossrec.report.effects) against scipy on worked examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crossrec.report.effects import improvement_interval, standardized_effect
from crossrec.report.significance import interval_text
from crossrec.report.tables import main_table


def test_improvement_interval_is_the_paired_t_interval_over_the_backbone_mean() -> None:
    plugin, base = np.array([0.30, 0.32, 0.31]), np.array([0.29, 0.30, 0.30])
    delta, low, high = improvement_interval(plugin, base)
    diff = plugin - base  # worked by hand: d̄ ± t(0.975, 2) · s / √3, over the base mean
    half = stats.t.ppf(0.975, 2) * diff.std(ddof=1) / math.sqrt(3)
    assert delta == pytest.approx((plugin.mean() - base.mean()) / base.mean())
    assert low == pytest.approx((diff.mean() - half) / base.mean())
    assert high == pytest.approx((diff.mean() + half) / base.mean())
    assert low == pytest.approx(-0.0034, abs=1e-4) and high == pytest.approx(0.0933, abs=1e-4)
    one = improvement_interval(plugin[:1], base[:1])
    assert one[0] == pytest.approx(0.30 / 0.29 - 1) and math.isnan(one[1]) and math.isnan(one[2])


def test_standardized_effect_is_t_over_root_n_with_the_noncentral_t_interval() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.3, 0.1, 40)
    b = a - rng.normal(0.02, 0.05, 40)
    dz, low, high = standardized_effect(a, b)
    t = stats.ttest_rel(a, b).statistic
    assert dz == pytest.approx(t / math.sqrt(40))
    assert dz == pytest.approx((a - b).mean() / (a - b).std(ddof=1))
    # the interval's ends are the noncentralities at which the observed t is the 97.5 % and
    # 2.5 % quantile
    assert stats.nct.cdf(t, 39, low * math.sqrt(40)) == pytest.approx(0.975, abs=1e-6)
    assert stats.nct.cdf(t, 39, high * math.sqrt(40)) == pytest.approx(0.025, abs=1e-6)
    # close to the large-sample normal interval
    half = 1.96 * math.sqrt(1 / 40 + dz**2 / 80)
    assert low == pytest.approx(dz - half, abs=0.02) and high == pytest.approx(dz + half, abs=0.02)
    assert all(math.isnan(x) for x in standardized_effect(a, a))  # no spread: no effect size
    huge = standardized_effect(a + 1e-9 * np.arange(40), a)  # nearly constant differences
    assert huge[1] < huge[0] < huge[2]


def test_main_csv_has_each_delta_with_its_interval_and_the_option_shows_it() -> None:
    rows = [
        {"dataset": "d", "backbone": "lightgcn", "plugin": plugin, "variant": "v", "seed": s,
         "test_recall@20": value}
        for plugin, values in (("none", (0.29, 0.30, 0.30)), ("cross", (0.30, 0.32, 0.31)))
        for s, value in enumerate(values)
    ]  # fmt: skip
    chosen = pd.DataFrame(rows)
    for m in ("recall@10", "ndcg@20", "ndcg@10", "precision@20", "precision@10"):
        chosen[f"test_{m}"] = chosen["test_recall@20"]
    pvalues = pd.DataFrame(columns=["dataset", "backbone", "plugin", "p"])
    display, numeric = main_table(chosen, pvalues, [10, 20], ["none", "cross"])
    row = numeric[numeric["plugin"] == "cross"].iloc[0]
    assert row["delta_recall@20_low"] == pytest.approx(-0.0034, abs=1e-4)
    assert row["delta_recall@20_high"] == pytest.approx(0.0933, abs=1e-4)
    assert "[" not in display.to_string()
    shown, _ = main_table(chosen, pvalues, [10, 20], ["none", "cross"], interval=True)
    assert shown.iloc[2]["R@20"] == "+4.49% [-0.34, +9.33]"
    assert interval_text(0.12, 0.05, 0.19, "{:+.3f}") == "+0.120 [+0.050, +0.190]"
    assert interval_text(float("nan"), 0, 0, "{:.1f}") == "–"
