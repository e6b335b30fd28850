"""Where a heading's section ends in a submission: the code cell an ``after: "Ejercicio 1"`` reads.

A *mark* is a heading of the submission (see :class:`verifier._notebook.Mark`): a markdown heading
(level 1-6), a markdown cell's first line (``MARKDOWN_LEVEL``) or a code cell's first comment line
(``COMMENT_LEVEL``), with its text normalized. The rules, as an instructor reads a notebook:

* The section of a heading runs to the next heading of the same or a higher level (for a first
  line or a comment: the next one that starts with the same word, or any heading of a higher
  level), or to a lower-level line that names *another* item of the same series: inside
  ``## Ejercicio 2``, a code cell whose first comment is ``# Ejercicio 1 (corregido)`` or a
  paragraph ``Ejercicio 1 lo he hecho arriba`` ends the section, as does one naming another
  numbered heading of the handout (``# Pregunta 3``); a sub-item ``Ejercicio 2.1`` or ``2 a``
  does not.
* A heading the student repeats (``## Ejercicio 1`` left empty, answered further down under a
  second ``## Ejercicio 1``), or a later code cell whose first comment starts with the heading
  (``# Ejercicio 1 (corregido)``), is the student's later answer: the answer is read at the end
  of the last such section with a cell that can answer (an assignment, ``def``, ``import`` or a
  method call such as ``y.backward()``; not comments, ``pass`` or a bare ``print``), else of
  the first one. A paragraph that mentions the exercise ("Ejercicio 1 lo he hecho arriba") or a
  comment that does not start with it ("# como en el ejercicio 1") is not a later answer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

from . import _parse

MARKDOWN_LEVEL, COMMENT_LEVEL = 7, 8  # a markdown cell's first line; a code cell's first comment


def answer_cell(marks: Sequence[Any], cells: Sequence[str], key: str) -> int | None:
    """The code cell (from 1) ending the section of heading ``key`` (normalized), or None.

    ``marks``: the submission's marks in order (``before``: code cells preceding it, ``level``,
    ``text``); ``cells``: the code cells' sources. None when no mark names ``key`` or its section
    has no code cell.
    """
    if not key:
        return None
    hits = [m for m in marks if re.search(r"(?<!\w)" + re.escape(key) + r"(?!\w)", m.text)]
    if not hits:
        return None
    first = min(hits, key=lambda m: m.level)  # the first of the highest level, as the handout has it
    start = marks.index(first)
    item = _label(key) or _label(first.text)
    handout = {tuple(lab) for m in marks if m.level <= 6 and (lab := _label(m.text))}
    sections: list[tuple[Any, int]] = []
    for i in range(start, len(marks)):
        m = marks[i]
        if i != start and not _repeats(m, first, key):
            continue
        if sections and m.before < sections[-1][1]:
            continue  # inside the section already taken
        end = _end(marks, i, cells, item, handout)
        sections.append((m, end))
    coded = sections if len(sections) == 1 else [
        s for s in sections if any(_answers(c) for c in cells[s[0].before:s[1]])]
    m, end = coded[-1] if coded else sections[0]
    return end if end > m.before else None


def _repeats(m: Any, first: Any, key: str) -> bool:
    """Whether a later mark ``m`` opens another answer to ``key``: the same heading again, or a
    code comment that starts with it (not one that only mentions it, as in "# como en el ...")."""
    if m.level == MARKDOWN_LEVEL:  # a paragraph ("Ejercicio 1 lo hice arriba") answers nothing
        return first.level == MARKDOWN_LEVEL and m.text == first.text
    return _starts_with(m.text, key)


def _starts_with(text: str, key: str) -> bool:
    """``text`` starts with ``key`` (after an optional number: "2 ejercicio 1"), not with a
    sub-item of it ("ejercicio 1 2" is Ejercicio 1.2)."""
    return re.match(r"(?:\d+ )?" + re.escape(key) + r"(?!\w)(?! \d)", text) is not None


def _end(marks: Sequence[Any], i: int, cells: Sequence[str], item: list[str] | None,
         handout: set[tuple[str, ...]]) -> int:
    """The number of code cells before the end of the section that ``marks[i]`` opens."""
    best = marks[i]
    first_word = best.text.split()[0]
    end = len(cells)
    for m in marks[i + 1:]:
        if m.level < best.level or (m.level == best.level and (
                best.level <= 6 or m.text.split()[0] == first_word)):
            end = m.before
            break
        if m.level >= best.level and _other_item(m.text, item, handout):
            end = m.before
            break
    if best.level == COMMENT_LEVEL:  # the heading is inside its own first code cell
        end = max(end, best.before + 1)
    return end


def _label(text: str) -> list[str] | None:
    """The item a heading names, ``[word, number-or-letter, ...]`` ("ejercicio 2 1" for
    "Ejercicio 2.1: ..."), or None when its second word is not a number or a single letter."""
    words = text.split()
    n = 1
    while n < len(words) and (words[n].isdigit() or (len(words[n]) == 1 and words[n].isalpha())):
        n += 1
    return words[:n] if n > 1 else None


def _other_item(text: str, item: list[str] | None, handout: set[tuple[str, ...]]) -> bool:
    """Whether ``text`` names an item other than ``item`` or its sub-items: one of the same series
    ("ejercicio 1" in Ejercicio 2), or another heading of the handout ("pregunta 3")."""
    other = _label(text)
    if item is None or other is None:
        return False
    if other[0] != item[0]:
        return tuple(other) in handout
    k = min(len(item), len(other))
    return other[:k] != item[:k]


_BINDS = (ast.Assign, ast.AugAssign, ast.NamedExpr, ast.Delete, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith,
          ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _answers(source: str) -> bool:
    """Whether a cell can give an answer: it binds a name (``=``, ``def``, ``import``, ``for``...)
    or calls a method (``y.backward()``); comments, ``pass`` and a bare ``print(d)`` do not."""
    try:
        tree = _parse.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        lines = (ln.strip() for ln in source.splitlines())  # it still runs up to its error
        return any(ln and not ln.startswith("#") for ln in lines)
    return any(isinstance(n, _BINDS) or (isinstance(n, ast.AnnAssign) and n.value is not None)
               or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)) for n in ast.walk(tree))
