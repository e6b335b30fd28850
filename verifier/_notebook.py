"""Read a student submission into a list of code cells.

Three formats are understood:

* ``.ipynb``: an nbformat-4 notebook (read with :mod:`json`; only code cells are kept),
* ``.py``: a script, which is one cell,
* a notebook exported as text (any other name): ``In [N]:`` lines start code cells, and a
  cell's code is the longest run of blank-line separated chunks after the marker that
  parses as Python (what follows is its printed output or the next markdown cell).

Anything else raises :class:`NotASubmission`. IPython magics and shell escapes
(``%time``, ``!pip install``) are replaced by ``pass`` with a note, so the rest of the
cell still runs and line numbers in tracebacks stay right.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import VerifierError

MAX_BYTES = 20 * 1024 * 1024
PARSE_BUDGET = 300_000  # lines ast.parse may see while splitting a text export (a few seconds)
_MARKER = re.compile(r"^In \[\s*(\d*)\s*\]:[ \t]?(.*)$")
# Cell magics whose body is still Python: only their first line is dropped.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
# Names that appear in printed reprs (``tensor([6.])``, ``array([1.], dtype=float32)``).
_REPR_CALLS = {"tensor", "array", "Parameter", "matrix", "dtype", "device"}


class NotASubmission(VerifierError, ValueError):
    """The file is not a notebook, a script or a notebook exported as text."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class Submission:
    """The code cells of a submission, in order, and notes about what was skipped."""

    cells: list[str]
    notes: list[str] = field(default_factory=list)
    format: str = "py"  # "ipynb" | "py" | "text"


@dataclass(frozen=True)
class Block:
    """A piece of a text export: ``markdown``, ``code`` (``label`` is its N) or ``output``."""

    kind: str
    text: str
    label: str = ""


def read_submission(path: str | Path) -> Submission:
    """Read ``path`` into code cells; raise :class:`NotASubmission` for anything else."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise NotASubmission(f"file is {size} bytes; the limit is {MAX_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise NotASubmission(f"cannot read file: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise NotASubmission("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotASubmission("not UTF-8 text") from None
    suffix = path.suffix.lower()
    if suffix == ".ipynb" or (suffix != ".py" and text.lstrip().startswith("{")):
        cells, fmt = notebook_cells(text), "ipynb"
    elif suffix == ".py":
        cells, fmt = [text], "py"
    else:
        cells = [b.text for b in split_text_export(text) if b.kind == "code"]
        fmt = "text"
    notes: list[str] = []
    cleaned = [strip_magics(code, index, notes) for index, code in enumerate(cells, 1)]
    return Submission(cleaned, notes, fmt)


def notebook_cells(text: str) -> list[str]:
    """The sources of the code cells of an nbformat-4 notebook given as JSON text."""
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotASubmission(f"not valid JSON: {str(exc)[:100]}") from None
    if type(nb) is not dict or type(nb.get("cells")) is not list:
        if type(nb) is dict and "worksheets" in nb:
            raise NotASubmission("nbformat 3 notebook; save it again with Jupyter (nbformat 4)")
        raise NotASubmission("JSON without a list of `cells`: not a Jupyter notebook")
    if nb.get("nbformat", 4) != 4:
        raise NotASubmission(f"unsupported nbformat {nb.get('nbformat')!r}; expected 4")
    cells = []
    for number, cell in enumerate(nb["cells"], 1):
        if type(cell) is not dict or type(cell.get("cell_type")) is not str:
            raise NotASubmission(f"notebook cell {number} is not a cell object")
        if cell["cell_type"] != "code":
            continue
        source = cell.get("source", "")
        if type(source) is list and all(type(s) is str for s in source):
            source = "".join(source)
        if type(source) is not str:
            raise NotASubmission(f"notebook cell {number} has a source that is not text")
        cells.append(source)
    return cells


def split_text_export(text: str) -> list[Block]:
    """Split a notebook exported as text into markdown, code and output blocks."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _MARKER.match(line)]
    if not starts:
        raise NotASubmission(
            "no `In [N]:` cell markers: expected a .ipynb notebook, a .py script "
            "or a notebook exported as text"
        )
    blocks: list[Block] = []
    budget = [PARSE_BUDGET]
    head = "\n".join(lines[: starts[0]]).strip("\n")
    if head.strip():
        blocks.append(Block("markdown", head))
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        match = _MARKER.match(lines[start])
        assert match is not None
        segment = ([match.group(2)] if match.group(2).strip() else []) + lines[start + 1 : end]
        n = _code_extent(segment, budget)
        blocks.append(Block("code", "\n".join(segment[:n]).strip("\n"), match.group(1)))
        rest = _split_on_double_blank(segment[n:])
        is_last = k + 1 == len(starts)
        for j, piece in enumerate(rest):
            kind = "markdown" if (j == len(rest) - 1 and not is_last) else "output"
            blocks.append(Block(kind, piece))
    return blocks


def _is_blank(line: str) -> bool:
    return not line.strip()


def _split_on_double_blank(lines: list[str]) -> list[str]:
    """Pieces of ``lines`` separated by two or more blank lines (the exporter's separator)."""
    pieces: list[str] = []
    current: list[str] = []
    blanks = 0
    for line in lines:
        if _is_blank(line):
            blanks += 1
            continue
        if blanks >= 2 and current:
            pieces.append("\n".join(current))
            current = []
        elif blanks and current:
            current.extend([""] * blanks)
        current.append(line)
        blanks = 0
    if current:
        pieces.append("\n".join(current))
    return pieces


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _neutralize(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")):
        return line[: len(line) - len(stripped)] + "pass"
    return line


def _code_extent(segment: list[str], budget: list[int], lookahead: int = 8) -> int:
    """How many lines of ``segment`` are the cell's code (see the module docstring).

    Linear in practice: a prefix that parses ends at a top-level statement, so a longer
    prefix parses exactly when the text from the start of its last top-level statement
    does; only that tail is parsed again. Gives up ``lookahead`` chunks after the last fit,
    or when ``budget`` (lines left to parse in the whole file) runs out.
    """
    starts, ends, i = [], [], 0
    while i < len(segment):
        while i < len(segment) and _is_blank(segment[i]):
            i += 1
        if i == len(segment):
            break
        starts.append(i)
        while i < len(segment) and not _is_blank(segment[i]):
            i += 1
        ends.append(i)
    code = [_neutralize(line) for line in segment]
    good: list[int] = []  # chunks after which the prefix parses
    tail = 0  # first line of the last top-level statement of the longest good prefix
    for k, end in enumerate(ends):
        if good and k - good[-1] > lookahead or not good and k >= lookahead or budget[0] <= 0:
            break
        budget[0] -= end - tail + 10  # lines, plus the cost of one more call
        tree = _parse(code[tail:end]) or _parse(segment[tail:end])
        if tree is not None:
            good.append(k)
            if tree.body:
                last = tree.body[-1]
                decorators = getattr(last, "decorator_list", [])
                tail += min([last.lineno] + [d.lineno for d in decorators]) - 1
    if not good:
        return _before_double_blank(segment)  # a cell with a syntax error
    # Drop trailing chunks that look like printed reprs (``tensor([6.])``) rather than code.
    while (len(good) > 1 and good[-2] == good[-1] - 1
           and starts[good[-1]] - ends[good[-2]] >= 2
           and _looks_like_output("\n".join(code[starts[good[-1]] : ends[good[-1]]]))):
        good.pop()
    return ends[good[-1]]


def _parse(lines: list[str]) -> ast.Module | None:
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _before_double_blank(segment: list[str]) -> int:
    """Number of lines before the first run of two blank lines after some text."""
    last, blanks = -1, 0
    for i, line in enumerate(segment):
        if _is_blank(line):
            blanks += 1
            continue
        if blanks >= 2 and last >= 0:
            break
        blanks, last = 0, i
    return last + 1


def _looks_like_output(chunk: str) -> bool:
    """Whether a chunk that parses is more likely printed output than code.

    Printed text such as ``tensor([6.])``, ``loss:  tensor(16.6)`` or ``x =  tensor([1.])``
    happens to be valid Python (an expression, an annotation, an assignment) but would
    fail or clobber a variable if run.
    """
    try:
        tree = ast.parse(chunk)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    evidence = False  # a repr call, a bare label or a name: something other than a constant
    for stmt in tree.body:
        if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            evidence = True
            value: ast.expr = stmt.annotation
        elif isinstance(stmt, (ast.Assign, ast.Expr)):
            value = stmt.value
        else:
            return False
        calls = 0
        for node in ast.walk(value):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in _REPR_CALLS:
                    calls += 1
                elif isinstance(func, ast.Attribute) and ast.unparse(func) == "torch.Size":
                    calls += 1
                else:
                    return False
            elif isinstance(node, ast.Name) and isinstance(stmt, ast.Expr):
                evidence = True
        if isinstance(stmt, ast.Assign) and calls == 0:
            return False
        evidence = evidence or calls > 0
    return evidence


def strip_magics(code: str, index: int, notes: list[str]) -> str:
    """Replace IPython magics and ``!`` shell lines by ``pass``, noting each one."""
    lines = code.split("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if name not in _PYTHON_CELL_MAGICS:
            notes.append(f"cell {index}: skipped, it is a %%{name} cell magic, not Python")
            return ""
    candidates = [n for n, line in enumerate(lines) if line.lstrip().startswith(("%", "!"))]
    if not candidates or _parses(code):
        return code
    starts = _logical_line_starts(code)
    for n in candidates:
        if starts is None or n in starts:
            notes.append(f"cell {index}: skipped IPython line {n + 1}: {lines[n].strip()[:80]}")
            lines[n] = _neutralize(lines[n])
    return "\n".join(lines)


def _logical_line_starts(code: str) -> set[int] | None:
    """0-based numbers of the lines where a new statement starts; None if tokenizing fails."""
    starts, at_start = set(), True
    skip = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.NEWLINE:
                at_start = True
            elif at_start and tok.type not in skip:
                starts.add(tok.start[0] - 1)
                at_start = False
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    return starts
