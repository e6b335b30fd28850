"""Check your own torch function against a formula: ``check`` and ``assert_derivatives``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import MismatchError, ProblemSpecError
from ._results import CheckResult
from ._runner import ProblemRunner
from ._spec import from_data


@dataclass
class CheckReport:
    """The per-check results of one ``check`` call."""

    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.status in ("passed", "nondifferentiable") for c in self.checks)

    def report(self) -> str:
        lines = []
        for c in self.checks:
            lines.append(f"{c.status.upper():8} {c.name}  [{', '.join(c.modes) or '-'}]")
            if c.status != "passed":
                lines.extend("    " + ln for ln in c.report().splitlines())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _plain(value: Any) -> tuple[Any, str | None]:
    """A tensor/ndarray/number as nested floats, and its float dtype name if it has one."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        return value.detach().cpu().to(torch.float64).tolist(), dtype
    if isinstance(value, np.ndarray):
        return value.astype(np.float64).tolist(), str(value.dtype)
    return value, None


def check(fn: Callable[..., Any], formula: str, inputs: Mapping[str, Any], *,
          checks: Sequence[str | Mapping[str, Any]] = ("value", "gradient", "hessian"),
          tolerance: Mapping[str, float] | None = None, modes: Sequence[str] | None = None,
          dtype: str | None = None, constants: Mapping[str, Any] | None = None) -> CheckReport:
    """Compare ``fn`` (your torch callable, taking tensors by input name) with ``formula``.

    ``formula`` is written in the problem-file expression language over the names in
    ``inputs`` (and ``constants``). ``checks`` are kinds (``"gradient"``) or check mappings
    as in a problem file (``{"hvp": "f", "vector": [1, 0]}``). The dtype defaults to the
    inputs' (float32 tensors give a float32 check) and otherwise float64.
    """
    plain_inputs, dtypes = {}, set()
    for name, v in inputs.items():
        plain_inputs[name], dt = _plain(v)
        if dt in ("float32", "float64"):
            dtypes.add(dt)
    if dtype is None:
        dtype = "float32" if dtypes == {"float32"} else "float64"
    problem: dict[str, Any] = {"id": "check", "inputs": plain_inputs, "function": formula, "dtype": dtype,
                               "checks": [{c: "f"} if isinstance(c, str) else dict(c) for c in checks]}
    if constants:
        problem["constants"] = {k: _plain(v)[0] for k, v in constants.items()}
    if tolerance:
        problem["tolerance"] = dict(tolerance)
    if modes:
        problem["modes"] = list(modes)
    pf = from_data({"version": 1, "problems": [problem]}, file="<check>")
    prob = pf.problems[0]
    if prob.errors:
        raise ProblemSpecError(prob.errors)
    result = ProblemRunner(prob, torch_fn=fn).run()
    if result.error:
        raise ProblemSpecError(result.diagnostics) if result.diagnostics else ValueError(result.error)
    return CheckReport(result.checks)


def assert_derivatives(fn: Callable[..., Any], formula: str, inputs: Mapping[str, Any],
                       **kwargs: Any) -> CheckReport:
    """Like ``check``, but raises ``MismatchError`` (an AssertionError) with the table on failure."""
    report = check(fn, formula, inputs, **kwargs)
    if not report.passed:
        raise MismatchError(report.report())
    return report
