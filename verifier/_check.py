"""Check your own torch function against a formula: ``check`` and ``assert_derivatives``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import CheckError, MismatchError, ProblemSpecError
from ._results import CheckResult
from ._runner import ProblemRunner
from ._spec import from_data

DEFAULT_CHECKS = ("value", "gradient", "hessian")
OK = ("passed", "nondifferentiable", "skipped")


@dataclass
class CheckReport:
    """The per-check results of one ``check`` call.

    A check's ``status`` is ``passed``, ``failed`` (a torch path that ran disagrees with the exact
    reference), ``nondifferentiable`` (at a kink), ``error`` (no torch path could run it) or
    ``skipped`` (a default check no torch path can run for this function, e.g. a Hessian through a
    ``@once_differentiable`` backward). Each check's ``modes`` holds every path, with the reason of
    those torch could not run (``unsupported``)."""

    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.status in OK for c in self.checks)

    @property
    def mismatched(self) -> bool:
        """Whether some path that ran disagrees with the exact reference."""
        return any(c.status == "failed" for c in self.checks)

    def report(self) -> str:
        lines = []
        for c in self.checks:
            ran = [m for m, r in c.modes.items() if r.status in ("passed", "failed")]
            lines.append(f"{c.status.upper():8} {c.name}  [{', '.join(ran) or '-'}]")
            if c.status not in ("passed", "skipped"):
                lines.extend("    " + ln for ln in c.report().splitlines())
                continue
            if c.message:
                lines.append(f"    {c.message}")
            for mode, r in c.modes.items():
                if r.status in ("unsupported", "error"):
                    lines.append(f"    {mode}: not run ({r.status}): {r.error}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _plain(name: str, value: Any) -> tuple[Any, Any]:
    """A tensor/ndarray/number as nested floats (exactly), and its torch dtype if it has one.

    Raises ``CheckError`` for complex values: only real derivatives are checked."""
    import numpy as np
    import torch

    complex_dtype: Any = None
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            complex_dtype = value.dtype
        else:
            dt = value.dtype if value.is_floating_point() else None
            if dt is not None and dt not in (torch.float32, torch.float64):
                raise CheckError(f"'{name}' is {dt}: verifier checks float32 and float64 (cast it, or pass "
                                 "dtype='float32' to check at float32)")
            return value.detach().cpu().to(torch.float64).tolist(), dt
    elif isinstance(value, np.ndarray) or isinstance(value, (complex, np.complexfloating)):
        arr = np.asarray(value)
        if np.iscomplexobj(arr):
            complex_dtype = arr.dtype
        elif isinstance(value, np.ndarray):
            if arr.dtype.kind == "f" and str(arr.dtype) not in ("float32", "float64"):
                raise CheckError(f"'{name}' is {arr.dtype}: verifier checks float32 and float64")
            dt = {"float32": torch.float32, "float64": torch.float64}.get(str(arr.dtype))
            return arr.astype(np.float64).tolist(), dt
    if complex_dtype is not None:
        raise CheckError(f"'{name}' is complex ({complex_dtype}): verifier checks derivatives of real "
                         "functions; pass the real and imaginary parts as two real inputs")
    return value, None


def _check_list(checks: Sequence[str | Mapping[str, Any]] | str | Mapping[str, Any] | None
                ) -> list[str | Mapping[str, Any]]:
    if checks is None:
        return list(DEFAULT_CHECKS)
    if isinstance(checks, (str, Mapping)):  # one check kind (or one check mapping), not its characters
        return [checks]
    return list(checks)


def check(fn: Callable[..., Any], formula: str, inputs: Mapping[str, Any], *,
          checks: Sequence[str | Mapping[str, Any]] | str | None = None,
          tolerance: Mapping[str, float] | None = None, modes: Sequence[str] | None = None,
          dtype: str | None = None, constants: Mapping[str, Any] | None = None) -> CheckReport:
    """Compare ``fn`` (your torch callable) with ``formula``, at the point ``inputs``.

    ``formula`` is written in the problem-file expression language over the names in ``inputs``
    and ``constants`` (tensors, arrays or nested lists; shapes as given). ``fn`` takes the inputs by
    name when its parameters are named after them, else positionally in ``inputs``' order; each
    constant reaches ``fn`` too when ``fn`` names it, or has a positional slot for it after the
    inputs (a closure works as well). ``checks``: kinds (``"gradient"`` or ``["value", "hessian"]``) or check
    mappings as in a problem file (``{"hvp": "f", "vector": [1, 0]}``); default value, gradient
    and Hessian. Gradients, Hessians and HVPs need a scalar output.

    Each input keeps its own dtype when ``fn`` receives it; tolerances are those of the least
    precise dtype among them (float32 if any input is float32). ``dtype`` casts every input to
    one dtype instead. Every applicable torch AD path is run (``modes`` restricts them); the
    paths torch cannot run for ``fn`` (no ``vmap``/``jvp``/``setup_context`` in a custom
    ``autograd.Function``, forward-over-forward through one, second derivatives through
    ``@once_differentiable``) are ``unsupported`` with the reason, and a default check that no
    path can run is ``skipped``.

    Returns a ``CheckReport``. Raises ``CheckError`` for a complex input or a ``fn`` whose
    signature fits neither the inputs' names nor their number, ``ProblemSpecError`` for a formula
    or input that is not valid.
    """
    import torch

    plain_inputs, plain_consts, dtypes = {}, {}, {}
    for name, v in inputs.items():
        plain_inputs[name], dtypes[name] = _plain(name, v)
    for name, v in (constants or {}).items():
        plain_consts[name], dtypes[name] = _plain(name, v)
    floats = {d for d in dtypes.values() if d is not None}
    if dtype is None:
        dtype = "float32" if floats == {torch.float32} else "float64"
        input_dtypes = {n: d for n, d in dtypes.items() if d is not None} if len(floats) > 1 else None
    else:
        input_dtypes = None
    defaulted = checks is None
    specs = [{c: "f"} if isinstance(c, str) else dict(c) for c in _check_list(checks)]
    problem: dict[str, Any] = {"id": "check", "inputs": plain_inputs, "function": formula, "dtype": dtype,
                               "checks": specs}
    if plain_consts:
        problem["constants"] = plain_consts
    if tolerance:
        problem["tolerance"] = dict(tolerance)
    if modes:
        problem["modes"] = list(modes)
    pf = from_data({"version": 1, "problems": [problem]}, file="<check>")
    prob = pf.problems[0]
    if prob.errors:
        raise ProblemSpecError(prob.errors)
    from ._preflight import preflight

    found = preflight(prob)  # what `verifier check` refuses, refused here too (sizes, degrees, domains)
    if found.problem:
        raise ProblemSpecError(found.problem)
    runner = ProblemRunner(prob, torch_fn=fn, input_dtypes=input_dtypes)
    # A Python number reaches fn as given (x.repeat(n) needs an int); the formula reads its value.
    runner.paths.fixed = {n: v for n, v in (constants or {}).items() if type(v) in (int, float, bool)}
    runner.paths.user_function()  # raises CheckError now when fn's signature cannot take the inputs
    result = runner.run()
    if result.error:
        raise ProblemSpecError(result.diagnostics) if result.diagnostics else CheckError(result.error)
    if defaulted:
        for c in result.checks:
            if c.status == "error" and c.modes and all(m.status == "unsupported" for m in c.modes.values()):
                c.status = "skipped"
                c.message = "skipped: no torch path can run this default check for fn (reasons below)"
    return CheckReport(result.checks)


def assert_derivatives(fn: Callable[..., Any], formula: str, inputs: Mapping[str, Any],
                       **kwargs: Any) -> CheckReport:
    """Like ``check``, but raises when it does not pass.

    Raises ``MismatchError`` (an AssertionError) with the tables when a torch path that ran
    disagrees with the exact reference, and ``CheckError`` when nothing disagrees but some check
    could not run at all (every path unsupported or raising, or ``fn`` unusable as asked)."""
    report = check(fn, formula, inputs, **kwargs)
    if report.mismatched:
        raise MismatchError(report.report())
    if not report.passed:
        raise CheckError(report.report())
    return report
