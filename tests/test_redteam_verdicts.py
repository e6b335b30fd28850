"""Red-team findings (verdicts): inputs nobody here designed, each with its right outcome.

See docs/redteam-findings.md for the reasoning behind each expectation.
"""

from __future__ import annotations

import ast
import textwrap

import pytest
import torch

import verifier
from verifier.cli import main


def _yaml(tmp_path, body: str, name: str = "p.yaml"):
    p = tmp_path / name
    p.write_text("version: 1\nproblems:\n" + textwrap.indent(textwrap.dedent(body), "  "), encoding="utf-8")
    return p


# ---- F1: removable singularities of the formula are refused by `verifier run` / `check` ---------
# The runner computes the limit (tests/test_edges.py), but the entry points' domain pre-check
# refuses the problem first ("division by zero at this point"), so G3's formula never runs.

REMOVABLE = """\
- id: sinc-formula
  inputs: {t: 0}
  function: sin(pi*t)/(pi*t)
  checks: [{hessian: f, expect: "[[-pi**2/3]]"}]
- id: expm1-over-x
  inputs: {x: 0}
  function: (exp(x) - 1)/x
  checks: [{gradient: f, expect: 0.5}]
- id: difference-quotient-2d
  inputs: {x: 1, y: 1}
  function: (x**2 - y**2)/(x - y)
  checks: [{gradient: f, expect: [1, 1]}]
"""


def test_check_accepts_removable_singularities(tmp_path, capsys):
    p = _yaml(tmp_path, REMOVABLE)
    rc = main(["check", str(p)])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    assert "division by zero" not in out.out + out.err


def test_run_gives_the_limit_and_torchs_nan_fails(tmp_path, capsys):
    p = _yaml(tmp_path, REMOVABLE)
    rc = main(["run", str(p), "--format", "json"])
    out = capsys.readouterr().out
    assert "division by zero" not in out
    assert rc == 1  # torch's 0/0 is nan: a failure, never an error of the file


# ---- F2: the subgradient test is an element-wise box, so non-subgradients pass ----------------
# max(x, y) at x == y: the subdifferential is {(t, 1 - t): 0 <= t <= 1} (Clarke; convex hull of
# the active gradients). (1, 1) lies in the box [0, 1] x [0, 1] but is not a subgradient.

@pytest.mark.parametrize("function, inputs, expect", [
    ("max(x, y)", "{x: 1, y: 1}", "[1, 1]"),
    ("sum(maximum(x, y))", "{x: [1], y: [1]}", "[1, 1]"),
    ("relu(x - y)", "{x: 1, y: 1}", "[1, 0]"),    # subdifferential {t (1, -1)}
    ("max(x)", "{x: [1, 1, 0]}", "[1, 1, 0]"),
])
def test_expect_outside_the_subdifferential_fails(tmp_path, capsys, function, inputs, expect):
    p = _yaml(tmp_path, f"""\
    - id: k
      inputs: {inputs}
      function: {function}
      checks: [{{gradient: f, expect: {expect}}}]
    """)
    assert main(["run", str(p)]) == 1, capsys.readouterr().out


class _MaxAllTies(torch.autograd.Function):
    """max over a vector whose backward gives the full gradient to EVERY tied element."""

    @staticmethod
    def forward(ctx, x):
        m = x.max()
        ctx.save_for_backward(x, m)
        return m

    @staticmethod
    def backward(ctx, g):
        x, m = ctx.saved_tensors
        return g * (x == m).to(x.dtype)


def test_user_backward_that_is_not_a_subgradient_fails():
    x = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    r = verifier.check(lambda x: _MaxAllTies.apply(x), "max(x)", {"x": x}, checks=["gradient"])
    assert not r.passed, r.report()
    assert r.checks[0].status == "failed"


# ---- F3: false alarms on correct torch code: the bound follows SymPy's form, not torch's -------
# torch.sigmoid's backward is y * (1 - y): at x = 17 in float32, y rounds to 1 - 2**-24, so the
# computed derivative is off by ~45 % of 4e-8 -- that is rounding of y (|error| <= u), not a bug.
@pytest.mark.parametrize("dtype, point", [(torch.float32, 17.0), (torch.float32, 30.0), (torch.float64, 40.0)])
def test_saturated_sigmoid_is_not_a_false_alarm(dtype, point):
    x = torch.tensor([point, -2.0], dtype=dtype)
    r = verifier.check(lambda x: torch.sigmoid(x).sum(), "sum(sigmoid(x))", {"x": x},
                       checks=["gradient", "hessian"])
    assert r.passed, r.report()


def test_prod_hessian_in_float32_is_not_a_false_alarm():
    x = torch.tensor([1e-20, 3e-20, 2.0], dtype=torch.float32)
    r = verifier.check(lambda x: x.prod(), "prod(x)", {"x": x}, checks=["hessian"])
    assert r.passed, r.report()


def test_inv_float32_at_an_ill_conditioned_point_is_not_a_false_alarm():
    A = torch.tensor([[1.0, 2.0], [3.0, 6.01]], dtype=torch.float32)
    r = verifier.check(lambda A: torch.linalg.inv(A).sum(), "sum(inv(A))", {"A": A}, checks=["gradient"])
    assert r.passed, r.report()


# ---- F4: misses: 1 % bugs on small entries where the bound falls back to atol ------------------

class _Bug(torch.autograd.Function):
    """Identity whose backward scales element 0 by 1.01 (a 1 % bug)."""

    @staticmethod
    def forward(x):
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        m = torch.ones_like(g)
        m.view(-1)[0] = 1.01
        return g * m


F = torch.nn.functional


_SMALL = [("elu(x)", F.elu, [-0.3, 0.6]), ("selu(x)", F.selu, [0.3, 0.6]), ("sinc(x)", torch.sinc, [0.3, 0.7]),
          ("lgamma(x)", torch.lgamma, [0.5, 3.0]), ("digamma(x)", torch.digamma, [0.5, 3.0])]


@pytest.mark.parametrize("dtype, formula, op, point", [
    (dt, *case) for case in _SMALL for dt in (torch.float64, torch.float32)
])
def test_one_percent_bug_on_a_small_entry_fails(dtype, formula, op, point):
    x = torch.tensor(point, dtype=dtype)
    r = verifier.check(lambda x: (3e-6 * op(_Bug.apply(x))).sum(), f"sum(3e-6*{formula})", {"x": x},
                       checks=["gradient"], modes=["backward"])
    assert r.checks[0].status == "failed", r.report()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_percent_bug_on_a_small_inverse_entry_fails(dtype):
    A = torch.tensor([[2.0, 0.5], [0.3, 1.5]], dtype=dtype)
    r = verifier.check(lambda A: 3e-6 * torch.linalg.inv(_Bug.apply(A)).sum(), "3e-6*sum(inv(A))", {"A": A},
                       checks=["gradient"], modes=["backward"])
    assert r.checks[0].status == "failed", r.report()


# ---- R2: a flat sum within the length limit is refused with Python's internal error ------------
# CPython 3.11 converts a parsed tree to objects recursively (3x the recursion limit): a flat chain
# of 5000 terms is 5000 levels of BinOp. The parser now has room for every chain MAX_LENGTH allows.

def test_flat_sum_of_5000_terms_is_not_a_recursion_error(tmp_path, capsys):
    p = _yaml(tmp_path, f"""\
    - id: flat
      inputs: {{x: 1}}
      function: {" + ".join(["x"] * 5000)}
      checks: [{{gradient: f}}]
    """)
    rc = main(["check", str(p)])
    out = capsys.readouterr()
    assert "RecursionError" not in out.out + out.err
    assert rc == 0, out.out + out.err


@pytest.mark.parametrize("function, value", [
    ("+".join(["x"] * 9000), 9000.0),                          # the longest chain 20,000 characters allow
    ("*".join(["x"] * 4000), 1.0),
    ("-".join(["x"] * 5000), -4998.0),
    ("sum([" + "+".join(["x"] * 3000) + ", x])", 3001.0),        # a chain inside a call and a list
    ("x/" + "/".join(["1"] * 4000), 1.0),
])
def test_long_flat_chains_parse_and_evaluate(function, value):
    from verifier._expr import parse

    e = parse(function, {"x"})
    assert isinstance(e.tree, ast.AST)
    x = torch.tensor(1.0, dtype=torch.float64)
    r = verifier.check(lambda x: value * x, function, {"x": x}, checks=["value"])
    assert r.passed, r.report()
    # and fails on a wrong value (the check is not vacuous)
    r = verifier.check(lambda x: (value + 1) * x, function, {"x": x}, checks=["value"])
    assert not r.passed


def test_a_parser_recursion_error_is_a_positioned_message(monkeypatch):
    # Another Python's parser may still refuse a long chain: the message says what to do, never
    # "RecursionError", and points at the expression.
    from verifier import _expr

    def refuse(text):
        raise RecursionError("maximum recursion depth exceeded during ast construction")
    monkeypatch.setattr(_expr, "_ast_parse", refuse)
    with pytest.raises(_expr.ExprError) as info:
        _expr.parse("x + x + x", {"x"}, _expr.Origin(7, 12))
    assert "RecursionError" not in info.value.message and "too many terms" in info.value.message
    assert (info.value.line, info.value.col) == (7, 12)


def test_the_recursion_limit_is_restored_after_parsing():
    import sys

    from verifier._expr import parse

    before = sys.getrecursionlimit()
    parse("+".join(["x"] * 9000), {"x"})
    assert sys.getrecursionlimit() == before


# ---- F6: a kink nested inside another switch crashes the reference (internal TypeError) -------
# min(|x|, |y|), max(|x|, |y|), clamp(|x| + y, 0, 1), ... at the origin: each is positively
# homogeneous and not linear there (f(t v) = t f(v) with f(v) not linear in v), so the gradient
# does not exist: nondifferentiable. Today: "internal error: TypeError ... DiracDelta(0) > 0".

NESTED = ["min(abs(x), abs(y))", "max(abs(x), abs(y))", "clamp(abs(x) + y, 0, 1)", "max(abs(x), y)",
          "sum(maximum(abs(x), abs(y)))", "where(abs(x) > abs(y), x, y)", "leaky_relu(abs(x) - y)"]


def _run_file(tmp_path, body: str):
    res = verifier.run(_yaml(tmp_path, body), isolate=False)
    assert not res.file_errors, res.file_errors
    return res.problems


@pytest.mark.parametrize("function", NESTED)
def test_kink_inside_a_switch_is_nondifferentiable_not_a_crash(tmp_path, function):
    inputs = "{x: [0], y: [0]}" if "maximum" in function else "{x: 0, y: 0}"
    (p,) = _run_file(tmp_path, f"""\
    - id: k
      inputs: {inputs}
      function: {function}
      checks: [{{gradient: f}}]
    """)
    assert p.checks and p.status != "error", p.error
    (c,) = p.checks
    assert c.status == "nondifferentiable", c.report()


def test_jump_inside_a_product_is_nondifferentiable_not_a_crash(tmp_path):
    # sign(|x|) * y is y off the line x = 0 and 0 on it: discontinuous at the origin
    (p,) = _run_file(tmp_path, """\
    - id: k
      inputs: {x: 0, y: 1}
      function: sign(abs(x)) * y
      checks: [{gradient: f}]
    """)
    assert p.checks and p.status != "error", p.error
    assert p.checks[0].status == "nondifferentiable", p.checks[0].report()


# ---- F7: a Hessian where the gradient has a kink becomes a number or is judged ------------------
# |x| |y| at the origin: d/dx exists at (0, y) only for y == 0, so the gradient is not
# differentiable there and the mixed partial has no value; the reference says 1 and torch's 0 fails.
# min(x, y)**2: the gradient 2 min(x, y) e_argmin has a kink at x == y; README: "A second derivative
# where the gradient itself has a kink ... is nondifferentiable without a value to judge".
# norm(x*y) of one element is |x y|, whose Hessian is nondifferentiable like abs(x*y), not an error.

@pytest.mark.parametrize("function", ["min(x, y)**2", "norm(x*y)", "abs(x*y)", "abs(x)*abs(y)",
                                      "max(x, y)**2", "relu(x - y)**2", "norm([x*y])", "minimum(x, y)**2 + x",
                                      "clamp(x - y, 0, 1)**2"])
def test_hessian_where_the_gradient_has_a_kink_is_nondifferentiable(tmp_path, function):
    (p,) = _run_file(tmp_path, f"""\
    - id: k
      inputs: {{x: 0, y: 0}}
      function: {function}
      checks: [{{gradient: f}}, {{hessian: f}}]
    """)
    assert p.checks and p.status != "error", p.error
    g, h = p.checks
    assert g.status == "passed", g.report()
    assert h.status == "nondifferentiable", h.report()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("formula, op", [
    ("norm(x*y)", lambda x, y: torch.linalg.vector_norm((x * y).reshape(1))),
    ("sqrt((x*y)**2)", lambda x, y: torch.sqrt((x * y) ** 2)),
    ("min(x, y)**2", lambda x, y: torch.minimum(x, y) ** 2),
])
def test_check_api_hessian_where_the_gradient_has_a_kink(dtype, formula, op):
    z = torch.tensor(0.0, dtype=dtype)
    r = verifier.check(op, formula, {"x": z, "y": z.clone()}, checks=["hessian"])
    assert r.checks[0].status == "nondifferentiable", r.report()
    assert "gradient has a kink" in r.checks[0].message, r.report()


def test_a_kink_that_does_not_reach_the_gradient_is_still_judged(tmp_path):
    # abs(x)**2 == x**2 and min(x, y)**2 away from the tie: a Hessian with a value, judged normally
    # (a wrong expect fails: the nondifferentiable verdict above is not given to everything)
    (p, q) = _run_file(tmp_path, """\
    - id: a
      inputs: {x: 0, y: 0}
      function: abs(x)**2 + abs(y)**3
      checks: [{hessian: f, expect: [[2, 0], [0, 1]]}]
    - id: b
      inputs: {x: 1, y: 2}
      function: min(x, y)**2
      checks: [{hessian: f}]
    """)
    assert p.checks[0].status == "failed", p.checks[0].report()     # the Hessian is [[2, 0], [0, 0]]
    assert q.checks[0].status == "passed", q.checks[0].report()


# ---- F8: SymPy's automatic simplification erases a cancellation from the rounding bound --------
# (x + C) - C is written by the user and computed by torch with the rounding of x + C (|err| <=
# u |x + C|, Higham (3.4)); SymPy folds it to x, so the bound is that of x alone: correct code fails.
@pytest.mark.parametrize("dtype, C", [(torch.float32, "16777216"), (torch.float32, "16777217.0"),
                                      (torch.float64, "10000000000000000")])
def test_cancellation_written_in_the_formula_is_not_a_false_alarm(dtype, C):
    x = torch.tensor(0.3, dtype=dtype)
    c = float(C)
    r = verifier.check(lambda x: (x + c) - c, f"(x + {C}) - {C}", {"x": x}, checks=["value", "gradient"])
    assert r.passed, r.report()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("formula, fn, inputs", [
    ("(x + C) - C", lambda x, C: (x + C) - C, {"x": 0.3, "C": 2.0**60}),           # C a named constant
    ("x - (x - y)", lambda x, y: x - (x - y), {"x": 3e20, "y": 0.7}),
    ("-(y - (x + y)) * 2", lambda x, y: -(y - (x + y)) * 2, {"x": 0.3, "y": 1e30}),
    ("sin((x + C) - C)", lambda x, C: torch.sin((x + C) - C), {"x": 0.3, "C": 2.0**60}),
])
def test_cancellation_variants_are_not_false_alarms(dtype, formula, fn, inputs):
    ins = {k: torch.tensor(v, dtype=dtype) for k, v in inputs.items() if k != "C"}
    consts = {"C": torch.tensor(inputs["C"], dtype=dtype)} if "C" in inputs else None
    r = verifier.check(fn, formula, ins, constants=consts)
    assert r.passed, r.report()


def test_a_written_cancellation_keeps_the_exact_value_and_still_catches_bugs():
    x = torch.tensor(0.3, dtype=torch.float32)
    r = verifier.check(lambda x: (x + 16777216.0) - 16777216.0, "(x + 16777216) - 16777216", {"x": x},
                       checks=["value"])
    assert r.checks[0].reference.item() == float(x)  # the exact value is x, not torch's 0
    bad = verifier.check(lambda x: (x + 16777216.0) - 16777216.0 + 100, "(x + 16777216) - 16777216", {"x": x},
                         checks=["value"])
    assert not bad.passed, bad.report()


@pytest.mark.parametrize("formula, cancels", [
    ("(x + C) - C", True), ("x - (x - y)", True), ("-(y - (x + y))", True), ("sin(x + 1) - (1 + y)", False),
    ("x + y - 1", False), ("(x + 1) * (x - 1)", False), ("f(x + C - C)", True),
])
def test_written_cancellation_is_found_as_written(formula, cancels):
    from verifier._expr import parse, written_cancellation

    e = parse(formula.replace("f(", "sin("), {"x", "y", "C"})
    assert written_cancellation(e) is cancels


# ---- F3 (more): torch computes these derivatives from the rounded output ----------------------
# sigmoid' = y (1 - y), expm1' = y + 1, silu' = s (1 + x (1 - s)): with y rounded (|dy| <= u |y|),
# 1 - y or y + 1 cancel, so the derivative carries an absolute error of about u (Higham §1.7,
# "cancellation exposes earlier rounding"). Found by a sweep of 28 functions x 14 points x 2 dtypes.
@pytest.mark.parametrize("name, op, point, dtype", [
    ("sigmoid", torch.sigmoid, 9.0, torch.float64),
    ("sigmoid", torch.sigmoid, 9.0, torch.float32),
    ("expm1", torch.expm1, -9.0, torch.float64),
    ("expm1", torch.expm1, -17.0, torch.float32),
    ("silu", F.silu, 17.0, torch.float64),
    ("silu", F.silu, 9.0, torch.float32),
])
def test_derivative_from_a_rounded_output_is_not_a_false_alarm(name, op, point, dtype):
    x = torch.tensor([point], dtype=dtype)
    r = verifier.check(lambda x: op(x).sum(), f"sum({name}(x))", {"x": x}, checks=["gradient", "hessian"],
                       modes=["backward"])
    assert r.passed, r.report()


# ---- F1 (more): a Hessian at a removable singularity of the derivative's expression ------------
# sqrt(x**4) == x**2 for real x: the Hessian is 2 everywhere. Today: "not defined (...: it is 2)".
def test_hessian_of_sqrt_x4_at_zero_is_two(tmp_path):
    (p,) = _run_file(tmp_path, """\
    - id: k
      inputs: {x: 0}
      function: sqrt(x**4)
      checks: [{hessian: f, expect: [[2]]}]
    """)
    assert p.checks and p.status != "error", p.error
    (c,) = p.checks
    assert c.status != "error", c.report()
    assert c.expect is not None and c.expect.passed, c.report()


# ---- F3 (more): an exact zero gets a bound of 0, but torch's prod backward divides -------------
# d2 prod / dx_i2 = 0 structurally; torch's prod backward computes prod / x_i (no zero inputs), whose
# derivative cancels to zero only up to rounding: 1.5e-11 next to entries of 1e6 (float64).
@pytest.mark.parametrize("dtype, x", [
    (torch.float64, [-58.53786583420139, 12.558460447948832, 99.64244499989684, 26.292021002478915,
                     37.03531132021644]),
    (torch.float32, [15.559102058410645, -39.37565994262695, 5.759851932525635, 16.283140182495117,
                     -66.5633773803711]),
])
def test_prod_hessian_structural_zero_is_not_a_false_alarm(dtype, x):
    r = verifier.check(lambda x: x.prod(), "prod(x)", {"x": torch.tensor(x, dtype=dtype)}, checks=["hessian"],
                       modes=["backward"])
    assert r.passed, r.report()


# ---- F2 (more): a tie of three or more: torch's even split is called "not a subgradient" -------
# max over [1, 1, 1]: the subdifferential is the simplex conv{e0, e1, e2}; torch.amax gives 1/3 to
# each. The range is built from the first and last tied element only, so x[1]'s range is [0, 0].

@pytest.mark.parametrize("function, inputs, expect", [
    ("max(x)", "{x: [1, 1, 1]}", None),
    ("min(x)", "{x: [2, 2, 2, 5]}", None),
    ("max(x)", "{x: [1, 1, 1]}", "[0.2, 0.3, 0.5]"),
])
def test_three_way_tie_accepts_every_subgradient(tmp_path, function, inputs, expect):
    exp = f", expect: {expect}" if expect else ""
    (p,) = _run_file(tmp_path, f"""\
    - id: k
      inputs: {inputs}
      function: {function}
      checks: [{{gradient: f{exp}}}]
    """)
    assert p.checks and p.status != "error", p.error
    assert p.checks[0].status == "nondifferentiable", p.checks[0].report()


# ---- F10: a discontinuous function is not a cone point ------------------------------------------
# x*y**2/(x**2 + y**4) has limit 0 along every line through 0 but 1/2 along x = y**2: it is not
# continuous there, so there is no value (and no subgradient) to judge. Limits along lines do not
# prove continuity; where it is not shown, the value is undefined: an error, never a range.

DISCONTINUOUS = [("x*y**2/(x**2 + y**4)", lambda x, y: x * y**2 / (x**2 + y**4)),
                 ("x**2*y/(x**4 + y**2)", lambda x, y: x**2 * y / (x**4 + y**2)),
                 ("2*x**3*y/(x**6 + y**2) + x", lambda x, y: 2 * x**3 * y / (x**6 + y**2) + x)]


@pytest.mark.parametrize("formula", [f for f, _ in DISCONTINUOUS])
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_function_discontinuous_at_the_point_is_refused_not_a_cone_point(tmp_path, capsys, command, formula):
    p = _yaml(tmp_path, f"""\
    - id: d
      inputs: {{x: 0, y: 0}}
      function: {formula}
      checks: [{{value: f}}, {{gradient: f}}]
    - id: elsewhere
      inputs: {{x: 0.5, y: -1}}
      function: {formula}
      checks: [{{gradient: f}}]
    """)
    rc = main([command, str(p)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert rc == 2, text
    assert f"{p}:5:" in text, text
    assert "cone point" not in text, text
    if command == "run":
        assert "PASS    elsewhere" in text, text


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("formula, fn", DISCONTINUOUS)
def test_check_api_refuses_a_discontinuous_point(formula, fn, dtype):
    from verifier import ProblemSpecError

    z = torch.tensor(0.0, dtype=dtype)
    with pytest.raises(ProblemSpecError, match="at this point"):
        verifier.check(fn, formula, {"x": z, "y": z.clone()}, checks=["gradient"])


def test_lines_alone_do_not_make_a_limit():
    import sympy as sp

    from verifier._limits import Undefined, limit_at

    x, y, a, t = sp.symbols("x y a t", real=True)
    with pytest.raises(Undefined, match="continuity here is not established"):
        limit_at(x * y**2 / (x**2 + y**4), {x: sp.Integer(0), y: sp.Integer(0)})
    # where continuity is shown the value is still given: a cancelling quotient, a removable
    # singularity in one variable (sin(a t)/t = a - a**3 t**2/6 + ...), factors in one variable each
    assert limit_at((x**2 - y**2) / (x - y), {x: sp.Integer(1), y: sp.Integer(1)}).left == 2
    assert limit_at(sp.sin(a * t) / t, {a: sp.Integer(2), t: sp.Integer(0)}).left == 2
    hess = sp.diff(sp.sin(a * t) / t, t, 2)
    assert limit_at(hess, {a: sp.Integer(2), t: sp.Integer(0)}).left == sp.Rational(-8, 3)
    assert limit_at(sp.sin(x) * sp.sin(y) / (x * y), {x: sp.Integer(0), y: sp.Integer(0)}).left == 1


# ---- F8: a derivative that exists is not "not defined" -----------------------------------------
# digamma's Hessian is polygamma(2, x): SymEngine has no MPFR form for it, and SymPy's automatic
# evaluation at an integer expands it into a 40,000-digit rational (10 s). It is evaluated directly
# (mpmath's psi); the limit search is never needed, so these tests forbid it (no timing involved).

@pytest.fixture
def no_limits(monkeypatch):
    from verifier import _limits

    def refuse(*args, **kwargs):
        raise AssertionError("a limit was searched for a value that exists")
    monkeypatch.setattr(_limits, "limit_at", refuse)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("formula, op, point", [
    ("sum(digamma(x))", torch.digamma, [1e4]),
    ("sum(digamma(x))", torch.digamma, [1e4 + 0.5, 3.25]),
    ("sum(lgamma(x))", torch.lgamma, [1e4, 7.0 / 3.0]),
    ("sum(x*digamma(x))", lambda x: x * torch.digamma(x), [250.0]),
])
def test_polygamma_is_evaluated_directly(no_limits, dtype, formula, op, point):
    x = torch.tensor(point, dtype=dtype)
    r = verifier.check(lambda x: op(x).sum(), formula, {"x": x}, checks=["gradient", "hessian"])
    assert r.passed, r.report()


def test_polygamma_value_is_mpmaths(no_limits):
    import mpmath
    import symengine as se

    from verifier import _exact

    x = se.Symbol("x")
    exprs = [se.polygamma(2, x), 3 * se.polygamma(3, x) + x]
    got = _exact.evaluate_exact(exprs, {x: se.Integer(10000)}, limits={})
    assert got[0] == float(mpmath.psi(2, 10000))
    assert got[1] == float(3 * mpmath.psi(3, 10000) + 10000)
    with pytest.raises(_exact.DomainError):  # a pole stays undefined
        _exact.high_precision(se.polygamma(2, se.Integer(-3)))


def test_a_wrong_expected_polygamma_still_fails(no_limits):
    x = torch.tensor([1e4], dtype=torch.float64)
    fn = lambda x: torch.digamma(x).sum()  # noqa: E731
    tol = {"rtol": 1e-6, "atol": 1e-30}  # the default atol (1e-7) would accept any value this small
    good = verifier.check(fn, "sum(digamma(x))", {"x": x},
                          checks=[{"hessian": "f", "expect": [[-1.000100005e-8]]}], tolerance=tol)
    assert good.passed, good.report()
    bad = verifier.check(fn, "sum(digamma(x))", {"x": x}, checks=[{"hessian": "f", "expect": [[-1.0101e-8]]}],
                         tolerance=tol)
    assert not bad.passed, bad.report()
