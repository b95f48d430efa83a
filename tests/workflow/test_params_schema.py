"""`crossrec schema`: the JSON Schema generated from the parameter dataclasses accepts every
shipped config and rejects what the dataclasses reject, at the same key path."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from crossrec.schemas import key_path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [*sorted((ROOT / "config").glob("*.yaml")), ROOT / "tests/fixtures/workflow_config.yaml"]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    out = subprocess.run([sys.executable, "-m", "crossrec", "schema"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(validator, path: Path) -> None:
    assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []


@pytest.mark.parametrize(
    ("section", "name", "params", "where"),
    [
        ("backbones", "freedom", {"dropuot": 0.5}, "backbones.freedom"),
        ("backbones", "grcn", {"routing": "foo"}, "backbones.grcn.routing"),
        ("backbones", "freedom", {"dropout": 1.5}, "backbones.freedom.dropout"),
        ("backbones", "lightgcn", {"n_layers": [1, "two"]}, "backbones.lightgcn.n_layers[1]"),
        ("plugins", "cross", {"ila_mask": "sideways"}, "plugins.cross.ila_mask"),
        ("backbones", "nosuchmodel", {}, "backbones"),
    ],
)
def test_bad_parameters_are_rejected_at_their_path(validator, section, name, params, where):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config[section][name] = params
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    assert error is not None and key_path(error.absolute_path) == where


def test_ranges_choices_and_defaults_come_from_the_dataclasses(validator) -> None:
    freedom = validator.schema["properties"]["backbones"]["properties"]["freedom"]
    assert freedom["properties"]["dropout"]["default"] == 0.8
    dropout = freedom["properties"]["dropout"]["anyOf"][0]  # a value, or a grid of values
    assert dropout["type"] == "number"
    assert dropout.get("minimum") == 0 or dropout.get("exclusiveMinimum") == 0
    routing = validator.schema["properties"]["backbones"]["properties"]["grcn"]
    assert routing["properties"]["routing"]["anyOf"][0]["enum"] == ["paper", "mmrec"]
    folder = {"datasets": {"x": {"source": "folder", "paht": "/tmp"}}, "backbones": {"bpr": {}},
              "plugins": {"none": {}}, "seeds": [1]}  # fmt: skip
    assert not validator.is_valid(folder)


def test_every_parameter_is_described_once_in_its_docstring() -> None:
    """Each backbone's, plug-in's and source's parameter and each trainer setting has a
    one-line description (the ``Attributes:`` section of its dataclass), which the schema
    carries; presets inherit the plug-in's."""
    import dataclasses

    from crossrec.align import PLUGINS
    from crossrec.data.sources import SOURCES
    from crossrec.models import BACKBONES
    from crossrec.params_schema import params_schema
    from crossrec.run import TrainConfig
    from crossrec.strict import field_docs

    classes = [r[n].Params for r in (BACKBONES, PLUGINS, SOURCES) for n in r] + [TrainConfig]
    for cls in classes:
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert missing == [], f"{cls.__name__}: no description for {missing}"
        props = params_schema(cls, grid=True)["properties"]
        assert all(props[name]["description"] == text for name, text in docs.items())
    assert field_docs(PLUGINS["fettle"].Params)["beta"] == "β, weight of CLA."


def test_field_docs_reads_google_style_attributes() -> None:
    from crossrec.strict import field_docs

    @dataclasses.dataclass
    class Base:
        """Base.

        Attributes:
            a, b: shared ``text``
                that continues.
            c: one.

        Note:
            c: not an attribute.
        """

        a: int = 0
        b: int = 0
        c: int = 0

    @dataclasses.dataclass
    class Child(Base):
        """Child.

        Attributes:
            c: the child's.
        """

    assert field_docs(Base) == {
        "a": "shared text that continues.",
        "b": "shared text that continues.",
        "c": "one.",
    }
    assert field_docs(Child)["c"] == "the child's." and field_docs(Child)["a"].startswith("shared")
