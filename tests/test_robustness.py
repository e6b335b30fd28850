"""`verifier run` stays bounded and alive; bad files get positioned errors (issue 12).

tests/robustness/ holds the reported cases (copied from the shared case list); tests/bad/
holds one-defect variants of each class, checked by test_bad_files.py.
"""

from __future__ import annotations

import io
import os
import signal
import textwrap
from pathlib import Path

import pytest

from verifier import run
from verifier._errors import ProblemSpecError
from verifier._preflight import preflight, run_problem
from verifier._results import ProblemResult
from verifier._runner import ProblemRunner
from verifier._spec import load, loads
from verifier._worker import _Progress, can_isolate, run_problems
from verifier.cli import main

CASES = Path(__file__).parent / "robustness"
needs_fork = pytest.mark.skipif(not can_isolate(), reason="problems run in-process without fork")


def problems_of(text: str, function: str = ""):
    """The problems of ``text``, with FUNCTION replaced by ``function`` (quoted)."""
    return loads(textwrap.dedent(text).replace("FUNCTION", function), "p.yaml").problems


# -- the reported cases, each with its right outcome ------------------------------------------------

@needs_fork
def test_S01_the_sigfpe_problem_is_an_error_and_its_neighbour_runs(capsys):
    assert main(["run", str(CASES / "S01_pow_constant_exponent_SIGFPE.yaml")]) == 2
    out = capsys.readouterr().out
    assert "ERROR   compound" in out and "power of degree" in out
    assert "PASS    innocent" in out


@needs_fork
def test_S01_without_the_early_refusal_the_worker_contains_the_real_crash():
    """The crash itself (SIGFPE in SymEngine), reached by skipping preflight, costs one problem only."""
    pf = load(CASES / "S01_pow_constant_exponent_SIGFPE.yaml")
    results = list(run_problems(pf.problems, lambda p: ProblemRunner(p).run(), timeout=120, memory=2048))
    assert [r.id for r in results] == ["compound", "innocent"]
    crashed, innocent = results
    assert crashed.status == "error" and "killed by" in crashed.error, crashed.error
    assert crashed.error.startswith(f"{pf.path}:3:5: ")
    assert innocent.status == "passed"


def test_S02_the_pow_tower_is_refused_before_any_work(capsys):
    path = CASES / "S02_pow_tower_unbounded_memory.yaml"
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5:19: a power of degree 1,000,000,000" in err
    result = run(path)
    assert result.problems[0].status == "error" and "power of degree" in result.problems[0].error


@pytest.mark.parametrize("name, where, words", [
    ("L01_check_target_is_list.yaml", "7:20", "gradient target must be one name"),
    ("L03_two_yaml_documents.yaml", "8:1", "a second YAML document"),
    ("L04_integer_over_4300_digits.yaml", "7:41", "integer is too long (5000 digits"),
    ("E02_transpose_of_scalar.yaml", "5:24", ".T transposes a matrix"),
])
def test_bad_files_get_a_positioned_error_and_exit_2(name, where, words, capsys):
    path = CASES / name
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path}:{where}: {words}" in captured.err
    assert "ok" not in captured.out  # never "ok" next to an error
    assert main(["run", str(path), "--format", "json"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_E05_a_flat_101_term_sum_is_accepted_and_right(capsys):
    path = CASES / "E05_flat_sum_of_101_terms_refused.yaml"
    assert main(["check", str(path)]) == 0
    assert main(["run", str(path), "-v"]) == 0
    assert "PASS    a" in capsys.readouterr().out
    (prob,) = load(path).problems
    result = run_problem(prob)
    # 101 terms cycling x[0], x[1], x[2]: 34, 34 and 33 of them
    assert result.checks[0].reference.tolist() == [34.0, 34.0, 33.0]


# -- variants: flat chains are not nesting, real nesting still is ----------------------------------

@pytest.mark.parametrize("expr, grad", [
    (" + ".join(["x[0]", "x[1]"] * 1000), [1000.0, 1000.0]),      # 2000 terms: deeper than recursion
    (" - ".join(["x[0]"] * 301), [-299.0, 0.0]),
    ("*".join(["x[1]"] * 150) + " / x[1]**149", [0.0, 1.0]),
    (" + ".join(f"x[{i % 2}]*{i}" for i in range(400)), [sum(range(0, 400, 2)), sum(range(1, 400, 2))]),
])
def test_long_flat_chains_are_accepted_and_exact(expr, grad):
    (p,) = problems_of(f"""
        version: 1
        problems:
          - id: chain
            inputs: {{x: [1.0, 1.0]}}
            function: "{expr}"
            checks: [{{gradient: f}}]
        """)
    assert p.errors == []
    result = run_problem(p)
    assert result.status == "passed", result.checks[0].report()
    assert result.checks[0].reference.tolist() == grad


def test_a_wrong_expectation_on_a_long_chain_still_fails():
    (p,) = problems_of("""
        version: 1
        problems:
          - id: chain
            inputs: {x: [1.0, 1.0]}
            function: "FUNCTION"
            checks: [{gradient: f, expect: [1001, 1000]}]
        """, " + ".join(["x[0]", "x[1]"] * 1000))
    assert run_problem(p).status == "failed"


@pytest.mark.parametrize("expr", [
    "(1 + " * 101 + "x[0]" + ")" * 101,       # right-nested: each ( opens a level
    "sin(" * 101 + "x[0]" + ")" * 101,
    "x[0]**" * 101 + "x[0]",                # ** is right-associative
])
def test_real_nesting_is_still_refused_with_its_limit(expr):
    (p,) = problems_of("""
        version: 1
        problems:
          - id: deep
            inputs: {x: [1.0]}
            function: "FUNCTION"
            checks: [{gradient: f}]
        """, expr)
    assert [d.message for d in p.errors] == ["expression is nested too deeply (limit 100)"]


def test_left_parentheses_are_a_chain_not_nesting():
    (p,) = problems_of("""
        version: 1
        problems:
          - id: chain
            inputs: {x: [1.0]}
            function: "FUNCTION"
            checks: [{gradient: f}]
        """, "(" * 150 + "x[0]" + " + 1)" * 150)
    assert p.errors == [] and run_problem(p).status == "passed"


# -- check finds what run would, never next to "ok" -----------------------------------------------

MIXED = """
version: 1
problems:
  - id: one-bad-check
    inputs: {x: [1.0, 2.0]}
    define:
      v: x**2
      f: sum(v)
    checks:
      - {gradient: v}
      - {gradient: f}
      - {hvp: f, vector: [1, 0, 0]}
      - {hessian: f, expect: [[2, 0], [0, 2]]}
"""


def test_check_errors_have_positions_and_the_other_checks_still_run(tmp_path, capsys):
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{path}:10:10: gradient needs a scalar target: 'v' has shape (2,); use jacobian, "
                   "or reduce it (sum, mean)",
                   f"{path}:12:26: hvp vector has 3 elements, the wrt variables have 2"]
    (result,) = run(path).problems
    assert [c.status for c in result.checks] == ["error", "passed", "error", "passed"]
    assert result.checks[0].message.startswith(f"{path}:10:10: gradient needs a scalar target")
    assert result.status == "error"


def test_a_problem_preflight_passes_runs_unchanged():
    (p,) = problems_of("""
        version: 1
        problems:
          - id: fine
            inputs: {x: [1.0, 2.0]}
            function: sum(x**3)
            checks: [{gradient: f, expect: [3, 12]}, {hvp: f, vector: [1, 1]}]
        """)
    found = preflight(p)
    assert found.all == []
    assert run_problem(p).status == "passed"


# -- the worker: budgets, crashes, nothing lost ------------------------------------------------------

THREE = """
version: 1
problems:
  - {id: first, inputs: {x: [1.0]}, function: "x[0]**2", checks: [{gradient: f}]}
  - {id: middle, inputs: {x: [1.0]}, function: "x[0]**3", checks: [{gradient: f}]}
  - {id: last, inputs: {x: [2.0]}, function: "x[0]**4", checks: [{gradient: f}]}
"""


def _misbehave_in_middle(action):
    def run_one(p) -> ProblemResult:
        if p.id == "middle":
            action()
        return run_problem(p)
    return run_one


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _spin() -> None:
    while True:
        pass


def _allocate() -> None:
    blocks = []
    for _ in range(64):
        blocks.append(bytearray(256 * 2**20))  # 16 GiB in all, far past the 512 MiB budget


def _exit() -> None:
    os._exit(7)


@needs_fork
@pytest.mark.parametrize("action, words, kwargs", [
    (_segfault, "segmentation fault (SIGSEGV)", {}),
    (_exit, "exited unexpectedly (status 7)", {}),
    (_spin, "stopped after 1 s, the time budget", {"timeout": 1}),
    (_allocate, "memory budget of 512 MiB per problem was exceeded", {"memory": 512}),
])
def test_one_problem_cannot_take_down_the_others(action, words, kwargs):
    problems = problems_of(THREE)
    results = list(run_problems(problems, _misbehave_in_middle(action), **kwargs))
    assert [r.id for r in results] == ["first", "middle", "last"]
    assert [r.status for r in results] == ["passed", "error", "passed"]
    message = results[1].error or results[1].checks[0].message
    assert words in message, message
    assert "--timeout" in message or "--memory" in message  # how to raise the budget


@needs_fork
def test_the_api_takes_the_budgets_and_a_stopped_problem_says_which(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(THREE)
    result = run(path, timeout=60, memory=1024)
    assert [p.status for p in result.problems] == ["passed"] * 3
    same = run(path, isolate=False, timeout=None, memory=None)
    assert [p.checks[0].reference.tolist() for p in same.problems] == \
        [p.checks[0].reference.tolist() for p in result.problems]


def test_budget_flags_are_validated(capsys):
    for bad in (["--timeout", "-1"], ["--timeout", "nan"], ["--memory", "lots"]):
        with pytest.raises(SystemExit) as exc:
            main(["run", *bad, str(CASES / "E05_flat_sum_of_101_terms_refused.yaml")])
        assert exc.value.code == 2
    assert main(["run", "--timeout", "0", "--memory", "0",
                 str(CASES / "E05_flat_sum_of_101_terms_refused.yaml")]) == 0


def test_progress_is_shown_on_a_stream_and_cleared():
    stream = io.StringIO()
    show = _Progress(stream, 3)
    show.start(1, "middle")
    show.since -= 5
    show.tick()
    show.clear()
    text = stream.getvalue()
    assert "[2/3] middle" in text and "5 s" in text and text.endswith("\r\x1b[K")
    silent = _Progress(None, 3)
    silent.start(0, "x")
    silent.clear()  # nothing to write to: nothing happens


def test_progress_appears_only_when_asked(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(THREE)
    stream = io.StringIO()
    run(path, progress=stream)
    assert "[3/3] last" in stream.getvalue()
    main(["run", str(path)])  # stderr is not a terminal under pytest
    assert "[1/3]" not in capsys.readouterr().err


def test_a_file_level_error_is_a_spec_error_not_a_traceback():
    with pytest.raises(ProblemSpecError) as exc:
        load(CASES / "L03_two_yaml_documents.yaml")
    assert exc.value.diagnostics[0].line == 8
