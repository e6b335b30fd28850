"""The torch side of one check: the function flattened over its wrt inputs, and every AD path run on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import _autodiff as ad
from . import _userfn as user
from ._errors import CheckError
from ._interpret import evaluate
from ._reference import Reference
from ._spec import CheckSpec, Problem


class AutodiffPaths:
    """Runs the applicable torch AD paths (``ad.MODES_FOR``) for the checks of one problem."""

    def __init__(self, problem: Problem, values: Callable[[], dict[str, torch.Tensor]],
                 torch_fn: Callable[..., torch.Tensor] | None = None,
                 input_dtypes: dict[str, torch.dtype] | None = None) -> None:
        self.problem = problem
        self._values = values
        # A user's own torch function of the inputs (by name or position, see
        # ``_userfn.caller``) to check instead of the formula.
        self.torch_fn = torch_fn
        # Each input's (and constant's) own dtype, as torch_fn receives it; the point itself is
        # held in the problem's dtype (float64 when they are mixed, so every value is exact).
        self.input_dtypes = dict(input_dtypes or {})
        self.fixed: dict[str, Any] = {}  # constants torch_fn gets as given (Python numbers), by name
        self.dtype = ad.DTYPES[problem.dtype]
        self._ad_matrices: dict[Any, torch.Tensor] = {}  # AD Hessians/Jacobians, by path

    @property
    def tolerance_dtype(self) -> str:
        """The dtype whose rounding the results carry: the least precise one torch_fn receives."""
        dts = set(self.input_dtypes.values()) if self.torch_fn is not None else set()
        for name, dt in (("float32", torch.float32), ("float64", torch.float64)):
            if dt in dts:
                return name
        return self.problem.dtype

    def user_function(self) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
        """torch_fn as a function of the values by name, each cast to its own dtype.

        Raises ``CheckError`` when torch_fn's signature fits neither the inputs' names nor their number."""
        assert self.torch_fn is not None
        call = user.caller(self.torch_fn, list(self.problem.inputs), self.problem.constants, self.fixed)
        casts = self.input_dtypes

        def fn(v: dict[str, torch.Tensor]) -> torch.Tensor:
            if casts:
                v = {n: t.to(casts[n]) if n in casts and t.dtype != casts[n] else t for n, t in v.items()}
            return call(v)
        return fn

    def probe(self, check: CheckSpec, p: ad.FlatProblem) -> user.Probe:
        """For a user's function: run it once at the point; the custom autograd.Functions in its graph
        and a hint for a failure. Raises ``CheckError`` (one clear message) when it raises or its output
        cannot be checked as ``check.kind`` (not a real floating tensor; not a scalar for a gradient)."""
        if self.torch_fn is None or p.raw is None:
            return user.Probe([])
        z = p.z0.detach().clone().requires_grad_(True)
        try:
            out = p.raw(z)
        except Exception as exc:
            raise CheckError(f"fn raised at the check's point: {user.first_line(exc)}") from exc
        kind = check.kind
        if kind == "eigenvalues":
            kind = "hessian" if isinstance(out, torch.Tensor) and out.numel() == 1 else "jacobian"
        why = user.check_output(out, kind)
        if why:
            raise CheckError(why)
        functions = user.custom_functions(out)
        taken, g = user.gradient_graph(out, z) if kind in user.SECOND_ORDER else (False, None)
        if g is not None:  # a second derivative also runs the Functions its backward calls
            known = {f.name for f in functions}
            functions += [f for f in user.custom_functions(g) if f.name not in known]
        hint = (user.detached_hint(out, kind) or user.first_order_only_hint(taken, g, kind, functions)
                or user.precision_hint(out, self.tolerance_dtype))
        return user.Probe(functions, hint, tuple(out.shape))

    def not_run(self, check: CheckSpec, mode: str, functions: list[user.FunctionInfo], scalar_target: bool,
                exc: BaseException | None = None) -> str | None:
        """Why ``mode`` is ``unsupported`` for this check: before running (``exc`` None), a path that
        would give wrong numbers silently; after it raised, torch refusing the function (torch's
        reason, then what the Function lacks). None: run it / a real error."""
        kind = check.kind if check.kind != "eigenvalues" else ("hessian" if scalar_target else "jacobian")
        if exc is None:
            return user.silently_wrong(kind, mode, functions) if self.torch_fn is not None else None
        missing = user.missing_features(kind, mode, functions)
        if missing or isinstance(exc, NotImplementedError) or (
                self.torch_fn is not None and user.torch_refused(exc, mode)):
            return user.first_line(exc) + (f" ({missing})" if missing else "")
        return None

    def flat(self, check: CheckSpec, values: dict[str, torch.Tensor],
             fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None) -> ad.FlatProblem:
        cut = [w for w in check.wrt if w in self.problem.define]
        point = dict(values)
        if cut:
            fwd = ad.forward(self.problem.define, values, self.dtype)
            point.update({c: fwd[c].detach() for c in cut})
        defines = self.problem.define
        if fn is None and self.torch_fn is not None:
            fn = self.user_function()
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
