"""Comparison of an AD result with the exact reference, and the mismatch report.

By default each element is judged by its own rounding bound (``_rounding.entry_bounds``:
``SAFETY * u * c``, the first-order form of Higham's ``gamma_k |f|_abs``, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., §3): an element passes when ``|ad - ref| <= bound``. An element whose
bound cannot be formed, and every element when the problem or check gives an explicit
``tolerance``, is judged by ``atol + rtol * |ref|`` (the defaults are
``torch.testing.assert_close``'s per-dtype values). Eigenvalues are matched as multisets;
by Weyl's inequality (|lambda_i(A) - lambda_i(A + E)| <= ||E||_2 <= ||E||_F for symmetric
matrices) each gets the Frobenius norm of the entries' bounds plus the eigensolver's own
backward error, or ``atol + rtol * ||A||_2``. At a kink, a value passes when it lies
in the range of the one-sided values (a subgradient), widened by the same bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# torch.testing.assert_close's defaults (torch/testing/_comparison.py), keyed by dtype.
DEFAULT_TOLERANCES: dict[str, dict[str, float]] = {
    "float64": {"rtol": 1e-7, "atol": 1e-7},
    "float32": {"rtol": 1.3e-6, "atol": 1e-5},
    "float16": {"rtol": 1e-3, "atol": 1e-5},
    "bfloat16": {"rtol": 1.6e-2, "atol": 1e-5},
}
MAX_ROWS = 10


def tolerance_for(dtype: str, *overrides: dict[str, float]) -> dict[str, float]:
    """The dtype's defaults, then each override in turn (defaults < problem < check)."""
    tol = dict(DEFAULT_TOLERANCES[dtype])
    for o in overrides:
        tol.update(o)
    return tol


@dataclass
class Worst:
    index: tuple[int, ...]
    reference: complex
    actual: complex
    abs_err: float
    rel_err: float
    ulp_err: float
    allowed: float = 0.0           # the bound that judged this element
    judged_by: str = "tolerance"   # rounding | tolerance | subgradient

    @property
    def units(self) -> float:
        """The error in units of the bound that judged it (> 1 fails)."""
        return self.abs_err / self.allowed if self.allowed > 0 else float("inf") if self.abs_err else 0.0


@dataclass
class Comparison:
    """The outcome of comparing one array against the reference."""

    passed: bool
    shape: tuple[int, ...]
    n_bad: int = 0
    total: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    worst: list[Worst] = field(default_factory=list)
    message: str = ""
    rtol: float = 0.0
    atol: float = 0.0
    judged_by: str = "tolerance"   # rounding (per-element bounds, some may fall back) | tolerance

    def table(self, label: str = "", actual: str = "autodiff") -> str:
        """A readable mismatch report: counts, then the worst elements by index."""
        if self.message and not self.worst:
            return f"{label}: {self.message}" if label else self.message
        how = (f"rtol={self.rtol:g}, atol={self.atol:g}" if self.judged_by == "tolerance" else
               "each element within its rounding bound (Higham §3), "
               f"else rtol={self.rtol:g}, atol={self.atol:g}")
        head = (f"{label}: " if label else "") + (
            f"{self.n_bad} / {self.total} elements differ (shape {_shape(self.shape)}, "
            f"{how}); max abs err {self.max_abs_err:.3g}, max rel err {self.max_rel_err:.3g}")
        if self.message:
            head += f"\n  {self.message}"
        rows = [("index", "reference", actual, "abs err", "rel err", "ulp", "bound", "judged by", "err/bound")]
        for w in self.worst:
            rows.append((str(list(w.index)), _num(w.reference), _num(w.actual), f"{w.abs_err:.3g}",
                         f"{w.rel_err:.3g}", f"{w.ulp_err:.3g}", f"{w.allowed:.3g}", w.judged_by,
                         f"{w.units:.3g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  " + "  ".join(c.rjust(widths[i]) for i, c in enumerate(r)) for r in rows]
        more = self.n_bad - len(self.worst)
        if more > 0:
            lines.append(f"  ... and {more} more")
        return "\n".join([head] + lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _num(z: complex) -> str:
    z = complex(z)
    if z.imag == 0:
        return f"{z.real:.17g}"
    return f"{z.real:.17g}{z.imag:+.17g}j"


def _ulp(ref: np.ndarray, dtype: str) -> np.ndarray:
    np_dtype = {"float64": np.float64, "float32": np.float32, "float16": np.float16}.get(dtype, np.float64)
    mag = np.abs(ref).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.spacing(mag.astype(np_dtype)).astype(np.float64)


def overflows(ref: np.ndarray, dtype: str) -> np.ndarray:
    """Where the exact value rounds to infinity in ``dtype`` (IEEE 754 round to nearest: at and
    beyond ``2**(emax + 1) (1 - 2**-(p + 1))``, half an ulp past the largest float; p the
    precision). Such an entry's correctly rounded value is a signed inf (bool, ``ref``'s shape)."""
    info = np.finfo(np.float32 if dtype == "float32" else np.float16 if dtype == "float16" else np.float64)
    mag = np.abs(np.asarray(ref).real.astype(np.float64))
    if info.dtype == np.float64:
        return np.isinf(mag)  # the reference itself is rounded to float64: inf is beyond range
    threshold = 2.0 ** (info.maxexp) * (1 - 2.0 ** -(info.nmant + 2))
    return mag >= threshold


def compare(ref: np.ndarray, actual: np.ndarray, rtol: float, atol: float, dtype: str = "float64",
            *, scale: float | None = None, bound: Any = None,
            lower: np.ndarray | None = None, upper: np.ndarray | None = None,
            radius: np.ndarray | None = None) -> Comparison:
    """Compare elementwise; every array has ``ref``'s shape, ``actual`` may be reshaped.

    ``bound``: each element's rounding bound (float64; nan where it does not apply, where
    ``atol + rtol * |ref|`` judges instead), or a ``_rounding.LazyBound`` forming them on
    demand. ``scale`` replaces ``|ref|`` in the rtol term (eigenvalues). ``lower``/``upper``:
    at a kink, the range a subgradient lies in; the error is the distance outside it.
    ``radius``: the reference's enclosure (``|exact - ref| <= radius``, nan where not certified):
    an element is judged by its distance to the ball, ``|actual - ref| - radius`` rounded down,
    a lower bound of its true error, so a failure is certain; reported errors stay ``|actual - ref|``.
    Returns a ``Comparison``; never raises on bad values (nan and inf fail).
    """
    ref = np.asarray(ref)
    actual = np.asarray(actual)
    if ref.shape != actual.shape:
        if ref.size == actual.size:
            actual = actual.reshape(ref.shape)
        else:
            return Comparison(False, tuple(ref.shape), n_bad=ref.size, total=ref.size,
                              max_abs_err=float("inf"), max_rel_err=float("inf"), rtol=rtol, atol=atol,
                              message=f"shape mismatch: reference {_shape(ref.shape)}, "
                                      f"autodiff {_shape(actual.shape)}")
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if lower is not None and upper is not None:
            a = actual.real.astype(np.float64)
            err = np.maximum(np.maximum(lower - a, a - upper), 0.0) + np.abs(actual.imag)
            mag = np.maximum(np.abs(lower), np.abs(upper))
        else:
            err = np.abs(actual.astype(np.complex128) - ref.astype(np.complex128))
            mag = np.abs(ref) if scale is None else np.full(ref.shape, scale)
            if not np.iscomplexobj(ref) and not np.iscomplexobj(actual):
                # Beyond the dtype's range the correctly rounded value is torch's signed inf.
                same_inf = overflows(ref, dtype) & np.isinf(actual) & (np.sign(actual) == np.sign(ref))
                err = np.where(same_inf, 0.0, err)
        err = np.where(np.isnan(err), np.inf, err)
        dist = err if radius is None or lower is not None else _distance(err, radius, ref.shape)
        default = atol + rtol * mag
        if hasattr(bound, "at"):  # a LazyBound: only elements beyond one rounding need their own
            bound = bound.at(~(dist <= bound.floor.reshape(ref.shape)))
        per = np.full(ref.shape, np.nan) if bound is None else np.broadcast_to(bound, ref.shape)
        by_bound = ~np.isnan(per)
        allowed = np.where(by_bound, np.nan_to_num(per, nan=0.0), default)
        bad = ~(dist <= allowed)
        rel = np.where(np.abs(ref) > 0, err / np.abs(ref), np.where(err > 0, np.inf, 0.0))
        ulp = err / np.where(_ulp(ref, dtype) > 0, _ulp(ref, dtype), np.finfo(np.float64).tiny)
    n_bad = int(bad.sum())
    out = Comparison(n_bad == 0, tuple(ref.shape), n_bad=n_bad, total=int(ref.size),
                     max_abs_err=float(err.max()) if err.size else 0.0,
                     max_rel_err=float(rel.max()) if rel.size else 0.0, rtol=rtol, atol=atol,
                     judged_by="rounding" if bound is not None else "tolerance")
    if n_bad:
        with np.errstate(invalid="ignore"):  # inf - inf: an element judged by no finite allowance
            excess = np.where(bad, np.nan_to_num(dist - allowed, nan=np.inf), -np.inf).reshape(-1)
        order = np.argsort(-excess, kind="stable")[: min(MAX_ROWS, n_bad)]
        for flat in order:
            idx = tuple(int(i) for i in np.unravel_index(flat, ref.shape)) if ref.shape else ()
            out.worst.append(Worst(idx, complex(ref.reshape(-1)[flat]), complex(actual.reshape(-1)[flat]),
                                   float(err.reshape(-1)[flat]), float(rel.reshape(-1)[flat]),
                                   float(ulp.reshape(-1)[flat]), float(allowed.reshape(-1)[flat]),
                                   ("subgradient, " if lower is not None else "")
                                   + ("rounding" if by_bound.reshape(-1)[flat] else "tolerance")))
    return out


def _distance(err: np.ndarray, radius: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A lower bound of the distance from the AD value to the reference ball: ``err - radius``,
    each float operation's rounding (a factor 1 - 2**-52) taken against it; ``err`` itself
    where the radius is 0 or nan (an exact or uncertified reference)."""
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), shape)
    shrink = 1.0 - 2.0**-52
    with np.errstate(invalid="ignore"):
        d = np.maximum((err * shrink - r) * shrink, 0.0)
    return np.where((r > 0) & np.isfinite(err), d, err)


def match_eigenvalues(ref: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Reorder ``actual`` to pair each reference eigenvalue with its nearest (multiset match)."""
    ref = np.asarray(ref, dtype=np.complex128)
    actual = np.asarray(actual, dtype=np.complex128)
    if ref.shape != actual.shape:
        return actual
    if np.all(ref.imag == 0) and np.all(np.abs(actual.imag) == 0):
        return np.sort(actual.real).astype(np.complex128)  # sorted pairing is optimal on a line
    left = list(range(len(actual)))
    out = np.empty_like(actual)
    for i in np.argsort(ref.real, kind="stable"):
        j = min(left, key=lambda k: abs(actual[k] - ref[i]))
        out[i] = actual[j]
        left.remove(j)
    return out


def compare_eigenvalues(ref: np.ndarray, actual: np.ndarray, matrix_norm: float, rtol: float, atol: float,
                        dtype: str = "float64", bound: float | None = None,
                        radius: np.ndarray | None = None) -> Comparison:
    """Multiset comparison; every eigenvalue gets ``bound`` (Weyl, from the entries' rounding
    bounds: ``eigen_bound``) or else ``atol + rtol * ||A||_2``."""
    b = None if bound is None or not np.isfinite(bound) else np.full(np.shape(ref), bound)
    res = compare(ref, match_eigenvalues(ref, actual), rtol, atol, dtype, scale=matrix_norm, bound=b,
                  radius=radius)
    if not res.passed and not res.message:
        res.message = f"eigenvalues matched as multisets; tolerance scaled by ||A||_2 = {matrix_norm:.6g}"
    return res


def eigen_bound(entry_bounds: np.ndarray, matrix_norm: float, n: int, u: float, safety: float) -> float:
    """Weyl: |lambda_i(A + E) - lambda_i(A)| <= ||E||_2 <= ||E||_F (symmetric A; Higham §3 for
    the entries' bounds |E_ij| <= B_ij), plus the eigensolver's backward error, at most
    about n u ||A||_2 for Householder tridiagonalisation (Golub & Van Loan, *Matrix
    Computations*, 4th ed., §8.3.7), times ``safety``. nan when an entry has no bound."""
    if np.any(np.isnan(entry_bounds)):
        return float("nan")
    return float(np.linalg.norm(entry_bounds)) + safety * n * u * matrix_norm


def judge_subgradient(ref: Any, actual: np.ndarray, rtol: float, atol: float, dtype: str,
                      bound: np.ndarray | None) -> Comparison:
    """At a kink: ``actual`` passes when every element lies in the range of the one-sided
    values (``ref.lower`` .. ``ref.upper``: a subgradient), widened by its bound."""
    act = np.asarray(actual)
    if ref.kind == "eigenvalues":
        act = match_eigenvalues(np.asarray(ref.lower if ref.lower is not None else ref.values,
                                           dtype=np.complex128), act)
    res = compare(ref.values, act, rtol, atol, dtype, bound=bound, lower=ref.lower, upper=ref.upper)
    if res.passed and ref.kind != "eigenvalues" and getattr(ref, "vertices", None):
        _judge_hull(res, ref, act, rtol, atol, bound)
    if not res.passed and not res.message and getattr(ref, "judged", None) is not None:
        res.message = ("a partial derivative that exists here is wrong (the entries across the jump are "
                       "not judged)")
    elif not res.passed and not res.message:
        res.message = "not a subgradient: outside the range of the one-sided values (left .. right)"
    return res


def _judge_hull(res: Comparison, ref: Any, act: np.ndarray, rtol: float, atol: float, bound: Any) -> None:
    """Within the elementwise range is not enough: a subgradient lies in the convex hull of the
    branches' values (``max(x, y)`` at a tie: ``(t, 1 - t)``, not ``(1, 1)``). Fails ``res`` when
    the distance to the hull exceeds the norm of the elements' allowed errors (so any point
    within each element's own allowance of the hull passes)."""
    verts = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in ref.vertices])
    a = np.asarray(act).real.astype(np.float64).reshape(-1)
    if verts.shape[0] < 2 or verts.shape[1] < 2 or verts.shape[1] != a.size:
        return
    mag = np.maximum(np.abs(ref.lower), np.abs(ref.upper)).reshape(-1)
    allowed = atol + rtol * mag
    if hasattr(bound, "at"):
        bound = bound.at(np.ones(np.shape(ref.values), dtype=bool))
    if bound is not None:
        per = np.broadcast_to(np.asarray(bound, dtype=np.float64), np.shape(ref.values)).reshape(-1)
        allowed = np.where(np.isnan(per), allowed, per)
    dist, resid = hull_distance(verts, a)
    if dist <= float(np.linalg.norm(allowed)) + 1e-12 * max(1.0, float(np.abs(verts).max())):
        return
    flat = int(np.argmax(np.abs(resid)))
    idx = tuple(int(i) for i in np.unravel_index(flat, np.shape(ref.values))) if np.ndim(ref.values) else ()
    res.passed = False
    res.n_bad = max(res.n_bad, 1)
    res.message = (f"not a subgradient: outside the convex hull of the branches' derivatives (distance "
                   f"{dist:.3g}; each element is within its one-sided range, but not all at once)")
    res.worst.append(Worst(idx, complex(a[flat] + resid[flat]), complex(a[flat]),
                           float(abs(resid[flat])), float("inf"), float("inf"), float(allowed[flat]),
                           "subgradient (hull)"))


def hull_distance(vertices: np.ndarray, point: np.ndarray) -> tuple[float, np.ndarray]:
    """Euclidean distance from ``point`` to the convex hull of ``vertices`` (rows), and the
    nearest point minus ``point``: Wolfe's minimum-norm-point algorithm (P. Wolfe, "Finding the
    nearest point in a polytope", Math. Programming 11, 1976), finite, exact up to rounding."""
    P = np.asarray(vertices, dtype=np.float64) - np.asarray(point, dtype=np.float64).reshape(1, -1)
    eps = 1e-12 * max(1.0, float(np.abs(P).max())) ** 2
    S = [int(np.argmin((P * P).sum(1)))]
    lam = np.array([1.0])
    x = P[S[0]].copy()
    for _ in range(10 * len(P) + 10):
        j = int(np.argmin(P @ x))
        if j in S or x @ x - P[j] @ x <= eps:
            break
        S.append(j)
        lam = np.append(lam, 0.0)
        for _ in range(10 * len(P) + 10):
            k = len(S)
            A = np.zeros((k + 1, k + 1))
            A[:k, :k] = P[S] @ P[S].T
            A[:k, k] = A[k, :k] = 1.0
            rhs = np.zeros(k + 1)
            rhs[k] = 1.0
            mu = np.linalg.lstsq(A, rhs, rcond=None)[0][:k]
            if np.all(mu > 1e-14):
                lam = mu
                break
            neg = mu <= 1e-14
            theta = float(np.min(lam[neg] / np.maximum(lam[neg] - mu[neg], 1e-300)))
            lam = lam + min(max(theta, 0.0), 1.0) * (mu - lam)
            keep = lam > 1e-14
            if not keep.any():
                keep[int(np.argmax(lam))] = True
            S = [s for s, kp in zip(S, keep) if kp]
            lam = lam[keep] / lam[keep].sum()
        x = lam @ P[S]
    return float(np.linalg.norm(x)), x


def to_jsonable(values: Any) -> Any:
    """Arrays to nested lists; complex numbers to [re, im] pairs."""
    arr = np.asarray(values)
    if np.iscomplexobj(arr):
        if np.all(arr.imag == 0):
            return arr.real.tolist()
        return np.stack([arr.real, arr.imag], axis=-1).tolist()
    return arr.tolist()
