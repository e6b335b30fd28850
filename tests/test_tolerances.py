"""Tolerances that know rounding: each element is judged by its own a-priori rounding bound
(Higham §3), so correct float32 code at ill-conditioned points passes, a 1 % error on a tiny
entry fails, and an explicit tolerance still wins."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from helpers import run_one

import verifier
from verifier import _compare, _rounding

REV = ["backward", "functional", "jacrev"]


def _r5_cases():
    g = torch.Generator().manual_seed(1)
    x = 1000 + torch.randn(50, generator=g, dtype=torch.float64)
    x[0] += 15
    return [
        ("logsumexp", lambda x: torch.logsumexp(x, 0), "logsumexp(x)", {"x": x}),
        ("cubic", lambda x: (x**3 - 3000000 * x).sum(), "sum(x**3 - 3000000*x)",
         {"x": torch.tensor([1000.5, 999.3, 1000.9], dtype=torch.float64)}),
        ("sin-matmul", lambda X, W: torch.sin(X @ W).sum(), "sum(sin(X @ W))",
         {"X": 30 * torch.randn(4, 5, generator=g, dtype=torch.float64),
          "W": torch.randn(5, 5, generator=g, dtype=torch.float64)}),
    ]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("case", _r5_cases(), ids=lambda c: c[0])
def test_correct_code_at_ill_conditioned_points_passes(case, dtype):
    _, fn, formula, inputs = case
    inp = {k: v.to(dtype) for k, v in inputs.items()}
    r = verifier.check(fn, formula, inp, checks=["gradient", "hessian"], modes=REV)
    assert [c.status for c in r.checks] == ["passed", "passed"], r.report()


def _cube(delta: float, idx: int = 0):
    class Cube(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            m = torch.ones_like(x)
            m[idx] = 1 + delta
            return g * 3 * x**2 * m

    return lambda x: Cube.apply(x).sum()


@pytest.mark.parametrize("dtype, small", [(torch.float32, 0.01), (torch.float64, 1e-3), (torch.float32, 1e-3)],
                         ids=str)
def test_a_one_percent_error_on_a_tiny_entry_fails(dtype, small):
    x = torch.tensor([small, 2.0], dtype=dtype)
    r = verifier.check(_cube(1e-2), "sum(x**3)", {"x": x}, checks=["gradient"], modes=REV)
    assert r.checks[0].status == "failed"
    worst = r.checks[0].modes["backward"].comparison.worst[0]
    assert worst.index == (0,) and worst.judged_by == "rounding" and worst.units > 100
    ok = verifier.check(_cube(0.0), "sum(x**3)", {"x": x}, checks=["gradient"], modes=REV)
    assert ok.passed, ok.report()


@pytest.mark.parametrize("dtype, delta", [(torch.float64, 1e-5), (torch.float64, 1e-9), (torch.float32, 1e-4)],
                         ids=str)
def test_small_relative_bugs_are_caught(dtype, delta):
    x = torch.tensor([0.7, 1.3, -2.1], dtype=dtype)
    r = verifier.check(_cube(delta, idx=1), "sum(x**3)", {"x": x}, checks=["gradient"], modes=REV)
    assert r.checks[0].status == "failed"


def test_explicit_tolerance_wins_in_a_call_and_in_a_file():
    x = torch.tensor([1e-3, 2.0], dtype=torch.float64)
    r = verifier.check(_cube(1e-2), "sum(x**3)", {"x": x}, checks=["gradient"], modes=REV,
                       tolerance={"rtol": 0.05, "atol": 0.0})
    assert r.passed
    res = run_one("""
    version: 1
    problems:
      - id: loose
        inputs: {x: 2}
        function: x**2
        tolerance: {rtol: 0.1, atol: 0}
        checks: [{gradient: f, expect: 4.2}]
    """)
    assert res.checks[0].status == "passed"
    res = run_one("""
    version: 1
    problems:
      - id: tight
        inputs: {x: 2}
        function: x**2
        checks: [{gradient: f, expect: 4.2, tolerance: {rtol: 0.01, atol: 0}}]
    """)
    assert res.checks[0].status == "failed"


def test_the_report_names_the_bound_and_the_error_in_its_units():
    x = torch.tensor([0.01, 2.0], dtype=torch.float32)
    r = verifier.check(_cube(1e-2), "sum(x**3)", {"x": x}, checks=["gradient"], modes=["backward"])
    text = r.report()
    assert "judged by" in text and "err/bound" in text and "rounding" in text
    row = [ln for ln in text.splitlines() if ln.strip().startswith("[0]")][0]
    worst = r.checks[0].modes["backward"].comparison.worst[0]
    assert f"{worst.units:.3g}" in row and f"{worst.allowed:.3g}" in row


def test_bounds_follow_the_computation_behind_each_entry():
    x, y = sp.symbols("x y", real=True)
    point = {x: sp.Rational(1000), y: sp.Rational(1, 3)}
    b = _rounding.entry_bounds([x * y, x - 999, sp.sin(x), sp.Integer(0), x], point, "float32")
    u = 2.0**-24
    assert b[0] == pytest.approx(4 * u * (1000 / 3) * 3, rel=1e-6)   # two perturbed inputs, one product
    assert b[1] > 100 * b[0] / 333 * 0.9          # cancellation: the bound keeps |x| = 1000, not |x - 999|
    assert b[2] > 4 * u * 1000 * abs(np.cos(1000)) * 0.99  # sin's argument carries u|x|
    assert b[3] == 0.0
    assert _rounding.entry_bounds([x], point, "float64")[0] < b[4] * 1e-8


def test_an_unknown_function_falls_back_to_the_default_tolerance():
    x = sp.Symbol("x", real=True)
    b = _rounding.entry_bounds([sp.besselj(0, x) + sp.Piecewise((x, x > 0), (0, True))],
                               {x: sp.Rational(1, 2)}, "float64")
    assert np.isnan(b[0])
    c = _compare.compare(np.array([1.0, 1.0]), np.array([1.0 + 5e-8, 1.0 + 5e-8]), 1e-7, 1e-7,
                         bound=np.array([np.nan, 1e-12]))
    assert not c.passed and c.n_bad == 1 and c.worst[0].index == (1,) and c.worst[0].judged_by == "rounding"


def test_eigenvalue_bound_is_weyl_on_the_entry_bounds():
    entry = np.array([[1e-6, 0.0], [0.0, 1e-6]])
    want = np.sqrt(2) * 1e-6 + 4 * 2 * 2.0**-24 * 2  # ||B||_F + safety * n * u * ||A||_2
    assert _compare.eigen_bound(entry, 2.0, 2, 2.0**-24, 4.0) == pytest.approx(want)
    assert np.isnan(_compare.eigen_bound(np.array([[np.nan]]), 1.0, 1, 1e-16, 4.0))
    res = run_one("""
    version: 1
    problems:
      - id: eig32
        dtype: float32
        inputs: {x: [1000.5, 999.3]}
        function: sum(x**3 - 3000000*x) + x[0]*x[1]
        checks: [{eigenvalues: f}, {eigenvalues: f, expect: [5996.8, 6003.2]}]
    """)
    assert res.checks[0].status == "passed", res.checks[0].report()
    assert res.checks[1].status == "failed"  # the expect is off by ~0.1


def test_a_zero_entry_needs_an_exact_zero():
    c = _compare.compare(np.array([0.0, 1.0]), np.array([1e-30, 1.0]), 1e-7, 1e-7, bound=np.array([0.0, 1e-16]))
    assert not c.passed and c.worst[0].index == (0,)


def test_the_weyl_bound_is_formed_only_for_eigenvalues_beyond_the_solver_floor():
    """Eigenvalues within the eigensolver's own error pass without the entries' bounds (for a
    dense Hessian those need every symbolic entry); one beyond it forms the full Weyl bound."""
    import sympy as sp

    from verifier._derivatives import Deferred as _Deferred
    from verifier._rounding import LazyEigenBound
    from verifier._runner import _eigen_bound

    x = sp.Symbol("x", real=True)
    asked: list[int] = []
    entries = _Deferred(lambda k: asked.append(k) or sp.tanh(x) * (k + 1), 4)
    ref = np.array([1.0, 3.0])
    b = LazyEigenBound(entries, {x: sp.Rational(1, 3)}, "float64", 3.0, 2, (2,))
    assert _eigen_bound(b, ref, ref * (1 + 2.0**-53)) == b.floor and asked == []
    full = _eigen_bound(b, ref, ref + 1e-9)
    assert sorted(asked) == [0, 1, 2, 3] and full == b.value() > b.floor


# ---- an exact value beyond the dtype's range (redteam2 O4) ------------------------------------

def test_a_reference_beyond_float32s_range_accepts_torchs_signed_inf_only():
    # sum(log(x)) at x = 1e-30: d2/dx2 = -1/x**2 = -1e60, which rounds to -inf in float32 (IEEE
    # round to nearest). torch's -inf there is right; its nan off the diagonal (0 * inf in the
    # reverse-over-reverse paths) is still wrong against the exact 0.
    x = torch.tensor([1e-30, 1e30, 1.0], dtype=torch.float32)
    r = verifier.check(lambda x: torch.log(x).sum(), "sum(log(x))", {"x": x}, checks=["hessian"])
    modes = r.checks[0].modes
    assert modes["jacfwd"].status == modes["hessian_fwdrev"].status == "passed", r.report()
    assert {m for m, v in modes.items() if v.status == "failed"} == {"backward", "functional", "jacrev"}
    for m in ("backward", "functional", "jacrev"):
        assert {w.index for w in modes[m].comparison.worst} == {(1, 0), (2, 0)}


def test_only_the_signed_inf_beyond_the_range_passes():
    big = np.array([-1e60, 1e60, 3e38])
    ok = _compare.compare(big, np.array([-np.inf, np.inf, 3e38], dtype=np.float32), 1e-6, 1e-5, "float32")
    assert ok.passed
    for wrong in ([np.inf, np.inf, 3e38], [-np.inf, np.nan, 3e38], [-3.4e38, np.inf, 3e38]):
        assert not _compare.compare(big, np.array(wrong), 1e-6, 1e-5, "float32").passed, wrong
    # Just under the threshold (half an ulp past float32's largest) the rounded value is finite.
    edge = float(np.finfo(np.float32).max) * (1 + 2.0**-25)
    assert not _compare.overflows(np.array([edge]), "float32")[0]
    assert _compare.overflows(np.array([2.0**128 * (1 - 2.0**-25)]), "float32")[0]
    assert not _compare.compare(np.array([1e308]), np.array([np.inf]), 1e-15, 0, "float64").passed
