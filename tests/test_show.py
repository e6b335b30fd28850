"""`verifier show`: readable derivatives for teaching (decimals, subscripts, exact values at
the point, LaTeX, JSON, common subexpressions)."""

from __future__ import annotations

import json
import textwrap

import pytest
import sympy as sp

from verifier import _show
from verifier.cli import main

FLOATS = """
version: 1
problems:
  - id: floats
    inputs: {x: 0.1, y: [0.5, 0.3]}
    constants: {c: 0.3}
    function: c*x**2 + exp(y[0]*x) + y[1]**2
    checks: [{gradient: f}]
  - id: dense
    inputs:
      x: {random: normal, shape: [6], seed: 1}
      W: {random: normal, shape: [6, 6], seed: 2}
    function: sum(tanh(W @ x)) + sum(x**2)**2
    checks: [{hessian: f, wrt: x}]
  - id: matrix
    inputs: {w: [[1.0, 2.0], [3.0, 4.0]]}
    function: sum(w**3)
    checks: [{gradient: f}]
"""


@pytest.fixture
def bank(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(textwrap.dedent(FLOATS))
    return f


def test_cubic_shows_subscripts_and_the_exact_values_at_the_point(capsys):
    assert main(["show", "cubic-2d"]) == 0
    out = capsys.readouterr().out
    assert "⎡6⋅x₀ + 2⋅x₁  2⋅x₀⎤" in out
    assert "x[0]" not in out.split("\n", 2)[2]  # only the formula's own source keeps brackets
    assert "⎡18  4⎤" in out
    assert "eigenvalues at the point: 9 - √97, 9 + √97" in out


def test_numbers_from_floats_print_as_decimals(bank, capsys):
    assert main(["show", "floats", str(bank)]) == 0
    out = capsys.readouterr().out
    assert "at x = 0.1" in out and "at y = [0.5, 0.3]" in out
    # The constant 0.3 is used at its exact binary value: shown as 0.3, never as a 17-digit fraction.
    assert "0.6⋅x" in out
    assert "5404319552844595" not in out and "18014398509481984" not in out
    assert "0.05" in out  # exp(x*y0) at the point stays a closed form: e^0.05
    assert "≈ [" in out


def test_decimals_only_replace_exact_doubles():
    third = sp.Rational(1, 3)
    assert _show.text(sp.Rational(0.3) * sp.Symbol("x")) == "0.3*x"
    assert _show.text(third * sp.Symbol("x")) == "x/3"        # not from a float: stays exact
    assert _show.text(sp.Rational(1, 4)) == "1/4"              # small fractions stay fractions
    assert _show.text(sp.Rational(0.1) * sp.Rational(0.1)) != "0.01"  # a product is not a double


def test_latex_uses_subscripts_and_radicals(capsys):
    assert main(["show", "cubic-2d", "--latex"]) == 0
    out = capsys.readouterr().out
    assert r"\left[\begin{matrix}6 x_{0} + 2 x_{1} & 2 x_{0}\\2 x_{0} & 0\end{matrix}\right]" in out
    assert r"9 - \sqrt{97}, 9 + \sqrt{97}" in out
    assert "⎡" not in out


def test_json_has_formulas_values_and_eigenvalues(capsys):
    assert main(["show", "cubic-2d", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["id"] == "cubic-2d" and doc["point"] == {"x": ["2", "3"]}
    by_name = {c["name"]: c for c in doc["checks"]}
    hess = by_name["hessian[f]"]
    assert hess["shape"] == [2, 2]
    assert hess["entries"] == ["6*x[0] + 2*x[1]", "2*x[0]", "2*x[0]", "0"]
    assert hess["at_point"] == ["18", "4", "4", "0"]
    assert hess["latex"].startswith(r"\left[\begin{matrix}6 x_{0}")
    eig = by_name["eigenvalues[f]"]
    assert eig["eigenvalues"] == ["9 - sqrt(97)", "9 + sqrt(97)"]
    assert eig["eigenvalues_approx"] == pytest.approx([9 - 97 ** 0.5, 9 + 97 ** 0.5], rel=1e-15)


def test_a_dense_hessian_uses_common_subexpressions_not_one_huge_line(bank, capsys):
    assert main(["show", "dense", str(bank)]) == 0
    out = capsys.readouterr().out
    assert "where" in out and "c0 = " in out.replace("c₀", "c0")
    longest = max(map(len, out.splitlines()))
    # Without common subexpressions the 6 x 6 Hessian is one line of over 20,000 characters.
    plain = len(_show.text(_show.describe(_dense(bank))["checks"][0]["matrix"]))
    assert plain > 20_000 and longest < 1000, (plain, longest)


def _dense(bank):
    from verifier._spec import load

    return next(p for p in load(bank).problems if p.id == "dense")


def test_matrix_inputs_get_two_subscripts(bank, capsys):
    assert main(["show", "matrix", str(bank)]) == 0
    out = capsys.readouterr().out
    assert "3⋅w₀,₀" in out and "at w = [[1, 2], [3, 4]]" in out
    assert main(["show", "matrix", str(bank), "--latex"]) == 0
    assert "3 w_{0,0}^{2}" in capsys.readouterr().out


def test_show_errors(bank, capsys):
    assert main(["show", "no-such-problem", str(bank)]) == 2
    assert "no problem with id 'no-such-problem'" in capsys.readouterr().err


def test_at_a_kink_show_says_the_point_is_not_differentiable(tmp_path, capsys):
    f = tmp_path / "k.yaml"
    f.write_text("version: 1\nproblems:\n  - id: k\n    inputs: {x: 0.0}\n    function: abs(x)\n"
                 "    checks: [{gradient: f}, {hessian: f}]\n")
    assert main(["show", "k", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.count("nondifferentiable: not differentiable at this point: abs(x) is at its kink") == 2
    assert "left: -1.0\nright: 1.0" in out
    assert main(["show", "k", str(f), "--format", "json"]) == 0
    grad = json.loads(capsys.readouterr().out)["checks"][0]
    assert grad["left"] == -1.0 and grad["right"] == 1.0 and grad["at_point"] == ["0"]


def test_no_page_long_lines_for_the_bundled_logistic_regression(capsys):
    # Its exact eigenvalues are radicals of 16,000 characters, and its gradient formulas are long.
    assert main(["show", "logistic-regression"]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) < 300
    line = next(ln for ln in out.splitlines() if ln.startswith("eigenvalues at the point: "))
    values = [float(v) for v in line.split(": ", 1)[1].split(", ")]
    assert values == sorted(values) and len(values) == 4


def test_a_long_input_is_shown_by_its_first_values(tmp_path, capsys):
    f = tmp_path / "long.yaml"
    f.write_text("version: 1\nproblems:\n  - id: long\n    inputs: {x: {fill: 0.5, shape: [100]}}\n"
                 "    function: sum(x**2)\n    checks: [{gradient: f}]\n")
    assert main(["show", "long", str(f)]) == 0
    out = capsys.readouterr().out
    assert "at x = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, ...] (100 values; --format json lists them all)" in out
    assert "gradient[0] = 2⋅x₀" in out  # 100 entries: one line per entry, not a 100-row grid
