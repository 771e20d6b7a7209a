"""The JSON Schemas shipped in ce_cli/schemas validate real reports of every kind.

Validated twice: with ``jsonschema`` (draft 2020-12) when it is installed, and always with the
small validator below, which covers the subset the schemas use (type, const, enum, required,
properties, additionalProperties, items, minimum, maximum, $ref to #/$defs).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from conftest import run, sample

KINDS = ("weights", "score", "check", "calibration")
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def load_schema(kind: str) -> dict[str, Any]:
    text = resources.files("ce_cli").joinpath("schemas", f"{kind}.json").read_text("utf-8")
    return json.loads(text)


def _is(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value`` (the subset of draft 2020-12 used here)."""
    out: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        out += errors(value, root["$defs"][ref.removeprefix("#/$defs/")], root, path)
    known = {
        "$schema", "$id", "$ref", "$defs", "title", "description", "type", "const", "enum",
        "required", "properties", "additionalProperties", "items", "minimum", "maximum",
    }  # fmt: skip
    unknown = set(schema) - known
    assert not unknown, f"the test validator does not know {unknown}"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, t) for t in types):
            return [*out, f"{path}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if _is(value, "number") and "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: {value} < {schema['minimum']}")
    if _is(value, "number") and "maximum" in schema and value > schema["maximum"]:
        out.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        out += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                out += errors(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                out.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                out += errors(item, extra, root, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += errors(item, schema["items"], root, f"{path}[{i}]")
    return out


def validate(report: dict[str, Any], kind: str) -> None:
    schema = load_schema(kind)
    problems = errors(report, schema, schema)
    assert not problems, problems
    if kind != "calibration":  # that schema is loose on purpose: the headline numbers
        # every top-level key of a real report is documented in the schema
        assert set(report) <= set(schema["properties"]), set(report) - set(schema["properties"])
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)


def report_of(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_files_are_draft_2020_12(kind: str) -> None:
    schema = load_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["kind"]["const"] == kind
    assert schema["properties"]["schema_version"]["const"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["binary.csv"],
        ["multilabel.csv"],
        ["multiclass.parquet", "--weight-col", "weight", "--scheme", "effective"],
        ["segmentation_ignore.csv"],
    ],
)
def test_weights_reports(args: list[str]) -> None:
    validate(report_of("weights", sample(args[0]), *args[1:]), "weights")


@pytest.mark.parametrize(
    "args",
    [
        ["multiclass.csv"],
        ["binary.csv", "--loss", "focal"],
        ["multilabel.csv", "--pos-weight", "balanced"],
        ["soft_targets.parquet", "--label-smoothing", "0.1"],
        ["multiclass.parquet", "--weight-col", "weight", "--alpha", "balanced"],
    ],
)
def test_score_reports(args: list[str]) -> None:
    validate(report_of("score", sample(args[0]), *args[1:]), "score")


def test_check_reports(tmp_path: Path) -> None:
    multiclass = sample("multiclass.csv")
    plain = report_of("check", multiclass, "--max-loss", "0.7", "--min-class-recall", "0.3")
    validate(plain, "check")
    assert plain["passed"] is False
    base = tmp_path / "base.json"
    assert run("score", multiclass, "-o", str(base)).exit_code == 0
    validate(report_of("check", multiclass, "--baseline", str(base)), "check")
    paired = report_of(
        "check", sample("multilabel.csv"), "--baseline", sample("multilabel.csv"),
        "--max-hamming-loss", "0.1", "--fail-on", "significant", "--bootstrap", "200",
    )  # fmt: skip
    validate(paired, "check")
    assert paired["baseline"]["bootstrap"]["metrics"] == ["loss"]


def test_calibration_reports() -> None:
    pytest.importorskip("ce_cli.report.calibrate")
    validate(report_of("calibrate", sample("multiclass.csv")), "calibration")
    validate(report_of("calibrate", sample("binary.csv"), "--fit-temperature"), "calibration")
    validate(report_of("check", sample("binary.csv"), "--max-ece", "0.1"), "check")


def test_the_validator_has_teeth() -> None:
    report = report_of("check", sample("multiclass.csv"), "--max-loss", "1")
    schema = load_schema("check")
    assert errors(report, schema, schema) == []
    broken = json.loads(json.dumps(report))
    broken["passed"] = "yes"
    broken["checks"][0]["op"] = "=="
    del broken["metrics"]
    broken["checks"][0]["extra"] = 1
    broken["baseline"] = {"file": 3}
    found = errors(broken, schema, schema)
    assert "$.passed: 'yes' is not of type ['boolean']" in found
    assert "$.checks[0].op: '==' not in ['<=', '<', '>=', '>']" in found
    assert "$: missing 'metrics'" in found
    assert "$.checks[0]: unexpected key 'extra'" in found
    assert "$.baseline.file: 3 is not of type ['string']" in found
