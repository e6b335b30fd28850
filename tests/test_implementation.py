"""`implementation: package.module:function`: a user's own torch code checked from YAML.

The ops live in tests/userops; tests/implementation/ops.problems.yaml is also collected by
pytest itself (inside the rootdir, so imported without a flag), and must pass there too.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from verifier.cli import main

HERE = Path(__file__).resolve().parent
GOOD = HERE / "implementation" / "ops.problems.yaml"
WRONG = HERE / "implementation" / "wrong_ops.yaml"


def test_correct_ops_pass_on_every_path_with_allow_import(capsys):
    assert main(["run", "--allow-import", "-v", str(GOOD)]) == 0
    out = capsys.readouterr().out
    assert "3 problems, 7 checks: 7 passed, 0 failed" in out
    assert "PASS    hessian[f]  [backward, functional, jacrev, jacfwd, hessian_fwdrev]" in out


def test_wrong_ops_fail_with_the_mismatch_table(capsys):
    assert main(["run", "--allow-import", str(WRONG)]) == 1
    out = capsys.readouterr().out
    # The sign bug: d softplus / dx at 2 is sigmoid(2) = 0.8808, the op's backward gives sigmoid(-2).
    assert "sign-bug: gradient of f wrt x (backward" in out and "3 / 3 elements differ" in out
    assert "[2]  0.88079707797788243  0.11920292202211755" in out
    assert "scaled: value of f (value): 1 / 1 elements differ" in out
    assert "2 problems, 3 checks: 1 passed, 2 failed" in out


def test_import_is_refused_without_the_flag_with_a_position(capsys):
    assert main(["run", str(WRONG)]) == 2
    captured = capsys.readouterr()
    assert (f"{WRONG}:6:21: implementation 'userops.ops:softplus_sign_bug' is not imported: importing runs "
            "code named by the problem file; allow it with --allow-import") in captured.out
    assert "2 errors" in captured.out
    assert main(["check", str(WRONG)]) == 2  # check refuses as run would
    assert "6:21: implementation 'userops.ops:softplus_sign_bug' is not imported" in capsys.readouterr().err
    assert main(["check", "--allow-import", str(WRONG)]) == 0


def test_nothing_is_imported_without_the_flag(tmp_path, monkeypatch, capsys):
    (tmp_path / "sideeffect.py").write_text("import pathlib\npathlib.Path('imported').write_text('yes')\n"
                                            "def f(x):\n    return x**2\n")
    bank = tmp_path / "p.yaml"
    bank.write_text("version: 1\nproblems:\n  - id: a\n    inputs: {x: 2.0}\n    function: x**2\n"
                    "    implementation: sideeffect:f\n    checks: [{gradient: f}]\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(bank)]) == 2
    assert main(["check", str(bank)]) == 2
    assert not (tmp_path / "imported").exists()
    assert main(["run", "--allow-import", str(bank)]) == 0
    assert (tmp_path / "imported").read_text() == "yes"


@pytest.mark.parametrize(("spec", "message"), [
    ("userops.nosuch:f", "implementation 'userops.nosuch:f': no module named 'userops.nosuch'"),
    ("userops.ops:nosuch", "implementation 'userops.ops:nosuch': 'userops.ops' has no attribute 'nosuch'"),
    ("userops.ops:NOT_CALLABLE", "implementation 'userops.ops:NOT_CALLABLE' is a int, not a callable"),
    ("userops.ops", "implementation 'userops.ops' must name a callable as 'package.module:function'"),
    ("os:system; rm", "implementation 'os:system; rm' must name a callable as"),
])
def test_a_bad_implementation_is_a_positioned_error(tmp_path, capsys, spec, message):
    bank = tmp_path / "p.yaml"
    bank.write_text(f"version: 1\nproblems:\n  - id: a\n    inputs: {{x: [1.0, 2.0]}}\n    function: sum(x**2)\n"
                    f"    implementation: \"{spec}\"\n    checks: [{{gradient: f}}]\n"
                    "  - id: b\n    inputs: {x: 2.0}\n    function: x**2\n    checks: [{gradient: f}]\n")
    assert main(["run", "--allow-import", "--format", "json", str(bank)]) == 2
    out = capsys.readouterr().out
    assert f"{bank}:6:" in out and message in out
    assert '"id": "b",\n      "status": "passed"' in out  # the other problem still runs


def test_an_implementation_answers_only_for_its_output(tmp_path, capsys):
    bank = tmp_path / "p.yaml"
    bank.write_text(textwrap.dedent("""
        version: 1
        problems:
          - id: a
            inputs: {x: [1.0, 2.0]}
            define: {y: x**2, f: sum(y)}
            implementation: userops.ops:fused_softplus
            checks: [{gradient: f, wrt: y}, {jacobian: y}]
    """))
    assert main(["run", "--allow-import", str(bank)]) == 2
    out = capsys.readouterr().out
    assert "checks differentiate what it returns: target 'f' with wrt among the inputs (x)" in out
    assert out.count("checks differentiate what it returns") == 2


def test_pytest_imports_implementations_inside_the_rootdir_only(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    shutil.copytree(HERE / "userops", pytester.path / "userops")
    (pytester.path / "bank.problems.yaml").write_text(GOOD.read_text())
    (pytester.path / "wrong.problems.yaml").write_text(WRONG.read_text())
    result = pytester.runpytest_inprocess("-p", "verifier.pytest_plugin", "bank.problems.yaml")
    result.assert_outcomes(passed=7)
    result = pytester.runpytest_inprocess("-p", "verifier.pytest_plugin", "wrong.problems.yaml")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*sign-bug: gradient of f wrt x (backward*3 / 3 elements differ*"])
    # A file outside the rootdir is not the user's test tree: refused unless allowed.
    sub = pytester.mkdir("sub")
    result = pytester.runpytest_inprocess("-p", "verifier.pytest_plugin", f"--rootdir={sub}",
                                          str(pytester.path / "wrong.problems.yaml"))
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*wrong.problems.yaml:6:21: implementation 'userops.ops:softplus_sign_bug' "
                                 "is not imported*"])
    result = pytester.runpytest_inprocess("-p", "verifier.pytest_plugin", f"--rootdir={sub}",
                                          "--verifier-allow-import", str(pytester.path / "wrong.problems.yaml"))
    result.assert_outcomes(passed=1, failed=2)
