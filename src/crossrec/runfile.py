"""One run's definition file, ``run.yaml``: what the workflow's train rule reads.

A run is written once as plain data — identity (dataset, backbone, plug-in, variant, seed), the
variant's backbone and plug-in parameters and the config's trainer settings, the form
:meth:`crossrec.train.RunSpec.from_dict` reads — into its run folder
``results/runs/<dataset>/<backbone>/<plugin>/<variant>/seed<seed>/run.yaml``
(:meth:`crossrec.experiment.RunKey.path`). ``crossrec train --run run.yaml`` trains it, so the
file is the whole run: editing it (parameters, trainer settings) reruns that one job, deleting
its ``metrics.json`` retrains it. The run is validated where it is planned (every planned run's
parameters when the workflow starts and in ``crossrec plan``, :mod:`crossrec.workflow_config`)
and again when it is trained (:meth:`crossrec.train.RunSpec.from_dict`, then the backbone's and
plug-in's ``Params``); writing the file only checks its identity keys, so this module does not
import torch: the workflow writes one file per run on the submitting machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from crossrec.errors import ConfigError
from crossrec.experiment import IDENTITY
from crossrec.io import write_yaml
from crossrec.outputs import claim_dir, only_names

RUN_FILE = "run.yaml"
RUN_FILES = (
    RUN_FILE,
    "metrics.json",
    "history.csv",
    "config.yaml",
    "test_per_user.csv",
    "checkpoint.pt",
)  # what a run folder holds; a folder of only these is an earlier crossrec run


def write_run_file(definition: Mapping[str, Any], path: str | Path) -> bool:
    """Write a run's plain-data definition to ``path`` (YAML, key order kept, atomically),
    claiming its folder as a crossrec run folder (OutputError for a folder crossrec did not
    make). The file is left untouched — its modification time too, so nothing downstream
    reruns — when it already holds the same run. Returns whether it was written.

    Raises:
        ConfigError: ``definition`` is not a mapping with the identity keys.
    """
    if not isinstance(definition, Mapping):
        raise ConfigError(f"run: expected a mapping of run keys, got {type(definition).__name__}")
    missing = [k for k in IDENTITY if k not in definition]
    if missing:
        raise ConfigError(f"run: missing key(s) {', '.join(map(repr, missing))}")
    path = Path(path)
    plain = dict(definition)
    if path.is_file():
        try:
            if yaml.safe_load(path.read_text()) == plain:
                return False
        except (yaml.YAMLError, UnicodeDecodeError):
            pass  # unreadable: rewritten below (the folder is checked first)
    claim_dir(path.parent, "run", only_names(RUN_FILES))
    write_yaml(path, plain)
    return True
