"""`verifier schema`: a JSON Schema every bundled and test bank satisfies, and that rejects the
structural mistakes the loader rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifier._yamlload import load_yaml
from verifier.cli import main

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parent.parent
BANKS = sorted([ROOT / "verifier" / "problems.yaml", *(ROOT / "tests").rglob("*.problems.yaml"),
                ROOT / "tests" / "implementation" / "wrong_ops.yaml"])
REJECTED = ["misspelled_problem_key.yaml", "misspelled_check_kind.yaml", "unknown_dtype.yaml",
            "version_2.yaml", "missing_problems.yaml", "two_bad_one_good.yaml"]


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    return jsonschema.Draft202012Validator(_printed_schema(tmp_path_factory.mktemp("schema")))


def _printed_schema(tmp: Path) -> dict:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["schema"]) == 0
    schema = json.loads(buf.getvalue())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _data(path: Path):
    return load_yaml(path.read_text(encoding="utf-8"), str(path)).data


def test_there_are_banks_to_validate():
    assert len(BANKS) >= 7


@pytest.mark.parametrize("bank", BANKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_and_test_bank_validates(validator, bank):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_data(bank))]
    assert not errors


@pytest.mark.parametrize("name", REJECTED)
def test_structural_mistakes_are_rejected(validator, name):
    assert list(validator.iter_errors(_data(ROOT / "tests" / "bad" / name)))


@pytest.mark.parametrize("problem", [
    {"id": "a", "inputs": {"x": 1}, "function": "x", "define": {"f": "x"}, "checks": [{"gradient": "f"}]},
    {"id": "a", "inputs": {"x": 1}, "checks": [{"gradient": "f"}]},
    {"id": "a", "inputs": {"x": 1}, "function": "x", "checks": [{"gradient": "f", "hessian": "f"}]},
    {"id": "a", "inputs": {"x": 1}, "function": "x", "checks": [{"gradient": "f", "modes": ["jacfw"]}]},
    {"id": "a", "inputs": {"x": {"random": "uniform", "shape": [2], "seeed": 1}}, "function": "x",
     "checks": [{"gradient": "f"}]},
    {"id": "A b", "inputs": {"x": 1}, "function": "x", "checks": [{"gradient": "f"}]},
    {"id": "a", "inputs": {"x": 1}, "function": "x", "implementation": "os.system", "checks": [{"gradient": "f"}]},
])
def test_the_schema_rejects_what_the_loader_rejects(validator, problem):
    from verifier._errors import ProblemSpecError
    from verifier._spec import from_data

    doc = {"version": 1, "problems": [problem]}
    assert list(validator.iter_errors(doc))
    try:
        assert from_data(doc).problems[0].errors
    except ProblemSpecError:
        pass


def test_the_schema_names_every_key_the_loader_knows(validator):
    from verifier import _spec

    props = validator.schema["$defs"]["problem"]["properties"]
    assert set(props) == set(_spec.PROBLEM_KEYS)
    check = validator.schema["$defs"]["problem"]["properties"]["checks"]["items"]["oneOf"]
    assert [next(iter(c["required"])) for c in check] == list(_spec.KINDS)
