"""``ast.parse`` for every module of verifier: one parse at a time, never interrupted.

CPython 3.11 converts a parsed tree to Python objects (``Python/Python-ast.c``,
``PyAST_mod2obj``) with a depth counter kept in the ``_ast`` module's state, shared by every
thread of the interpreter, and checks at the end that the counter came back to where it started.
Two threads parsing at once break that check: ``SystemError: AST constructor recursion depth
mismatch (before=30, after=26)`` (python/cpython#106905 and its reports from pytest, Home
Assistant, LangChain). The grader parses in several threads (a submission, its report, the
key's paths, the feedback's hints), and a 40-notebook batch lost a row to it one run in twenty.

:func:`parse` holds :data:`LOCK`, so verifier's own parses never overlap, and pauses the cyclic
garbage collector for the call: a collection during the conversion runs finalizers, which may
release the GIL and let another thread's parse (torch's, the traceback module's) start in the
middle of ours. With no collection the conversion is one C call that keeps the GIL throughout.
Every ``ast.parse`` in the package goes through here (``tests/test_parse.py`` checks).
"""
from __future__ import annotations

import ast
import gc
import sys
import threading
import warnings
from typing import Literal, overload

__all__ = ["LOCK", "parse"]

# Reentrant: code that holds it around a larger step (reading a report) may parse inside.
LOCK = threading.RLock()


@overload
def parse(source: str, filename: str = ..., mode: Literal["exec"] = ..., *,
          depth: int = ...) -> ast.Module: ...
@overload
def parse(source: str, filename: str = ..., mode: Literal["eval"] = ..., *,
          depth: int = ...) -> ast.Expression: ...


def parse(source: str, filename: str = "<unknown>", mode: str = "exec", *, depth: int = 0) -> ast.AST:
    """``ast.parse(source, filename, mode)``, serialized and atomic (see the module docstring).

    ``depth`` asks for room for a tree that deep: CPython 3.11 limits the conversion to three
    times ``sys.getrecursionlimit()``; the limit is raised for this call only, under the lock,
    so no other thread sees it lowered while it parses. The parser's warnings (SyntaxWarning
    "invalid escape sequence", "invalid decimal literal") are not shown: the source is a user's,
    and an error says what is wrong. Raises SyntaxError, ValueError (a NUL byte) or
    RecursionError as ``ast.parse`` does.
    """
    with LOCK:
        old = sys.getrecursionlimit()
        room = depth + 1000 > old
        collecting = gc.isenabled()
        try:
            if room:
                sys.setrecursionlimit(depth + 1000)
            if collecting:
                gc.disable()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ast.parse(source, filename, mode)
        finally:
            if collecting:
                gc.enable()
            if room:
                sys.setrecursionlimit(old)
