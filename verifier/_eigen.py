"""Eigenvalues of an exactly known matrix: exact, certified (arb), or bounded.

``eigen_enclosed`` is what a check uses: arb enclosures (``_certified_eig``, Rump's method) up to
``EIG_ARB_MAX``, the float64 Weyl shortcut for large symmetric matrices when its bound is far
inside the tolerance, else ``eigen_reference`` (exact roots for tiny rational matrices, mpmath
otherwise: the fallback where arb gives no enclosure, e.g. defective eigenvalues).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ._exact import DomainError, Enclosed, _is_symengine, exact_values, high_precision

EXACT_EIG_MAX = 3       # exact roots for rational matrices up to this size
MPMATH_EIG_MAX = 40     # mpmath up to this size; above, float64 where Weyl's bound allows


def eigen_reference(entries: list[Any], n: int, point: dict[Any, Any], symmetric: bool,
                    rtol: float = 0.0, atol: float = 0.0, digits: int = 40,
                    matrix: np.ndarray | None = None, bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of the n x n matrix of ``entries`` at ``point``, and the matrix in float64.

    Exact for tiny rational matrices; else mpmath at ``digits``. For large symmetric
    matrices, float64 ``eigvalsh`` is used when its error bound (rounding of the entries plus
    the backward error, both <= n * eps * ||A||_F) is below 1% of ``budget``, the smallest
    tolerance the comparison will allow; by Weyl's inequality each eigenvalue then moves by
    less than that bound.
    """
    import mpmath

    if matrix is not None and symmetric and n > MPMATH_EIG_MAX:
        fast64 = _weyl_float64(matrix, n, rtol, atol)  # the matrix was already evaluated exactly
        if fast64 is not None:
            return fast64, matrix
    vals = exact_values(entries, point, bits)
    bits = max(int((digits + 10) * 3.33), bits or 0)
    cplx = np.array([high_precision(v, bits) for v in vals], dtype=np.complex128).reshape(n, n)
    if np.any(cplx.imag != 0):
        raise DomainError("the matrix is complex at this point")
    matrix = cplx.real
    if n == 0:
        return np.zeros(0, dtype=np.complex128), matrix
    if n <= EXACT_EIG_MAX:
        exact = [v._sympy_() if _is_symengine(v) else v for v in vals]
        if all(getattr(v, "is_Rational", False) for v in exact):
            roots = sp.Matrix(n, n, exact).eigenvals(multiple=True)
            return _ordered(np.array([complex(sp.N(r, digits)) for r in roots]), symmetric), matrix
    if symmetric and n > MPMATH_EIG_MAX:
        fast64 = _weyl_float64(matrix, n, rtol, atol)
        if fast64 is not None:
            return fast64, matrix
    with mpmath.workdps(digits):
        m = mpmath.matrix([[mpmath.mpf(str(v.n(bits, real=True))) if _is_symengine(v)
                            else sp.N(v, digits + 10)._to_mpmath(bits) for v in vals[i * n:(i + 1) * n]]
                           for i in range(n)])
        if symmetric:
            ev = mpmath.eigsy(m, eigvals_only=True)
            out = [complex(ev[i]) for i in range(n)]
        else:
            out = [complex(v) for v in mpmath.eig(m, left=False, right=False)]
    return _ordered(np.array(out, dtype=np.complex128), symmetric), matrix


EIG_ARB_MAX = 40  # arb eigenvalue enclosures up to this size; above, the float64 Weyl shortcut first


def eigen_enclosed(entries: list[Any], n: int, point: dict[Any, Any], symmetric: bool,
                   rtol: float = 0.0, atol: float = 0.0, matrix: np.ndarray | None = None,
                   bits: int | None = None) -> tuple[Enclosed, np.ndarray]:
    """``eigen_reference`` with enclosures: eigenvalues (complex128, ordered as there), radii
    bounding each |exact - value|, how they were found, and the matrix in float64.

    Certified by ``acb_mat.eig`` (``_certified.eigenvalues``: Rump's method, clusters of
    repeated eigenvalues together) from the entries' balls. Symmetric matrices above
    ``EIG_ARB_MAX`` take the float64 Weyl shortcut first where it is within the tolerance
    (not certified), and where arb fails (or python-flint is missing) today's path runs."""
    from . import _certified, _certified_eig

    def old(note: str) -> tuple[Enclosed, np.ndarray]:
        eig, mat = eigen_reference(entries, n, point, symmetric, rtol, atol, matrix=matrix, bits=bits)
        return Enclosed(eig, np.full(eig.shape, np.nan), note), mat

    if not _certified.available():
        return old(_certified.FALLBACK_NOTE)
    weyl = "float64 eigvalsh within Weyl's bound (not certified)"
    if symmetric and n > EIG_ARB_MAX and matrix is not None:  # the matrix of a Hessian check, reused
        fast64 = _weyl_float64(matrix, n, rtol, atol)
        if fast64 is not None:
            return Enclosed(fast64, np.full(n, np.nan), weyl), matrix
    balls, _ = _certified.enclose(entries, point)
    if any(b is None for b in balls):
        return old("mpmath (an entry has no arb enclosure; not certified)")
    mat, _, _ = _certified.rounded(balls)
    if not np.isfinite(mat).all():
        return old("mpmath (an entry overflows float64; not certified)")
    if symmetric and n > EIG_ARB_MAX:
        fast64 = _weyl_float64(mat.reshape(n, n), n, rtol, atol)
        if fast64 is not None:
            return Enclosed(fast64, np.full(n, np.nan), weyl), mat.reshape(n, n)
    found = _certified_eig.eigenvalues(balls, n, symmetric) if n else ([], 0)
    if found is None:
        return old("mpmath (arb found no tight enclosure: a defective or unisolated eigenvalue; not certified)")
    vals, rad, digits = _certified_eig.complex_rounded(found[0], symmetric)
    order = (np.argsort(vals.real, kind="stable") if symmetric or np.all(np.abs(vals.imag) <= 1e-300)
             else np.lexsort((vals.imag, vals.real)))
    if symmetric or np.all(np.abs(vals.imag) <= 1e-300):
        vals = vals.real.astype(np.complex128)
    return Enclosed(vals[order], rad[order], _certified.digits_text(digits)), mat.reshape(n, n)


def _weyl_float64(matrix: np.ndarray, n: int, rtol: float, atol: float) -> np.ndarray | None:
    """float64 eigenvalues when their error bound is under 1% of the comparison's tolerance."""
    frobenius = float(np.linalg.norm(matrix))
    bound = 4 * n * np.finfo(np.float64).eps * frobenius
    eig = np.linalg.eigvalsh(matrix)
    norm2 = float(np.abs(eig).max()) if eig.size else 0.0  # ||A||_2 of a symmetric matrix
    if bound > 0.01 * (atol + rtol * max(norm2 - bound, 0.0)):
        return None
    return _ordered(eig.astype(np.complex128), True)


def _ordered(arr: np.ndarray, symmetric: bool) -> np.ndarray:
    if symmetric or np.all(np.abs(arr.imag) <= 1e-300):
        return np.sort(arr.real).astype(np.complex128)
    return arr[np.lexsort((arr.imag, arr.real))]
