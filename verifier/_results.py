"""What a run produces: per-path, per-check and per-problem results, and their JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._compare import Comparison, to_jsonable
from ._errors import Diagnostic


@dataclass
class ModeResult:
    status: str                    # passed | failed | error | unsupported
    comparison: Comparison | None = None
    error: str = ""
    actual: np.ndarray | None = None


@dataclass
class CheckResult:
    problem: str
    name: str
    kind: str
    of: str
    wrt: tuple[str, ...]
    status: str                    # passed | failed | nondifferentiable | error
    line: int = 0
    reference: np.ndarray | None = None
    modes: dict[str, ModeResult] = field(default_factory=dict)
    expect: Comparison | None = None
    message: str = ""
    left: np.ndarray | None = None
    right: np.ndarray | None = None
    seconds: float = 0.0           # wall time of this check (reference and every AD path)
    certified: str = ""            # how exact the reference is: exact | certified to N digits | ... (_certified)
    radius: np.ndarray | None = None  # |exact - reference| <= radius (nan: not certified); not in the JSON

    def report(self) -> str:
        """What went wrong, for people: one mismatch table per failing path."""
        parts = [self.message] if self.message else []
        label = f"{self.problem}: {self.kind} of {self.of}" + (
            f" wrt {', '.join(self.wrt)}" if self.kind != "value" else "")
        if self.expect is not None and not self.expect.passed:
            parts.append(self.expect.table(f"{label} (expect vs exact reference)", actual="expect"))
        # Paths that returned the same numbers share one table, labelled with all of them.
        groups: dict[Any, list[str]] = {}
        for mode, m in self.modes.items():
            if m.status == "failed" and m.comparison is not None:
                key = (mode,) if m.actual is None else (np.asarray(m.actual).shape, np.asarray(m.actual).tobytes())
                groups.setdefault(key, []).append(mode)
        for modes in groups.values():
            comparison = self.modes[modes[0]].comparison
            assert comparison is not None
            parts.append(comparison.table(f"{label} ({', '.join(modes)})"))
        for mode, m in self.modes.items():
            if m.status in ("error", "unsupported") or (m.status == "failed" and m.comparison is None):
                parts.append(f"{label} ({mode}): {m.status}: {m.error}")
        if self.status == "nondifferentiable" and self.left is not None:
            parts.append(f"left: {to_jsonable(self.left)}\nright: {to_jsonable(self.right)}")
        if self.status == "failed" and self.certified:
            parts.append(f"reference: {self.certified}")
        return "\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "of": self.of, "wrt": list(self.wrt), "name": self.name,
            "status": self.status, "line": self.line,
            "reference": None if self.reference is None else to_jsonable(self.reference),
            "modes": {m: _mode_json(r) for m, r in self.modes.items()}, "message": self.message,
        }
        if self.certified:
            out["reference_certified"] = self.certified
        if self.expect is not None:
            out["expect"] = {"status": "passed" if self.expect.passed else "failed",
                             "max_abs_err": self.expect.max_abs_err, "max_rel_err": self.expect.max_rel_err}
        if self.status == "nondifferentiable" and self.left is not None:
            out["left"], out["right"] = to_jsonable(self.left), to_jsonable(self.right)
        if self.status in ("failed", "error"):
            out["message"] = self.report()
        return out


def _mode_json(m: ModeResult) -> dict[str, Any]:
    out: dict[str, Any] = {"status": m.status}
    if m.comparison is not None:
        c = m.comparison
        out.update(max_abs_err=c.max_abs_err, max_rel_err=c.max_rel_err)
        if not c.passed:
            out["n_bad"], out["total"] = c.n_bad, c.total
            out["worst"] = [{"index": list(w.index), "reference": to_jsonable(np.array(w.reference)),
                             "autodiff": to_jsonable(np.array(w.actual)), "abs_err": w.abs_err,
                             "rel_err": w.rel_err, "ulp_err": w.ulp_err} for w in c.worst]
    if m.error:
        out["error"] = m.error
    return out


@dataclass
class ProblemResult:
    id: str
    status: str                    # passed | failed | error
    file: str = ""
    line: int = 0
    title: str = ""
    error: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    xfail: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {"id": self.id, "status": self.status, "error": self.error,
               "checks": [c.to_json() for c in self.checks]}
        if self.xfail:
            out["xfail"] = self.xfail
        return out


def _status(checks: Sequence[CheckResult]) -> str:
    st = {c.status for c in checks}
    return "error" if "error" in st else "failed" if "failed" in st else "passed"


def _verdict(res: CheckResult) -> tuple[str, str]:
    """A check's status from its paths, and a message when no path ran.

    ``failed`` when a path that ran disagrees with the exact reference (or the file's ``expect``
    does); ``passed`` when at least one path ran and none disagreed; ``error`` only when no path
    ran. Paths torch cannot run (``unsupported``) or that raised (``error``) are reported with
    their reason and otherwise do not count."""
    ran = {m.status for m in res.modes.values()} & {"passed", "failed"}
    if res.expect is not None and not res.expect.passed:
        return "failed", "expect does not match the exact reference: the problem file is wrong"
    if "failed" in ran:
        return "failed", ""
    if ran:
        return "passed", ""
    if not res.modes:
        return "error", "no torch path applies here"
    return "error", "no torch path could run this check (each path's reason is below)"
