"""The rounding bound of a structured Hessian H = P + A D, from the bounds of its chain-rule pieces.

``_derivatives.StructuredHessian`` keeps a dense Hessian as three sparse matrices of small
expressions: ``P[i][j] = dg_i/dx_j``, ``A[i][r] = dg_i/dy_r`` and ``D[r][j] = dy_r/dx_j``. Walking
each of the n**2 expanded entries for its error coefficient (``_rounding._Walker``) re-walks every
shared intermediate n times; here each piece is walked once (one memo for all of them) and the
entry bounds are formed with numpy:

    c(H_ij) = c(P_ij) + sum_r (|A_ir| c(D_rj) + c(A_ir) |D_rj| + u c(A_ir) c(D_rj))
              + k_ij (|P_ij| + sum_r |A_ir| |D_rj|)

where ``c(.)`` is a piece's first-order error coefficient (|error| <= u c, as in ``_rounding``),
and ``k_ij`` the number of terms of the entry's sum (the products ``A_ir D_rj`` present plus
``P_ij``). The first line is the pieces' own errors carried through one product each (Higham,
*Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.4 (3.13): exact for the product
of two perturbed numbers, the ``u c c`` term being its second-order part). The second line is
the rounding of the inner product itself: ``|fl(p + a^T d) - (p + a^T d)| <= gamma_k (|p| +
|a|^T |d|)`` for recursive summation in any order (§3.1, Lemma 3.1 and (3.4)-(3.5)), taken to
first order, ``gamma_k = k u + O(u**2)``. Symmetric entries get the larger of the two bounds
(torch computes row i by its own reverse pass; both forms are correct computations).

The walk charges every input and intermediate as in ``_rounding`` (each counted as rounded
once), so the bound holds for any componentwise backward-stable order of the same products,
which is what an autodiff backward pass is. Entries with a piece the walker does not model
are nan here: the caller then walks the expanded entry.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np

from . import _rounding as r


def _walk_rows(walker: Any, slow: Any, rows: list[dict[int, Any]], shape: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Values, error coefficients, pattern and 'not modelled' flags of a sparse matrix of pieces."""
    vals, errs = np.zeros(shape), np.zeros(shape)
    present, unknown = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    for i, row in enumerate(rows):
        for k, e in row.items():
            present[i, k] = True
            try:
                v, c = walker(e)
                v, c = float(v), float(c)
                if not (math.isfinite(v) and math.isfinite(c)):
                    raise OverflowError
            except OverflowError:
                try:  # overflow in floats: redo it in mpmath, and keep it only if it fits a float
                    v, c = (float(t) for t in slow()(e))
                except Exception:  # noqa: BLE001 - any node the bound cannot model
                    unknown[i, k] = True
                    continue
                if not (math.isfinite(v) and math.isfinite(c)):
                    unknown[i, k] = True
                    continue
            except Exception:  # noqa: BLE001 - any node the bound cannot model
                unknown[i, k] = True
                continue
            vals[i, k], errs[i, k] = v, c
    return vals, errs, present, unknown


def structured_bounds(h: Any, point: dict[Any, Any], dtype: str, from_output: bool = False) -> np.ndarray:
    """``SAFETY * u * max(c(H_ij), |H_ij|) + tiny`` for every entry of ``h`` (a
    ``_derivatives.StructuredHessian``), shape (n, n), float64; nan where a piece is not modelled.

    ``point``: symbol -> exact value; ``dtype``: the torch results' dtype (its unit roundoff u);
    ``from_output``: as for ``_rounding.entry_bounds``.
    """
    u = r.UNIT_ROUNDOFF.get(dtype, r.UNIT_ROUNDOFF["float64"])
    n, m = h.n, len(h.D)
    walker = r._Walker(point, u, True, from_output)
    slow_box: list[Any] = []

    def slow() -> Any:
        if not slow_box:
            slow_box.append(r._Walker(point, u, False, from_output))
        return slow_box[0]

    with mpmath.workprec(r._PREC):
        Pv, Pc, Pp, Pu = _walk_rows(walker, slow, h.P, (n, n))
        Av, Ac, Ap, Au = _walk_rows(walker, slow, h.A, (n, m))
        Dv, Dc, Dp, Du = _walk_rows(walker, slow, h.D, (m, n))
    with np.errstate(over="ignore", invalid="ignore"):
        aA, aD = np.abs(Av), np.abs(Dv)
        value = Pv + Av @ Dv
        absval = np.abs(Pv) + aA @ aD
        terms = Pp.astype(np.float64) + Ap.astype(np.float64) @ Dp.astype(np.float64)
        coeff = Pc + aA @ Dc + Ac @ aD + u * (Ac @ Dc) + terms * absval
        out = r.SAFETY * u * np.maximum(coeff, np.abs(value)) + r.TINY.get(dtype, 0.0)
        out = np.maximum(out, out.T)
    unknown = Pu | (Ap.astype(np.float64) @ Du.astype(np.float64) > 0) | (Au.astype(np.float64) @ Dp > 0)
    unknown = unknown | unknown.T | ~np.isfinite(out)
    return np.where(unknown, np.nan, out)
