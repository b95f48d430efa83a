"""A staged study's ablation and sensitivity runs, planned at a backbone's selected (or pinned)
point rather than at configured values (torch-free)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crossrec.run import RunKey
from crossrec.study.grid import Variant, variant_name

if TYPE_CHECKING:
    from crossrec.study.staged import StagedStudy

ABLATION, SENSITIVITY = "ablation", "sensitivity"  # their variant names' prefixes


def selected_studies(
    study: StagedStudy, dataset: str, backbone: str, backbone_variant: str
) -> list[tuple[str, RunKey, tuple[str, Any] | None]]:
    """The ablation and sensitivity runs on a backbone at its point ``backbone_variant``:
    ``(study, run, (param, value) swept or None)``. Their plug-in parameters are the configured
    ones (``ablation.plugin_params``, the sensitivity's sweep around
    ``sensitivity.plugin_params``), their variants named ``ablation+<point>`` and
    ``sensitivity+<param>=<value>+<point>`` (registered in ``study.variants``)."""
    out: list[tuple[str, RunKey, tuple[str, Any] | None]] = []
    b_var = study.variant(backbone, "none", backbone_variant)
    abl = study.config.get("ablation")
    if abl and backbone in abl["backbones"]:
        seeds = [int(s) for s in abl.get("seeds", study.seeds)]
        name = f"{ABLATION}+{backbone_variant}"
        for preset in abl["presets"]:
            _, params = study.base(
                backbone, preset, "ablation", b_var.backbone_params, abl.get("plugin_params")
            )
            var = Variant(b_var.backbone_params, params, dict(b_var.grid))
            study.variants.add(backbone, preset, name, var, "ablation")
            out += [("ablation", RunKey(dataset, backbone, preset, name, s), None) for s in seeds]
    sens = study.config.get("sensitivity")
    if sens and sens["backbone"] == backbone:
        plugin = sens["plugin"]
        seeds = [int(s) for s in sens.get("seeds", study.seeds)]
        _, params = study.base(
            backbone, plugin, "sensitivity", b_var.backbone_params, sens.get("plugin_params")
        )
        for param, values in sens["params"].items():
            for value in values:
                name = f"{SENSITIVITY}+{variant_name({param: value})}+{backbone_variant}"
                var = Variant(b_var.backbone_params, {**params, param: value}, dict(b_var.grid))
                study.variants.add(backbone, plugin, name, var, f"sensitivity.params.{param}")
                out += [
                    ("sensitivity", RunKey(dataset, backbone, plugin, name, s), (param, value))
                    for s in seeds
                ]
    return out
