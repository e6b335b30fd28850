"""Red-team findings (robustness / entry points): inputs nobody here designed, with right outcomes.

See docs/redteam-findings.md.
"""

from __future__ import annotations

import textwrap

import pytest

import verifier._runner  # noqa: F401  (before pytester: torch cannot be imported twice)
from verifier.cli import main


def _yaml(tmp_path, body: str, name: str = "p.yaml"):
    p = tmp_path / name
    p.write_text("version: 1\nproblems:\n" + textwrap.indent(textwrap.dedent(body), "  "), encoding="utf-8")
    return p


# ---- R1: an error `run` reports before differentiating that `check` calls ok ------------------
def test_check_finds_a_class_index_target_that_is_an_input(tmp_path, capsys):
    p = _yaml(tmp_path, """\
    - id: ce
      inputs: {x: [1, 2, 3], t: 1}
      function: cross_entropy(x, t)
      checks: [{gradient: f}]
    """)
    rc = main(["check", str(p)])
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert rc == 2, out
    assert not out.rstrip().endswith("ok"), out
    assert f"{p}:5:" in out, out  # positioned at the function (line 5)


PLUGIN = ("-p", "no:cacheprovider")

R1_FILE = """\
- id: nll-define
  inputs: {x: [[1, 2, 3], [0, 1, 0]], t: [1, 2]}
  define:
    idx: t*1
    f: nll(log_softmax(x, axis=1), idx)
  checks: [{gradient: f, wrt: x}]
- id: ce-constant
  inputs: {x: [1, 2, 3]}
  constants: {t: 1}
  function: cross_entropy(x, t)
  checks: [{gradient: f}]
- id: ce-probabilities
  inputs: {x: [1, 2, 3], t: [0.2, 0.3, 0.5]}
  function: cross_entropy(x, t)
  checks: [{gradient: f}]
"""


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_class_index_target_that_is_an_input_is_positioned_and_others_run(tmp_path, capsys, command):
    p = _yaml(tmp_path, R1_FILE)
    rc = main([command, str(p)])
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert rc == 2, out
    assert f"{p}:7:10: nll()'s class-index target must be a constant" in out, out  # the nll( call
    assert out.count("must be a constant") == 1, out  # a constant target, or probabilities, are fine
    if command == "run":
        assert "PASS    ce-constant" in out and "PASS    ce-probabilities" in out, out


def test_check_api_raises_a_spec_error_for_a_class_index_target_that_is_an_input():
    import torch

    import verifier
    from verifier import ProblemSpecError

    x, t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    with pytest.raises(ProblemSpecError, match="class-index target must be a constant"):
        verifier.check(lambda x, t: torch.nn.functional.cross_entropy(x, t.long()), "cross_entropy(x, t)",
                       {"x": x, "t": t})
    r = verifier.check(lambda x, t: torch.nn.functional.cross_entropy(x, t.long()), "cross_entropy(x, t)",
                       {"x": x}, constants={"t": t}, checks=["gradient"])
    assert r.passed, r.report()


def test_pytest_item_for_a_class_index_target_that_is_an_input_is_an_error(pytester: pytest.Pytester):
    pytester.path.joinpath("problems.yaml").write_text(textwrap.dedent("""\
    version: 1
    problems:
      - id: ce
        inputs: {x: [1, 2, 3], t: 1}
        function: cross_entropy(x, t)
        checks: [{gradient: f}]
    """), encoding="utf-8")
    result = pytester.runpytest_inprocess(*PLUGIN, "problems.yaml")
    text = result.stdout.str()
    assert "problems.yaml:5:15: cross_entropy()'s class-index target must be a constant" in text, text
    assert result.ret != 0


# ---- R2: raw torch / Python internals in the product's messages --------------------------------

def test_bce_out_of_range_is_a_domain_message_not_a_raw_runtime_error(tmp_path, capsys):
    p = _yaml(tmp_path, """\
    - id: bce
      inputs: {p: [1.5, 0.5]}
      constants: {t: [1, 0]}
      function: binary_cross_entropy(p, t)
      checks: [{gradient: f}]
    """)
    rc = main(["check", str(p)])
    cap = capsys.readouterr()
    out = cap.out + cap.err
    assert rc == 2
    assert "RuntimeError" not in out, out


# ---- R3: the pytest plugin shows SymPy's traceback and FAILs a nondifferentiable point ---------

def test_pytest_item_at_a_nested_kink_is_skipped_not_a_sympy_traceback(pytester: pytest.Pytester):
    pytester.path.joinpath("problems.yaml").write_text(textwrap.dedent("""\
    version: 1
    problems:
      - id: minabs
        inputs: {x: 0, y: 0}
        function: min(abs(x), abs(y))
        checks: [{gradient: f}]
    """), encoding="utf-8")
    result = pytester.runpytest_inprocess(*PLUGIN, "problems.yaml")
    text = result.stdout.str()
    assert "DiracDelta" not in text and "TypeError" not in text, text
    result.assert_outcomes(skipped=1)


def test_pytest_item_for_a_removable_singularity_fails_on_torchs_nan(pytester: pytest.Pytester):
    pytester.path.joinpath("problems.yaml").write_text(textwrap.dedent("""\
    version: 1
    problems:
      - id: sinc-formula
        inputs: {t: 0}
        function: sin(pi*t)/(pi*t)
        checks: [{hessian: f, expect: "[[-pi**2/3]]"}]
    """), encoding="utf-8")
    result = pytester.runpytest_inprocess(*PLUGIN, "problems.yaml")
    text = result.stdout.str()
    assert "division by zero" not in text, text
    result.assert_outcomes(failed=1)


# ---- R4: a ragged list literal is silently broadcast ------------------------------------------
# [[1, 2], [3]] is refused by torch.tensor ("expected sequence of length 2 at dim 1 (got 1)") and by
# numpy (>= 1.24, "inhomogeneous shape"); the language reads it as [[1, 2], [3, 3]] (sum 9, not 6).
@pytest.mark.parametrize("function", ["sum([[1, 2], [3]])*x[0]", "sum([x, 1])", "sum([1, x])",
                                      "sum([[x[0], x[1]], [1]])", "sum([x, [1, 2, 3]])", "sum([[x], [x, x]])"])
def test_ragged_list_literal_is_a_positioned_error(tmp_path, capsys, function):
    p = _yaml(tmp_path, f"""\
    - id: ragged
      inputs: {{x: [1.5, 2.5]}}
      function: {function}
      checks: [{{value: f}}]
    """)
    rc = main(["check", str(p)])
    cap = capsys.readouterr()
    assert rc == 2, cap.out + cap.err
    assert f"{p}:5:" in cap.out + cap.err  # the function line (1 version, 2 problems, 3 id, 4 inputs)


def test_a_list_of_equal_shapes_is_still_an_array(tmp_path, capsys):
    p = _yaml(tmp_path, """\
    - id: square
      inputs: {x: [1.5, 2.5]}
      function: sum([[1, 2], [3, 4]])*x[0] + sum([x, 2*x]) + sum([x[0], 1])
      checks: [{value: f, expect: 29.5}]  # 10*1.5 + 3*4 + 2.5
    """)
    assert main(["run", str(p)]) == 0, capsys.readouterr().out


def test_a_ragged_expect_or_yaml_list_is_a_positioned_error(tmp_path, capsys):
    p = _yaml(tmp_path, """\
    - id: ragged-expect
      inputs: {x: [1.5, 2.5]}
      function: x[0]*x[1]
      checks: [{gradient: f, expect: "[[2.5], 1.5]"}]
    - id: ragged-define
      inputs: {x: [1.5, 2.5]}
      define: {p: [x, 1]}
      checks: [{value: p}]
    - id: fine
      inputs: {x: 2}
      function: x**2
      checks: [{gradient: f}]
    """)
    rc = main(["run", str(p)])
    out = capsys.readouterr().out
    assert rc == 2, out
    assert out.count("list items must have the same shape") == 2, out
    assert "PASS    fine" in out, out  # one bad problem never stops the others


def test_check_api_refuses_a_ragged_formula():
    import torch

    import verifier
    from verifier import ProblemSpecError

    with pytest.raises(ProblemSpecError, match="same shape"):
        verifier.check(lambda x: x.sum() + 1, "sum([x, 1])", {"x": torch.tensor([1.0, 2.0], dtype=torch.float64)})


# ---- a tower of constants that overflows torch is refused, never evaluated exactly -------------
# ((3**1000)**1000)**1000 is an exact integer of 1.6e9 bits: `verifier check` (and verifier.check)
# sought its exact value to see whether torch's inf was a removable singularity, and hung.

def test_an_overflowing_tower_is_refused_by_every_entry_point(tmp_path, capsys):
    import torch

    import verifier
    from verifier import ProblemSpecError

    p = _yaml(tmp_path, """\
    - id: tower
      inputs: {x: [1.5]}
      function: ((3**1000)**1000)**1000 * x[0]
      checks: [{gradient: f}]
    """)
    assert main(["check", str(p)]) == 2
    assert f"{p}:5:17: '**' is outside its domain at this point (gives inf)" in capsys.readouterr().err
    with pytest.raises(ProblemSpecError, match="outside its domain"):
        verifier.check(lambda x: x[0] * 3.0**1000, "((3**1000)**1000)**1000 * x[0]",
                       {"x": torch.tensor([1.5], dtype=torch.float64)}, checks=["gradient"])


def test_an_array_past_the_dimension_limit_is_refused_where_it_is_made(tmp_path, capsys):
    # reshape() and stack() could make more dimensions than numpy holds (32): an internal error.
    from verifier.cli import main

    p = tmp_path / "deep.yaml"
    p.write_text("version: 1\nproblems:\n  - id: deep\n    inputs: {x: [1.0, 2.0]}\n"
                 "    function: sum(reshape(x, [2" + ", 1" * 39 + "]))\n    checks: [{gradient: f}]\n"
                 "  - id: fine\n    inputs: {x: [1.0, 2.0]}\n    function: sum(reshape(x, [2" + ", 1" * 15
                 + "]))\n    checks: [{gradient: f}]\n")
    assert main(["run", str(p)]) == 2
    out = capsys.readouterr().out
    assert "deep.yaml:5:19: reshape() into 40 dimensions (limit 16)" in out, out
    assert "PASS    fine" in out and "internal error" not in out
