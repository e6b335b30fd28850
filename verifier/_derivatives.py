"""Symbolic gradients, Hessians and Jacobians that follow the sparsity and the shared structure.

Two things make naive entry-by-entry differentiation slow (issue 11, PERFORMANCE_NOTES.md):

* **Sparsity.** An entry ``d g_i / d x_j`` is exactly zero when ``x_j`` is not among the free
  symbols of ``g_i``; the pattern is read first (``free_symbols``) and only the structural
  nonzeros are differentiated (the extended Rosenbrock Hessian is tridiagonal).
* **Shared subexpressions.** In ``sum(tanh(W @ x))`` every gradient entry contains all n
  ``tanh(u_k)``, each ``u_k`` a sum of n terms; differentiating each of the n^2 Hessian entries
  on its own re-differentiates every ``u_k`` each time (n^4 work). Instead the gradient is cut
  at its common subexpressions (SymEngine's ``cse``) into intermediates ``y_r = e_r`` and the
  Hessian is assembled by the chain rule on that DAG (Griewank & Walther, *Evaluating
  Derivatives*, 2nd ed., ch. 3, forward mode on a computational graph):

      D_r = d y_r/dx      (total derivatives: of e_r with the earlier y's put back)
      H   = dg/dx + (dg/dy) D

  The pieces P = dg/dx, A = dg/dy and D are small SymEngine expressions in x (sparse rows);
  they are evaluated exactly (or enclosed in arb balls) once each, and the products are taken on numbers,
  so a dense Hessian costs n*m multiply-adds of numbers instead of n^2 expression trees of
  n terms each. The result is bit-identical to differentiating entry by entry after rounding
  (``tests/test_derivatives.py``).

Every function takes and returns SymPy or SymEngine expressions (whichever it was given);
the structured path is used for SymEngine only, SymPy expressions (problems with kinks) are
differentiated entry by entry with the sparsity pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _exact

Gradient = Callable[[], tuple[list[Any], list[Any]]]  # the symbolic gradient and its symbols
STRUCTURED_MIN = 8  # below this many variables the chain rule costs more than it saves


def _is_symengine(e: Any) -> bool:
    return type(e).__module__.startswith("symengine")


def _zero(syms: Sequence[Any]) -> Any:
    """The zero of the library the symbols come from."""
    if syms and _is_symengine(syms[0]):
        import symengine as se

        return se.Integer(0)
    import sympy as sp

    return sp.Integer(0)


def _free(e: Any) -> Any:
    return e.free_symbols if hasattr(e, "free_symbols") else ()


def pattern(exprs: Iterable[Any], syms: Sequence[Any]) -> list[list[int]]:
    """For each expression, the indices of ``syms`` it contains (sorted): the sparsity pattern."""
    index = {s: j for j, s in enumerate(syms)}
    return [sorted(index[s] for s in _free(e) if s in index) for e in exprs]


def gradient(expr: Any, syms: Sequence[Any]) -> list[Any]:
    """``[d expr / d s for s in syms]``; variables the expression lacks get an exact zero."""
    zero = _zero(syms)
    out = [zero] * len(syms)
    for j in pattern([expr], syms)[0]:
        out[j] = expr.diff(syms[j])
    return out


def jacobian(exprs: Iterable[Any], syms: Sequence[Any]) -> list[list[Any]]:
    """Rows ``gradient(e, syms)`` for each expression (zeros outside the sparsity pattern)."""
    return [gradient(e, syms) for e in exprs]


def hessian_from_gradient(grad: list[Any], syms: Sequence[Any]) -> list[list[Any]]:
    """The n x n Hessian from the gradient: entry (i, j) = d grad[i] / d syms[j], differentiated
    for ``j >= i`` inside the sparsity pattern and mirrored (readable formulas, for ``show``)."""
    n = len(syms)
    zero = _zero(syms)
    h = [[zero] * n for _ in range(n)]
    for i, cols in enumerate(pattern(grad, syms)):
        for j in cols:
            if j >= i:
                h[i][j] = h[j][i] = grad[i].diff(syms[j])
    return h


@dataclass
class StructuredHessian:
    """H = P + A D (module docstring): P[i][j] = dg_i/dx_j (explicit), A[i][r] = dg_i/dy_r and
    D[r][j] = dy_r/dx_j (total), sparse rows of SymEngine expressions in x only (the
    intermediates put back, shared)."""

    n: int
    P: list[dict[int, Any]]
    A: list[dict[int, Any]]
    D: list[dict[int, Any]]
    _last: tuple[Any, list[Any]] | None = field(default=None, repr=False, compare=False)

    def values_at(self, point: dict[Any, Any], bits: int | None) -> list[Any]:
        """The n*n entries at ``point``, row-major: exact SymEngine rationals for rational
        problems; for transcendental ones (``bits``) arb balls (``_certified``: every piece
        enclosed once, the products taken on balls, precision raised until every entry's
        float64 rounding is fixed; all ``se.nan`` where some piece has no finite ball), or
        ``bits``-bit MPFR numbers without python-flint (``_exact.exact_values``)."""
        import symengine as se

        from . import _exact

        key = (frozenset(point.items()), bits)  # a hessian and an eigenvalue check at one point
        if self._last is not None and self._last[0] == key:
            return list(self._last[1])
        pieces = [e for rows in (self.P, self.A, self.D) for row in rows for e in row.values()]
        if bits:
            from . import _certified

            if _certified.available():  # arb balls (certified), else MPFR as below
                balls = _certified.adaptive(lambda ev: self._products([ev(e) for e in pieces]), point)
                self._last = (key, balls if balls is not None else [se.nan] * (self.n * self.n))
                return list(self._last[1])
        vals = [se.S(v) for v in _exact.exact_values(pieces, point, bits)]
        out = self._products(vals, se.zeros, se.Integer(0))
        self._last = (key, out)
        return list(out)

    def _products(self, vals: list[Any], matrix: Callable[[int, int], Any] | None = None,
                  zero: Any = None) -> list[Any]:
        """H = P + A D on numbers (``vals``: P's, A's then D's entries in row order), row-major,
        the upper half mirrored (as entry-wise). ``matrix(rows, cols)`` makes a zero matrix whose
        product is compiled code (SymEngine's ``zeros``, python-flint's ``arb_mat``, the default),
        used when the product is dense enough; else sparse multiply-adds."""
        if matrix is None:
            import flint

            matrix, zero = flint.arb_mat, flint.arb(0)
        it = iter(vals)
        P, A, D = ([{k: next(it) for k in row} for row in rows] for rows in (self.P, self.A, self.D))
        n, m = self.n, len(D)
        flops = sum(len(D[r]) for row in A for r in row)
        if m and flops > 0.05 * n * m * n:  # dense enough for a compiled matrix product
            Am, Dm = matrix(n, m), matrix(m, n)
            for i, row in enumerate(A):
                for r, v in row.items():
                    Am[i, r] = v
            for r, row in enumerate(D):
                for j, v in row.items():
                    Dm[r, j] = v
            prod = Am * Dm
            AD = [{j: prod[i, j] for j in range(n)} for i in range(n)]
        else:
            AD = []
            for row in A:
                acc: dict[int, Any] = {}
                for r, a in row.items():
                    for j, d in D[r].items():
                        acc[j] = acc[j] + a * d if j in acc else a * d
                AD.append(acc)
        out = [zero] * (n * n)
        for i in range(n):
            for j in range(i, n):
                v = P[i].get(j, zero) + AD[i].get(j, zero)
                out[i * n + j] = out[j * n + i] = v
        return out


def structured_hessian(grad: list[Any], syms: Sequence[Any]) -> StructuredHessian | None:
    """The chain-rule Hessian of a SymEngine gradient, or None where it does not apply (SymPy
    expressions, fewer than ``STRUCTURED_MIN`` variables, no common subexpression)."""
    n = len(syms)
    if n < STRUCTURED_MIN or not grad or not all(_is_symengine(g) for g in grad):
        return None
    import symengine as se

    reps, reduced = se.cse(grad)
    if not reps:
        return None
    yindex = {y: r for r, (y, _) in enumerate(reps)}
    xindex = {s: j for j, s in enumerate(syms)}
    back: dict[Any, Any] = {}  # y_r -> e_r with the earlier y's already put back
    for y, e in reps:
        back[y] = e.xreplace(back) if back else e
    # d y_r / d x_j: the total derivative, taken of e_r with the earlier y's put back (in x only).
    D = [{xindex[s]: e.diff(s) for s in e.free_symbols if s in xindex} for e in back.values()]
    P: list[dict[int, Any]] = []
    A: list[dict[int, Any]] = []
    for g in reduced:
        P.append({xindex[s]: g.diff(s).xreplace(back) for s in g.free_symbols if s in xindex})
        A.append({yindex[s]: g.diff(s).xreplace(back) for s in g.free_symbols if s in yindex})
    return StructuredHessian(n, P, A, D)


def hessian_values(model: Any, check: Any, target: Any, point: dict[Any, Any],
                   gradient: Gradient) -> tuple[list[Any], tuple[int, int]] | None:
    """The Hessian entries of a scalar target at ``point`` as numbers (for ``hessian`` and
    ``eigenvalues`` checks of SymEngine models), from the cached ``StructuredHessian``; None
    where the structured path does not apply (the caller then differentiates entry-wise).
    ``gradient()``: the target's symbolic gradient and its symbols, from the caller's cache."""
    from . import _symbolic as sym

    if check.kind not in ("hessian", "eigenvalues") or target.size != 1 or model.lib is sym.sp:
        return None
    key = (check.target, check.wrt)
    grad, fsyms = gradient()
    if not fsyms or not _is_symengine(fsyms[0]):
        return None
    h = model.cached(("hess-structured",) + key, lambda: structured_hessian(grad, fsyms))
    if h is None:
        return None
    return h.values_at(point, model.bits), (h.n, h.n)


def structure_of(model: Any, check: Any) -> StructuredHessian | None:
    """The ``StructuredHessian`` ``hessian_values`` cached for this check's target, if any."""
    return model.cached(("hess-structured", check.target, check.wrt), lambda: None)


def structured_values(model: Any, check: Any, target: Any, point: dict[Any, Any],
                      gradient: Gradient) -> tuple[list[Any], tuple[int, int]] | None:
    """The structured Hessian's numbers, or None where any entry is not a finite number: an
    undefined piece (a removable singularity of the whole) is left to the entry-wise path, whose
    evaluation takes limits, so an undefined value never becomes a number here."""
    try:
        fast = hessian_values(model, check, target, point, gradient)
    except (_exact.DomainError, ArithmeticError, ValueError):
        return None
    if fast is None:
        return None
    for v in fast[0]:
        if _exact._is_arb(v):  # a certified ball: finite, or the entry-wise path decides
            if not v.is_finite():
                return None
            continue
        try:
            z = complex(v)
        except (TypeError, ValueError, OverflowError, RuntimeError):  # SymEngine: nan, zoo
            return None
        if not (np.isfinite(z.real) and np.isfinite(z.imag)):
            return None
    return fast


class Deferred(Sequence[Any]):
    """The symbolic entries behind numbers computed another way, each derived on first access."""

    def __init__(self, entry: Callable[[int], Any], n: int, structure: StructuredHessian | None = None) -> None:
        self._entry, self._n = entry, n
        self._items: dict[int, Any] = {}
        self.structure = structure  # the chain-rule pieces, for rounding bounds (``_chainbound``)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i %= self._n
        if i not in self._items:
            self._items[i] = self._entry(i)
        return self._items[i]
