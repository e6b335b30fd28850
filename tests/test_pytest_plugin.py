"""The pytest plugin, driven through ``pytester`` with small inline problem banks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Imported here, before any in-process run: pytester drops the modules a run imported when the
# run ends, and torch cannot be imported a second time in one process.
import verifier._runner  # noqa: F401
from verifier import _spec, pytest_plugin

CUBIC = """
version: 1
problems:
  - id: cubic-2d
    tags: [seed]
    inputs: {x: [2, 3]}
    function: x[0]**2 * (x[0] + x[1])
    checks:
      - {gradient: f, expect: [24, 4]}
      - {hessian: f, expect: [[18, 4], [4, 0]]}
      - {eigenvalues: f, expect: [9 - sqrt(97), 9 + sqrt(97)]}
  - id: square
    inputs: {x: 3.0}
    function: x**2
    checks:
      - {gradient: f, expect: 6}
"""

WRONG = """
version: 1
problems:
  - id: cubic-2d
    inputs: {x: [2, 3]}
    function: x[0]**2 * (x[0] + x[1])
    checks:
      - {gradient: f, expect: [24, 5]}
"""

KINK = """
version: 1
problems:
  - id: kink
    inputs: {x: [0.0, 1.0]}
    function: abs(x[0]) + x[1]**2
    checks:
      - {gradient: f}
"""


# Inner runs load the plugin by name and no other installed plugin: each run re-imports what
# its plugins import (hypothesis alone costs seconds), and their output is noise here.
PLUGIN = ("-p", "verifier.pytest_plugin")


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def bank(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.path.joinpath(name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def test_importing_the_plugin_loads_neither_torch_nor_sympy() -> None:
    code = ("import sys, verifier.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'sympy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_collecting_problem_files_does_not_import_torch(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    pytester.makeconftest("""
        import sys
        def pytest_collection_finish(session):
            print("torch imported:", "torch" in sys.modules,
                  "sympy imported:", "sympy" in sys.modules)
    """)
    result = pytester.runpytest_subprocess(*PLUGIN, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["torch imported: False sympy imported: False"])
    assert result.ret == 0


def test_the_plugin_is_registered_under_the_pytest11_entry_point() -> None:
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="pytest11") if ep.name == "verifier"]
    assert ep.value == "verifier.pytest_plugin"
    assert ep.load() is pytest_plugin


def test_plugin_knows_the_same_modes_and_dtypes_as_the_loader() -> None:
    assert pytest_plugin.MODES == _spec.MODES
    assert pytest_plugin.DTYPES == _spec.DTYPES


def test_a_correct_bank_passes_with_one_item_per_check(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(passed=4)


def test_items_are_named_file_problem_check(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    bank(pytester, "problems.yaml", KINK)
    bank(pytester, "problems_more.yaml", KINK)
    bank(pytester, "other.yaml", KINK)  # neither pattern: not collected unless named
    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "bank.problems.yaml::cubic-2d::gradient[[]f[]]",
        "bank.problems.yaml::cubic-2d::hessian[[]f[]]",
        "bank.problems.yaml::cubic-2d::eigenvalues[[]f[]]",
        "bank.problems.yaml::square::gradient[[]f[]]",
        "problems.yaml::kink::gradient[[]f[]]",
        "problems_more.yaml::kink::gradient[[]f[]]",
        "6 tests collected*",
    ])
    assert "other.yaml" not in result.stdout.str()


def test_tags_select_problems_with_k(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "-q", "-k", "seed")
    result.stdout.fnmatch_lines(["3/4 tests collected (1 deselected)*"])


def test_reportinfo_points_at_the_check_line(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    items, _ = pytester.inline_genitems(*PLUGIN)
    # Lines of CUBIC after dedent: the checks of cubic-2d are lines 8-10 (1-based).
    assert [(i.name, i.location[1]) for i in items[:3]] == [
        ("gradient[f]", 7), ("hessian[f]", 8), ("eigenvalues[f]", 9)]
    assert items[0].location[2] == "cubic-2d::gradient[f]"


def test_a_named_yaml_file_is_collected_when_it_looks_like_a_problem_file(
        pytester: pytest.Pytester) -> None:
    bank(pytester, "custom.yaml", CUBIC)
    bank(pytester, "config.yaml", "name: not a problem file\nversion: 3\n")
    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "-q", "custom.yaml")
    result.stdout.fnmatch_lines(["custom.yaml::cubic-2d::gradient[[]f[]]", "4 tests collected*"])
    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "-q", "config.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # pytest: found no collectors
    assert "config.yaml::" not in result.stdout.str()


def test_a_wrong_expect_fails_with_the_worst_index_and_no_traceback(
        pytester: pytest.Pytester) -> None:
    bank(pytester, "wrong.problems.yaml", WRONG)
    result = pytester.runpytest_inprocess(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*_ cubic-2d::gradient[[]f[]] _*",
        "expect does not match the exact reference: the problem file is wrong",
        "cubic-2d: gradient of f wrt x (expect vs exact reference): 1 / 2 elements differ*",
        "*index*reference*",
        "*[[]1[]]*4*5*",
        "check at wrong.problems.yaml:7:10",
    ])
    out = result.stdout.str()
    assert "Traceback" not in out and "pytest_plugin.py" not in out and "raise " not in out


def test_a_check_at_a_kink_is_skipped_with_its_reason(pytester: pytest.Pytester) -> None:
    bank(pytester, "kink.problems.yaml", KINK)
    result = pytester.runpytest_inprocess(*PLUGIN, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([
        "SKIPPED [[]1[]] kink.problems.yaml:7: not differentiable at this point: "
        "abs(x[[]0[]]) is at its kink; left and right values differ*"])


def test_a_file_the_loader_rejects_is_a_collection_error_with_its_position(
        pytester: pytest.Pytester) -> None:
    bank(pytester, "broken.problems.yaml", "version: 1\nproblemz: []\n")
    bank(pytester, "good.problems.yaml", CUBIC)
    result = pytester.runpytest_inprocess(*PLUGIN, "--continue-on-collection-errors")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR collecting broken.problems.yaml*",
        "broken.problems.yaml:2:1: unknown key 'problemz' in the file; did you mean 'problems'?",
    ])
    assert "Traceback" not in result.stdout.str()


def test_a_problem_with_errors_is_one_failing_load_item(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", """
        version: 1
        problems:
          - id: bad-id
            inputs: {x: [1.0]}
            function: x ^ 2
            checks:
              - {gradient: f}
              - {hessian: f}
          - id: square
            inputs: {x: 3.0}
            function: x**2
            checks:
              - {gradient: f, expect: 6}
    """)
    result = pytester.runpytest_inprocess(*PLUGIN, "-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ bad-id::load _*",
        "bank.problems.yaml:5:17: '^' is not a power here; use ** for powers*",
        "FAILED bank.problems.yaml::bad-id::load*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_a_problem_marked_xfail_is_expected_to_fail(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", """
        version: 1
        problems:
          - id: known
            xfail: the expect is wrong on purpose
            inputs: {x: 2.0}
            function: x**3
            checks:
              - {gradient: f, expect: 13}
              - {value: f, expect: 8}
    """)
    result = pytester.runpytest_inprocess(*PLUGIN, "-rxX")
    result.assert_outcomes(xfailed=1, xpassed=1)
    result.stdout.fnmatch_lines(["XFAIL bank.problems.yaml::known::gradient[[]f[]] - the expect is "
                                 "wrong on purpose"])


def test_the_header_shows_versions_and_the_overrides_in_effect(pytester: pytest.Pytester) -> None:
    from importlib.metadata import version

    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only")
    result.stdout.fnmatch_lines([f"verifier {version('verifier')}, torch {version('torch')}, "
                                 f"sympy {version('sympy')}: dtype per problem, all AD modes, *"])
    result = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "--verifier-dtype=float32",
                                          "--verifier-modes=backward,jacrev")
    result.stdout.fnmatch_lines(["verifier *: dtype float32 (--verifier-dtype), AD modes "
                                 "backward,jacrev (--verifier-modes), *"])


def _call_properties(reprec: pytest.HookRecorder) -> dict[str, dict[str, object]]:
    return {r.nodeid.split("::", 1)[1]: dict(r.user_properties)
            for r in reprec.getreports("pytest_runtest_logreport") if r.when == "call"}


def test_verifier_modes_restricts_the_ad_paths_of_every_check(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", """
        version: 1
        problems:
          - id: cubic-2d
            inputs: {x: [2, 3]}
            function: x[0]**2 * (x[0] + x[1])
            checks:
              - {gradient: f, expect: [24, 4]}
              - {hessian: f, expect: [[18, 4], [4, 0]], modes: [jacrev, hessian_fwdrev]}
              - {jacobian: f, modes: [jacfwd]}
    """)
    reprec = pytester.inline_run(*PLUGIN, "--verifier-modes=backward,jacrev", "-rs")
    reprec.assertoutcome(passed=2, skipped=1)
    props = _call_properties(reprec)
    assert props["cubic-2d::gradient[f]"]["verifier_modes"] == "backward,jacrev"
    assert props["cubic-2d::hessian[f]"]["verifier_modes"] == "jacrev"
    (skip,) = [r for r in reprec.getreports("pytest_runtest_logreport") if r.skipped]
    assert skip.nodeid.endswith("::cubic-2d::jacobian[f]")
    assert isinstance(skip.longrepr, tuple)
    assert skip.longrepr[2] == ("Skipped: no AD path left: --verifier-modes=backward,jacrev has "
                                "none that applies to a jacobian check")


def test_verifier_modes_rejects_an_unknown_mode(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(*PLUGIN, "--verifier-modes=backward,jacfw")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--verifier-modes: unknown mode 'jacfw'; give a comma-separated "
                                 "list of: backward, functional, jacrev, jacfwd, hessian_fwdrev"])


def test_verifier_dtype_overrides_every_problems_dtype(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", """
        version: 1
        defaults:
          tolerance: {rtol: 1.0e-12, atol: 0}
        problems:
          - id: smooth
            inputs: {x: [0.3, 0.7]}
            function: exp(x[0]) * sin(x[1]) + log1p(x[0] * x[1])
            checks:
              - {gradient: f}
              - {hessian: f}
    """)
    reprec = pytester.inline_run(*PLUGIN, "--verifier-dtype=float32")
    # The file's tolerance was written for float64; float32 runs with at least its own defaults.
    reprec.assertoutcome(passed=2)
    assert {p["verifier_dtype"] for p in _call_properties(reprec).values()} == {"float32"}
    reprec = pytester.inline_run(*PLUGIN)
    reprec.assertoutcome(passed=2)
    assert {p["verifier_dtype"] for p in _call_properties(reprec).values()} == {"float64"}


def test_verifier_no_collect_leaves_problem_files_alone(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    bank(pytester, "broken.problems.yaml", "version: 1\nproblemz: []\n")
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    result = pytester.runpytest_inprocess(*PLUGIN, "--verifier-no-collect")
    result.assert_outcomes(passed=1)


def test_checks_of_one_problem_share_one_runner(pytester: pytest.Pytester,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from verifier._runner import ProblemRunner

    # The runners are built in the forked worker, so they are counted in a file it appends to.
    log = pytester.path / "built.txt"
    init = ProblemRunner.__init__

    def counting_init(self: ProblemRunner, problem: _spec.Problem, *args: object) -> None:
        with log.open("a") as f:
            f.write(problem.id + "\n")
        init(self, problem, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ProblemRunner, "__init__", counting_init)
    bank(pytester, "bank.problems.yaml", CUBIC)
    pytester.inline_run(*PLUGIN).assertoutcome(passed=4)
    built = log.read_text().split()
    # Per problem, not per check: cubic-2d's three checks cost what square's one does (the
    # preflight's runner and the run's, as in `verifier run`).
    assert built.count("cubic-2d") == built.count("square") <= 2
    assert set(built) == {"cubic-2d", "square"}


# cubic-2d's gradient fails; the other three checks pass. Its ids look parametrised to pytest
# 9.2 (`gradient[f]`), which is how --lf and --sw once lost them.
ONE_WRONG = CUBIC.replace("{gradient: f, expect: [24, 4]}", "{gradient: f, expect: [24, 5]}")


def _ran(reprec: pytest.HookRecorder) -> list[str]:
    return [r.nodeid for r in reprec.getreports("pytest_runtest_logreport") if r.when == "call"]


def test_last_failed_reruns_only_the_failed_check(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", ONE_WRONG)
    pytester.inline_run(*PLUGIN).assertoutcome(passed=3, failed=1)
    reprec = pytester.inline_run(*PLUGIN, "--lf")
    reprec.assertoutcome(failed=1)
    assert _ran(reprec) == ["bank.problems.yaml::cubic-2d::gradient[f]"]
    result = pytester.runpytest_inprocess(*PLUGIN, "--lf")
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*"])
    # Fixed: --lf runs it, it passes, and the next --lf has no failures left to rerun.
    bank(pytester, "bank.problems.yaml", CUBIC)
    pytester.inline_run(*PLUGIN, "--lf").assertoutcome(passed=1)
    pytester.runpytest_inprocess(*PLUGIN, "--lf").stdout.fnmatch_lines(
        ["run-last-failure: no previously failed tests*"])


def test_stepwise_resumes_at_the_failed_check(pytester: pytest.Pytester) -> None:
    wrong_hessian = CUBIC.replace("[[18, 4], [4, 0]]", "[[18, 4], [4, 1]]")
    bank(pytester, "bank.problems.yaml", wrong_hessian)
    reprec = pytester.inline_run(*PLUGIN, "--sw")
    assert _ran(reprec) == ["bank.problems.yaml::cubic-2d::gradient[f]",
                            "bank.problems.yaml::cubic-2d::hessian[f]"]
    bank(pytester, "bank.problems.yaml", CUBIC)
    reprec = pytester.inline_run(*PLUGIN, "--sw")
    # The gradient passed last time and is skipped; the run starts at the Hessian.
    assert _ran(reprec) == ["bank.problems.yaml::cubic-2d::hessian[f]",
                            "bank.problems.yaml::cubic-2d::eigenvalues[f]",
                            "bank.problems.yaml::square::gradient[f]"]


def test_k_takes_boolean_expressions_over_problem_check_and_tag_names(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    cases = {"hessian or square": ["cubic-2d::hessian[f]", "square::gradient[f]"],
             "gradient and not seed": ["square::gradient[f]"],
             "cubic and (eigenvalues or hessian)": ["cubic-2d::hessian[f]", "cubic-2d::eigenvalues[f]"]}
    for expr, want in cases.items():
        out = pytester.runpytest_inprocess(*PLUGIN, "--collect-only", "-q", "-k", expr).outlines
        assert [ln.split("::", 1)[1] for ln in out if "::" in ln] == want, expr


def test_a_check_can_be_run_by_its_id(pytester: pytest.Pytester) -> None:
    bank(pytester, "bank.problems.yaml", CUBIC)
    reprec = pytester.inline_run(*PLUGIN, "bank.problems.yaml::cubic-2d::hessian[f]")
    assert _ran(reprec) == ["bank.problems.yaml::cubic-2d::hessian[f]"]


HANG = """
version: 1
problems:
  - id: first
    inputs: {x: 3.0}
    function: x**2
    checks: [{gradient: f}]
  - id: stuck
    inputs: {x: 3.0}
    function: x**2
    implementation: spin:f
    checks: [{gradient: f}, {value: f}]
  - id: last
    inputs: {x: 2.0}
    function: x**3
    checks: [{gradient: f}]
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="budgets need fork")
def test_a_problem_past_its_time_budget_fails_alone(pytester: pytest.Pytester) -> None:
    # One problem of the file never returns (its implementation spins): with the budget of
    # `verifier run`, its two items fail saying so, and the file's other problems still pass.
    pytester.makepyfile(spin="def f(x):\n    while True:\n        pass\n")
    pytester.syspathinsert()
    bank(pytester, "bank.problems.yaml", HANG)
    result = pytester.runpytest_inprocess(*PLUGIN, "--verifier-timeout", "3", "-rf")
    result.assert_outcomes(passed=2, failed=2)
    # The summary lines may repeat the message or cut it, by terminal width: count the
    # failure reports above the summary only.
    failures, summary = result.stdout.str().split("short test summary")
    assert failures.count("stopped after 3 s, the time budget per problem") == 2
    assert "first::gradient" not in summary


def test_budget_options_mirror_verifier_run(pytester: pytest.Pytester) -> None:
    from verifier._worker import DEFAULT_MEMORY, DEFAULT_TIMEOUT

    config = pytester.parseconfig(*PLUGIN)
    assert config.getoption("verifier_timeout") == DEFAULT_TIMEOUT
    assert config.getoption("verifier_memory") == DEFAULT_MEMORY
    assert pytester.parseconfig(*PLUGIN, "--verifier-timeout", "0").getoption("verifier_timeout") is None
    for bad in (["--verifier-timeout", "-1"], ["--verifier-timeout", "nan"], ["--verifier-memory", "lots"]):
        result = pytester.runpytest_inprocess(*PLUGIN, *bad)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
