"""The structured symbolic derivatives (``_derivatives``) equal the entry-wise ones exactly.

Sparsity pattern first, and the chain rule on the gradient's common subexpressions for the
Hessian (issue 11): every family the benchmarks use, at sizes above ``STRUCTURED_MIN``,
must give the same float64 reference, bit for bit, as differentiating entry by entry.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import verifier
from verifier import _derivatives, _exact
from verifier import _symbolic as sym
from verifier._runner import ProblemRunner
from verifier._spec import loads

se = pytest.importorskip("symengine")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import families  # noqa: E402

CASES = {
    "rosenbrock-20": families._file(families.rosenbrock(20)),           # rational, tridiagonal
    "dense-12": families._file(families.dense(12)),                     # tanh, dense
    "logreg-10": families._file(families.logreg(10, 20)),               # exp/log, dense
    "mlp-50": families._file(families.mlp(5, 7, 1)).replace("x: {random: uniform, shape: [5]",
                                                            "x: {random: uniform, shape: [9]")
    .replace("W1: {random: normal, shape: [7, 5]", "W1: {random: normal, shape: [7, 9]"),
}


def pieces(text: str):
    (prob,) = loads(text).problems
    r = ProblemRunner(prob)
    values = r.values()
    check = next(c for c in prob.checks if c.kind == "hessian")
    target, syms = r.exact._target(check, values)
    point = r.exact.point(values)
    (t,), fsyms = sym.fast([target.flat[0]], syms, se)
    return r, check, target, syms, point, sym.gradient(t, fsyms), fsyms


def entrywise(grad, fsyms, point, bits):
    entries = [e for row in _derivatives.hessian_from_gradient(grad, fsyms) for e in row]
    return _exact.evaluate_exact(entries, point, bits=bits)


@pytest.mark.parametrize("name", CASES)
def test_structured_hessian_is_bit_identical_to_entrywise(name):
    r, check, target, syms, point, grad, fsyms = pieces(CASES[name])
    h = _derivatives.structured_hessian(grad, fsyms)
    assert h is not None, "the chain rule should apply here"
    fast = _exact.evaluate_exact(h.values_at(point, r.model.bits), point)
    slow = entrywise(grad, fsyms, point, r.model.bits)
    assert fast.tobytes() == slow.tobytes()
    # and through the reference, as a run computes it
    ref = r.exact.reference(check, r.values())
    assert ref.values.reshape(-1).tobytes() == slow.tobytes()


def test_a_wrong_piece_is_caught():
    r, check, target, syms, point, grad, fsyms = pieces(CASES["dense-12"])
    h = _derivatives.structured_hessian(grad, fsyms)
    (j, v), = list(h.P[3].items())[:1]
    h.P[3][j] = v * 2  # a deliberately wrong explicit second derivative
    fast = _exact.evaluate_exact(h.values_at(point, r.model.bits), point)
    slow = entrywise(grad, fsyms, point, r.model.bits)
    assert fast.tobytes() != slow.tobytes()


def test_sparsity_pattern_gives_exact_zeros_and_only_those():
    x = [se.Symbol(f"x{i}") for i in range(5)]
    g = [x[0] * x[1], se.sin(x[2]), se.Integer(3)]
    assert _derivatives.pattern(g, x) == [[0, 1], [2], []]
    jac = _derivatives.jacobian(g, x)
    assert jac[0] == [x[1], x[0], 0, 0, 0] and jac[1][2] == se.cos(x[2]) and jac[2] == [0] * 5
    h = _derivatives.hessian_from_gradient(_derivatives.gradient(x[0] ** 2 * x[1] + x[3], x), x)
    assert h[0][1] == h[1][0] == 2 * x[0] and h[0][0] == 2 * x[1]
    assert all(h[i][j] == 0 for i in range(5) for j in range(5) if (i, j) not in {(0, 0), (0, 1), (1, 0)})


def test_small_or_sympy_gradients_are_not_structured():
    xs = [se.Symbol(f"x{i}") for i in range(3)]
    assert _derivatives.structured_hessian([se.tanh(xs[0] + xs[1]) for _ in xs], xs) is None
    import sympy as sp

    ys = sp.symbols("y0:10", real=True)
    assert _derivatives.structured_hessian([sp.tanh(sum(ys)) * y for y in ys], list(ys)) is None


@pytest.mark.parametrize("name", CASES)
def test_every_torch_path_passes_against_the_structured_reference(name, tmp_path):
    path = tmp_path / f"{name}.yaml"
    path.write_text(CASES[name], encoding="utf-8")
    res = verifier.run(path)
    statuses = {(p.id, c.name): c.status for p in res.problems for c in p.checks}
    assert statuses and set(statuses.values()) == {"passed"}, statuses


def test_values_are_reused_at_the_same_point_only():
    r, check, target, syms, point, grad, fsyms = pieces(CASES["logreg-10"])
    h = _derivatives.structured_hessian(grad, fsyms)
    first = h.values_at(point, r.model.bits)
    assert h.values_at(dict(point), r.model.bits) == first
    moved = {k: v * 2 for k, v in point.items()}
    other = h.values_at(moved, r.model.bits)
    assert other != first
    assert _exact.evaluate_exact(other, moved).tobytes() == entrywise(grad, fsyms, moved, r.model.bits).tobytes()
