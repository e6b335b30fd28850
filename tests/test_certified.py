"""The certified reference (verifier/_certified.py): arb balls that really enclose the exact value.

Each ball is checked against mpmath at 1000 bits on random expressions; undefined values stay
undefined; eigenvalue clusters and complex eigenvalues are enclosed; the verdict is measured
against the ball; without python-flint the 256-bit MPFR path runs and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verifier
from verifier import _certified, _certified_eig, _compare, _eigen, _exact

pytest.importorskip("flint")
se = pytest.importorskip("symengine")
from flint import arb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# -- random expressions, built twice: in SymEngine/SymPy and as an mpmath function at 1000 bits -------
UNARY = {"exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos, "tanh": mpmath.tanh,
         "atan": mpmath.atan, "erf": mpmath.erf, "sqrt": mpmath.sqrt, "sinh": mpmath.sinh, "asin": mpmath.asin,
         "erfc": mpmath.erfc, "gamma": mpmath.gamma}


@st.composite
def trees(draw, depth=0):
    """(tree, description) with tree a nested tuple: ('x',), ('c', p, q), (op, a[, b])."""
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            return (draw(st.sampled_from(["x", "y"])),)
        return ("c", draw(st.integers(-7, 7)), draw(st.integers(1, 4)))
    kind = draw(st.integers(0, 5))
    a = draw(trees(depth + 1))
    if kind <= 2:
        return (draw(st.sampled_from(["+", "-", "*", "/"])), a, draw(trees(depth + 1)))
    if kind == 3:
        return ("**", a, draw(st.integers(-3, 4)))
    return (draw(st.sampled_from(sorted(UNARY))), a)


def build(t, lib, syms):
    op = t[0]
    if op in syms:
        return syms[op]
    if op == "c":
        return lib.Rational(t[1], t[2])
    if op == "**":
        return build(t[1], lib, syms) ** lib.Integer(t[2])
    if op in UNARY:
        return getattr(lib, op)(build(t[1], lib, syms))
    a, b = build(t[1], lib, syms), build(t[2], lib, syms)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]


def mp_value(t, env):
    op = t[0]
    if op in env:
        return env[op]
    if op == "c":
        return mpmath.mpf(t[1]) / t[2]
    if op == "**":
        return mpmath.power(mp_value(t[1], env), t[2])
    if op in UNARY:
        return UNARY[op](mp_value(t[1], env))
    a, b = mp_value(t[1], env), mp_value(t[2], env)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]


def exact_mp(t, x, y):
    """The value at 1000 bits, or None where it is undefined, complex or not finite."""
    with mpmath.workprec(1000):
        try:
            v = mp_value(t, {"x": mpmath.mpf(x), "y": mpmath.mpf(y)})
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
        if isinstance(v, mpmath.mpc):
            if v.imag != 0:
                return None
            v = v.real
        return v if mpmath.isfinite(v) else None


floats = st.floats(-3, 3, allow_nan=False).map(lambda v: float(np.float64(v)))


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(trees(), floats, floats, st.sampled_from(["symengine", "sympy"]))
def test_balls_enclose_the_value_mpmath_finds_at_1000_bits(tree, x, y, libname):
    lib = se if libname == "symengine" else sp
    syms = {"x": lib.Symbol("x"), "y": lib.Symbol("y")}
    try:
        expr = build(tree, lib, syms)
    except (ZeroDivisionError, RuntimeError):
        return
    if not getattr(expr, "free_symbols", None) and not hasattr(expr, "args"):
        return
    point = {sp.Symbol("x"): sp.Rational(x), sp.Symbol("y"): sp.Rational(y)}
    if lib is sp:
        point = {syms["x"]: sp.Rational(x), syms["y"]: sp.Rational(y)}
    (ball,), _ = _certified.enclose([expr], point)
    truth = exact_mp(tree, x, y)
    if ball is None:
        return  # no enclosure: the old path decides (tested below); never a wrong number
    if truth is None:
        # mpmath finds it undefined: only a removable case (SymPy/SymEngine simplified it away) may have a ball
        with mpmath.workprec(1000):
            try:
                alt = _mp_of_expr(expr, x, y)
            except ValueError:  # the oracle's own limit: gamma(1/x) at x = -2e-299 is a "pole" to
                return          # mpmath at 1000 bits (1/x needs 991 bits for its integer part)
        assert alt is not None, (expr, ball)
        truth = alt
    with _certified.workprec(1100):
        assert ball.contains(arb(mpmath.nstr(truth, 330, strip_zeros=False))) or \
            abs(ball - arb(mpmath.nstr(truth, 330))) <= ball.rad() + arb(10) ** -300, (expr, x, y, ball, truth)
    vals, rad, _ = _certified.rounded([ball])
    if np.isfinite(vals[0]):
        with mpmath.workprec(1100):
            err = abs(mpmath.mpf(float(vals[0])) - truth)
            # the oracle is itself rounded to about 300 digits: y = 3e-126 is exact in float64
            # (radius 0), while its 300-digit decimal differs from it by 5e-426
            slack = abs(truth) * mpmath.mpf(10) ** -290
            assert err <= mpmath.mpf(float(rad[0])) + slack, (expr, vals[0], rad[0], truth)


def _mp_of_expr(expr, x, y):
    """The expression as SymPy built it, at 1000 bits (it may have cancelled a singular part)."""
    e = expr._sympy_() if hasattr(expr, "_sympy_") else expr
    v = e.xreplace({s: sp.Rational({"x": x, "y": y}[s.name]) for s in e.free_symbols}).evalf(300)
    return mpmath.mpf(str(v)) if v.is_real and v.is_finite else None


def test_the_enclosure_check_catches_a_ball_that_misses():
    x = se.Symbol("x")
    (ball,), _ = _certified.enclose([se.tanh(x)], {sp.Symbol("x"): sp.Rational(0.75)})
    with mpmath.workprec(1000), _certified.workprec(1100):
        truth = arb(mpmath.nstr(mpmath.tanh(mpmath.mpf(0.75)), 330))
        assert ball.contains(truth)
        shifted = ball + 3 * ball.rad()  # a deliberately wrong ball, off by more than its radius
        assert not shifted.contains(truth)


def test_an_exact_point_stays_exact_and_rationals_report_exact():
    x = se.Symbol("x")
    enc = _exact.evaluate_enclosed([x**2 / 3, x + 1], {sp.Symbol("x"): sp.Rational(0.5)})
    assert enc.values.tolist() == [1 / 12, 1.5]
    assert enc.radius[1] == 0.0 and 0 < enc.radius[0] <= np.spacing(1 / 12) / 2
    from fractions import Fraction
    assert Fraction(enc.radius[0]) >= abs(Fraction(1, 12) - Fraction(enc.values[0]))
    assert enc.how == "exact"


def test_transcendental_values_are_certified_with_their_digits():
    x = se.Symbol("x")
    enc = _exact.evaluate_enclosed([se.tanh(x), se.exp(x) * se.erf(x)], {sp.Symbol("x"): sp.Rational(0.75)},
                                   bits=256)
    with mpmath.workprec(1000):
        truth = [mpmath.tanh(0.75), mpmath.exp(0.75) * mpmath.erf(0.75)]
    for v, r, t in zip(enc.values, enc.radius, truth):
        assert abs(mpmath.mpf(v) - t) <= r and r <= 2 * np.spacing(abs(v))
    assert enc.how.startswith("certified to ") and int(enc.how.split()[2]) >= 30


@pytest.mark.parametrize("make", [lambda x: se.log(x - x + 0), lambda x: 1 / (x - sp.Rational(1, 2)),
                                  lambda x: se.sqrt(x - 1), lambda x: se.log(x - sp.Rational(1, 2))])
def test_undefined_stays_undefined(make):
    x = se.Symbol("x")
    expr = make(x)
    (ball,), _ = _certified.enclose([expr], {sp.Symbol("x"): sp.Rational(1, 2)})
    assert ball is None
    with pytest.raises(_exact.DomainError):
        _exact.evaluate_enclosed([expr], {sp.Symbol("x"): sp.Rational(1, 2)}, bits=256)


def test_a_removable_singularity_gets_its_limit_uncertified():
    x = sp.Symbol("x")
    expr = (x - 1) / (x**2 - 1)
    limits = {}
    enc = _exact.evaluate_enclosed([expr, x], {x: sp.Integer(1)}, limits=limits, order=["x"])
    assert enc.values.tolist() == [0.5, 1.0] and 0 in limits
    assert np.isnan(enc.radius[0]) and enc.radius[1] == 0.0 and "not certified" in enc.how


def test_branches_are_decided_by_the_ball_or_left_undecided():
    x = sp.Symbol("x")
    pw = sp.Piecewise((x**2, x > 0), (-x, True))
    (pos, neg, ab, hv), _ = _certified.enclose([pw, pw.xreplace({x: -x}), sp.Abs(x - 1), sp.Heaviside(x)],
                                               {x: sp.Rational(3, 4)})
    assert pos == arb(9) / 16 and neg == arb(3) / 4 and ab == arb(1) / 4 and hv == 1
    (h0,), _ = _certified.enclose([sp.Heaviside(x)], {x: sp.Integer(0)})
    assert h0 == arb(1) / 2  # SymPy's H(0)
    (tie,), _ = _certified.enclose([sp.sign(sp.tanh(x) - sp.tanh(x) * 1)], {x: sp.Integer(1)})
    assert tie == 0


def test_dense_structured_hessian_balls_enclose_the_entrywise_mpfr_values():
    from test_derivatives import CASES, entrywise, pieces

    from verifier import _derivatives

    r, check, target, syms, point, grad, fsyms = pieces(CASES["dense-12"])
    h = _derivatives.structured_hessian(grad, fsyms)
    balls = h.values_at(point, r.model.bits)
    assert all(isinstance(b, arb) for b in balls)
    vals, rad, digits = _certified.rounded(balls)
    slow = entrywise(grad, fsyms, point, r.model.bits)
    assert np.all(np.abs(vals - slow) <= rad + np.spacing(np.abs(slow)))
    assert digits >= 30


# -- eigenvalues --------------------------------------------------------------------------------
def _eig(entries, n, symmetric):
    enc, _ = _eigen.eigen_enclosed([sp.nsimplify(e) if isinstance(e, float) else sp.S(e) for e in entries],
                                   n, {}, symmetric)
    return enc


def test_repeated_symmetric_eigenvalues_are_enclosed():
    enc = _eig([2, 1, 0, 1, 2, 0, 0, 0, 3], 3, True)  # eigenvalues 1, 3, 3
    assert enc.values.real.tolist() == [1.0, 3.0, 3.0] and np.all(enc.radius <= 1e-30)
    assert enc.how.startswith(("certified", "exact"))
    enc = _eig([5, 0, 0, 0, 5, 0, 0, 0, 5], 3, True)
    assert enc.values.real.tolist() == [5.0] * 3


def test_a_cluster_of_close_symmetric_eigenvalues_with_transcendental_entries():
    x = se.Symbol("x")
    eps = se.Rational(1, 10**12)
    ents = [se.tanh(x), eps, 0, eps, se.tanh(x), 0, 0, 0, se.exp(x)]
    enc, _ = _eigen.eigen_enclosed(ents, 3, {sp.Symbol("x"): sp.Rational(0.5)}, True, bits=256)
    with mpmath.workprec(1000):
        t = mpmath.tanh(mpmath.mpf(0.5))
        truth = sorted([t - mpmath.mpf(10) ** -12, t + mpmath.mpf(10) ** -12, mpmath.exp(mpmath.mpf(0.5))])
        for v, r, e in zip(enc.values.real, enc.radius, truth):
            assert abs(mpmath.mpf(v) - e) <= r
    assert enc.how.startswith("certified")


def test_complex_eigenvalues_of_a_rotation_are_enclosed():
    enc = _eig([0, -1, 1, 0], 2, False)
    assert sorted(enc.values.imag.tolist()) == [-1.0, 1.0] and np.all(enc.values.real == 0)
    assert np.all(enc.radius < 1e-30)
    balls, _ = _certified_eig.eigenvalues([arb(0), arb(-2), arb(1), arb(0)], 2, False)
    assert all((b * b + 2).contains(0) for b in balls) and not balls[0].overlaps(balls[1])  # +-i sqrt(2)


def test_a_defective_eigenvalue_falls_back_with_a_note():
    enc = _eig([3, 1, 0, 3], 2, False)  # a Jordan block: arb's enclosure cannot be tight
    assert enc.values.real.tolist() == [3.0, 3.0] and np.isnan(enc.radius).all() and "mpmath" in enc.how


# -- the verdict against the ball ----------------------------------------------------------------
def test_the_verdict_measures_the_distance_to_the_ball():
    ref = np.array([1.0, 2.0])
    radius = np.array([1e-9, 0.0])
    inside = _compare.compare(ref, np.array([1.0 + 1.5e-9, 2.0]), 0.0, 1e-9, radius=radius)
    assert inside.passed  # 1.5e-9 from the midpoint, 0.5e-9 from the ball
    outside = _compare.compare(ref, np.array([1.0 + 3e-9, 2.0]), 0.0, 1e-9, radius=radius)
    assert not outside.passed and outside.worst[0].index == (0,)
    wrong = _compare.compare(ref, np.array([1.0, 2.0 + 1e-6]), 0.0, 1e-9, radius=radius)
    assert not wrong.passed and wrong.worst[0].index == (1,)
    assert _compare.compare(ref, ref, 0.0, 0.0, radius=np.array([np.nan, np.nan])).passed


def test_a_wrong_derivative_fails_against_the_certified_reference(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("version: 1\nproblems:\n  - id: tanh-wrong\n    inputs: {x: [0.3, -1.2]}\n"
                 "    function: sum(tanh(x))\n    checks:\n      - {gradient: f, expect: [0.9, 0.5]}\n"
                 "      - {gradient: f}\n")
    res = verifier.run(f)
    c_expect, c_ok = res.problems[0].checks
    assert c_expect.status == "failed" and c_ok.status == "passed"
    assert c_ok.certified.startswith("certified to ") and np.all(c_ok.radius <= np.spacing(np.abs(c_ok.reference)))
    assert "reference: certified to " in c_expect.report()
    doc = verifier.to_json(res) if hasattr(verifier, "to_json") else None
    from verifier._report import to_json
    assert '"reference_certified": "certified to' in (doc or to_json(res))


# -- without python-flint --------------------------------------------------------------------------
def test_without_python_flint_the_mpfr_reference_runs_and_says_so(monkeypatch):
    path = ROOT / "tests" / "banks" / "wrong.problems.yaml"
    with_arb = verifier.run(path)
    monkeypatch.setitem(sys.modules, "flint", None)  # import flint now raises ImportError
    assert not _certified.available()
    without = verifier.run(path)
    a = {(p.id, c.name): c for p in with_arb.problems for c in p.checks}
    b = {(p.id, c.name): c for p in without.problems for c in p.checks}
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].status == b[k].status, k
        if b[k].certified:
            assert b[k].certified == _certified.FALLBACK_NOTE, k
            assert np.isnan(b[k].radius).all()
        if a[k].reference is not None and b[k].reference is not None:
            np.testing.assert_allclose(a[k].reference, b[k].reference, rtol=1e-15, atol=1e-300)
    failed = [c for c in b.values() if c.status == "failed" and c.certified]
    note = "reference: 256-bit MPFR, not certified: python-flint unavailable"
    assert failed and note in failed[0].report()
    from verifier._report import to_table
    assert to_table(without).splitlines()[-2] == note and note not in to_table(with_arb)  # once for the run


def test_large_symmetric_matrices_say_which_eigenvalue_path_ran():
    rng = np.random.default_rng(1)
    a = rng.integers(-5, 6, size=(45, 45))
    m = (a + a.T).astype(float)
    entries = [sp.Integer(int(v)) for v in m.flat]
    fast, _ = _eigen.eigen_enclosed(entries, 45, {}, True, rtol=1e-7, atol=1e-7)
    assert fast.how.startswith("float64 eigvalsh within Weyl") and np.isnan(fast.radius).all()
    exact, _ = _eigen.eigen_enclosed(entries, 45, {}, True, rtol=0.0, atol=0.0)  # Weyl's bound too loose
    assert exact.how.startswith("certified") and np.all(exact.radius <= np.spacing(np.abs(exact.values)))
    np.testing.assert_allclose(fast.values.real, exact.values.real, rtol=0, atol=1e-12)
    assert np.all(np.abs(np.linalg.eigvalsh(m) - exact.values.real) <= 1e-12)
