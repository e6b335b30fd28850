"""The grading half of a problem file: where a student's answer is found, and which target a
submitted function implements.

``answer`` names what the submission computed, in the student's own names (``e``, ``I`` and
``sum`` are fine: they are not expressions of the problem language):

* an access path: a name followed by attributes and indices, ``x.grad``, ``out[0]``,
  ``res["loss"]``, ``H[0, 1]``, ``model.fc.weight.grad``. It is parsed here with :mod:`ast`
  against a whitelist (names, attributes that do not start with ``_``, integer or string
  literal indices) and read in the sandboxed child by exact-type checks (see
  ``_capture.read_path``): tensors and arrays give only the attributes in :data:`ATTRIBUTES`;
  an ``nn.Module`` or a plain object gives its parameters, buffers, submodules and instance
  attributes, read from its ``__dict__``, and only if its class overrides no attribute access;
* a list of such paths: the first one present in the submission is graded;
* ``any``: every tensor, array and ``.grad`` in the namespace of the right size is a candidate;
  the first that matches passes, and the feedback names it.

``after`` (on a check, or on ``grading`` as the problem's default) reads the answer as it was
right after one cell: an integer is the N-th code cell of the notebook (from 1), a string is
the text of a heading in the handout (a markdown heading, or the first comment line of a code
cell); the answer is read after the last code cell of that heading's section.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import re
from dataclasses import dataclass, field
from typing import Any

from . import _parse
from ._errors import Diagnostic

ATTRIBUTES = ("grad", "data", "real", "imag", "T")
MAX_PATH = 200  # characters in one access path
MAX_STEPS = 8  # attributes and indices after the name
MAX_ALTERNATIVES = 16
ANY = "any"
GRADING_KEYS = ("bind", "function", "after")
FUNCTION_KEYS = ("name", "target", "wrt", "points")
FUNCTION_KINDS = ("value", "gradient", "hessian", "eigenvalues")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Step = tuple[str, Any]  # ("attr", "grad") | ("index", 0) | ("index", "loss") | ("index", [0, 1])


@dataclass(frozen=True)
class AnswerPath:
    """One access path: ``name`` then ``steps``; ``text`` is its canonical spelling."""

    name: str
    steps: tuple[Step, ...] = ()

    @property
    def text(self) -> str:
        out = self.name
        for kind, value in self.steps:
            if kind == "attr":
                out += f".{value}"
            elif isinstance(value, list):
                out += "[" + ", ".join(map(str, value)) + "]"
            else:
                out += f"[{value!r}]"
        return out

    def to_json(self) -> list[Any]:
        return [self.name, [[k, v] for k, v in self.steps]]


@dataclass
class FunctionTarget:
    """``grading.function``: the submission's callable ``name`` implements ``target`` as a
    function of ``wrt`` (its positional arguments, in order); ``points`` are extra points
    given by the key (each maps every name of ``wrt`` to a value)."""

    name: str
    target: str
    wrt: tuple[str, ...]
    points: list[dict[str, Any]] = field(default_factory=list)


class PathError(ValueError):
    """An answer that is not a safe access path; ``col`` is 0-based within the text."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.message, self.col = message, col


def student_name(value: Any) -> bool:
    """A Python identifier the submission may use: not a keyword, not a dunder."""
    return (isinstance(value, str) and bool(_NAME.match(value)) and not keyword.iskeyword(value)
            and not value.startswith("__"))


def parse_path(text: Any) -> AnswerPath:
    """``x.grad``, ``out[0]``, ``res["loss"]`` as an :class:`AnswerPath`; raises PathError."""
    if not isinstance(text, str):
        raise PathError(f"an answer is a name or an access path like x.grad, not {type(text).__name__}")
    if len(text) > MAX_PATH:
        raise PathError(f"answer path longer than {MAX_PATH} characters")
    try:
        tree = _parse.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = max((exc.offset or 1) - 1, 0)
        raise PathError(f"answer '{text}' is not an access path: {exc.msg}", col) from None
    steps: list[Step] = []
    node = tree.body
    while not isinstance(node, ast.Name):
        if isinstance(node, ast.Attribute):
            if node.attr not in ATTRIBUTES and node.attr.startswith("_"):
                allowed = ", ".join("." + a for a in ATTRIBUTES)
                raise PathError(f"attribute '.{node.attr}' is not readable in an answer (allowed: {allowed}, "
                                "or a public member of a module or plain object)", node.value.end_col_offset or 0)
            steps.append(("attr", node.attr))
        elif isinstance(node, ast.Subscript):
            steps.append(("index", _index(node.slice)))
        else:
            raise PathError(f"answer '{text}' is not an access path: only names, attributes "
                            "and literal indices are allowed", getattr(node, "col_offset", 0))
        node = node.value  # type: ignore[assignment]
        if len(steps) > MAX_STEPS:
            raise PathError(f"answer path has more than {MAX_STEPS} steps")
    if not student_name(node.id):
        raise PathError(f"answer '{node.id}' is not a valid name", node.col_offset)
    return AnswerPath(node.id, tuple(reversed(steps)))


def _index(node: ast.expr) -> Any:
    if isinstance(node, ast.Tuple):
        items = [_int(e) for e in node.elts]
        if not items or len(items) > 8:
            raise PathError("a tuple index has 1 to 8 integers", node.col_offset)
        return items
    if isinstance(node, ast.Constant) and type(node.value) is str and len(node.value) <= 100:
        return node.value
    return _int(node)


def _int(node: ast.expr) -> int:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value < 2**31:
        return sign * node.value
    raise PathError("an index must be an integer or a string literal", getattr(node, "col_offset", 0))


def parse_answer(value: Any) -> tuple[tuple[AnswerPath, ...], bool]:
    """The alternatives of an ``answer`` (a path or a list of them) and whether ``any`` is one.

    Raises PathError with the position of the bad alternative in ``col`` (-1 - its index for
    a list item, so the caller can point at it).
    """
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_ALTERNATIVES:
        raise PathError(f"answer lists 1 to {MAX_ALTERNATIVES} alternatives")
    paths: list[AnswerPath] = []
    search = False
    for i, item in enumerate(items):
        if item == ANY:
            search = True
            continue
        try:
            paths.append(parse_path(item))
        except PathError as exc:
            if isinstance(value, list):
                exc.col = -1 - i
            raise
    return tuple(dict.fromkeys(paths)), search


def parse_after(value: Any) -> int | str:
    """A code-cell number (from 1) or heading text; raises PathError."""
    if type(value) is int and 1 <= value <= 100_000:
        return value
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        return value.strip()
    raise PathError("after is a code-cell number (1, 2, ...) or the text of a heading in the handout")


def normalize_heading(text: str) -> str:
    """Lower case, accents removed, punctuation and spaces collapsed: how headings are matched."""
    import unicodedata

    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _did_you_mean(word: Any, options: list[str]) -> str:
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return ()
    inner = [_shape(v) for v in value]
    if not inner:
        return (0,)
    if any(s is None or s != inner[0] for s in inner):
        return None
    return (len(value),) + inner[0]  # type: ignore[operator]


def read_check_grading(r: Any, data: dict[str, Any], path: tuple[Any, ...], prob: Any, check: Any) -> None:
    """A check's ``answer``, ``after`` and ``points``, with every error at its position."""
    if "answer" in data:
        try:
            check.answers, check.search = parse_answer(data["answer"])
            check.answer = " | ".join([a.text for a in check.answers] + (["any"] if check.search else []))
        except PathError as exc:
            apath = path + ("answer",) + ((-1 - exc.col,) if exc.col < 0 else ())
            line, col = r.doc.where(apath)
            col += (1 if r.doc.styles.get(apath) in ("'", '"') else 0) + max(exc.col, 0)
            r.diags.append(Diagnostic(r.doc.file, line, col, exc.message))
    check.after = prob.grading.after
    if "after" in data:
        try:
            check.after = parse_after(data["after"])
        except PathError as exc:
            r.err(path + ("after",), exc.message)
    if "points" in data:
        pts = r.number(data["points"], path + ("points",), "points", minimum=0)
        check.points = 1.0 if pts is None else pts
        if "answer" not in data and not _gradable(check, prob.grading):
            t = prob.grading.target
            why = (f"grading.function '{t.name}' implements '{t.target}' wrt {', '.join(t.wrt)}" if t
                   else "the problem has no grading.function")
            r.err(path + ("points",), f"this check has points but cannot be graded: it has no "
                  f"'answer' and {why}")


def read_grading(r: Any, data: Any, path: tuple[Any, ...], prob: Any) -> Any:
    from ._spec import Grading

    g = Grading()
    if data is None:
        return g
    if not isinstance(data, dict):
        r.err(path, "grading must be a mapping with bind, function and/or after")
        return g
    r.keys(data, path, GRADING_KEYS, "grading")
    bind = data.get("bind", {})
    if not isinstance(bind, dict):
        r.err(path + ("bind",), "bind must map input names to names in the submission")
    else:
        for k, v in bind.items():
            if k not in prob.inputs and k not in prob.constants:
                r.err(path + ("bind", k), f"bind: '{k}' is not an input or constant"
                      f"{_did_you_mean(k, list(prob.inputs) + list(prob.constants))}", key=True)
            else:
                try:
                    g.bind[k] = parse_path(v).text  # a name or an access path, like answer
                except PathError as exc:
                    r.err(path + ("bind", k), f"bind target: {exc.message}", key=True)
    if "function" in data:
        g.target = _read_function(r, data["function"], path + ("function",), prob)
        g.function = g.target.name if g.target else None
    if "after" in data:
        try:
            g.after = parse_after(data["after"])
        except PathError as exc:
            r.err(path + ("after",), exc.message)
    return g


def _student_name(r: Any, value: Any, path: tuple[Any, ...], what: str) -> bool:
    """A name in the submission: any Python identifier (``e``, ``I``, ``sum`` included)."""
    if not student_name(value):
        r.err(path, f"{what} '{value}' is not a valid Python name", key=True)
        return False
    return True


def _read_function(r: Any, data: Any, path: tuple[Any, ...], prob: Any) -> FunctionTarget | None:
    """``function: f`` or ``function: {name: f, target: y, wrt: [x, t], points: [...]}``."""
    spec = data if isinstance(data, dict) else {"name": data}
    if isinstance(data, dict):
        r.keys(data, path, FUNCTION_KEYS, "grading function")
    npath = path + ("name",) if isinstance(data, dict) else path
    if "name" not in spec:
        r.err(path, "grading function needs the 'name' of the submission's function")
        return None
    if not _student_name(r, spec["name"], npath, "grading function"):
        return None
    targets = list(prob.define)  # default: `function:`'s f, else the last define (the final expression)
    target = spec.get("target", "f" if "f" in targets else targets[-1] if targets else None)
    if target not in prob.define:
        where = path + ("target",) if "target" in spec else path
        r.err(where, f"grading function: target {target!r} is not defined; give 'target', one of "
              f"{', '.join(targets) or 'none'}")
        return None
    wrt = spec.get("wrt", list(prob.inputs))
    wrt = wrt if isinstance(wrt, list) else [wrt]
    for i, w in enumerate(wrt):
        if w not in prob.inputs:
            r.err(path + ("wrt", i) if isinstance(spec.get("wrt"), list) else path + ("wrt",),
                  f"grading function: wrt '{w}' is not an input{_did_you_mean(w, list(prob.inputs))}")
            return None
    if len(set(wrt)) != len(wrt) or not wrt:
        r.err(path + ("wrt",), "grading function: wrt lists each argument once")
        return None
    points = spec.get("points", [])
    good: list[dict[str, Any]] = []
    if not isinstance(points, list):
        r.err(path + ("points",), "grading function: points is a list of mappings argument -> value")
        points = []
    for i, pt in enumerate(points):
        ppath = path + ("points", i)
        if not isinstance(pt, dict) or set(pt) != set(wrt):
            r.err(ppath, f"a point gives a value to each of {', '.join(wrt)} and nothing else")
            continue
        ok = True
        for name, value in pt.items():
            if _shape(value) != prob.inputs[name].shape or not _all_numbers(value):
                r.err(ppath + (name,), f"'{name}' needs numbers of shape {list(prob.inputs[name].shape)}")
                ok = False
        if ok:
            good.append(pt)
    return FunctionTarget(str(spec["name"]), str(target), tuple(str(w) for w in wrt), good)


def _all_numbers(value: Any) -> bool:
    if isinstance(value, list):
        return all(_all_numbers(v) for v in value)
    return type(value) in (int, float) and math.isfinite(value)


def _gradable(check: Any, g: Any) -> bool:
    """Whether grading can score ``check``: an answer, or the submitted function's target."""
    if check.answers or check.search:
        return True
    t = g.target
    return (t is not None and check.target == t.target and check.kind in FUNCTION_KINDS
            and (check.kind == "value" or set(check.wrt) <= set(t.wrt)))
