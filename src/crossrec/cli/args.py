"""Argument types and flag groups shared by the subcommands (no torch, no pandas)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crossrec.errors import ConfigError
from crossrec.run import check_dataset_name
from crossrec.strict import parse_scalar


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that states an option's default when there is one worth stating (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def parse_assignments(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=[1, 2]"]`` → ``{"a": 1, "b": [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key.strip() in out:  # as in files: a repeated key is refused, never last-wins
            raise ConfigError(f"{flag} {key.strip()}: given twice")
        try:
            out[key.strip()] = parse_scalar(value)
        except ConfigError as err:
            raise ConfigError(f"{flag} {key.strip()}: {err}") from None
    return out


def dataset_name(text: str) -> str:
    """argparse type of ``--dataset``: an identifier, never a path."""
    try:
        return check_dataset_name(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--dataset: ")) from None


def _number_in(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` (int or float) in [low, high] (NaN is never in range)."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:  # noqa: ANN401
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            bounds = f"{low:,} to {high:,}" if kind is int else f"{low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"{value} is out of range ({bounds})")
        return value

    return parse


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""
    return _number_in(int, low, high)


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high]."""
    return _number_in(float, low, high)


thread_count = int_in(0, 1024)  # 0: torch's default
seed_int = int_in(0, 2**32 - 1)  # numpy's seeding range
k_int = int_in(1, 1 << 16)


def json_arg(text: str, flag: str) -> Any:  # noqa: ANN401
    """A JSON-valued flag (``--config-json``) parsed; ConfigError naming the flag when it is not
    JSON."""
    from crossrec.safeload import parse_json

    return parse_json(text, flag, ConfigError)


def config_flags(p: argparse.ArgumentParser) -> None:
    """``--config FILE`` or ``--config-json TEXT`` (one of them)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="workflow config YAML")
    src.add_argument("--config-json", help="the resolved config as JSON (the workflow passes it)")


def stage_flags(p: argparse.ArgumentParser) -> None:
    """``--stage``, ``--dataset``, ``--backbone``, ``--plugin``, ``--selections`` (one stage of
    a staged study)."""
    p.add_argument("--stage", choices=("tune", "align"), required=True,
                   help="a staged study's stage (crossrec.study.staged)")  # fmt: skip
    p.add_argument("--dataset", type=dataset_name, required=True, help="the stage's dataset")
    p.add_argument("--backbone", required=True, help="the stage's backbone")
    p.add_argument("--plugin", help="the align stage's plug-in")
    p.add_argument(
        "--selections",
        type=Path,
        required=True,
        help="the folder of the selection files (results/selections)",
    )


def study_of(args: argparse.Namespace, selections: Any = None) -> tuple[Any, str]:  # noqa: ANN401
    """The checked study (:func:`crossrec.workflow_config.checked_study`) of ``--config FILE``
    or ``--config-json``, planned with the selection files below ``selections``; and how errors
    name the config."""
    from crossrec.study import open_study
    from crossrec.workflow_config import checked_study

    if args.config_json is not None:
        source = "--config-json"
        config = json_arg(args.config_json, source)
    else:
        from crossrec.safeload import load_yaml

        source = args.config
        config = load_yaml(args.config, ConfigError)
    try:
        study = checked_study(config, getattr(args, "data", None))
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    if selections is not None:  # the same typed variants, the selections made so far read
        study = open_study(study.config, selections)
    return study, source


def stage_of(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """``(stage, dataset, backbone, plugin)`` of the stage flags (``none`` for tune)."""
    if (args.stage == "align") != bool(args.plugin) or (args.plugin == "none"):
        raise ConfigError("--plugin: give a plug-in (not none) for the align stage only")
    return args.stage, args.dataset, args.backbone, args.plugin or "none"


def known_stage(study: Any, where: tuple[str, str, str, str], source: str) -> None:  # noqa: ANN401
    """ConfigError naming the flag whose dataset, backbone or plug-in the config lacks."""
    _, dataset, backbone, plugin = where
    for flag, value, names in (("--dataset", dataset, study.datasets),
                               ("--backbone", backbone, study.config["backbones"]),
                               ("--plugin", plugin, study.config["plugins"])):  # fmt: skip
        if value not in names:
            raise ConfigError(f"{flag} {value!r}: not in {source}'s {flag[2:]}s")


def staged(study: Any, source: str, verb: str) -> Any:  # noqa: ANN401
    """``study`` when it is staged; ConfigError naming the config otherwise."""
    if not study.staged:
        raise ConfigError(f"{source}: {verb}: the config has no `stages:` (a flat study)")
    return study
