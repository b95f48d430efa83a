"""The papers' published numbers, beside ours.

``data/published.csv`` holds, as facts, the numbers FETTLE (SIGIR 2024) and CROSS report for the
datasets they use (Amazon Baby, Sports, Clothing; TikTok): FETTLE's Table 2 (Recall@20 and
NDCG@20 of eleven backbones, vanilla and +FETTLE) and the CROSS README's K = 5 table (Recall,
NDCG and Precision of NCL and FREEDOM, vanilla, +FETTLE and +CROSS). Columns: ``paper``,
``table``, ``dataset``, ``backbone``, ``plugin``, ``metric``, ``value``, ``note``;
docs/published.md says where each number was read and what the notes mean.

:func:`paper_vs_ours` matches them with a study's selected runs by dataset name (a configured
dataset named ``baby``, ``sports``, ``clothing`` or ``tiktok``, in any case), backbone,
plug-in and metric.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from crossrec.report import PAPER_DATASETS

DISPLAY = {
    "bpr": "BPR",
    "lightgcn": "LightGCN",
    "sgl": "SGL",
    "directau": "DirectAU",
    "ncl": "NCL",
    "vbpr": "VBPR",
    "dualgnn": "DualGNN",
    "grcn": "GRCN",
    "slmrec": "SLMRec",
    "lattice": "LATTICE",
    "freedom": "FREEDOM",
}


def load_published() -> pd.DataFrame:
    """The published numbers (``data/published.csv``, shipped with the package)."""
    source = resources.files("crossrec.report") / "data" / "published.csv"
    with source.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype={"value": float}, keep_default_na=False)
    return frame


def backbone_name(backbone: str) -> str:
    """The papers' spelling of a backbone (``lightgcn`` → ``LightGCN``)."""
    return DISPLAY.get(backbone, backbone)


def plugin_name(plugin: str) -> str:
    """``+FETTLE``, ``+CROSS``, ``+BM3``; an ablation preset ``cross_no_cla`` → ``+CROSS w/o
    CLA``; ``none`` → ``–`` (the backbone alone)."""
    if plugin == "none":
        return "–"
    base, without, dropped = plugin.partition("_no_")
    return f"+{base.upper()}" + (f" w/o {dropped.upper()}" if without else "")


def model_name(backbone: str, plugin: str) -> str:
    """``LightGCN``, ``LightGCN+FETTLE``: the papers' way of naming a row."""
    base = backbone_name(backbone)
    return base if plugin == "none" else f"{base}{plugin_name(plugin)}"


def paper_vs_ours(
    chosen: pd.DataFrame, published: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(display, numeric, note) of the published numbers next to the mean over seeds of the
    selected runs ``chosen`` (one row per seed, ``test_<metric>`` columns).

    One row per published (dataset, backbone, plug-in, metric) that the study ran: published
    value, ours (mean ± sample std over seeds), ``ours − published`` and its relative size.
    No matching dataset gives an empty table and a note saying so.
    """
    published = load_published() if published is None else published
    ours = chosen.assign(_paper=chosen["dataset"].str.lower())
    rows = []
    for pub in published.itertuples(index=False):
        column = f"test_{pub.metric}"
        if column not in ours.columns:
            continue
        match = ours[
            (ours["_paper"] == pub.dataset)
            & (ours["backbone"] == pub.backbone)
            & (ours["plugin"] == pub.plugin)
        ]
        if match.empty:
            continue
        values = match[column].astype(float)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        rows.append(
            {
                "dataset": str(match["dataset"].iloc[0]),
                "backbone": pub.backbone,
                "plugin": pub.plugin,
                "metric": pub.metric,
                "published": float(pub.value),
                "ours": mean,
                "ours_std": std,
                "n_seeds": len(values),
                "difference": mean - float(pub.value),
                "relative": (mean - float(pub.value)) / float(pub.value),
                "source": f"{pub.paper} {pub.table}",
                "note": pub.note,
            }
        )
    numeric = pd.DataFrame(
        rows,
        columns=[
            "dataset", "backbone", "plugin", "metric", "published", "ours", "ours_std",
            "n_seeds", "difference", "relative", "source", "note",
        ],
    )  # fmt: skip
    if numeric.empty:
        note = (
            "No configured dataset is one of the papers' ("
            + ", ".join(PAPER_DATASETS)
            + "), so there is nothing to compare."
        )
        display = pd.DataFrame(columns=["dataset", "model", "metric", "published", "ours", "Δ"])
        return display, numeric, note
    display = pd.DataFrame(
        {
            "dataset": numeric["dataset"],
            "model": [
                model_name(b, p)
                for b, p in zip(numeric["backbone"], numeric["plugin"], strict=True)
            ],
            "metric": numeric["metric"],
            "published": numeric["published"].map("{:.4f}".format),
            "ours": [
                f"{m:.4f}" if n < 2 else f"{m:.4f} ± {s:.4f}"
                for m, s, n in zip(
                    numeric["ours"], numeric["ours_std"], numeric["n_seeds"], strict=True
                )
            ],
            "Δ": [
                f"{d:+.4f} ({100 * r:+.1f}%)"
                for d, r in zip(numeric["difference"], numeric["relative"], strict=True)
            ],
            "source": numeric["source"] + numeric["note"].map(lambda n: " *" if n else ""),
        }
    )
    note = (
        "Published numbers as printed in the papers (src/crossrec/report/data/published.csv); "
        "ours: test metric at the best-validation epoch, mean ± std over seeds of the selected "
        "variant. * see the note column of paper_vs_ours.csv."
    )
    return display, numeric, note
