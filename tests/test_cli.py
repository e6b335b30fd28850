"""The command line: exit codes, output formats, selection and `show`."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from verifier.cli import main


def test_the_cli_exit_codes_are_0_1_2(tmp_path):
    good = tmp_path / "g.yaml"
    good.write_text(textwrap.dedent("""
        version: 1
        problems:
          - id: a
            inputs: {x: 2.0}
            function: x**3
            checks: [{gradient: f, expect: 12}]
    """))
    assert main(["run", str(good)]) == 0
    good.write_text(good.read_text().replace("expect: 12", "expect: 13"))
    assert main(["run", str(good)]) == 1
    good.write_text(good.read_text().replace("x**3", "x^3"))
    assert main(["run", str(good)]) == 2


def test_json_output_is_strict_json_even_with_infinite_relative_errors(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text("version: 1\nproblems:\n  - id: a\n    inputs: {x: 0.0}\n    function: x**2\n"
                 "    checks: [{gradient: f, expect: 1.0e-3}]\n")
    assert main(["run", str(f), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    check = doc["problems"][0]["checks"][0]
    assert check["status"] == "failed" and check["expect"]["max_rel_err"] is None
    assert doc["summary"] == {"passed": 0, "failed": 1, "errors": 0, "nondifferentiable": 0}


def test_junit_output_has_one_testcase_per_check(capsys):
    assert main(["run", "-k", "cubic-2d", "--format", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out)
    assert suite.get("tests") == str(len(suite.findall("testcase"))) == "3"


def test_k_selects_problems_by_id_or_tag(capsys):
    assert main(["run", "-k", "seed", "--format", "json"]) == 0
    ids = [p["id"] for p in json.loads(capsys.readouterr().out)["problems"]]
    assert ids == ["square", "cubic-2d", "linear-mse"]


def test_show_prints_the_symbolic_hessian_in_latex(capsys):
    assert main(["show", "cubic-2d"]) == 0
    out = capsys.readouterr().out
    assert r"6 x[0] + 2 x[1] & 2 x[0]" in out
    assert main(["show", "no-such-problem"]) == 2
