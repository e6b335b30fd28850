"""Where a heading's section ends in a submission: the code cell an ``after: "Ejercicio 1"`` reads.

A *mark* is a heading of the submission (see :class:`verifier._notebook.Mark`): a markdown heading
(level 1-6), a markdown cell's first line (``MARKDOWN_LEVEL``) or a code cell's first comment line
(``COMMENT_LEVEL``), with its text normalized. The rules, as an instructor reads a notebook:

* The section of a heading runs to the next heading of the same or a higher level (for a first
  line or a comment: the next one that starts with the same word, or any heading of a higher
  level), or to a lower-level line that names *another* item of the same series: inside
  ``## Ejercicio 2``, a code cell whose first comment is ``# Ejercicio 1 (corregido)`` or a
  paragraph ``Ejercicio 1 lo he hecho arriba`` ends the section (a sub-item ``Ejercicio 2.1``
  or ``2 a`` does not).
* A heading the student repeats (``## Ejercicio 1`` left empty, answered further down under a
  second ``## Ejercicio 1``), or a later code cell whose first comment starts with the heading
  (``# Ejercicio 1 (corregido)``), is the student's later answer: the answer is read at the end
  of the last such section that has code (more than comments), else of the first one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

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
    sections: list[tuple[Any, int]] = []
    for i in range(start, len(marks)):
        m = marks[i]
        if i != start and not _repeats(m, first, key):
            continue
        if sections and m.before < sections[-1][1]:
            continue  # inside the section already taken
        end = _end(marks, i, cells, item)
        sections.append((m, end))
    coded = [s for s in sections if any(_has_code(c) for c in cells[s[0].before:s[1]])]
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


def _end(marks: Sequence[Any], i: int, cells: Sequence[str], item: list[str] | None) -> int:
    """The number of code cells before the end of the section that ``marks[i]`` opens."""
    best = marks[i]
    first_word = best.text.split()[0]
    end = len(cells)
    for m in marks[i + 1:]:
        if m.level < best.level or (m.level == best.level and (
                best.level <= 6 or m.text.split()[0] == first_word)):
            end = m.before
            break
        if m.level > best.level and _other_item(m.text, item):
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


def _other_item(text: str, item: list[str] | None) -> bool:
    """Whether ``text`` names an item of the same series other than ``item`` or its sub-items."""
    other = _label(text)
    if item is None or other is None or other[0] != item[0]:
        return False
    k = min(len(item), len(other))
    return other[:k] != item[:k]


def _has_code(source: str) -> bool:
    lines = (ln.strip() for ln in source.splitlines())
    return any(ln and not ln.startswith("#") and ln not in ("pass", "...") for ln in lines)
