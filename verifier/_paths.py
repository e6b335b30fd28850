"""The torch side of one check: the function flattened over its wrt inputs, and every AD path run on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import _autodiff as ad
from ._interpret import evaluate
from ._reference import Reference
from ._spec import CheckSpec, Problem


class AutodiffPaths:
    """Runs the applicable torch AD paths (``ad.MODES_FOR``) for the checks of one problem."""

    def __init__(self, problem: Problem, values: Callable[[], dict[str, torch.Tensor]],
                 torch_fn: Callable[..., torch.Tensor] | None = None) -> None:
        self.problem = problem
        self._values = values
        # A user's own torch function of the inputs (by name) to check instead of the formula.
        self.torch_fn = torch_fn
        self.dtype = ad.DTYPES[problem.dtype]
        self._ad_matrices: dict[Any, torch.Tensor] = {}  # AD Hessians/Jacobians, by path

    def flat(self, check: CheckSpec, values: dict[str, torch.Tensor],
             fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None) -> ad.FlatProblem:
        cut = [w for w in check.wrt if w in self.problem.define]
        point = dict(values)
        if cut:
            fwd = ad.forward(self.problem.define, values, self.dtype)
            point.update({c: fwd[c].detach() for c in cut})
        defines = self.problem.define
        if fn is None and self.torch_fn is not None:
            user, names = self.torch_fn, list(self.problem.inputs)

            def fn(v: dict[str, torch.Tensor]) -> torch.Tensor:
                return user(**{n: v[n] for n in names})
        if fn is None:
            def fn(v: dict[str, torch.Tensor]) -> torch.Tensor:
                env = ad.forward(defines, v, self.dtype, overrides={c: v[c] for c in cut}, until=check.target)
                return env[check.target]
        scalar = check.kind in ("gradient", "hessian", "hvp")
        return ad.flatten(fn, point, check.wrt, scalar)

    def modes_for(self, check: CheckSpec, scalar_target: bool) -> tuple[str, ...]:
        kind = check.kind
        if kind == "eigenvalues":
            kind = "hessian" if scalar_target else "jacobian"
        applicable = ad.MODES_FOR[kind]
        if check.kind == "value" or check.modes is None:
            return applicable
        return tuple(m for m in applicable if m in check.modes)

    def autodiff(self, check: CheckSpec, p: ad.FlatProblem, mode: str, ref: Reference) -> np.ndarray:
        kind = check.kind
        if kind == "value":
            out = p.fn(p.z0)
        elif kind == "gradient":
            out = ad.gradient(p, mode)
        elif kind == "jacobian":
            out = self._ad_matrices[_ad_key("jac", check, mode, p)] = ad.jacobian(p, mode)
        elif kind == "hessian":
            out = self._ad_matrices[_ad_key("hess", check, mode, p)] = ad.hessian(p, mode)
        elif kind == "hvp":
            v = torch.as_tensor(self._vector_values(check, p), dtype=p.z0.dtype)
            out = ad.hvp(p, mode, v)
        else:
            matrix = self._ad_matrices.get(_ad_key("hess" if ref.symmetric else "jac", check, mode, p))
            if matrix is None and ref.symmetric:
                matrix = ad.hessian(ad.FlatProblem(lambda z: p.fn(z).reshape(()), p.z0, True), mode)
            elif matrix is None:
                matrix = ad.jacobian(p, mode)
            out = ad.eigenvalues(matrix, ref.symmetric)
        return out.detach().numpy(force=True)  # force: ZeroTensors from forward mode

    def _vector_values(self, check: CheckSpec, p: ad.FlatProblem) -> np.ndarray:
        assert check.vector is not None
        vals = {**self._values()}
        env = ad.forward(self.problem.define, vals, torch.float64)
        v = evaluate(check.vector.tree, env, ad.TorchOps(torch.float64))
        return np.asarray(torch.as_tensor(v, dtype=torch.float64).reshape(-1))


def _ad_key(label: str, check: CheckSpec, mode: str, p: ad.FlatProblem) -> tuple[Any, ...]:
    """An AD Hessian/Jacobian computed for one check is reused by an eigenvalue check at the same point."""
    return (label, check.target, check.wrt, mode, p.z0.numpy(force=True).tobytes())
