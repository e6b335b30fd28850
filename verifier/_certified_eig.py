"""Certified eigenvalue enclosures from a matrix of arb balls (``_certified`` makes the balls).

General matrices: ``acb_mat.eig(multiple=True, algorithm="rump")``, which encloses clusters of
repeated or close eigenvalues together (S. M. Rump, "Computational error bounds for multiple or
nearly multiple eigenvalues", Linear Algebra Appl. 324, 2001; F. Johansson, "Arb: efficient
arbitrary-precision midpoint-radius interval arithmetic", IEEE Trans. Computers 66(8), 2017).
Real symmetric matrices whose eigenvalues arb cannot isolate (repeated ones) are enclosed by
Weyl's and Ostrowski's theorems (``symmetric_eigenvalues``). Where neither gives a tight
enclosure (a defective eigenvalue), the caller keeps today's mpmath path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._certified import START_BITS, _flint, rounded, usable, workprec

EIG_MAX_BITS = 1024  # acb_mat.eig: a defective eigenvalue's enclosure shrinks only like 2**(-prec/k)


def complex_rounded(balls: Sequence[Any], real: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """As ``rounded`` for acb balls: complex128 values and radii bounding |exact - value|.
    ``real``: the exact values are known real (a symmetric matrix), the imaginary part is 0."""
    f = _flint()
    re_balls = [f.arb(b.real) for b in balls]
    re_v, re_r, d1 = rounded(re_balls)
    _snap(re_balls, re_v, re_r)
    if real:
        return re_v.astype(np.complex128), re_r, d1
    im_balls = [f.arb(b.imag) for b in balls]
    im_v, im_r, d2 = rounded(im_balls)
    _snap(im_balls, im_v, im_r)  # a real eigenvalue of a real matrix: an imaginary ball around 0
    rad = np.array([math.nextafter(math.hypot(a, b), math.inf) for a, b in zip(re_r, im_r)])
    return re_v + 1j * im_v, rad, min(d1, d2)


def _snap(balls: Sequence[Any], vals: np.ndarray, rad: np.ndarray) -> None:
    """A part whose ball holds 0 (and is within its radius of it) is given as 0, its radius
    widened by the midpoint dropped (rounded up): the value arb cannot tell from 0 reads as 0."""
    for i, b in enumerate(balls):
        if vals[i] != 0 and b.contains(0) and abs(vals[i]) <= rad[i]:
            rad[i] = math.nextafter(rad[i] + abs(vals[i]), math.inf)
            vals[i] = 0.0


def eigenvalues(entries: Sequence[Any], n: int, symmetric: bool) -> tuple[list[Any], int] | None:
    """Enclosures of the eigenvalues of the n x n matrix of balls ``entries`` (row-major), by
    ``acb_mat.eig(multiple=True, algorithm="rump")`` (clusters of repeated eigenvalues are
    enclosed together, each listed with its multiplicity), raising the precision when the
    eigenvalues cannot be isolated; None when arb fails at ``MAX_BITS``."""
    f = _flint()
    prec = START_BITS
    while prec <= EIG_MAX_BITS:
        with workprec(prec):
            m = f.acb_mat(n, n)
            for k, b in enumerate(entries):
                m[k // n, k % n] = f.acb(b)
            try:
                eig = m.eig(multiple=True, algorithm="rump")
            except (ValueError, ArithmeticError):
                eig = None
            if eig is not None and all(usable(e) for e in eig):
                return list(eig), prec
        prec *= 2
    return symmetric_eigenvalues(entries, n) if symmetric else None


def symmetric_eigenvalues(entries: Sequence[Any], n: int) -> tuple[list[Any], int] | None:
    """Enclosures of the eigenvalues (ascending) of a real symmetric matrix of balls, also where
    they repeat: with X approximate eigenvectors (mpmath, exact binary numbers), M = X^T A X in
    arb; Weyl's inequality puts the k-th eigenvalue of M within ||M - diag(M)||_F of the k-th
    sorted diagonal entry, and Ostrowski's theorem (Horn & Johnson, *Matrix Analysis*, 2nd ed.,
    Thm 4.5.9) gives lambda_k(M) = theta_k lambda_k(A) with theta_k in the range of the
    eigenvalues of X^T X, within 1 -+ ||X^T X - I||_F. None when that norm is not below 1/2."""
    import mpmath

    f = _flint()
    with workprec(START_BITS), mpmath.workprec(START_BITS):
        a = f.arb_mat(n, n)
        for k, b in enumerate(entries):
            a[k // n, k % n] = b
        if n <= 40:
            approx = mpmath.matrix([[mpmath.mpf(_mid_text(a[i, j])) for j in range(n)] for i in range(n)])
            q = mpmath.eigsy(approx)[1]
            cols = [[_mpf_fmpq(f, q[i, j]) for j in range(n)] for i in range(n)]
        else:  # mpmath's eigsy is too slow here: float64 vectors (fewer digits, still rigorous)
            mids = np.array([[float(a[i, j].mid()) for j in range(n)] for i in range(n)])
            q64 = np.linalg.eigh(mids)[1]
            cols = [[f.fmpq(*float(q64[i, j]).as_integer_ratio()) for j in range(n)] for i in range(n)]
        x = f.arb_mat(n, n)
        for i in range(n):
            for j in range(n):
                x[i, j] = f.arb(cols[i][j])  # exact: a binary number
        xt = x.transpose()
        m = xt * a * x
        g = xt * x
        off, gnorm = f.arb(0), f.arb(0)
        for i in range(n):
            for j in range(n):
                e = g[i, j] - int(i == j)
                gnorm += e * e
                if i != j:
                    off += m[i, j] * m[i, j]
        gb, fb = gnorm.nonnegative_part().sqrt(), off.nonnegative_part().sqrt()
        if not (gb < f.arb(f.fmpq(1, 2))):
            return None
        # The k-th smallest of values known only as balls: sorted, overlapping runs share their hull.
        diag = sorted((m[i, i] for i in range(n)), key=lambda z: z.mid())
        hulls, start = list(diag), 0
        for k in range(1, n + 1):
            if k == n or not diag[k].overlaps(diag[k - 1]):
                hull = diag[start]
                for b in diag[start + 1:k]:
                    hull = hull.union(b)
                hulls[start:k] = [hull] * (k - start)
                start = k
        theta = 1 + f.arb(0).union(gb).union(-gb)
        spread = f.arb(0).union(fb).union(-fb)
        out = [f.acb((h + spread) / theta) for h in hulls]
        return out, START_BITS


def _mid_text(b: Any) -> str:
    return b.mid().str(50, radius=False)


def _mpf_fmpq(f: Any, v: Any) -> Any:
    sign, man, exp, _ = v._mpf_
    m = -int(man) if sign else int(man)
    return f.fmpq(m * 2**exp, 1) if exp >= 0 else f.fmpq(m, 2**-exp)
