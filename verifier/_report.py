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
        # A file the loader rejects counts once, however many diagnostics it has.
        bad_files = len({_file_of(e) for e in self.file_errors})
        out = {"passed": counts["passed"], "failed": counts["failed"], "errors": errors + bad_files,
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
            # the paths that ran; those that did not are named with their reason, never listed as run
            modes = ", ".join(m for m, r in c.modes.items() if r.status in ("passed", "failed")) or "-"
            lines.append(f"    {_paint(STATUS_WORD[c.status].ljust(7), c.status, colour)} {c.name}"
                         f"  [{modes}]")
            if c.status != "passed":
                lines.extend("        " + ln for ln in c.report().splitlines())
            else:
                lines.extend(f"        {m}: not run ({r.status}): {r.error}" for m, r in c.modes.items()
                             if r.status not in ("passed", "failed"))
    notes = {c.certified for c in result.checks if "python-flint" in getattr(c, "certified", "")}
    lines.extend(f"reference: {n}" for n in sorted(notes))  # said once for the run (_certified)
    lines.append(summary_line(result))
    return "\n".join(lines)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 check``, ``2 checks``, ``0 checks``; ``many`` for irregular plurals."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def summary_line(result: RunResult) -> str:
    s = result.summary
    n_checks = s["passed"] + s["failed"] + s["nondifferentiable"]
    parts = [f"{s['passed']} passed", f"{s['failed']} failed"]
    if s["nondifferentiable"]:
        parts.append(f"{s['nondifferentiable']} nondifferentiable")
    if s["errors"]:
        parts.append(plural(s["errors"], "error"))
    if s.get("xfailed"):
        parts.append(f"{s['xfailed']} xfailed")
    return (f"{plural(len(result.problems), 'problem')}, {plural(n_checks, 'check')}: {', '.join(parts)} "
            f"in {result.seconds:.2f}s")


def to_junit(result: RunResult) -> str:
    """JUnit XML as CI systems read it: valid against the Jenkins xUnit ``junit-10.xsd`` schema
    (the one pytest's ``junit_family=xunit2`` follows; tests/data/junit-10.xsd).

    One ``testcase`` per check (``classname`` the problem id, ``name`` the check name, ``time``
    its seconds), one per problem the loader rejected (``name="load"``) and one per file-level
    error; the suite's ``tests``/``failures``/``errors``/``skipped`` count those testcases.
    Nondifferentiable checks and expected failures (``xfail``) are ``skipped``.
    """
    suite = ET.Element("testsuite", name="verifier")
    by_file: dict[str, list[str]] = {}
    for err in result.file_errors:
        by_file.setdefault(_file_of(err), []).append(err)
    for file, errs in by_file.items():
        case = ET.SubElement(suite, "testcase", classname=file, name="load", time="0.000")
        ET.SubElement(case, "error", message=_first_line(errs[0]), type="ProblemSpecError").text = "\n".join(errs)
    for p in result.problems:
        if p.error:
            case = ET.SubElement(suite, "testcase", classname=p.id, name="load", time="0.000")
            ET.SubElement(case, "error", message=_first_line(p.error), type="ProblemSpecError").text = p.error
        for c in p.checks:
            case = ET.SubElement(suite, "testcase", classname=p.id, name=c.name,
                                 time=f"{getattr(c, 'seconds', 0.0):.3f}")
            where = f"{p.file}:{c.line}"
            if p.xfail and c.status != "passed":
                ET.SubElement(case, "skipped", type="pytest.xfail", message=f"xfail: {p.xfail}").text = \
                    f"{where}: {c.report()}"
            elif c.status == "failed":
                ET.SubElement(case, "failure", message=_first_line(c.message or "mismatch"),
                              type="MismatchError").text = f"{where}\n{c.report()}"
            elif c.status == "error":
                ET.SubElement(case, "error", message=_first_line(c.message or "error"),
                              type="VerifierError").text = f"{where}\n{c.report()}"
            elif c.status == "nondifferentiable":
                ET.SubElement(case, "skipped", type="nondifferentiable",
                              message=_first_line(c.message)).text = f"{where}: {c.report()}"
    cases = suite.findall("testcase")
    for attr, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        suite.set(attr, str(sum(1 for case in cases if case.find(tag) is not None)))
    suite.set("tests", str(len(cases)))
    suite.set("time", f"{result.seconds:.3f}")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _file_of(diagnostic: str) -> str:
    """The file of ``file:line:col: message`` (a Windows drive letter stays with its path)."""
    parts = diagnostic.split(":")
    return ":".join(parts[:2]) if len(parts[0]) == 1 and len(parts) > 1 else parts[0]
