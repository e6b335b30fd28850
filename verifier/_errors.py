"""The exceptions users see."""

from __future__ import annotations

import ast
from dataclasses import dataclass


class VerifierError(Exception):
    """Base class of every error raised by verifier."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem in an input file, with its position (1-based line and column)."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ProblemSpecError(VerifierError, ValueError):
    """A problem file (or an expression in it) is invalid. Carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class MismatchError(VerifierError, AssertionError):
    """A derivative computed by torch does not match the exact reference."""


class CheckError(VerifierError):
    """A check of the user's own function could not run at all (no torch path ran, or fn cannot be
    called or checked as asked: a complex input, a non-scalar output for a gradient...).

    Distinct from ``MismatchError``: nothing was found wrong with the derivatives."""


class ExprError(Exception):
    """An error in an expression, positioned at a node (or a column of the source)."""

    def __init__(self, message: str, node: ast.AST | None = None, *, line: int = 0, col: int = 0):
        super().__init__(message)
        self.message = message
        self.line = getattr(node, "_line", line) if node is not None else line
        self.col = getattr(node, "_col", col) if node is not None else col
