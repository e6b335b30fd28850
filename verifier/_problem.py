"""The parsed problem: what a problem file says, as plain data (see PROBLEM_FORMAT.md).

``_spec`` builds these from YAML; every other step reads them. Nothing here parses or runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import Diagnostic

if TYPE_CHECKING:
    from ._expr import Expr
    from ._gradekey import AnswerPath, FunctionTarget

KINDS = ("value", "gradient", "jacobian", "hessian", "eigenvalues", "hvp")
MODES = ("backward", "functional", "jacrev", "jacfwd", "hessian_fwdrev")
DTYPES = ("float64", "float32")
TOP_KEYS = ("version", "defaults", "problems")
DEFAULT_KEYS = ("dtype", "tolerance", "modes")
PROBLEM_KEYS = ("id", "title", "tags", "inputs", "constants", "function", "define", "checks",
                "dtype", "tolerance", "xfail", "grading", "modes", "implementation")
CHECK_KEYS = ("wrt", "expect", "tolerance", "modes", "answer", "points", "vector", "after")
GENERATOR_KEYS = {"random": ("random", "shape", "seed", "low", "high", "mean", "std"),
                  "fill": ("fill", "shape")}

@dataclass
class InputSpec:
    """A named array: a literal (``expr``) or a generator (``generator``)."""

    name: str
    shape: tuple[int, ...]
    expr: Expr | None = None
    generator: dict[str, Any] | None = None
    line: int = 0
    col: int = 0


@dataclass
class CheckSpec:
    kind: str
    target: str
    wrt: tuple[str, ...]
    name: str = ""
    expect: Expr | None = None
    vector: Expr | None = None
    tolerance: dict[str, float] = field(default_factory=dict)
    modes: tuple[str, ...] | None = None
    answer: str | None = None  # the answer as written, for display: "x.grad", "dy_dx | x.grad", "any"
    answers: tuple[AnswerPath, ...] = ()  # alternatives, first present is graded (see _gradekey)
    search: bool = False  # `answer: any` (or `any` among the alternatives)
    after: int | str | None = None  # read as it was after this code cell / heading's section
    points: float = 1.0
    line: int = 0
    col: int = 0


@dataclass
class Grading:
    bind: dict[str, str] = field(default_factory=dict)
    function: str | None = None  # the submission's callable (its name)
    target: FunctionTarget | None = None  # what that callable implements, and its wrt
    after: int | str | None = None  # default `after` of the problem's answers


@dataclass
class Problem:
    id: str
    file: str
    line: int
    col: int
    title: str = ""
    tags: tuple[str, ...] = ()
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    constants: dict[str, InputSpec] = field(default_factory=dict)
    define: dict[str, Expr] = field(default_factory=dict)
    checks: list[CheckSpec] = field(default_factory=list)
    dtype: str = "float64"
    tolerance: dict[str, float] = field(default_factory=dict)
    modes: tuple[str, ...] | None = None
    xfail: str | None = None
    grading: Grading = field(default_factory=Grading)
    errors: list[Diagnostic] = field(default_factory=list)
    # ``module:callable`` that torch differentiates instead of the formula (see _implementation)
    implementation: str | None = None
    implementation_at: tuple[int, int] = (0, 0)


@dataclass
class ProblemFile:
    path: str
    problems: list[Problem]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for p in self.problems for d in p.errors]
