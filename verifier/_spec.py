"""Problem file -> parsed spec: the strict schema of PROBLEM_FORMAT.md.

``load`` reads a file and returns a ``ProblemFile``. Errors that make the whole file
unusable (bad YAML, tags, no ``problems``) raise ``ProblemSpecError``; errors inside
one problem are stored on that problem (``Problem.errors``) so the others still run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ._errors import Diagnostic, ProblemSpecError
from ._gradekey import read_check_grading, read_grading
from ._problem import (  # noqa: F401 - re-exported: the parsed problem's types live in _problem
    CHECK_KEYS,
    DEFAULT_KEYS,
    DTYPES,
    GENERATOR_KEYS,
    KINDS,
    MODES,
    PROBLEM_KEYS,
    TOP_KEYS,
    CheckSpec,
    Grading,
    InputSpec,
    Problem,
    ProblemFile,
)
from ._reader import FLOAT_MAX, MAX_NDIM, MAX_SEED, RESERVED, _did_you_mean, _Reader  # noqa: F401
from ._yamlload import Located, load_yaml

_ID = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_IMPLEMENTATION = re.compile(rf"{_DOTTED}:{_DOTTED}\Z")  # module.path:attr.path


def _read_problem(r: _Reader, data: Any, path: tuple[Any, ...], defaults: dict[str, Any]) -> Problem:
    line, col = r.doc.where(path)
    pid = data.get("id") if isinstance(data, dict) else None
    prob = Problem(id=str(pid) if pid is not None else f"problem-{path[-1] + 1}",
                   file=r.doc.file, line=line, col=col)
    if not isinstance(data, dict):
        r.err(path, "a problem must be a mapping with id, inputs, function/define and checks")
        return prob
    r.keys(data, path, PROBLEM_KEYS, "problem")
    if pid is None:
        r.err(path, "problem has no 'id'")
    elif not isinstance(pid, str) or not _ID.match(pid):
        r.err(path + ("id",), f"id {pid!r} must match [a-z0-9][a-z0-9_-]*")
    prob.title = str(data.get("title", ""))
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        r.err(path + ("tags",), "tags must be a list of strings")
    else:
        prob.tags = tuple(tags)
    prob.dtype = defaults.get("dtype", "float64")
    if "dtype" in data:
        prob.dtype = r.dtype(data["dtype"], path + ("dtype",)) or prob.dtype
    prob.tolerance = dict(defaults.get("tolerance", {}))
    if "tolerance" in data:
        prob.tolerance.update(r.tolerance(data["tolerance"], path + ("tolerance",)))
    prob.modes = defaults.get("modes")
    if "modes" in data:
        prob.modes = r.modes(data["modes"], path + ("modes",))
    if "xfail" in data:
        if not isinstance(data["xfail"], str):
            r.err(path + ("xfail",), "xfail must be a string giving the reason")
        else:
            prob.xfail = data["xfail"]

    broken: set[str] = set()  # names whose value failed to read: later uses add no second error
    for section, target in (("inputs", prob.inputs), ("constants", prob.constants)):
        block = data.get(section, {})
        if not isinstance(block, dict):
            r.err(path + (section,), f"{section} must be a mapping name -> value")
            continue
        for name, value in block.items():
            if name in prob.inputs or name in prob.constants:
                r.err(path + (section, name), f"'{name}' is defined twice", key=True)
            elif r.name(name, path + (section, name), section[:-1]):
                spec = r.array(name, value, path + (section, name), prob.dtype)
                if spec is not None:
                    target[name] = spec
                else:
                    broken.add(name)
    if not prob.inputs and "inputs" in data and isinstance(data["inputs"], dict) and not data["inputs"]:
        r.err(path + ("inputs",), "a problem needs at least one input")
    elif "inputs" not in data:
        r.err(path, "problem has no 'inputs'")

    names = set(prob.inputs) | set(prob.constants) | broken
    if "function" in data and "define" in data:
        r.err(path + ("function",), "give either 'function' or 'define', not both", key=True)
    defines = {"f": data["function"]} if "function" in data else data.get("define")
    dpath = path + (("function",) if "function" in data else ("define",))
    if defines is None:
        r.err(path, "problem has no 'function' or 'define'")
        defines = {}
    elif not isinstance(defines, dict):
        r.err(dpath, "define must be an ordered mapping name -> expression")
        defines = {}
    for name, source in defines.items():
        epath = dpath if "function" in data else dpath + (name,)
        if name in names:
            r.err(epath, f"'{name}' is already an input or constant", key=True)
            continue
        if not r.name(name, epath, "define"):
            continue
        e = r.expr(source, epath, names)
        names.add(name)
        if e is not None:
            prob.define[name] = e
        else:
            broken.add(name)

    prob.grading = read_grading(r, data.get("grading"), path + ("grading",), prob)
    if "implementation" in data:
        impl = data["implementation"]
        if not isinstance(impl, str) or not _IMPLEMENTATION.match(impl):
            r.err(path + ("implementation",), f"implementation {impl!r} must name a callable as "
                  "'package.module:function'")
        else:
            prob.implementation, prob.implementation_at = impl, r.doc.where(path + ("implementation",))
    checks = data.get("checks")
    if not isinstance(checks, list) or not checks:
        r.err(path + (("checks",) if "checks" in data else ()), "problem needs a non-empty list of 'checks'")
        checks = []
    for i, c in enumerate(checks):
        check = _read_check(r, c, path + ("checks", i), prob, names, broken)
        if check is not None:
            prob.checks.append(check)
    _name_checks(prob.checks)
    return prob


def _read_check(r: _Reader, data: Any, path: tuple[Any, ...], prob: Problem, names: set[str],
                broken: set[str]) -> CheckSpec | None:
    if not isinstance(data, dict) or not data:
        r.err(path, f"a check must be a mapping like {{gradient: f}}; kinds: {', '.join(KINDS)}")
        return None
    kinds = [k for k in data if k in KINDS]
    if len(kinds) != 1:
        if kinds:
            r.err(path + (kinds[1],), f"a check has exactly one kind, got {', '.join(kinds)}", key=True)
        else:
            first = next(iter(data))
            r.err(path + (first,), f"unknown check kind '{first}'{_did_you_mean(first, KINDS)} "
                  f"(kinds: {', '.join(KINDS)})", key=True)
        return None
    kind = kinds[0]
    r.keys({k: v for k, v in data.items() if k != kind}, path, CHECK_KEYS, f"{kind} check")
    target = data[kind]
    line, col = r.doc.where(path + (kind,), key=True)
    if not isinstance(target, str):
        what = "a list" if isinstance(target, list) else "a mapping" if isinstance(target, dict) else \
            f"a {type(target).__name__}"
        r.err(path + (kind,), f"{kind} target must be one name (a define, e.g. {kind}: f), got {what}; "
              "write one check per target")
        return None
    check = CheckSpec(kind=kind, target=str(target), wrt=tuple(prob.inputs), line=line, col=col)
    if target in broken:
        return None
    if target not in prob.define and not (kind == "value" and (target in prob.inputs or target in prob.constants)):
        known = set(prob.define) | (set(prob.inputs) | set(prob.constants) if kind == "value" else set())
        r.err(path + (kind,), f"{kind} target '{target}' is not defined"
              f"{_did_you_mean(target, sorted(known))} (targets: {', '.join(sorted(known)) or 'none'})")
        return None
    if "wrt" in data:
        wrt = data["wrt"] if isinstance(data["wrt"], list) else [data["wrt"]]
        if not wrt or not all(isinstance(w, str) for w in wrt):
            r.err(path + ("wrt",), "wrt must be a name or a list of names, e.g. wrt: [x, y]")
            return None
        for i, w in enumerate(wrt):
            wp = path + ("wrt", i) if isinstance(data["wrt"], list) else path + ("wrt",)
            if w not in prob.inputs and w not in prob.define:
                options = list(prob.inputs) + list(prob.define)
                r.err(wp, f"wrt '{w}' is not an input or defined intermediate{_did_you_mean(w, options)}")
            elif w == target:
                r.err(wp, f"wrt '{w}' is the target itself")
        if len(set(wrt)) != len(wrt):
            r.err(path + ("wrt",), "wrt lists a name twice")
        check.wrt = tuple(str(w) for w in wrt)
    if "tolerance" in data:
        check.tolerance = r.tolerance(data["tolerance"], path + ("tolerance",))
    check.modes = prob.modes
    if "modes" in data:
        check.modes = r.modes(data["modes"], path + ("modes",))
    if "expect" in data:
        check.expect = r.expr(data["expect"], path + ("expect",), set(), imag=kind in ("eigenvalues", "value"))
    if kind == "hvp":
        if "vector" not in data:
            r.err(path + (kind,), "an hvp check needs a 'vector'", key=True)
        else:
            check.vector = r.expr(data["vector"], path + ("vector",), names)
    elif "vector" in data:
        r.err(path + ("vector",), "'vector' only applies to hvp checks", key=True)
    read_check_grading(r, data, path, prob, check)
    return check


def _dedupe(diags: list[Diagnostic], deferred: list[Diagnostic], *, sort: bool = True) -> list[Diagnostic]:
    """A value the YAML reader refused (a number too long to hold) is not reported again at the
    same place by the schema (as, say, "must be a number")."""
    refused = {(d.line, d.col) for d in deferred if d.message.startswith(("integer is too long",
                                                                         "number is too long"))}
    out = [d for d in diags if d in deferred or (d.line, d.col) not in refused]
    return sorted(out, key=lambda d: (d.line, d.col)) if sort else out


def _name_checks(checks: list[CheckSpec]) -> None:
    """Readable, unique check names: ``hessian[f]``, then ``gradient[loss wrt x]`` on clashes."""
    for c in checks:
        c.name = f"{c.kind}[{c.target}]"
    seen: dict[str, int] = {}
    for c in checks:
        seen[c.name] = seen.get(c.name, 0) + 1
    for c in checks:
        if seen[c.name] > 1:
            c.name = f"{c.kind}[{c.target} wrt {','.join(c.wrt)}]"
    taken: set[str] = set()
    for c in checks:
        base, n = c.name, 2
        while c.name in taken:
            c.name, n = f"{base}#{n}", n + 1
        taken.add(c.name)


def loads(text: str, file: str = "<string>") -> ProblemFile:
    """Read problem-file text. Raises ProblemSpecError for file-level errors."""
    return from_located(load_yaml(text, file))


def from_data(data: Any, file: str = "<data>") -> ProblemFile:
    """Build problems from plain Python data shaped like a problem file (used by the API)."""
    return from_located(Located(data=data, file=file))


def from_located(doc: Located) -> ProblemFile:
    data = doc.data
    r = _Reader(doc)
    if not isinstance(data, dict):
        raise ProblemSpecError(doc.diag((), "a problem file is a mapping with 'version' and 'problems'"))
    r.keys(data, (), TOP_KEYS, "the file")
    if "version" not in data:
        r.err((), "missing 'version: 1' at the top of the file")
    elif data["version"] != 1 or isinstance(data["version"], bool):
        r.err(("version",), f"unsupported version {data['version']!r}; this verifier reads version 1")
    defaults: dict[str, Any] = {}
    if "defaults" in data:
        d = data["defaults"]
        if not isinstance(d, dict):
            r.err(("defaults",), "defaults must be a mapping")
        else:
            r.keys(d, ("defaults",), DEFAULT_KEYS, "defaults")
            if "dtype" in d:
                defaults["dtype"] = r.dtype(d["dtype"], ("defaults", "dtype")) or "float64"
            if "tolerance" in d:
                defaults["tolerance"] = r.tolerance(d["tolerance"], ("defaults", "tolerance"))
            if "modes" in d:
                defaults["modes"] = r.modes(d["modes"], ("defaults", "modes"))
    problems = data.get("problems")
    if not isinstance(problems, list):
        r.err(("problems",) if "problems" in data else (), "'problems' must be a list of problems")
        problems = []
    deferred = [d for p, d in doc.deferred if len(p) < 2 or p[0] != "problems"]
    file_diags = r.diags + deferred
    if file_diags:
        raise ProblemSpecError(_dedupe(file_diags, deferred, sort=False))
    out: list[Problem] = []
    ids: dict[str, int] = {}
    for i, pdata in enumerate(problems):
        pr = _Reader(doc)
        prob = _read_problem(pr, pdata, ("problems", i), defaults)
        prob.errors = [d for p, d in doc.deferred if p[:2] == ("problems", i)] + pr.diags
        if prob.id in ids:
            prob.errors.append(doc.diag(("problems", i, "id"), f"duplicate problem id '{prob.id}' "
                                        f"(first at line {ids[prob.id]})"))
            prob.id = f"{prob.id}#{i + 1}"
        else:
            ids[prob.id] = prob.line
        prob.errors = _dedupe(prob.errors, [d for p, d in doc.deferred if p[:2] == ("problems", i)])
        out.append(prob)
    return ProblemFile(path=doc.file, problems=out)


def load(path: str | Path) -> ProblemFile:
    """Read a problem file. Raises ProblemSpecError for file-level errors."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemSpecError(Diagnostic(str(path), 1, 1, f"cannot read file: {exc}")) from None
    return loads(text, str(path))


