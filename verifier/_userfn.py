"""A user's own torch function: how it is called, what its output must be, and which torch AD
paths can run through the custom ``torch.autograd.Function``s in its graph.

Torch documents several ways to write a custom Function
(https://pytorch.org/docs/stable/notes/extending.html, ``notes/extending.func.html``): ``forward(ctx,
...)`` (old style), ``forward(...)`` + ``setup_context``, with or without ``jvp``, a ``vmap``
staticmethod or ``generate_vmap_rule = True``, ``@once_differentiable``. Not every AD path can run
through each; the table below says which a Function must have for a path to run (measured on
torch 2.13). Where torch refuses, it says why, and that reason is kept. Two paths give wrong
numbers *without* an error, so they are recognised from the graph instead of the numbers:

- forward-over-forward (``jacfwd(jacfwd(f))``) through any custom Function: torch's nested forward
  mode drops the second-order term of the Function and returns zeros;
- any second derivative through a ``@once_differentiable`` backward: the backward runs without
  building a graph, so the gradient looks constant and every second-order path returns zeros;
- forward mode (``jacfwd``, ``torch.func.hessian``, the forward-over-reverse HVP) through an op made
  with ``torch.library.custom_op`` + ``register_autograd``: torch runs the op below autograd for dual
  tensors and drops their tangents (zeros, no error; torch 2.13, ``torch/_library/autograd.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ._errors import CheckError

SECOND_ORDER = ("hessian", "hvp", "eigenvalues")
_TORCH_DIR = torch.__file__.rsplit("/", 1)[0] + "/"
# torch.func transforms: they refuse old-style Functions (no setup_context).
TRANSFORM_MODES = ("jacrev", "jacfwd", "hessian_fwdrev")
# Paths that push tangents forward through the function (the HVP's jacfwd is forward-over-reverse).
FORWARD_MODES = ("jacfwd", "hessian_fwdrev")
# (kind or "*", mode) -> what each custom Function needs for torch to run that path.
NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("*", "jacrev"): ("setup_context",),
    ("*", "jacfwd"): ("setup_context", "vmap", "jvp"),
    ("*", "hessian_fwdrev"): ("setup_context", "vmap", "jvp"),
    ("hvp", "jacfwd"): ("setup_context", "jvp"),   # jvp(grad(f)): forward-over-reverse, no vmap
    ("gradient", "jacfwd"): ("setup_context", "jvp"),  # without a vmap rule: one jvp per column
    ("jacobian", "jacfwd"): ("setup_context", "jvp"),
}
WHY = {
    "setup_context": "torch.func transforms need forward() without ctx plus a setup_context staticmethod",
    "vmap": "this path vmaps over the Function: it needs a vmap staticmethod or generate_vmap_rule = True",
    "jvp": "forward-mode AD needs a jvp staticmethod",
}
CUSTOM_OP_WHY = ("torch.library.custom_op with register_autograd builds a Function without setup_context, jvp "
                 "or vmap rule, so torch.func transforms cannot run through it (pytorch#179652); backward and "
                 "torch.autograd.functional can")
# Phrases of torch's own refusals (torch/autograd/function.py, torch/_functorch/autograd_function.py).
TORCH_REFUSALS = ("setup_context", "vmap support", "implement the jvp", "flat_bdims must not be None",
                  "once_differentiable", "functorch", "vmap:", "Batching rule", "forward AD", "forward-mode")


@dataclass(frozen=True)
class FunctionInfo:
    """What one custom ``torch.autograd.Function`` class in the graph provides."""

    name: str
    setup_context: bool
    vmap: bool
    jvp: bool
    once_differentiable: bool
    custom_op: bool = False   # the Function torch.library generates for a custom op's register_autograd
    # The code of the derivative rules the user wrote (backward, jvp, vjp, vmap, setup_context),
    # through decorators that keep __wrapped__: where an exception means the rule is broken.
    rules: tuple[tuple[str, Any], ...] = ()

    def has(self, feature: str) -> bool:
        return bool(getattr(self, feature))


def _unwrapped(fn: Any, closures: bool = False) -> list[Any]:
    """``fn`` and the functions under its decorators: those kept in ``__wrapped__``
    (``functools.wraps``) and, with ``closures``, those a decorator only holds in its closure
    (at most 32 in all)."""
    todo: list[Any] = [fn]
    found: list[Any] = []
    while todo and len(found) < 32:
        f = todo.pop()
        if f is None:
            continue
        found.append(f)
        todo.append(getattr(f, "__wrapped__", None))
        for cell in (getattr(f, "__closure__", None) or ()) if closures else ():
            try:
                inner = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(inner) and hasattr(inner, "__code__"):
                todo.append(inner)
    return found


def _once_differentiable(backward: Any) -> bool:
    """Whether ``backward`` is ``once_differentiable``'s wrapper, also under other decorators:
    those that keep ``__wrapped__`` (``functools.wraps``, as ``once_differentiable`` itself
    does) and those that only hold the function they wrap in their closure."""
    return any("once_differentiable" in getattr(getattr(f, "__code__", None), "co_qualname", "")
               for f in _unwrapped(backward, closures=True))


def _custom_op_name(cls: type) -> str | None:
    """The op's name when ``cls`` is the Function ``torch.library`` generates for ``register_autograd``."""
    if cls.__module__ != "torch._library.autograd":
        return None
    for cell in getattr(getattr(cls, "forward", None), "__closure__", None) or ():
        try:
            op = cell.cell_contents
        except ValueError:
            continue
        if hasattr(op, "_namespace") and hasattr(op, "_opname"):
            return f"{op._namespace}::{op._opname}"
    return cls.__qualname__.removeprefix("GeneratedBackwardFor_")


RULES = ("backward", "jvp", "vjp", "vmap", "setup_context")


def _rule_code(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, code object) of each derivative rule ``cls`` defines itself (not torch's defaults)."""
    base = torch.autograd.Function
    found = []
    for rule in RULES:
        fn = getattr(cls, rule, None)
        if fn is None or fn is getattr(base, rule, None):
            continue
        for f in _unwrapped(fn):
            code = getattr(f, "__code__", None)
            if code is not None and not code.co_filename.startswith(_TORCH_DIR):
                found.append((rule, code))
    return tuple(found)


def function_info(cls: type) -> FunctionInfo:
    base = torch.autograd.Function
    op = _custom_op_name(cls)
    return FunctionInfo(
        name=f"custom op {op}" if op else cls.__qualname__,
        setup_context=getattr(cls, "setup_context", None) is not base.setup_context,
        vmap=bool(getattr(cls, "generate_vmap_rule", False)) or getattr(cls, "vmap", None) is not base.vmap,
        jvp=getattr(cls, "jvp", None) is not base.jvp,
        once_differentiable=_once_differentiable(getattr(cls, "backward", None)),
        custom_op=op is not None,
        rules=() if op else _rule_code(cls))


def custom_functions(out: torch.Tensor) -> list[FunctionInfo]:
    """The custom Function classes in ``out``'s autograd graph (each once, in graph order)."""
    seen: set[int] = set()
    found: dict[type, FunctionInfo] = {}
    stack = [out.grad_fn] if out.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        cls = getattr(node, "_forward_cls", None)
        if isinstance(node, torch.autograd.function.BackwardCFunction) and cls is not None and cls not in found:
            found[cls] = function_info(cls)
        stack.extend(n for n, _ in getattr(node, "next_functions", ()))
    return list(found.values())


def gradient_graph(out: torch.Tensor, z: torch.Tensor) -> tuple[bool, torch.Tensor | None]:
    """``(taken, g)``: a scalar ``out``'s gradient wrt ``z`` with ``create_graph=True``, as a
    second derivative takes it (``g`` None where ``z`` is unused). ``taken`` is False when it
    cannot be taken (no graph, not a scalar, or raising: the paths that take it report why).

    Its graph holds the Functions (and custom ops) a backward or jvp calls, which are run by a
    second derivative but are not in ``out``'s own graph; ``first_order_only_hint`` reads it too."""
    if not out.requires_grad or out.numel() != 1:
        return False, None
    try:
        (g,) = torch.autograd.grad(out.reshape(()), z, create_graph=True, allow_unused=True)
    except Exception:  # noqa: BLE001 - reported by the paths
        return False, None
    return True, g


def silently_wrong(kind: str, mode: str, functions: list[FunctionInfo]) -> str | None:
    """Why ``mode`` would return wrong numbers without an error for a ``kind`` check through
    ``functions`` (so it is not run); None when it would not."""
    ops = [f.name for f in functions if f.custom_op and not f.jvp]
    if ops and mode in FORWARD_MODES:
        return (f"forward-mode AD through the {', '.join(ops)} (torch.library.custom_op with register_autograd, "
                "no forward-mode rule): torch runs the op without its tangents and returns zeros without an "
                "error, so this path is not run")
    if not functions or kind not in SECOND_ORDER:
        return None
    once = [f.name for f in functions if f.once_differentiable]
    if once:
        return (f"{', '.join(once)}.backward is @once_differentiable: torch cannot differentiate it "
                "again, so no second derivative can be taken through it (torch returns zeros, no error)")
    if kind != "hvp" and mode == "jacfwd":
        return (f"forward-over-forward (jacfwd of jacfwd) through the custom autograd.Function "
                f"{', '.join(f.name for f in functions)}: torch's nested forward mode drops the "
                "Function's second-order term and returns zeros without an error, so it is not run")
    return None


def missing_features(kind: str, mode: str, functions: list[FunctionInfo]) -> str | None:
    """What the Functions lack for torch to run ``mode`` (``NEEDS``); None when nothing is missing."""
    needs = NEEDS.get((kind, mode)) or NEEDS.get(("*", mode), ())
    missing = [(f.name, n) for f in functions for n in needs if not f.has(n)]
    if not missing:
        return None
    ops = {f.name for f in functions if f.custom_op}
    return "; ".join(f"{name}: {CUSTOM_OP_WHY}" if name in ops else f"{name} has no {n}: {WHY[n]}"
                     for name, n in dict.fromkeys((name, n if name not in ops else "") for name, n in missing))


# torch refusing a path whatever the mode: reentrant checkpointing (use_reentrant=True) cannot
# be differentiated by torch.autograd.grad, which every path here uses.
ANY_MODE_REFUSALS = ("Checkpointing is not compatible with .grad()", "checkpoint is incompatible with .grad()")


def torch_refused(exc: BaseException, mode: str) -> bool:
    """Whether an exception from a path is torch refusing the function, not a bug in it."""
    text = f"{type(exc).__name__}: {exc}"
    return any(p in text for p in ANY_MODE_REFUSALS) or mode in TRANSFORM_MODES and (
        isinstance(exc, NotImplementedError) or any(p in text for p in TORCH_REFUSALS))


# torch checking what a rule returned: the rule is wrong for every caller, on any path.
RULE_OUTPUT_REJECTED = ("returned an invalid gradient", "returned an incorrect number of gradients",
                        "expected Variable or None", "Trying to set a forward gradient that has a different size")
_PLAIN_MODES = ("backward", "functional")  # plain autograd, as a user's own .backward() runs it


def broken_rule(exc: BaseException, functions: list[FunctionInfo], kind: str = "gradient",
                mode: str = "backward") -> str | None:
    """Why ``exc`` says one of the user's derivative rules is wrong, or None.

    - torch rejecting what a rule returned (``RULE_OUTPUT_REJECTED``: "Function LinearBackward
      returned an invalid gradient at index 0", a forward gradient of the wrong size): wrong on
      any path, since plain ``.backward()`` or ``torch.func.jvp`` raise it for everyone;
    - an error raised in the rule's own code (the innermost frame is the rule): a
      ``ValueError`` from unpacking ``ctx.saved_tensors`` that ``save_for_forward`` never
      filled, a ``TypeError``, an ``IndexError``; a ``RuntimeError`` there (a shape mismatch in
      the rule's own matmul) counts on a first derivative by plain autograd, which is how every
      user runs the rule. On other paths a ``RuntimeError`` may be torch refusing what the rule
      does there (``.numpy()`` while a second derivative is taken), and ``NotImplementedError``
      is a rule declining: neither says the rule is wrong.
    """
    if not functions or isinstance(exc, NotImplementedError):
        return None
    text = str(exc)
    if isinstance(exc, RuntimeError) and any(p in text for p in RULE_OUTPUT_REJECTED):
        return f"torch rejected what a derivative rule returned: {first_line(exc)}"
    if isinstance(exc, RuntimeError) and not (kind not in SECOND_ORDER and mode in _PLAIN_MODES):
        return None
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    code = tb.tb_frame.f_code
    for f in functions:
        for rule, rule_code in f.rules:
            if code is rule_code:
                where = f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
                return f"{f.name}.{rule} raised {first_line(exc)} ({where})"
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip()


# ---- calling the user's function ------------------------------------------------------------------

def caller(fn: Callable[..., Any], inputs: list[str], constants: Mapping[str, Any],
           fixed: Mapping[str, Any] | None = None) -> Callable[[Mapping[str, Any]], Any]:
    """A function of the values by name that calls ``fn`` the way its signature asks.

    By keyword when ``fn``'s parameters name every input (or it takes ``**kwargs``), with each
    constant it names. When only some inputs or constants are named, those go by name and the
    other inputs (then constants, when there is room) fill the other parameters in order
    (``def f(b, x)`` with inputs x, y: x is x, y is b). Otherwise positionally, the inputs in
    their order followed by the constants when it has room for them. A bare ``**kwargs``
    receives the inputs only: such a function is usually a wrapper that binds the constants
    itself. ``fixed`` holds constants passed as they were given (a Python int stays an int, for
    ``x.repeat(n)`` or a Function that keeps it on ``ctx``). Raises ``CheckError`` when ``fn``
    can take neither way.
    """
    fixed = dict(fixed or {})

    def get(v: Mapping[str, Any], n: str) -> Any:
        return fixed[n] if n in fixed else v[n]

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: by keyword
        return lambda v: fn(**{n: v[n] for n in inputs})
    P = inspect.Parameter
    named = {p.name for p in params if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    var_kw = any(p.kind == P.VAR_KEYWORD for p in params)
    if all(n in named for n in inputs) or (var_kw and not any(p.kind == P.POSITIONAL_ONLY for p in params)):
        consts = [c for c in constants if c in named]
        return lambda v: fn(**{n: get(v, n) for n in (*inputs, *consts)})
    positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    var_pos = any(p.kind == P.VAR_POSITIONAL for p in params)
    by_name = [n for n in (*inputs, *constants) if n in named]
    if by_name and not any(p.kind == P.POSITIONAL_ONLY for p in params):
        slots = [p.name for p in positional if p.name not in by_name]
        rest = [n for n in inputs if n not in named]
        extra = [c for c in constants if c not in named]
        if len(slots) >= len(rest) + len(extra):
            rest += extra
        plan = {**{n: n for n in by_name}, **dict(zip(slots, rest))}
        unfilled = [p.name for p in positional if p.default is P.empty and p.name not in plan]
        if len(rest) <= len(slots) and not unfilled:
            return lambda v: fn(**{param: get(v, src) for param, src in plan.items()})
    required = [p for p in positional if p.default is P.empty]
    names = list(inputs)
    if var_pos or len(positional) >= len(inputs) + len(constants):
        names += list(constants)
    if len(required) > len(names) or (len(positional) < len(names) and not var_pos):
        raise CheckError(
            f"fn takes {len(positional)} positional argument(s) ({', '.join(p.name for p in positional)}) "
            f"but the check has {len(inputs)} input(s) ({', '.join(inputs)})"
            + (f" and constant(s) {', '.join(constants)}" if constants else "")
            + ": name fn's parameters after the inputs, or take them in the inputs' order")
    return lambda v: fn(*(get(v, n) for n in names))


@dataclass
class Probe:
    """fn run once at the point: the custom Functions in its graph, and a hint for a failure."""

    functions: list[FunctionInfo]
    hint: str = ""
    shape: tuple[int, ...] | None = None  # fn's output shape at the point


def detached_hint(out: torch.Tensor, kind: str) -> str:
    """A hint when a derivative check fails on an output that autograd does not connect to the inputs."""
    if kind == "value" or out.requires_grad:
        return ""
    return ("fn's output does not require grad: torch sees no dependence on the inputs (computed under "
            "torch.no_grad(), from .detach()ed or .item()/numpy values?), so every path gives zeros")


def first_order_only_hint(taken: bool, g: torch.Tensor | None, kind: str, functions: list[FunctionInfo]) -> str:
    """A hint when a second-order check fails because a custom Function's backward builds no graph
    (numpy, ``.detach()``, ``torch.no_grad()`` inside it): torch's second derivatives are then zeros.
    ``taken, g``: the gradient from ``gradient_graph``."""
    if kind not in SECOND_ORDER or not functions or not taken or (g is not None and g.requires_grad):
        return ""
    names = ", ".join(f.name for f in functions)
    return (f"fn's gradient does not require grad: the backward of {names} builds no autograd graph (numpy, "
            ".detach() or torch.no_grad() inside it?), so torch's second derivatives through it are zeros; "
            "write it with differentiable torch ops, or mark it @once_differentiable")


def precision_hint(out: torch.Tensor, dtype: str) -> str:
    """A hint when fn's output is less precise than the inputs it was given (a ``.float()`` inside)."""
    if dtype == "float64" and out.dtype in (torch.float32, torch.float16, torch.bfloat16):
        return (f"fn returned {out.dtype} for float64 inputs: it computes (and differentiates) at that "
                "precision, so its rounding is judged against float64's; check it at float32 (float32 "
                "inputs, or dtype='float32') if that precision is intended")
    return ""


def check_output(out: Any, kind: str) -> str | None:
    """Why ``out`` (fn's value at the point) cannot be checked as ``kind``; None when it can."""
    if not isinstance(out, torch.Tensor):
        return f"fn returned a {type(out).__name__}, not a torch.Tensor"
    if out.is_complex():
        return f"fn returned a complex tensor ({out.dtype}): only real derivatives are checked"
    if not out.is_floating_point():
        return f"fn returned a {out.dtype} tensor: derivatives need a floating-point output"
    if kind in ("gradient", "hessian", "hvp") and out.numel() != 1:
        return (f"a {kind} needs a scalar output, but fn returned shape {tuple(out.shape)}: "
                "did you forget .sum() (or check the jacobian)?")
    return None


def second_order_blocker(out: torch.Tensor) -> str | None:
    """Why no second derivative of ``out`` can be taken by reverse mode (``torch.autograd.grad``
    twice, ``torch.autograd.functional.hessian``); None when it can. For callers outside the
    check machinery, e.g. grading a student's function, where torch would return zeros silently."""
    if not isinstance(out, torch.Tensor):
        return None
    return silently_wrong("hessian", "functional", custom_functions(out))
