"""The command line: exit codes, output formats, selection and `show`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

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


TWO = """
version: 1
problems:
  - id: cubic
    tags: [slow]
    inputs: {x: 2.0}
    function: x**3
    checks: [{gradient: f, expect: 12}]
  - id: square
    inputs: {x: 3.0}
    function: x**2
    checks: [{gradient: f, expect: 6}, {hessian: f, expect: [[2]]}]
"""


def _ids(capsys) -> list[str]:
    return [p["id"] for p in json.loads(capsys.readouterr().out)["problems"]]


@pytest.mark.parametrize(("expr", "ids"), [
    ("cubic or square", ["cubic", "square"]),
    ("not slow", ["square"]),
    ("SQUARE", ["square"]),                      # case-insensitive, as pytest
    ("squ and not (cub or slow)", ["square"]),
    ("cub*", ["cubic"]),                        # a glob, as -k took before
    ("slow and not cubic", []),
])
def test_k_takes_pytest_boolean_expressions(tmp_path, capsys, expr, ids):
    f = tmp_path / "p.yaml"
    f.write_text(TWO)
    code = main(["run", str(f), "-k", expr, "--format", "json"])
    assert _ids(capsys) == ids
    assert code == (0 if ids else 5)


def test_a_bad_k_expression_is_a_usage_error_with_its_column(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text(TWO)
    assert main(["run", str(f), "-k", "cubic or"]) == 2
    assert "-k 'cubic or': column 9: expected a name, 'not' or '('; got end of input" in capsys.readouterr().err
    assert main(["run", str(f), "-k", "cubic; rm"]) == 2
    assert "column 6: unexpected character ';'" in capsys.readouterr().err


def test_selecting_nothing_says_so_and_exits_5(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text(TWO)
    assert main(["run", str(f), "-k", "nothing-matches"]) == 5
    captured = capsys.readouterr()
    assert "no problem selected by -k 'nothing-matches' (2 problems deselected)" in captured.err
    assert "0 problems, 0 checks: 0 passed, 0 failed" in captured.out
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\nproblems: []\n")
    assert main(["run", str(empty)]) == 5
    assert f"no problems in {empty}" in capsys.readouterr().err
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "notes.yaml").write_text("a: 1\n")
    assert main(["run", str(folder)]) == 5
    assert f"{folder}: no problem files" in capsys.readouterr().err


def test_run_dir_runs_the_problem_files_in_it(tmp_path, capsys):
    (tmp_path / "a.problems.yaml").write_text(TWO)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "problems_more.yaml").write_text(TWO.replace("id: cubic", "id: cubic-b")
                                                          .replace("id: square", "id: square-b"))
    (tmp_path / "sub" / "named.yaml").write_text(TWO.replace("id: cubic", "id: c3")
                                                 .replace("id: square", "id: s3"))
    (tmp_path / "sub" / "config.yaml").write_text("name: not a problem file\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "problems.yaml").write_text("version: 1\nproblems: [broken\n")
    assert main(["run", str(tmp_path), "--format", "json"]) == 0
    assert _ids(capsys) == ["cubic", "square", "c3", "s3", "cubic-b", "square-b"]


def test_messages_use_correct_plurals(tmp_path, capsys):
    one = tmp_path / "one.yaml"
    one.write_text("version: 1\nproblems:\n  - id: a\n    inputs: {x: 2.0}\n    function: x**3\n"
                   "    checks: [{gradient: f, expect: 12}]\n")
    assert main(["run", str(one)]) == 0
    assert "1 problem, 1 check: 1 passed, 0 failed in" in capsys.readouterr().out
    assert main(["check", str(one)]) == 0
    assert capsys.readouterr().out.strip() == f"{one}: 1 problem, 1 check, ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text(one.read_text().replace("x**3", "x^3"))
    assert main(["run", str(bad)]) == 2
    assert "1 problem, 0 checks: 0 passed, 0 failed, 1 error in" in capsys.readouterr().out
    two = tmp_path / "two.yaml"
    two.write_text(TWO)
    assert main(["check", str(two)]) == 0
    assert capsys.readouterr().out.strip() == f"{two}: 2 problems, 3 checks, ok"


def test_no_broken_pipe_traceback_under_head(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(TWO)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "verifier", "run", str(f), "-v", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written, as `| head -0`
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 0  # the verdict, not a crash


def test_defaults_come_from_tool_verifier_in_pyproject(tmp_path, monkeypatch, capsys):
    (tmp_path / "banks").mkdir()
    (tmp_path / "banks" / "p.problems.yaml").write_text(TWO)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.verifier]\n'
                                             'files = ["banks"]\nformat = "json"\nk = "not slow"\n')
    sub = tmp_path / "deeper"
    sub.mkdir()
    monkeypatch.chdir(sub)  # found from a subfolder, paths relative to the pyproject.toml
    assert main(["run"]) == 0
    assert _ids(capsys) == ["square"]
    assert main(["run", "-k", "cubic"]) == 0  # the command line wins
    assert _ids(capsys) == ["cubic"]
    assert main(["run", "--format", "table"]) == 0
    assert "1 problem, 2 checks: 2 passed" in capsys.readouterr().out


@pytest.mark.parametrize(("table", "message"), [
    ('fromat = "json"', "[tool.verifier] fromat: unknown key; did you mean 'format'?"),
    ('format = "xml"', "[tool.verifier] format: must be one of table, json, junit, got 'xml'"),
    ('verbose = "yes"', "[tool.verifier] verbose: must be true or false, got 'yes'"),
    ("files = 3", "[tool.verifier] files: must be a list of paths"),
])
def test_a_bad_tool_verifier_table_is_an_error_naming_the_key(tmp_path, monkeypatch, capsys, table, message):
    (tmp_path / "pyproject.toml").write_text(f"[tool.verifier]\n{table}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'pyproject.toml'}: {message}" in err


def test_allow_import_can_come_from_pyproject(tmp_path, monkeypatch, capsys):
    (tmp_path / "myops.py").write_text("def cube(x):\n    return x**3\n")
    (tmp_path / "p.yaml").write_text("version: 1\nproblems:\n  - id: a\n    inputs: {x: 2.0}\n"
                                     "    function: x**3\n    implementation: myops:cube\n"
                                     "    checks: [{gradient: f, expect: 12}]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "p.yaml"]) == 2
    (tmp_path / "pyproject.toml").write_text("[tool.verifier]\nallow-import = true\n")
    assert main(["run", "p.yaml"]) == 0
    capsys.readouterr()


def test_check_and_show_read_folders_too(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.problems.yaml").write_text(TWO)
    assert main(["check", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'sub' / 'a.problems.yaml'}: 2 problems, 3 checks, ok"
    assert main(["show", "square", str(tmp_path)]) == 0
    assert "hessian[f] (hessian, wrt x):" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["check", str(empty)]) == 5
    assert "no problem files" in capsys.readouterr().err
