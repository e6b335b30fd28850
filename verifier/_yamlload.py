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


def _resolve_plain(text: str) -> Any:
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
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
    diags: list[Diagnostic] = []
    if len(text) > MAX_BYTES:
        raise ProblemSpecError(Diagnostic(file, 1, 1, f"file is too large ({len(text)} characters, "
                                          f"limit {MAX_BYTES})"))
    # Pass 1: events. Anchors, aliases and explicit tags are refused outright, and so is deep
    # nesting, as soon as it is seen (libyaml slows down quadratically with depth).
    depth = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            line, col = _pos(ev.start_mark)
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ProblemSpecError(Diagnostic(file, line, col, f"YAML is nested too deeply "
                                                      f"(limit {MAX_DEPTH} levels)"))
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
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
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise ProblemSpecError(Diagnostic(file, line, col, f"invalid YAML: {what}")) from None
    except yaml.YAMLError as exc:  # pragma: no cover - defensive
        raise ProblemSpecError(Diagnostic(file, 1, 1, f"invalid YAML: {exc}")) from None
    if diags:
        raise ProblemSpecError(diags)

    root = yaml.compose(text, Loader=_Loader)
    out = Located(data=None, file=file)
    if root is None:
        return out

    def convert(node: yaml.Node, path: Path) -> Any:
        out.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            out.styles[path] = node.style
            return _resolve_plain(node.value) if not node.style else node.value
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        result: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                line, col = _pos(knode.start_mark)
                out.deferred.append((path, Diagnostic(file, line, col, "mapping keys must be plain strings")))
                continue
            key = knode.value if knode.style else _resolve_plain(knode.value)
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
