"""Where a student's function is evaluated: the problem's point, the key's points, then seeded
random points near it, each kept only where every function check's exact reference is defined,
finite, real and differentiable (so ``log`` near 0 never leaves its domain).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._refvalue import Reference
    from ._runner import ProblemRunner

__all__ = ["MAX_DRAWS", "N_FUNCTION_POINTS", "function_points"]

N_FUNCTION_POINTS = 3  # the problem's own point plus two seeded random ones
MAX_DRAWS = 24  # random draws tried per point before giving up on staying in the domain


def _usable(r: ProblemRunner, values: dict[str, Any]) -> dict[str, Reference] | None:
    """The references of every function check of ``r`` at ``values``, if all are finite and
    differentiable there (and the target's value is real); else None."""
    from ._spec import CheckSpec

    t = r.problem.grading.target
    assert t is not None  # only problems with grading.function get here
    value = CheckSpec("value", t.target, tuple(r.problem.inputs), name=" value")
    refs = {}
    for c in [value] + r.problem.checks:
        if c.target != t.target or c.answers or c.search:
            continue
        try:
            ref = r.reference(c, values)
        except Exception:  # noqa: BLE001 - outside the domain, or undefined
            return None
        vals = np.asarray(ref.values)
        if ref.status == "nondifferentiable" or not np.all(np.isfinite(vals)) or (
                vals.dtype.kind == "c" and c.kind != "eigenvalues" and np.any(vals.imag != 0)):
            return None
        refs[c.name] = ref
    return refs


def function_points(r: ProblemRunner) -> tuple[list[dict[str, Any]], dict[Hashable, Reference], list[str]]:
    """(points, their references keyed ``(problem id, check name, "fn", point index)``, notes).

    The problem's point, the key's ``grading.points``, then (without those) seeded random
    points: each wrt input moved by ``0.5 / 2**(draw // 4)`` times a normal draw, relative to
    its size and then absolute, up to ``MAX_DRAWS`` draws per point. A note says when a point
    of the key is outside the domain, or fewer than ``N_FUNCTION_POINTS`` were found.
    """
    import torch

    p, t = r.problem, r.problem.grading.target
    assert t is not None
    pts: list[dict[str, Any]] = []
    cache: dict[Hashable, Reference] = {}
    notes: list[str] = []

    def accept(values: dict[str, Any]) -> bool:
        refs = _usable(r, values)
        if refs is None:
            return False
        for name, ref in refs.items():
            cache[(p.id, name, "fn", len(pts))] = ref
        pts.append(values)
        return True

    base = r.values()
    accept(base)
    for given in t.points:
        v = dict(base)
        v.update({n: torch.tensor(given[n], dtype=base[n].dtype).reshape(base[n].shape) for n in t.wrt})
        if not accept(v):
            notes.append(f"{p.id}: a point of grading.function is outside the domain; skipped")
    if t.points:
        return pts, cache, notes
    g = torch.Generator().manual_seed(1)
    draw = 0
    while len(pts) < N_FUNCTION_POINTS and draw < MAX_DRAWS * N_FUNCTION_POINTS:
        scale = 0.5 / 2 ** (draw // 4)
        v = dict(base)
        for n in t.wrt:
            x = base[n].to(torch.float64)
            noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
            spread = x.abs() if draw % 2 else x.abs().clamp(min=1.0)  # relative, then absolute
            v[n] = (x + scale * noise * spread).to(base[n].dtype)
        draw += 1
        accept(v)
    if len(pts) < N_FUNCTION_POINTS:
        notes.append(f"{p.id}: only {len(pts)} point(s) inside the domain of {t.target}")
    return pts, cache, notes
