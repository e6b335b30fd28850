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
@pytest.mark.xfail(strict=True, reason=(
    "R1: the constant-target rule lives in the reference, preflight does "
    "not know it; not fixed"
))

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
    assert f"{p}:4:" in out, out  # positioned at the function


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

PLUGIN = ("-p", "no:cacheprovider")


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
@pytest.mark.xfail(strict=True, reason=(
    "R3: list literals broadcast their items by design (_interpret.py); "
    "left to the language owner"
))

@pytest.mark.parametrize("function", ["sum([[1, 2], [3]])*x[0]", "sum([x, 1])"])
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
    assert f"{p}:4:" in cap.out + cap.err
