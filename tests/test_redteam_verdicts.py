"""Red-team findings (verdicts): inputs nobody here designed, each with its right outcome.

See docs/redteam-findings.md for the reasoning behind each expectation.
"""

from __future__ import annotations

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


# ---- F5: a flat sum within the length limit is refused with Python's internal error ------------
@pytest.mark.xfail(strict=True, reason="R2: Python 3.11's own parser recurses on a flat 5000-term sum; not fixed")

def test_flat_sum_of_5000_terms_is_not_a_recursion_error(tmp_path, capsys):
    p = _yaml(tmp_path, f"""\
    - id: flat
      inputs: {{x: 1}}
      function: {" + ".join(["x"] * 5000)}
      checks: [{{gradient: f}}]
    """)
    main(["check", str(p)])
    out = capsys.readouterr()
    assert "RecursionError" not in out.out + out.err


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

@pytest.mark.parametrize("function", [pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=(
    "F6: a Hessian where the gradient has a kink is given a value or "
    "judged; not fixed"
))) for f in
                                      ("min(x, y)**2", "norm(x*y)")] + ["abs(x*y)", "abs(x)*abs(y)"])
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


# ---- F8: SymPy's automatic simplification erases a cancellation from the rounding bound --------
# (x + C) - C is written by the user and computed by torch with the rounding of x + C (|err| <=
# u |x + C|, Higham (3.4)); SymPy folds it to x, so the bound is that of x alone: correct code fails.
@pytest.mark.xfail(strict=True, reason="F7: SymPy folds (x + C) - C to x before the bound sees it; not fixed")

@pytest.mark.parametrize("dtype, C", [(torch.float32, "16777216"), (torch.float32, "16777217.0"),
                                      (torch.float64, "10000000000000000")])
def test_cancellation_written_in_the_formula_is_not_a_false_alarm(dtype, C):
    x = torch.tensor(0.3, dtype=dtype)
    c = float(C)
    r = verifier.check(lambda x: (x + c) - c, f"(x + {C}) - {C}", {"x": x}, checks=["value", "gradient"])
    assert r.passed, r.report()


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
@pytest.mark.xfail(strict=True, reason=(
    "F1: the Hessian limit of sqrt(x**4) at 0 is found (2) and discarded; "
    "not fixed"
))

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
