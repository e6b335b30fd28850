"""Problem file -> parsed spec: the strict schema of PROBLEM_FORMAT.md.

``load`` reads a file and returns a ``ProblemFile``. Errors that make the whole file
unusable (bad YAML, tags, no ``problems``) raise ``ProblemSpecError``; errors inside
one problem are stored on that problem (``Problem.errors``) so the others still run.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import Diagnostic, ProblemSpecError
from ._expr import CONSTANTS, RESERVED_FUNCTIONS, Expr, ExprError, Origin, list_of, parse
from ._gradekey import AnswerPath, FunctionTarget, read_check_grading, read_grading
from ._yamlload import Located, load_yaml

KINDS = ("value", "gradient", "jacobian", "hessian", "eigenvalues", "hvp")
MODES = ("backward", "functional", "jacrev", "jacfwd", "hessian_fwdrev")
DTYPES = ("float64", "float32")
TOP_KEYS = ("version", "defaults", "problems")
DEFAULT_KEYS = ("dtype", "tolerance", "modes")
PROBLEM_KEYS = ("id", "title", "tags", "inputs", "constants", "function", "define", "checks",
                "dtype", "tolerance", "xfail", "grading", "modes", "implementation")
CHECK_KEYS = ("wrt", "expect", "tolerance", "modes", "answer", "points", "vector", "after")
GENERATOR_KEYS = {"random": ("random", "shape", "seed", "low", "high", "mean", "std"),
                  "fill": ("fill", "shape")}
_ID = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_IMPLEMENTATION = re.compile(rf"{_DOTTED}:{_DOTTED}\Z")  # module.path:attr.path
RESERVED = set(RESERVED_FUNCTIONS) | CONSTANTS | {"I"}
MAX_NDIM = 16           # dimensions of an array (numpy and torch allow more; no problem needs them)
MAX_SEED = 2**64 - 1    # torch.Generator.manual_seed takes a 64-bit seed
FLOAT_MAX = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38}


@dataclass
class InputSpec:
    """A named array: a literal (``expr``) or a generator (``generator``)."""

    name: str
    shape: tuple[int, ...]
    expr: Expr | None = None
    generator: dict[str, Any] | None = None
    line: int = 0
    col: int = 0


@dataclass
class CheckSpec:
    kind: str
    target: str
    wrt: tuple[str, ...]
    name: str = ""
    expect: Expr | None = None
    vector: Expr | None = None
    tolerance: dict[str, float] = field(default_factory=dict)
    modes: tuple[str, ...] | None = None
    answer: str | None = None  # the answer as written, for display: "x.grad", "dy_dx | x.grad", "any"
    answers: tuple[AnswerPath, ...] = ()  # alternatives, first present is graded (see _gradekey)
    search: bool = False  # `answer: any` (or `any` among the alternatives)
    after: int | str | None = None  # read as it was after this code cell / heading's section
    points: float = 1.0
    line: int = 0
    col: int = 0


@dataclass
class Grading:
    bind: dict[str, str] = field(default_factory=dict)
    function: str | None = None  # the submission's callable (its name)
    target: FunctionTarget | None = None  # what that callable implements, and its wrt
    after: int | str | None = None  # default `after` of the problem's answers


@dataclass
class Problem:
    id: str
    file: str
    line: int
    col: int
    title: str = ""
    tags: tuple[str, ...] = ()
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    constants: dict[str, InputSpec] = field(default_factory=dict)
    define: dict[str, Expr] = field(default_factory=dict)
    checks: list[CheckSpec] = field(default_factory=list)
    dtype: str = "float64"
    tolerance: dict[str, float] = field(default_factory=dict)
    modes: tuple[str, ...] | None = None
    xfail: str | None = None
    grading: Grading = field(default_factory=Grading)
    errors: list[Diagnostic] = field(default_factory=list)
    # ``module:callable`` that torch differentiates instead of the formula (see _implementation)
    implementation: str | None = None
    implementation_at: tuple[int, int] = (0, 0)


@dataclass
class ProblemFile:
    path: str
    problems: list[Problem]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for p in self.problems for d in p.errors]


def _did_you_mean(word: Any, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Reader:
    """Walks one problem's data, collecting every diagnostic instead of stopping."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.diags: list[Diagnostic] = []

    def err(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        self.diags.append(self.doc.diag(path, message, key=key))

    def keys(self, data: dict[str, Any], path: tuple[Any, ...], allowed: tuple[str, ...], what: str) -> None:
        for k in data:
            if k not in allowed:
                self.err(path + (k,), f"unknown key '{k}' in {what}{_did_you_mean(k, allowed)}", key=True)

    def origin(self, path: tuple[Any, ...]) -> Origin:
        line, col = self.doc.where(path)
        return Origin(line, col + (1 if self.doc.styles.get(path) in ("'", '"') else 0))

    def expr(self, value: Any, path: tuple[Any, ...], names: set[str], *, imag: bool = False) -> Expr | None:
        """A YAML value (expression string, number, or nested list of those) as one Expr."""
        try:
            return self._expr(value, path, names, imag)
        except ExprError as exc:
            self.diags.append(Diagnostic(self.doc.file, exc.line, exc.col, exc.message))
            return None

    def _expr(self, value: Any, path: tuple[Any, ...], names: set[str], imag: bool) -> Expr:
        if isinstance(value, list):
            if not value:
                line, col = self.doc.where(path)
                raise ExprError("empty list", line=line, col=col)
            items = [self._expr(v, path + (i,), names, imag) for i, v in enumerate(value)]
            return list_of(items, self.origin(path))
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            line, col = self.doc.where(path)
            raise ExprError(f"expected an expression or number, got {type(value).__name__}",
                            line=line, col=col)
        if isinstance(value, float) and not math.isfinite(value):
            line, col = self.doc.where(path)
            raise ExprError("numbers must be finite", line=line, col=col)
        return parse(value, names, self.origin(path), allow_imag=imag)

    def number(self, value: Any, path: tuple[Any, ...], what: str, *,
               minimum: float | None = None) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.err(path, f"{what} must be a number, got {value!r}")
            return None
        if minimum is not None and value < minimum:
            self.err(path, f"{what} must be >= {minimum}, got {value!r}")
            return None
        return float(value)

    def finite(self, value: Any, path: tuple[Any, ...], what: str, dtype: str) -> float | None:
        """A number that the problem's dtype holds without overflowing to inf."""
        v = self.number(value, path, what)
        if v is not None and abs(v) > FLOAT_MAX[dtype]:
            self.err(path, f"{what} {value!r} overflows {dtype} (largest {FLOAT_MAX[dtype]:.7g})")
            return None
        return v

    def tolerance(self, value: Any, path: tuple[Any, ...]) -> dict[str, float]:
        if not isinstance(value, dict):
            self.err(path, "tolerance must be a mapping like {rtol: 1.0e-7, atol: 1.0e-7}")
            return {}
        self.keys(value, path, ("rtol", "atol"), "tolerance")
        out = {}
        for k in ("rtol", "atol"):
            if k in value:
                v = self.number(value[k], path + (k,), k, minimum=0.0)
                if v is not None:
                    out[k] = v
        return out

    def modes(self, value: Any, path: tuple[Any, ...]) -> tuple[str, ...] | None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            self.err(path, f"modes must be a list of: {', '.join(MODES)}")
            return None
        for i, m in enumerate(items):
            if m not in MODES:
                self.err(path + (i,) if isinstance(value, list) else path,
                         f"unknown mode '{m}'{_did_you_mean(m, MODES)} (modes: {', '.join(MODES)})")
        return tuple(m for m in items if m in MODES)

    def dtype(self, value: Any, path: tuple[Any, ...]) -> str | None:
        if value not in DTYPES:
            self.err(path, f"unknown dtype '{value}'{_did_you_mean(value, DTYPES)} "
                     f"(dtypes: {', '.join(DTYPES)})")
            return None
        return str(value)

    def name(self, value: Any, path: tuple[Any, ...], what: str) -> bool:
        if not isinstance(value, str) or not _NAME.match(value) or value.startswith("__"):
            self.err(path, f"{what} '{value}' is not a valid name", key=True)
            return False
        if value in RESERVED:
            self.err(path, f"{what} '{value}' shadows a built-in name of the expression language", key=True)
            return False
        return True

    def array(self, name: str, value: Any, path: tuple[Any, ...], dtype: str = "float64") -> InputSpec | None:
        spec = self._array(name, value, path, dtype)
        if spec is not None:
            spec.line, spec.col = self.doc.where(path)
        return spec

    def _array(self, name: str, value: Any, path: tuple[Any, ...], dtype: str) -> InputSpec | None:
        if isinstance(value, dict):
            kind = "random" if "random" in value else "fill" if "fill" in value else None
            if kind is None:
                self.err(path, f"'{name}' must be a number, a nested list, {{random: uniform|normal, "
                         "shape, seed}} or {fill: value, shape}")
                return None
            self.keys(value, path, GENERATOR_KEYS[kind], f"generator of '{name}'")
            shape = value.get("shape", [])
            if not isinstance(shape, list) or not all(type(s) is int and 0 <= s <= 100_000 for s in shape):
                self.err(path + ("shape",), "shape must be a list of non-negative integers (at most 100,000)")
                return None
            if len(shape) > MAX_NDIM:
                self.err(path + ("shape",), f"array has {len(shape)} dimensions (limit {MAX_NDIM})")
                return None
            if math.prod(shape) > 1_000_000:
                self.err(path + ("shape",), "array is too large (limit 1,000,000 elements)")
                return None
            gen: dict[str, Any] = {"kind": kind, "shape": tuple(shape)}
            if kind == "random":
                if value["random"] not in ("uniform", "normal"):
                    self.err(path + ("random",), f"random must be 'uniform' or 'normal', got "
                             f"{value['random']!r}{_did_you_mean(value['random'], ('uniform', 'normal'))}")
                    return None
                gen["dist"] = value["random"]
                seed = value.get("seed", 0)
                if type(seed) is not int or not 0 <= seed <= MAX_SEED:
                    self.err(path + ("seed",), "seed must be an integer from 0 to 2**64 - 1")
                    return None
                gen["seed"] = seed
                params = ("low", "high") if gen["dist"] == "uniform" else ("mean", "std")
                for p, default in zip(params, (0.0, 1.0)):
                    gen[p] = default
                    if p in value:
                        v = self.finite(value[p], path + (p,), p, dtype)
                        gen[p] = default if v is None else v
                for p in ({"low", "high", "mean", "std"} - set(params)) & set(value):
                    self.err(path + (p,), f"'{p}' does not apply to random: {gen['dist']}", key=True)
            else:
                v = self.finite(value["fill"], path + ("fill",), "fill", dtype)
                if v is None:
                    return None
                gen["fill"] = v
            return InputSpec(name, tuple(shape), generator=gen)
        shape = _literal_shape(value)
        if shape is None:
            self.err(path, f"'{name}' is a ragged or empty list; arrays must be rectangular")
            return None
        if len(shape) > MAX_NDIM:
            self.err(path, f"'{name}' is nested {len(shape)} lists deep (limit {MAX_NDIM} dimensions)")
            return None
        e = self.expr(value, path, set())
        return None if e is None else InputSpec(name, shape, expr=e)


def _literal_shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return ()
    if not value:
        return None
    inner = [_literal_shape(v) for v in value]
    if any(s is None or s != inner[0] for s in inner):
        return None
    return (len(value),) + inner[0]  # type: ignore[operator]


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
        what = {list: "a list", dict: "a mapping"}.get(type(target), f"a {type(target).__name__}")
        r.err(path + (kind,), f"{kind} target must be one name (a define, e.g. {kind}: f), got {what}; "
              "write one check per target")
        return None
    check = CheckSpec(kind=kind, target=str(target), wrt=tuple(prob.inputs), line=line, col=col)
    known = set(prob.define) | (set(prob.inputs) | set(prob.constants) if kind == "value" else set())
    if target in broken:
        return None
    if target not in known:
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


