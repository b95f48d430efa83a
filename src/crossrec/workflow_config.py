"""The workflow config, checked once and early: the same checks for ``snakemake`` (the Snakefile
calls :func:`check_or_exit` before building the DAG) and ``crossrec plan``.

1. **Coercion.** ``snakemake --config seeds=[1]`` and ``--config 'train={epochs: 5}'`` hand
   over strings (Snakemake parses ``--config`` values with YAML's base loader). Guided by the
   schema, a string where the schema expects a number, boolean, list or mapping is parsed as
   YAML (:func:`crossrec.strict.parse_scalar`); where the schema says nothing (backbone and
   plug-in parameters), the same parsing applies; a string the schema wants stays a string.
2. **Schema** (``crossrec/schemas/config.schema.yaml``, its ``train`` section generated from
   :class:`crossrec.run.TrainConfig`; JSON Schema 2020-12, checked with
   ``jsonschema``): an error is one line naming the key's path (``train.topk[0]``) and the
   reason, never a dump of the schema.
3. **Meaning**: each dataset's source and its options (:mod:`crossrec.data.sources`); then
   (:meth:`crossrec.study.Planner.validate`) backbone, plug-in and preset
   names, every planned variant's parameters against its dataclass (types and ranges), the
   trainer settings, and ``tables.k`` against ``train.topk`` — so a typo fails ``snakemake -n``,
   not a training job an hour later.
4. **Data** (:func:`check_data`): a folder source's path, and ``train.topk`` against a prepared
   dataset's item count (at a dry run where ``meta.json`` is there, and in ``crossrec plan
   --data``, which the workflow runs once the data is prepared, before any training job).

The study these checks build is the one the workflow plans with (:func:`check_or_exit` returns
it): its variants are typed once per process (:mod:`crossrec.study.resolve`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from crossrec import schemas
from crossrec.errors import ConfigError, CrossrecError
from crossrec.params_schema import workflow_schema
from crossrec.strict import parse_scalar

if TYPE_CHECKING:
    from crossrec.study import Planner


def _types(sub: Mapping[str, Any]) -> set[str]:
    t = sub.get("type")
    return {t} if isinstance(t, str) else set(t or ())


def coerce(value: Any, sub: Mapping[str, Any] | None) -> Any:  # noqa: ANN401
    """``value`` with strings parsed where the schema ``sub`` expects a non-string (see the
    module docstring); containers are walked along ``properties``/``additionalProperties``/
    ``items``. A string that does not parse is returned unchanged for the schema to report."""
    sub = sub or {}
    types = _types(sub)
    if isinstance(value, str):
        if "string" in types or ("enum" in sub and value in sub["enum"]):
            return value
        try:
            parsed = parse_scalar(value)
        except ConfigError:
            return value
        if isinstance(parsed, str):
            return value
        return coerce(parsed, sub)
    if isinstance(value, Mapping):
        props = sub.get("properties", {})
        extra = sub.get("additionalProperties")
        extra = extra if isinstance(extra, Mapping) else {}
        return {k: coerce(v, props.get(k, extra)) for k, v in value.items()}
    if isinstance(value, list):
        items = sub.get("items")
        return [coerce(v, items if isinstance(items, Mapping) else {}) for v in value]
    return value


def check_schema(config: Mapping[str, Any]) -> None:
    """ConfigError ``"<key path>: <reason>"`` for the most relevant schema violation."""
    problem = schemas.first_error(config, "config", workflow_schema())
    if problem is not None:
        raise ConfigError(problem)


def checked(config: Mapping[str, Any]) -> dict[str, Any]:
    """The coerced config after the schema and meaning checks (module docstring)."""
    return checked_study(config).config  # type: ignore[return-value]


def checked_study(config: Mapping[str, Any], data: str | Path | None = None) -> Planner:
    """The study of the coerced config, after the schema and meaning checks (its variants
    typed; no selection read) and the data checks against the prepared datasets below
    ``data`` (:func:`check_data`)."""
    from crossrec.study import open_study

    if not isinstance(config, Mapping):
        raise ConfigError(f"<config>: expected a mapping of keys, got {type(config).__name__}")
    out = coerce(dict(config), workflow_schema())
    check_schema(out)
    check_sources(out)
    study = open_study(out)
    study.validate()
    check_data(out, data)
    return study


def check_data(config: Mapping[str, Any], data: str | Path | None) -> None:
    """What the data decides, before any job: a ``folder`` source's ``path`` is a folder with
    an ``.inter`` file; and where a dataset is prepared (``<data>/<dataset>/meta.json``), no
    cut-off of ``train.topk`` exceeds its item count (top-K over fewer items fails every
    training job after it has trained). ConfigError naming the key."""
    from crossrec.run import train_settings
    from crossrec.safeload import read_json

    for name, spec in config["datasets"].items():
        if spec.get("source") != "folder" or spec.get("path") is None:
            continue
        path = Path(str(spec["path"]))
        if not path.is_dir():
            problem = "no such folder" if not path.exists() else "not a folder"
            raise ConfigError(f"datasets.{name}.path {str(path)!r}: {problem}")
        if not any(path.glob("*.inter")):
            raise ConfigError(
                f"datasets.{name}.path {str(path)!r}: no .inter file (an MMRec-format folder "
                "holds <dataset>.inter and the modality features)"
            )
    if data is None:
        return
    largest = max(train_settings(config).topk)
    for name in config["datasets"]:
        meta = Path(data) / name / "meta.json"
        if not meta.is_file():
            continue
        try:
            blob = read_json(meta, "rerun the prepare job")
        except CrossrecError:
            continue  # a damaged meta.json is the prepare job's to redo, not a config error
        items = blob.get("n_items") if isinstance(blob, dict) else None
        if isinstance(items, int) and largest > items:
            raise ConfigError(
                f"train.topk: {largest} exceeds the {items} items of dataset {name} ({meta}); "
                f"every cut-off must be at most {items}"
            )


def check_sources(config: Mapping[str, Any]) -> None:
    """Each dataset's source is registered and its options fit the source's ``Params``."""
    from crossrec.data.sources import source_params

    for name, spec in config["datasets"].items():
        options = {k: v for k, v in spec.items() if k != "source"}
        source_params(spec["source"], options, f"datasets.{name}")


def fail(err: CrossrecError, source: str) -> NoReturn:
    """Print ``crossrec: error: <source>: <message>`` and exit with the error's status."""
    print(f"crossrec: error: {source}: {err}", file=sys.stderr)
    sys.exit(err.exit_code)


def config_source(workflow: Any) -> str:  # noqa: ANN401
    """How error messages name the config: its files, and ``(with --config)`` when values were
    given on the command line (Snakemake's ``workflow`` object)."""
    files = [str(f) for f in (workflow.overwrite_configfiles or ["config/config.yaml"])]
    settings = getattr(workflow, "config_settings", None)
    overrides = getattr(settings, "config", None)
    return " ".join(files) + (" (with --config)" if overrides else "")


def config_files(workflow: Any) -> list[str]:  # noqa: ANN401
    """The config files Snakemake read (``--configfile``, else the default)."""
    return [str(f) for f in (workflow.overwrite_configfiles or ["config/config.yaml"])]


def check_or_exit(
    config: MutableMapping[str, Any],
    source: str,
    files: Sequence[str] = (),
    selections: str | Path | None = None,
    data: str | Path | None = None,
) -> Planner:
    """Replace ``config``'s content by :func:`checked`'s and return the study planned from it
    with the selection files below ``selections`` — or print one line and exit 2 (the
    Snakefile's entry; ``source`` names the config files; ``data``: the prepared datasets'
    folder, for :func:`check_data`). ``files`` are read again through
    :mod:`crossrec.safeload` first: Snakemake's own YAML loader keeps the last of two equal
    keys and expands aliases, so a duplicate ``train.epochs`` or an alias bomb is refused here
    before the config is used."""
    from crossrec.safeload import load_yaml
    from crossrec.study import open_study

    for file in files:
        try:
            if Path(file).is_file():
                load_yaml(file, ConfigError)
        except CrossrecError as err:  # the message names the file and line
            print(f"crossrec: error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
    try:
        study = checked_study(config, data)
    except CrossrecError as err:
        fail(err, source)
    config.clear()
    config.update(study.config)
    if selections is None:
        return study
    try:  # the same typed variants (crossrec.study.resolve), the selections made so far read
        return open_study(config, selections)
    except CrossrecError as err:  # a selection file's message names the file
        print(f"crossrec: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
