"""The expression language's function table: what each function takes and the torch function it mirrors.

One table for the parser (arity, keywords), the README's language table, and the tests.
The implementations live in ``_symfunctions`` (the exact reference, SymPy) and
``_torchfunctions`` (torch); the shapes are checked once, by the walker (``_interpret``).

Conventions shared by every function (the verdict rules of a kink):
- "kink": where a piecewise function switches branch, the exact reference is
  ``nondifferentiable`` with the one-sided values by the side of the point (``relu(x)`` at 0:
  ``left`` 0, ``right`` 1; see ``_kinks``). Torch's own choice there (its convention) is named
  in the ``kink`` column.
- A tie is decided exactly as torch decides it for the value: ``where(x > 0, a, b)`` at ``x = 0``
  is ``b``, so a jump there is visible in the value and the derivative is ``nondifferentiable``.
"""

from __future__ import annotations

from dataclasses import dataclass

REQUIRED = object()

# Parameter kinds:
#   a     an array expression            c     a number (name-free constant expression)
#   cond  a condition (comparisons)      seq   a list literal of array expressions
#   int   an integer literal             shape a list/tuple of integer literals


@dataclass(frozen=True)
class Fn:
    """One function of the language."""

    params: tuple[tuple[str, str, object], ...]  # (name, kind, default or REQUIRED), positional order
    torch: str                                   # the torch function it mirrors
    kink: str = ""                               # torch's convention where it is not differentiable
    axis: bool = False                           # takes axis= (keyword only)
    doc: str = ""

    @property
    def required(self) -> int:
        return sum(1 for p in self.params if p[2] is REQUIRED)


def _f(params: str, torch: str, kink: str = "", axis: bool = False, doc: str = "",
       defaults: dict[str, object] | None = None) -> Fn:
    """``params`` like "x:a lo:a hi:a" (kinds above); ``defaults`` marks the optional ones."""
    defaults = defaults or {}
    out = []
    for item in params.split():
        name, kind = item.split(":")
        out.append((name, kind, defaults.get(name, REQUIRED)))
    return Fn(tuple(out), torch, kink, axis, doc)


_ELEMENTWISE = {
    "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan", "asin": "torch.asin", "acos": "torch.acos",
    "atan": "torch.atan", "sinh": "torch.sinh", "cosh": "torch.cosh", "tanh": "torch.tanh",
    "exp": "torch.exp", "log": "torch.log", "log1p": "torch.log1p", "expm1": "torch.expm1",
    "sqrt": "torch.sqrt", "sigmoid": "torch.sigmoid", "softplus": "torch.nn.functional.softplus",
    "erf": "torch.special.erf",
}

FUNCTIONS: dict[str, Fn] = {
    **{name: _f("x:a", torch) for name, torch in _ELEMENTWISE.items()},
    "abs": _f("x:a", "torch.abs", "0 at x = 0"),
    "sign": _f("x:a", "torch.sign", "jump at 0 (value 0 there)"),
    "relu": _f("x:a", "torch.relu", "0 at x = 0"),
    "norm": _f("x:a", "torch.linalg.vector_norm", "0 at x = 0 (a cone point)", doc="of all elements"),
    "atan2": _f("y:a x:a", "torch.atan2"),
    "dot": _f("a:a b:a", "torch.dot"),
    "sum": _f("x:a", "torch.sum", axis=True),
    "mean": _f("x:a", "torch.mean", axis=True),
    "prod": _f("x:a", "torch.prod", axis=True),
    "logsumexp": _f("x:a", "torch.logsumexp", axis=True),
    "softmax": _f("x:a", "torch.softmax", axis=True),
    "min": _f("a:a b:a", "torch.amin", "ties: torch splits the gradient evenly", axis=True,
              doc="min(a, b) is torch.minimum", defaults={"b": None}),
    "max": _f("a:a b:a", "torch.amax", "ties: torch splits the gradient evenly", axis=True,
              doc="max(a, b) is torch.maximum", defaults={"b": None}),
    # ---- added with issue 10: piecewise ---------------------------------------------------------
    "where": _f("cond:cond a:a b:a", "torch.where",
                "the branch the condition picks at the point (x > 0 at 0 is false)",
                doc="cond: comparisons < <= > >= == != combined with & | ~; the unused branch never "
                "contributes (torch's 0 * nan from it is a failure)"),
    "maximum": _f("a:a b:a", "torch.maximum", "ties: torch gives half the gradient to each"),
    "minimum": _f("a:a b:a", "torch.minimum", "ties: torch gives half the gradient to each"),
    "clamp": _f("x:a min:a max:a", "torch.clamp", "gradient 1 at the bounds (lo <= x <= hi)",
                defaults={"min": None, "max": None}),
    "hardtanh": _f("x:a min_val:c max_val:c", "torch.nn.functional.hardtanh",
                   "gradient 0 at the bounds (min_val < x < max_val)", defaults={"min_val": -1, "max_val": 1}),
    "leaky_relu": _f("x:a negative_slope:c", "torch.nn.functional.leaky_relu",
                     "negative_slope at x = 0", defaults={"negative_slope": 0.01}),
    "elu": _f("x:a alpha:c", "torch.nn.functional.elu", "alpha at x = 0 (smooth when alpha = 1)",
              defaults={"alpha": 1}),
    "selu": _f("x:a", "torch.nn.functional.selu", "scale*alpha at x = 0"),
    "softsign": _f("x:a", "torch.nn.functional.softsign", "second derivative 0 at x = 0"),
    "huber": _f("input:a target:a delta:c", "torch.nn.functional.huber_loss",
                "abs(input - target) = delta: first derivative continuous, second one jumps",
                doc="reduction='mean'", defaults={"delta": 1}),
    # ---- smooth ---------------------------------------------------------------------------------
    "sinc": _f("x:a", "torch.sinc", doc="sin(pi x)/(pi x); sinc(0) = 1 and every derivative at 0 is its limit"),
    "logit": _f("p:a", "torch.logit", doc="eps=None: log(p/(1-p))"),
    "log_softmax": _f("x:a", "torch.log_softmax", axis=True),
    "gelu": _f("x:a", "torch.nn.functional.gelu", doc="approximate='none': x/2 (1 + erf(x/sqrt(2)))"),
    "silu": _f("x:a", "torch.nn.functional.silu"),
    "mish": _f("x:a", "torch.nn.functional.mish"),
    "lgamma": _f("x:a", "torch.lgamma", doc="log(abs(Gamma(x))), real for negative x too"),
    "digamma": _f("x:a", "torch.digamma"),
    "erfc": _f("x:a", "torch.special.erfc"),
    # ---- losses (reduction='mean', as torch's default) ------------------------------------------
    "cross_entropy": _f("input:a target:a", "torch.nn.functional.cross_entropy",
                        doc="reduction='mean'; input (C,) or (N, C); target class indices (shape () or (N,), "
                        "a constant) or class probabilities (the input's shape)"),
    "nll": _f("input:a target:a", "torch.nn.functional.nll_loss",
              doc="reduction='mean'; input (C,) or (N, C) log-probabilities; target class indices, a constant"),
    "binary_cross_entropy": _f("input:a target:a", "torch.nn.functional.binary_cross_entropy",
                               doc="reduction='mean'; torch clamps each log at -100, the reference does not"),
    "binary_cross_entropy_with_logits": _f("input:a target:a", "torch.nn.functional."
                                           "binary_cross_entropy_with_logits", doc="reduction='mean'"),
    "mse": _f("input:a target:a", "torch.nn.functional.mse_loss", doc="reduction='mean'"),
    # ---- arrays and linear algebra --------------------------------------------------------------
    "cumsum": _f("x:a", "torch.cumsum", axis=True, doc="no axis: of the flattened array"),
    "trace": _f("A:a", "torch.trace"),
    "det": _f("A:a", "torch.linalg.det", doc="torch 2.13's forward-over-forward Hessian of det is wrong: "
              "jacfwd fails there (tests/test_language.py)"),
    "inv": _f("A:a", "torch.linalg.inv"),
    "outer": _f("a:a b:a", "torch.outer"),
    "diag": _f("x:a", "torch.diag", doc="1-D: the diagonal matrix; 2-D: its diagonal"),
    "reshape": _f("x:a shape:shape", "torch.reshape", doc="shape: integer literals, one may be -1"),
    "concatenate": _f("arrays:seq", "torch.cat", axis=True, doc="a list literal of arrays; axis 0 by default"),
    "stack": _f("arrays:seq", "torch.stack", axis=True, doc="a list literal of arrays; axis 0 by default"),
    "eye": _f("n:int", "torch.eye", doc="n: an integer literal"),
}

# Names reserved before issue 10: an input or define may not take them. Later names may be
# shadowed by an input or define (a bank names its loss `nll`); a call still means the function.
RESERVED_FUNCTIONS = frozenset(
    "sin cos tan asin acos atan sinh cosh tanh exp log log1p expm1 sqrt abs sign sigmoid relu softplus "
    "erf norm atan2 dot sum mean prod logsumexp softmax min max".split())

# Functions whose reference needs SymPy (kinks, Piecewise, or functions SymEngine lacks).
SYMPY_ONLY = frozenset({"abs", "sign", "relu", "max", "min", "where", "maximum", "minimum", "clamp",
                        "hardtanh", "leaky_relu", "elu", "selu", "softsign", "huber", "sinc", "lgamma",
                        "digamma", "det", "inv"})

# torch/numpy spellings that are written differently here: what to write instead.
ALIASES = {
    "clip": "clamp(x, lo, hi)", "cat": "concatenate([a, b], axis=0)", "concat": "concatenate([a, b], axis=0)",
    "hstack": "concatenate([a, b], axis=-1)", "vstack": "stack([a, b])", "pow": "x**p", "square": "x**2",
    "matmul": "a @ b", "mm": "a @ b", "bmm": "a @ b", "t": "x.T", "transpose": "x.T", "amax": "max(x, axis=...)",
    "amin": "min(x, axis=...)", "nll_loss": "nll(input, target)", "mse_loss": "mse(input, target)",
    "huber_loss": "huber(input, target, delta=1)", "swish": "silu(x)", "clamp_min": "clamp(x, min=lo)",
    "clamp_max": "clamp(x, max=hi)", "neg": "-x", "add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b",
    "reciprocal": "1 / x", "rsqrt": "1 / sqrt(x)", "view": "reshape(x, [2, 3])", "flatten": "reshape(x, [-1])",
    "gammaln": "lgamma(x)", "psi": "digamma(x)", "xlogy": "x * log(y)", "norm2": "norm(x)",
}

COMPARISONS = {"Lt": "<", "LtE": "<=", "Gt": ">", "GtE": ">=", "Eq": "==", "NotEq": "!="}
