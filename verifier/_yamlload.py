"""Strict, safe YAML reading that remembers where every key and value came from.

Problem files are untrusted. We only ever *compose* (build a node tree, never objects),
reject tags, anchors and aliases, reject duplicate keys, and resolve plain scalars with
the YAML 1.2 core schema so that ``1e-6`` is a number (PyYAML's 1.1 resolver reads it
as a string).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ._errors import Diagnostic, ProblemSpecError

Path = tuple[Any, ...]

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
MAX_DEPTH = 64
MAX_BYTES = 20_000_000
MAX_INT_DIGITS = 4000  # below Python's 4300-digit limit for int(str); far above any sensible number
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


@dataclass
class Located:
    """Python data from a YAML document plus the 1-based position of each value and key."""

    data: Any
    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # For scalars: (style, raw source lines) so expression columns can be mapped back.
    styles: dict[Path, str | None] = field(default_factory=dict)
    # Structural problems that belong to one place (duplicate keys): the spec reader
    # attaches each to the problem that holds it, so one bad problem does not sink the file.
    deferred: list[tuple[Path, Diagnostic]] = field(default_factory=list)

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Position of the value (or key) at ``path``, else of the nearest enclosing one."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.values:
                return self.values[p]
            p = p[:-1]
        return self.values.get((), (1, 1))

    def diag(self, path: Path, message: str, *, key: bool = False, col_offset: int = 0) -> Diagnostic:
        line, col = self.where(path, key=key)
        return Diagnostic(self.file, line, col + col_offset, message)


class _BadScalar(Exception):
    """A plain scalar that reads as a number Python cannot hold; the message says why."""


def _resolve_plain(text: str) -> Any:
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        digits = len(text.lstrip("+-"))
        if digits > MAX_INT_DIGITS:
            raise _BadScalar(f"integer is too long ({digits} digits, limit {MAX_INT_DIGITS})")
        return int(text)
    if _FLOAT.match(text):
        if len(text) > MAX_INT_DIGITS:
            raise _BadScalar(f"number is too long ({len(text)} characters, limit {MAX_INT_DIGITS})")
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


# libyaml's loader when PyYAML was built with it (10x faster), else the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _pos(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def load_yaml(text: str, file: str) -> Located:
    """Parse ``text`` into plain Python data with positions. Raises ProblemSpecError."""
    if len(text) > MAX_BYTES:
        raise ProblemSpecError(Diagnostic(file, 1, 1, f"file is too large ({len(text)} characters, "
                                          f"limit {MAX_BYTES})"))
    # Pass 1: events. Anchors, aliases and explicit tags are refused outright, and so is deep
    # nesting, as soon as it is seen (libyaml slows down quadratically with depth).
    try:
        diags = _scan(text, file, _Loader)
    except yaml.MarkedYAMLError as exc:
        if _Loader is yaml.SafeLoader or "nesting depth" not in str(exc.problem):
            raise _invalid(exc, file) from None
        # libyaml (PyYAML >= 6.0.2) has its own nesting limit, seen before ours when it reads
        # ahead: the pure-Python parser, which reads lazily, gives the same answer everywhere.
        try:
            diags = _scan(text, file, yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc2:
            raise _invalid(exc2, file) from None
    except yaml.YAMLError as exc:  # pragma: no cover - defensive
        raise ProblemSpecError(Diagnostic(file, 1, 1, f"invalid YAML: {exc}")) from None
    if diags:
        raise ProblemSpecError(diags)

    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:  # pragma: no cover - pass 1 saw the same stream
        raise _invalid(exc, file) from None
    out = Located(data=None, file=file)
    if root is None:
        return out

    def convert(node: yaml.Node, path: Path) -> Any:
        out.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            out.styles[path] = node.style
            if node.style:
                return node.value
            try:
                return _resolve_plain(node.value)
            except _BadScalar as exc:
                line, col = _pos(node.start_mark)
                out.deferred.append((path[:-1], Diagnostic(file, line, col, str(exc))))
                return None
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        result: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                line, col = _pos(knode.start_mark)
                out.deferred.append((path, Diagnostic(file, line, col, "mapping keys must be plain strings")))
                continue
            try:
                key = knode.value if knode.style else _resolve_plain(knode.value)
            except _BadScalar as exc:
                line, col = _pos(knode.start_mark)
                out.deferred.append((path, Diagnostic(file, line, col, str(exc))))
                continue
            if key in result:
                line, col = _pos(knode.start_mark)
                first = out.keys[path + (key,)]
                out.deferred.append((path, Diagnostic(file, line, col, f"duplicate key '{key}' "
                                                      f"(first defined at line {first[0]})")))
                continue
            out.keys[path + (key,)] = _pos(knode.start_mark)
            result[key] = convert(vnode, path + (key,))
        return result

    out.data = convert(root, ())
    return out


def _invalid(exc: yaml.MarkedYAMLError, file: str) -> ProblemSpecError:
    mark = exc.problem_mark or exc.context_mark
    line, col = _pos(mark) if mark else (1, 1)
    what = exc.problem or exc.context or "invalid YAML"
    return ProblemSpecError(Diagnostic(file, line, col, f"invalid YAML: {what}"))


def _scan(text: str, file: str, loader: Any) -> list[Diagnostic]:
    """Walk the event stream once: depth, documents, anchors, aliases, tags. Raises on depth."""
    diags: list[Diagnostic] = []
    depth = documents = 0
    for ev in yaml.parse(text, Loader=loader):
        line, col = _pos(ev.start_mark)
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ProblemSpecError(Diagnostic(file, line, col, f"YAML is nested too deeply "
                                                  f"(limit {MAX_DEPTH} levels)"))
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(ev, yaml.DocumentStartEvent):
            documents += 1
            if documents == 2:
                raise ProblemSpecError(Diagnostic(file, line, col, "a second YAML document ('---') in "
                                                  "one file; a problem file holds one document: put "
                                                  "all problems in one 'problems' list"))
        if isinstance(ev, yaml.AliasEvent):
            diags.append(Diagnostic(file, line, col, f"YAML alias '*{ev.anchor}' is not allowed; "
                                    "write the value out in full"))
        elif getattr(ev, "anchor", None):
            diags.append(Diagnostic(file, line, col, f"YAML anchor '&{ev.anchor}' is not allowed; "
                                    "write the value out in full"))
        tag = getattr(ev, "tag", None)
        if tag is not None and tag != "!":
            explicit = True
            if isinstance(ev, yaml.ScalarEvent):
                explicit = not ev.implicit[0] and not ev.implicit[1]
            elif isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                explicit = not ev.implicit
            if explicit:
                diags.append(Diagnostic(file, line, col, f"YAML tag '{tag}' is not allowed: problem "
                                        "files hold plain data only"))
    return diags
