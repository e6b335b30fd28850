"""The exact reference at edge points, the same on SymEngine and on SymPy: undefined values stay
undefined, removable singularities get their limit, cone points and kinks are nondifferentiable
with one-sided values by the side of the point, and torch's value there must be a subgradient."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from helpers import run_one, write

import verifier
from verifier import _exact, _symbolic

pytest.importorskip("symengine")


@pytest.fixture(params=["auto", "sympy"])
def backend(request, monkeypatch):
    monkeypatch.setenv("VERIFIER_SYMBOLIC", request.param)
    return request.param


def one(function: str, inputs: str, check: str, constants: str = "", dtype: str = "float64"):
    text = f"""
    version: 1
    problems:
      - id: p
        inputs: {inputs}
        {"constants: " + constants if constants else ""}
        dtype: {dtype}
        function: {function}
        checks: [{check}]
    """
    res = run_one(text)
    assert res.error is None, res.error
    return res.checks[0]


# ---- M1: an undefined value never becomes a number --------------------------------------------

def test_pi_norm_at_zero_is_not_read_as_zero(backend):
    c = one("pi*norm(x)", "{x: [0, 0]}", "{gradient: f}")
    assert c.status == "nondifferentiable", c.report()
    assert c.left.tolist() == pytest.approx([-np.pi, 0.0]) and c.right.tolist() == pytest.approx([np.pi, 0.0])
    assert "along x[0]" in c.message


def test_atan2_at_the_origin_is_not_defined(backend):
    c = one("atan2(y, x)", "{y: 0, x: 0}", "{gradient: f}")
    assert c.status == "error" and "not defined" in c.message, c.report()


@pytest.mark.parametrize("function", ["x*y/(x**2 + y**2)", "x/sqrt(x**2)"])
def test_a_function_without_a_limit_is_an_error(function, backend):
    inputs = "{x: 0, y: 0}" if "y" in function else "{x: 0}"
    res = run_one(f"""
    version: 1
    problems:
      - id: p
        inputs: {inputs}
        function: {function}
        checks: [{{gradient: f}}]
    """)
    assert res.status == "error" and "at this point" in res.error


def test_an_mpfr_nan_is_undefined_not_zero():
    se = pytest.importorskip("symengine")
    z = se.RealMPFR("0", 256)
    nan = se.Mul(z, se.Pow(z, -se.S(1) / 2))
    assert nan.is_zero  # SymEngine's own answer, which the reference must not trust
    with pytest.raises(_exact.DomainError):
        _exact.high_precision(nan)


# ---- M2: 0**b ---------------------------------------------------------------------------------

@pytest.mark.parametrize("b", [1, 0.5, 3])
def test_zero_base_power_has_derivative_zero(b, backend):
    c = one("a**b", f"{{b: {b}}}", "{gradient: f}", constants="{a: 0}")
    assert c.status == "passed" and c.reference.tolist() == 0.0, c.report()


def test_zero_base_power_wrong_expect_fails(backend):
    c = one("a**b", "{b: 1}", "{gradient: f, expect: 1}", constants="{a: 0}")
    assert c.status == "failed"


# ---- M3: cone points --------------------------------------------------------------------------

@pytest.mark.parametrize("function, status", [("norm(x)", "nondifferentiable"), ("abs(x[0])", "nondifferentiable"),
                                              ("sqrt(x[0]**2)", "failed")])  # torch: sqrt'(0) * 0 is nan
def test_norm_of_one_element_at_zero_is_a_kink_like_abs(function, status, backend):
    c = one(function, "{x: [0]}", "{gradient: f}")
    assert c.status == status, c.report()
    assert c.left.tolist() == [-1.0] and c.right.tolist() == [1.0]


def test_norm_hessian_at_zero_is_nondifferentiable(backend):
    c = one("norm(x)", "{x: [0, 0]}", "{hessian: f}")
    assert c.status == "nondifferentiable", c.report()


def test_a_nan_from_torch_at_a_cone_point_is_not_a_subgradient(backend):
    # torch's sqrt(0) backward gives nan; the exact expect (0, a subgradient) still passes.
    c = one("sqrt(x[0]**2 + x[1]**2 + x[2]**2)", "{x: [0, 0, 0]}", "{gradient: f, expect: [0, 0, 0]}")
    assert c.expect.passed
    assert c.status == "failed"


def test_a_wrong_expect_at_a_cone_point_fails(backend):
    assert one("norm(x)", "{x: [0, 0]}", "{gradient: f, expect: [2, 0]}").status == "failed"
    assert one("norm(x)", "{x: [0, 0]}", "{gradient: f, expect: [0.5, -0.5]}").status == "nondifferentiable"


# ---- M5: left and right by the side of the point ----------------------------------------------

@pytest.mark.parametrize("function, left, right", [
    ("relu(x)", 0.0, 1.0), ("max(x, 0)", 0.0, 1.0), ("max(0, x)", 0.0, 1.0),
    ("min(x, 0)", 1.0, 0.0), ("min(0, x)", 1.0, 0.0), ("relu(-x)", -1.0, 0.0),
    ("max(-x, 0)", -1.0, 0.0), ("abs(x)", -1.0, 1.0), ("abs(-x)", -1.0, 1.0), ("-abs(x)", 1.0, -1.0),
])
def test_left_and_right_are_one_sided_derivatives(function, left, right, backend):
    c = one(function, "{x: 0}", "{gradient: f}")
    assert c.status == "nondifferentiable", c.report()
    assert (float(c.left), float(c.right)) == (left, right)


def test_abs_shifted_kink_sides(backend):
    c = one("abs(2 - x)", "{x: 2}", "{gradient: f}")
    assert (float(c.left), float(c.right)) == (-1.0, 1.0)


def test_several_inputs_name_the_element_and_direction(backend):
    c = one("relu(x - y)", "{x: 1, y: 1}", "{gradient: f}")
    assert c.status == "nondifferentiable"
    assert c.left.tolist() == [0.0, 0.0] and c.right.tolist() == [1.0, -1.0]
    assert "one-sided along x" in c.message
    # The kink moves only with y: the sides are taken along y, and y + h is the left branch.
    c = one("relu(x[0] - y)", "{x: [2], y: 2}", "{gradient: f, wrt: y}")
    assert "one-sided along y" in c.message
    assert (float(c.left), float(c.right)) == (-1.0, 0.0)


def test_two_kinks_at_once_judge_the_whole_range(backend):
    c = one("abs(x) + abs(y)", "{x: 0, y: 0}", "{gradient: f, expect: [0.5, -0.5]}")
    assert c.status == "nondifferentiable" and c.expect.passed, c.report()
    assert one("abs(x) + abs(y)", "{x: 0, y: 0}", "{gradient: f, expect: [0, 2]}").status == "failed"


# ---- branches that touch without crossing are not kinks ----------------------------------------

# relu(x**2) is x**2: its Hessian at 0 is 2. torch's relu'(0) = 0 (sign(0) = 0 for abs) gives 0
# there: a real failure of torch, which the exact reference now sees.
@pytest.mark.parametrize("function, hessian, status", [
    ("abs(x**2)", 2.0, "failed"), ("relu(x**2)", 2.0, "failed"), ("relu(-x**2)", 0.0, "passed"),
    ("max(x**2, 0)", 2.0, "failed"), ("abs(x**2) + x", 2.0, "failed"), ("abs(x)**2", 2.0, "failed")])
def test_touching_branches_are_smooth(function, hessian, status, backend):
    c = one(function, "{x: 0}", f"{{hessian: f, expect: [[{hessian}]]}}")
    assert c.expect.passed and c.status == status, c.report()
    assert float(c.reference.reshape(-1)[0]) == hessian
    grad = 1 if "+ x" in function else 0
    assert one(function, "{x: 0}", f"{{gradient: f, expect: {grad}}}").status == "passed"


def test_an_odd_order_crossing_is_still_a_kink(backend):
    c = one("relu(x**3)", "{x: 0}", "{gradient: f}")  # crosses, but both one-sided derivatives are 0
    assert c.status == "passed" and float(c.reference) == 0.0


# ---- M6: a kink passes only for a subgradient; a wrong expect fails ------------------------------

def test_wrong_expect_at_a_kink_fails_with_exit_1(tmp_path, backend):
    path = write(tmp_path, """
    version: 1
    problems:
      - id: abs-expect-5
        inputs: {x: 0}
        function: abs(x)
        checks: [{gradient: f, expect: 5}]
    """)
    result = verifier.run(path)
    assert result.problems[0].checks[0].status == "failed"
    assert result.exit_code == 1


@pytest.mark.parametrize("expect, status", [(0, "nondifferentiable"), (-1, "nondifferentiable"),
                                            (1, "nondifferentiable"), (1.5, "failed"), (-2, "failed")])
def test_expect_at_a_kink_must_be_a_subgradient(expect, status, backend):
    assert one("abs(x)", "{x: 0}", f"{{gradient: f, expect: {expect}}}").status == status


def _abs_with_backward(slope_at_zero: float):
    class Abs(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return x.abs()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * torch.where(x == 0, torch.full_like(x, slope_at_zero), x.sign())

    return lambda x: Abs.apply(x).sum()


@pytest.mark.parametrize("slope, passed", [(0.0, True), (0.3, True), (-1.0, True), (3.0, False)])
def test_torch_at_a_kink_must_give_a_subgradient(slope, passed, backend):
    x = torch.tensor([0.0, 2.0], dtype=torch.float64)
    r = verifier.check(_abs_with_backward(slope), "sum(abs(x))", {"x": x},
                       checks=["gradient"], modes=["backward"])
    assert r.passed is passed
    assert r.checks[0].status == ("nondifferentiable" if passed else "failed")
    if not passed:
        assert "not a subgradient" in r.report()


# ---- G3: removable singularities: the reference is the limit --------------------------------------

def test_sinc_hessian_is_its_limit_and_torch_nan_fails(backend):
    c = one("sin(pi*t)/(pi*t)", "{t: 0}", '{hessian: f, expect: "[[-pi**2/3]]"}')
    assert c.expect is not None and c.expect.passed
    assert float(c.reference.reshape(-1)[0]) == pytest.approx(-np.pi**2 / 3, rel=1e-15)
    assert c.status == "failed"  # torch gives nan there


@pytest.mark.parametrize("function, value, grad, hess", [
    ("(exp(x) - 1)/x", 1.0, 0.5, 1 / 3),
    ("(1 - cos(x))/x**2", 0.5, 0.0, -1 / 12),
    ("sin(x)/x", 1.0, 0.0, -1 / 3),
    ("log(1 + x)/x", 1.0, -0.5, 2 / 3),
])
def test_removable_singularities(function, value, grad, hess, backend):
    for kind, want in (("value", value), ("gradient", grad), ("hessian", hess)):
        c = one(function, "{x: 0}", f"{{{kind}: f}}")
        assert float(c.reference.reshape(-1)[0]) == pytest.approx(want, rel=1e-15, abs=1e-300), (kind, c.report())
        assert c.status == "failed"  # torch's 0/0 is nan: a failure, not a pass


def test_removable_singularity_in_one_of_several_inputs(backend):
    c = one("sin(a*t)/t", "{a: 2, t: 0}", "{gradient: f, expect: [1, 0]}")
    assert c.expect.passed
    c = one("sin(a*t)/t", "{a: 2, t: 0}", '{hessian: f, expect: "[[0, 0], [0, -8/3]]"}')
    assert c.expect.passed, c.report()
    c = one("sin(a*t)/t", "{a: 2, t: 0}", '{hessian: f, expect: "[[0, 1], [1, 0]]"}')
    assert not c.expect.passed


# ---- V01: a literal is the float torch computes with ---------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_decimal_literal_is_its_binary_value(dtype, backend):
    for check in ("{value: f}", "{gradient: f}"):
        c = one("sin(1e23) * x[0]", "{x: [2.0]}", check, dtype=dtype)
        assert c.status == "passed", c.report()


def test_a_wrong_literal_still_fails(backend):
    # the reference means 1e23 in binary; an implementation that used another float fails
    r = verifier.check(lambda x: np.sin(1e23 + 2**30) * x[0], "sin(1e23) * x[0]",
                       {"x": torch.tensor([2.0], dtype=torch.float64)}, checks=["gradient"])
    assert not r.passed


def test_literals_round_to_the_dtype_and_expect_stays_decimal():
    assert _symbolic.literal(1e23, "float64") == Fraction(1e23) != Fraction(10**23)
    assert _symbolic.literal(0.1, "float32") == Fraction(float(np.float32(0.1)))
    assert _symbolic.literal(0.1, None) == Fraction(1, 10)
    assert _symbolic.literal(2**60 + 1, "float64") == Fraction(2**60)
    assert _symbolic.literal(7, "float32") == 7
    c = one("0.1 * x", "{x: 1}", "{value: f, expect: 0.1}", dtype="float32")
    assert c.status == "passed" and c.expect.passed
    assert float(c.reference) == float(np.float32(0.1))


def test_g3_through_verifier_run_and_check(tmp_path, backend):
    path = write(tmp_path, """
    version: 1
    problems:
      - id: sinc-by-formula
        inputs: {t: 0}
        function: sin(pi*t)/(pi*t)
        checks: [{hessian: f, expect: "[[-pi**2/3]]"}]
      - id: jump
        inputs: {x: 0}
        function: x/sqrt(x**2)
        checks: [{value: f}]
    """)
    result = verifier.run(path)
    sinc, jump = result.problems
    assert sinc.checks[0].expect.passed and sinc.checks[0].status == "failed"  # torch: nan
    assert jump.status == "error" and "at this point" in jump.error
    assert result.exit_code == 2


# The zero-base power with the base an input (the M2 kind, O5 in docs/redteam2-findings.md):
# d/db of a**b at a = 0 has the formula a**b*log(a), undefined there, while a**b is 0 for every
# b > 0; the partial derivative is taken by its definition (a one-variable difference quotient).
@pytest.mark.parametrize("b", [2.0, 1.0, 0.5, 3.0])
def test_partial_of_a_zero_base_power_by_its_definition(b):
    import torch

    import verifier

    result = verifier.check(lambda a, e: (a**e).sum(), "a**b", {"a": [0.0], "b": [b]}, checks=["gradient"])
    (check,) = result.checks
    expected = [1.0 if b == 1.0 else 0.0, 0.0] if b >= 1.0 else None
    if expected is None:  # b < 1: d/da = b a**(b-1) is infinite at 0, so there is no gradient
        assert check.status == "error", check.message
        return
    assert check.status == "passed", result.report()
    assert check.reference.tolist() == expected

    class WrongExponent(torch.autograd.Function):  # d/db written as 1 instead of a**b*log(a) -> 0
        @staticmethod
        def forward(ctx, a, e):
            ctx.save_for_backward(a, e)
            return a**e

        @staticmethod
        def backward(ctx, g):
            a, e = ctx.saved_tensors
            return g * e * a ** (e - 1), g * torch.ones_like(e)

    bad = verifier.check(lambda a, e: WrongExponent.apply(a, e).sum(), "a**b", {"a": [0.0], "b": [b]},
                         checks=["gradient"])
    assert bad.checks[0].status == "failed"


def test_by_definition_gives_one_sided_partials_at_a_kink():
    import sympy as sp

    from verifier import _limits

    x, y = sp.symbols("x y")
    lim = _limits.by_definition(sp.Abs(x) * (1 + y**2), x, {x: sp.Integer(0), y: sp.Integer(1)})
    assert (lim.left, lim.right, lim.direction) == (-2, 2, "x")
    smooth = _limits.by_definition(x * y, y, {x: sp.Integer(3), y: sp.Integer(0)})
    assert (smooth.left, smooth.right, smooth.two_sided) == (3, 3, True)
