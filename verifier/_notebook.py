"""Read a student submission into code cells, as Jupyter would show them.

Formats:

* ``.ipynb``: read with :mod:`nbformat`, which upgrades old versions (nbformat 3) to 4 and
  validates; a notebook that does not validate but has usable cells is still read, with a note.
* ``.py``: split into cells at nbconvert's ``# In[N]:`` markers or jupytext's ``# %%``
  markers (``# %% [markdown]`` cells are markdown); without markers, a Colab or jupytext-light
  export (markdown as string statements or ``#`` paragraphs) is read by :mod:`._pyexport`, and
  any other script is one cell.
* a notebook exported as text (any other name): ``In [N]:`` lines start code cells; a cell's
  code is the longest run of chunks after the marker that parses as Python, and printed output
  (what follows two blank lines once the code may have printed) is never taken as code.

Each code cell keeps its label as the notebook shows it (``In [17]``; ``In [ ]`` for a cell
never run) and the handout's headings are kept, so an answer can be read "after the section
titled ...". Anything else raises :class:`NotASubmission`. IPython magics and shell escapes
(``%time``, ``!pip install``) are replaced by ``pass`` with a note, so the rest of the cell
still runs and line numbers in tracebacks stay right.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _parse
from ._errors import VerifierError
from ._gradekey import normalize_heading
from ._sections import COMMENT_LEVEL, MARKDOWN_LEVEL, answer_cell

MAX_BYTES = 20 * 1024 * 1024
_PY_MARKER = re.compile(r"^# ?In\[\s*(\d*)\s*\]:?\s*$")
_PERCENT = re.compile(r"^# ?%%(?!%)(.*)$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
# Cell magics whose body is still Python: only their first line is dropped.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}


class NotASubmission(VerifierError, ValueError):
    """The file is not a notebook, a script or a notebook exported as text."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Mark:
    """A heading: ``before`` code cells precede it; ``level`` 1-6 for ``#`` headings."""

    before: int
    level: int
    text: str  # normalized (see ``_gradekey.normalize_heading``)


@dataclass
class Submission:
    """The code cells of a submission, in order, their labels, headings and notes."""

    cells: list[str]
    notes: list[str] = field(default_factory=list)
    format: str = "py"  # "ipynb" | "py" | "text"
    labels: list[str] = field(default_factory=list)  # "In [17]" per code cell
    marks: list[Mark] = field(default_factory=list)

    def label(self, index: int) -> str:
        """How the notebook shows code cell ``index`` (from 1)."""
        if 1 <= index <= len(self.labels):
            return self.labels[index - 1]
        return f"code cell {index}"

    def after(self, where: int | str) -> int | None:
        """The code cell (from 1) after which an answer ``after: where`` is read, if any.

        An integer is a code-cell number. A string names a heading: the answer is read after
        the last code cell of its section (the rules, for repeated headings and code cells
        labelled ``# Ejercicio 1 (corregido)``, are in :mod:`verifier._sections`).
        """
        if isinstance(where, int):
            return where if 1 <= where <= len(self.cells) else None
        return answer_cell(self.marks, self.cells, normalize_heading(where))


@dataclass(frozen=True)
class Block:
    """A piece of a notebook: ``markdown``, ``code`` (``label`` is its N) or ``output``."""

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
    return read_text(text, path.suffix.lower())


def read_text(text: str, suffix: str = ".py") -> Submission:
    """Like :func:`read_submission`, for the text of a file with that suffix (``.ipynb``...)."""
    notes: list[str] = []
    if suffix == ".ipynb" or (suffix != ".py" and text.lstrip().startswith("{")):
        blocks, fmt = notebook_blocks(text, notes), "ipynb"
    elif suffix == ".py":
        blocks, fmt = script_blocks(text), "py"
    else:
        blocks, fmt = split_text_export(text), "text"
    sub = Submission([], notes, fmt)
    for block in blocks:
        if block.kind == "code":
            index = len(sub.cells) + 1
            sub.cells.append(strip_magics(block.text, index, notes))
            sub.labels.append(_label(block.label, index))
            first = next((ln.strip() for ln in block.text.splitlines() if ln.strip()), "")
            if first.startswith("#"):
                sub.marks.append(Mark(index - 1, COMMENT_LEVEL, normalize_heading(first.lstrip("#"))))
        elif block.kind == "markdown":
            sub.marks += _markdown_marks(block.text, len(sub.cells))
    sub.marks = [m for m in sub.marks if m.text]
    return sub


def _label(label: str, index: int) -> str:
    if label == "script":
        return "the script"
    if label.strip():
        return f"In [{label.strip()}]"
    return f"In [ ] (code cell {index})"


def _markdown_marks(text: str, before: int) -> list[Mark]:
    marks, first = [], True
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            marks.append(Mark(before, len(m.group(1)), normalize_heading(m.group(2))))
        elif first and line.strip():
            marks.append(Mark(before, MARKDOWN_LEVEL, normalize_heading(line.strip(" *_#"))))
        if line.strip():
            first = False
    return marks


def notebook_cells(text: str) -> list[str]:
    """The sources of the code cells of a Jupyter notebook given as JSON text."""
    return [b.text for b in notebook_blocks(text, []) if b.kind == "code"]


def notebook_blocks(text: str, notes: list[str]) -> list[Block]:
    """Markdown and code cells of a notebook, read with nbformat (upgraded to version 4)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotASubmission(f"not valid JSON: {str(exc)[:100]}") from None
    if type(data) is not dict or not (type(data.get("cells")) is list or "worksheets" in data):
        raise NotASubmission("JSON without a list of `cells`: not a Jupyter notebook")
    for cell in _raw_cells(data):
        if type(cell) is dict and type(cell.get("outputs")) is list:
            cell["outputs"] = []  # never run, never needed: validation stays fast
    nb = _nbformat(data, notes)
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if type(cells) is not list:
        raise NotASubmission("not a Jupyter notebook: it has no list of cells")
    blocks = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or type(cell.get("cell_type")) is not str:
            raise NotASubmission(f"notebook cell {number} is not a cell object")
        source = cell.get("source", "")
        if isinstance(source, list) and all(type(s) is str for s in source):
            source = "".join(source)
        if type(source) is not str:
            raise NotASubmission(f"notebook cell {number} has a source that is not text")
        if cell["cell_type"] == "code":
            count = cell.get("execution_count")
            blocks.append(Block("code", source, str(count) if type(count) is int else ""))
        elif cell["cell_type"] == "markdown":
            blocks.append(Block("markdown", source))
    return blocks


def _raw_cells(data: dict[str, Any]) -> list[Any]:
    if type(data.get("cells")) is list:
        return data["cells"]
    sheets = data.get("worksheets")
    if type(sheets) is list:
        return [c for ws in sheets if type(ws) is dict and type(ws.get("cells")) is list for c in ws["cells"]]
    return []


def _nbformat(data: dict[str, Any], notes: list[str]) -> Any:
    """Upgrade and validate with nbformat; a v4 notebook it cannot read is used as it is."""
    import nbformat

    version = data.get("nbformat", 4)
    if type(version) is not int or not 3 <= version <= 4:
        raise NotASubmission(f"unsupported nbformat {version!r}; Jupyter reads versions 3 and 4")
    data.setdefault("nbformat", 4)
    data.setdefault("nbformat_minor", 0)
    data.setdefault("metadata", {})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.convert(nbformat.from_dict(data), 4)
            try:
                nbformat.validate(nb)
            except nbformat.ValidationError as exc:
                notes.append(f"the notebook does not validate ({str(exc).splitlines()[0][:150]}); "
                             "its cells were read anyway, as Jupyter does")
        return nb
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on malformed input
        if version == 4 and type(data.get("cells")) is list:
            notes.append(f"nbformat could not read the notebook ({type(exc).__name__}); "
                         "its cells were read as they are")
            return data
        raise NotASubmission(f"not a valid notebook: {type(exc).__name__}: {str(exc)[:100]}") from None


def script_blocks(text: str) -> list[Block]:
    """A ``.py`` file's cells: nbconvert (``# In[N]:``) or jupytext (``# %%``) markers, else one."""
    lines = text.splitlines()
    nbconvert = [i for i, ln in enumerate(lines) if _PY_MARKER.match(ln)]
    starts = nbconvert or [i for i, ln in enumerate(lines) if _PERCENT.match(ln)]
    if not starts:
        from ._pyexport import script_cells  # Colab and jupytext-light exports: markdown without markers

        return script_cells(text) or [Block("code", text, "script")]
    blocks: list[Block] = []
    if any(ln.strip() for ln in lines[: starts[0]]):
        blocks.append(_comment_block(lines[: starts[0]]))
    for k, start in enumerate(starts):
        body = lines[start + 1 : starts[k + 1] if k + 1 < len(starts) else len(lines)]
        header = lines[start]
        if nbconvert:
            code, md = _split_trailing_comments(body)
            label = _PY_MARKER.match(header).group(1)  # type: ignore[union-attr]
            blocks.append(Block("code", "\n".join(code).strip("\n"), label))
            if md:
                blocks.append(_comment_block(md))
            continue
        kind = _PERCENT.match(header).group(1)  # type: ignore[union-attr]
        if re.search(r"\[\s*(markdown|md)\s*\]", kind):
            from ._pyexport import _markdown  # "# %% [markdown]" then # comments or a """ string

            blocks.append(_markdown(body))
        elif not re.search(r"\[\s*raw\s*\]", kind):
            blocks.append(Block("code", "\n".join(body).strip("\n")))
    return blocks


def _comment_block(lines: list[str]) -> Block:
    kept = [re.sub(r"^# ?", "", ln) for ln in lines if ln.startswith("#") and not ln.startswith("#!")]
    kept = [ln for ln in kept if not re.match(r"^(coding[:=]|-\*-)", ln)]
    return Block("markdown", "\n".join(kept).strip("\n"))


def _split_trailing_comments(body: list[str]) -> tuple[list[str], list[str]]:
    """nbconvert writes the next markdown cell as comments, two blank lines after the code."""
    end = len(body)
    while end and not body[end - 1].strip():
        end -= 1
    start = end
    while start and body[start - 1].startswith("#"):
        start -= 1
    if start == end or start < 2 or body[start - 1].strip() or body[start - 2].strip():
        return body, []
    code_end = start
    while code_end and not body[code_end - 1].strip():
        code_end -= 1
    if code_end == 0:
        return body, []
    return body[:code_end], body[start:end]


def _parses(source: str) -> bool:
    try:
        _parse.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _neutralize(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")):
        return line[: len(line) - len(stripped)] + "pass"
    return line


def split_text_export(text: str) -> list[Block]:
    """Split a notebook exported as text into markdown, code and output blocks."""
    from ._textexport import NoMarkers
    from ._textexport import split_text_export as split

    try:
        return split(text)
    except NoMarkers as exc:
        raise NotASubmission(str(exc)) from None


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
