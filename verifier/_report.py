"""Results -> text for people (a table), JSON (the contract's shape) and JUnit XML."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ._results import ProblemResult

STATUS_WORD = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "nondifferentiable": "NONDIFF"}
COLOURS = {"passed": "32", "failed": "31", "error": "35", "nondifferentiable": "33"}


@dataclass
class RunResult:
    """Everything one run produced. ``exit_code`` follows the contract: 0, 1 or 2."""

    problems: list[ProblemResult] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def checks(self) -> list[Any]:
        return [c for p in self.problems for c in p.checks]

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(c.status for p in self.problems if not p.xfail for c in p.checks)
        errors = counts["error"] + sum(1 for p in self.problems if p.status == "error" and not p.checks)
        out = {"passed": counts["passed"], "failed": counts["failed"], "errors": errors + len(self.file_errors),
               "nondifferentiable": counts["nondifferentiable"]}
        xfailed = sum(1 for p in self.problems if p.xfail and p.status != "passed")
        if xfailed:
            out["xfailed"] = xfailed
        return out

    @property
    def exit_code(self) -> int:
        s = self.summary
        return 2 if s["errors"] else 1 if s["failed"] else 0


def versions() -> dict[str, str]:
    import sympy
    import torch

    from . import __version__

    return {"verifier": __version__, "torch": torch.__version__, "sympy": sympy.__version__}


def to_json(result: RunResult) -> str:
    doc: dict[str, Any] = {**versions(), "summary": result.summary,
                           "problems": [p.to_json() for p in result.problems]}
    if result.file_errors:
        doc["file_errors"] = result.file_errors
    return json.dumps(_finite(doc), indent=2, allow_nan=False)


def _finite(value: Any) -> Any:
    """Strict JSON: an infinite or NaN error (a nonzero error against an exact 0) becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{COLOURS[status]}m{text}\033[0m" if colour else text


def to_table(result: RunResult, *, colour: bool = False, verbose: bool = False) -> str:
    lines: list[str] = []
    for err in result.file_errors:
        lines.append(_paint("ERROR", "error", colour) + " " + err)
    for p in result.problems:
        word = STATUS_WORD[p.status]
        if p.xfail and p.status != "passed":
            word = "XFAIL"
        counts = Counter(c.status for c in p.checks)
        detail = ", ".join(f"{n} {s}" for s, n in counts.items()) if p.checks else ""
        lines.append(f"{_paint(word.ljust(7), p.status, colour)} {p.id}" + (f"  ({detail})" if detail else ""))
        if p.error:
            lines.extend("    " + ln for ln in p.error.splitlines())
        for c in p.checks:
            if c.status == "passed" and not verbose:
                continue
            modes = ", ".join(c.modes) or "-"
            lines.append(f"    {_paint(STATUS_WORD[c.status].ljust(7), c.status, colour)} {c.name}"
                         f"  [{modes}]")
            if c.status != "passed":
                lines.extend("        " + ln for ln in c.report().splitlines())
    s = result.summary
    n_checks = s["passed"] + s["failed"] + s["nondifferentiable"]
    parts = [f"{s['passed']} passed", f"{s['failed']} failed"]
    if s["nondifferentiable"]:
        parts.append(f"{s['nondifferentiable']} nondifferentiable")
    if s["errors"]:
        parts.append(f"{s['errors']} errors")
    if s.get("xfailed"):
        parts.append(f"{s['xfailed']} xfailed")
    lines.append(f"{len(result.problems)} problems, {n_checks} checks: {', '.join(parts)} "
                 f"in {result.seconds:.2f}s")
    return "\n".join(lines)


def to_junit(result: RunResult) -> str:
    suite = ET.Element("testsuite", name="verifier", tests=str(len(result.checks)),
                       failures=str(result.summary["failed"]), errors=str(result.summary["errors"]),
                       time=f"{result.seconds:.3f}")
    for err in result.file_errors:
        case = ET.SubElement(suite, "testcase", classname="file", name=err.split(":")[0])
        ET.SubElement(case, "error", message=err).text = err
    for p in result.problems:
        if p.error:
            case = ET.SubElement(suite, "testcase", classname=p.id, name="load")
            ET.SubElement(case, "error", message=p.error.splitlines()[0]).text = p.error
        for c in p.checks:
            case = ET.SubElement(suite, "testcase", classname=p.id, name=c.name, file=p.file, line=str(c.line))
            if c.status == "failed":
                ET.SubElement(case, "failure", message=c.message or "mismatch").text = c.report()
            elif c.status == "error":
                ET.SubElement(case, "error", message=c.message or "error").text = c.report()
            elif c.status == "nondifferentiable":
                ET.SubElement(case, "skipped", message=c.message)
    return ET.tostring(suite, encoding="unicode")
