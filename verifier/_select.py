"""``-k`` expressions, as pytest reads them: ``cubic or square``, ``seed and not slow``.

Grammar (pytest's ``_pytest.mark.expression``, without its keyword-argument form)::

    expression: expr? EOF
    expr:       and_expr ('or' and_expr)*
    and_expr:   not_expr ('and' not_expr)*
    not_expr:   'not' not_expr | '(' expr ')' | ident
    ident:      (\\w|:|+|-|.|[|]|\\\\|/|*|?)+

An identifier matches a problem when it is a case-insensitive substring of the problem's id
or of one of its tags (pytest's rule for node names); one with ``*`` or ``?`` is a glob over
those names, as ``-k`` accepted before. The expression is parsed into a small tree and
walked: nothing is evaluated as Python. pytest's own matcher is not reused because pytest is
not a dependency of ``verifier run`` and its module is private.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([\w:+\-.\[\]\\/*?]+))")
_KEYWORDS = ("or", "and", "not")


class KeywordError(ValueError):
    """A malformed ``-k`` expression; the message names the column, as pytest's does."""


@dataclass(frozen=True)
class _Tok:
    kind: str   # "(", ")", "or", "and", "not", "ident", "eof"
    text: str
    col: int    # 1-based


def _tokens(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            col = len(text) - len(text[pos:].lstrip()) + 1
            raise KeywordError(f"-k {text!r}: column {col}: unexpected character {text[col - 1]!r}")
        start = m.start(m.lastindex or 0)
        word = m.group(m.lastindex or 0)
        kind = word if word in ("(", ")") or word in _KEYWORDS else "ident"
        out.append(_Tok(kind, word, start + 1))
        pos = m.end()
    out.append(_Tok("eof", "", len(text) + 1))
    return out


Matcher = Callable[[str], bool]
Node = Callable[[Matcher], bool]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str) -> _Tok | None:
        if self.peek().kind == kind:
            self.i += 1
            return self.toks[self.i - 1]
        return None

    def fail(self, expected: str) -> KeywordError:
        t = self.peek()
        got = "end of input" if t.kind == "eof" else repr(t.text)
        return KeywordError(f"-k {self.text!r}: column {t.col}: expected {expected}; got {got}")

    def expression(self) -> Node:
        if self.peek().kind == "eof":
            return lambda match: False  # pytest: an empty expression selects nothing
        node = self.expr()
        if self.peek().kind != "eof":
            raise self.fail("'or', 'and' or end of input")
        return node

    def expr(self) -> Node:
        parts = [self.and_expr()]
        while self.take("or"):
            parts.append(self.and_expr())

        def any_of(m: Matcher) -> bool:
            return any(p(m) for p in parts)
        return parts[0] if len(parts) == 1 else any_of

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.take("and"):
            parts.append(self.not_expr())

        def all_of(m: Matcher) -> bool:
            return all(p(m) for p in parts)
        return parts[0] if len(parts) == 1 else all_of

    def not_expr(self) -> Node:
        if self.take("not"):
            inner = self.not_expr()
            return lambda m: not inner(m)
        if self.take("("):
            node = self.expr()
            if not self.take(")"):
                raise self.fail("')'")
            return node
        tok = self.take("ident")
        if tok is None:
            raise self.fail("a name, 'not' or '('")
        word = tok.text
        return lambda m: m(word)


def compile_keyword(text: str) -> Callable[[Iterable[str]], bool]:
    """``-k`` text -> a predicate over one problem's names (its id and tags).

    Raises ``KeywordError`` with the column of a malformed expression.
    """
    tree = _Parser(text).expression()

    def predicate(names: Iterable[str]) -> bool:
        lowered = [n.lower() for n in names]

        def match(word: str) -> bool:
            w = word.lower()
            if any(ch in w for ch in "*?"):
                return any(fnmatch.fnmatchcase(n, w) for n in lowered)
            return any(w in n for n in lowered)
        return tree(match)

    return predicate
