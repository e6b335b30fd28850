"""Inside the sandboxed child: run the student's cells, then turn requested objects into numbers.

Imported only by the zygote (it imports torch). Everything here runs in the child process
after isolation has been applied; what it sends back is JSON, written to the result fd
with :func:`verifier._frames.send_frame`.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import random
import resource
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from . import _parse
from ._answer import Reject, safe_repr, to_answer, typename
from ._capture import Capture
from ._frames import send_frame
from ._userfn import second_order_blocker

OUTPUT_CAP = 4096
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CellTimeout(BaseException):
    """Raised by SIGALRM inside a cell; a BaseException so ``except Exception`` misses it."""


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``cap`` characters written to it."""

    def __init__(self, cap: int = OUTPUT_CAP) -> None:
        self.cap, self.size, self.dropped = cap, 0, 0
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, s: Any) -> int:
        if type(s) is not str:
            raise TypeError("write() argument must be str")
        keep = s[: max(0, self.cap - self.size)]
        self.parts.append(keep)
        self.size += len(keep)
        self.dropped += len(s) - len(keep)
        return len(s)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters not kept]"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout


def guarded(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with a SIGALRM deadline; CellTimeout escapes, so callers can tell.

    Nested calls (a function evaluated between two statements of a cell) keep the outer
    deadline: the inner one is never later, and the outer timer is restored afterwards.
    """
    signal.signal(signal.SIGALRM, _on_alarm)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]
    seconds = min(seconds, outer) if outer > 0 else seconds
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        return fn()
    finally:
        left = outer - (time.monotonic() - started) if outer > 0 else 0.0
        signal.setitimer(signal.ITIMER_REAL, max(left, 0.001) if outer > 0 else 0)


def run(job: dict[str, Any], fd: int) -> None:
    """Run every cell of ``job`` in one namespace; after each, report it and what changed
    among the requested answers (see ``_capture``), so nothing computed is lost later."""
    cell_timeout = float(job["cell_timeout"])
    out = CappedText()
    sys.stdout = sys.stderr = out
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    ns = main.__dict__
    ns["display"] = lambda *objs, **kw: out.write(" ".join(safe_repr(o) for o in objs) + "\n")
    capture = Capture(job["request"], ns, to_answer, lambda fr: _functions(ns, fr, cell_timeout))
    memory = timed_out = False
    for index, code in enumerate(job["cells"], 1):
        send_frame(fd, {"start": index})
        started = time.perf_counter()
        error = None
        try:
            statements = _statements(code, f"<cell {index}>")

            def run_cell(statements: list[types.CodeType] = statements, index: int = index) -> None:
                for k, code in enumerate(statements, 1):
                    exec(code, ns)  # noqa: S102 - the one place student code runs, in the child
                    if k < len(statements):
                        _capture_now(fd, capture, index)

            guarded(cell_timeout, run_cell)
        except CellTimeout:
            error, timed_out = f"timeout: the cell ran longer than {cell_timeout:g} s", True
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends end only the cell
            memory = memory or is_memory_error(exc)
            error = describe(exc, out)
        log = {"index": index, "ok": error is None, "error": error,
               "seconds": time.perf_counter() - started, "output": out.take()}
        send_frame(fd, {"cell": log})
        _send_capture(fd, capture, index, cell_timeout, final=False)
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))  # room to report after a memory hog
    _send_capture(fd, capture, len(job["cells"]), cell_timeout, final=True)
    send_frame(fd, {"result": {"memory": memory, "cell_timeout": timed_out}})


def _statements(code: str, filename: str) -> list[types.CodeType]:
    """The cell's top-level statements, compiled one by one (line numbers as in the cell), so
    answers can be read between them; the whole cell at once if it has a ``__future__`` import."""
    tree = _parse.parse(code, filename)
    if len(tree.body) < 2 or any(isinstance(s, ast.ImportFrom) and s.module == "__future__" for s in tree.body):
        return [compile(tree, filename, "exec")]
    return [compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec") for stmt in tree.body]


def _capture_now(fd: int, capture: Capture, cell: int) -> None:
    """Between two statements of a running cell (inside its alarm): read what changed, so an
    ``os._exit`` or a segfault later in the same cell keeps it too."""
    try:
        frame = capture.after_cell(cell, final=False)
    except CellTimeout:
        raise
    except BaseException:  # noqa: BLE001 - a MemoryError while reading: read again after the cell
        return
    frame["functions"] = capture.functions_after(False)  # a new function: each point has its alarm
    if frame["values"] or frame["found"] or frame["functions"]:
        send_frame(fd, {"capture": frame})


def _send_capture(fd: int, capture: Capture, cell: int, seconds: float, final: bool) -> None:
    """Read what changed after ``cell``, within ``seconds`` (a read never calls student code)."""
    try:
        frame = guarded(max(seconds, 1.0), lambda: capture.after_cell(cell, final))
    except BaseException as exc:  # noqa: BLE001 - a MemoryError or the alarm while reading
        frame = {"cell": cell, "values": {}, "found": {}, "functions": {},
                 "error": f"could not read the answers: {typename(exc)}"}
    frame["functions"] = capture.functions_after(final)  # each point has its own alarm
    if frame["values"] or frame["found"] or frame["functions"] or "error" in frame:
        send_frame(fd, {"capture": frame})


def is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if type(exc) is RuntimeError:
        text = str(exc)
        return "can't allocate memory" in text or "Cannot allocate memory" in text
    return False


def describe(exc: BaseException, out: CappedText) -> str:
    """A one-line ``Type: message (line N)`` for the cell log; the traceback goes to ``out``."""
    def fmt() -> str:
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
            tb = tb.tb_next
        lines = traceback.format_exception(type(exc), exc, tb, limit=-8)
        out.write("".join(lines)[-3000:])
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        where = ""
        if isinstance(exc, SyntaxError):
            where = f" (line {exc.lineno})"
        elif tb is not None:
            while tb.tb_next is not None and tb.tb_next.tb_frame.f_code.co_filename.startswith("<"):
                tb = tb.tb_next
            where = f" (line {tb.tb_lineno})"
        return last[:500] + where
    try:
        text = guarded(2.0, fmt)
        return text if type(text) is str else "error"
    except BaseException:  # noqa: BLE001 - a student exception whose __str__ misbehaves
        return f"{typename(exc)} (its message could not be shown)"


def _functions(ns: dict[str, Any], fr: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """Evaluate the submission's function ``fr["name"]`` at every point of the request."""
    f = ns.get(fr["name"]) if fr["name"] in ns else None
    problem = None
    if f is None:
        problem = "missing"
    elif not callable(f):
        problem = f"not callable: {typename(f)}"
    elif fr["dtype"] not in _DTYPES:
        problem = f"unsupported dtype {fr['dtype']!r}"
    results: list[dict[str, Any]] = []
    with _rng_kept():
        for point in fr["points"]:
            results.append(_point(f, problem, point, fr, seconds))
    return results


@contextlib.contextmanager
def _rng_kept() -> Any:
    """The random generators as they were: evaluating the function between cells must not
    change what the student's later ``torch.rand`` draws."""
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


def _point(f: Any, problem: str | None, point: list[Any], fr: dict[str, Any], seconds: float) -> dict[str, Any]:
    derivs = fr["derivatives"]
    if problem is not None or f is None:
        return {d: {"error": problem} for d in derivs}
    try:
        return guarded(seconds, functools.partial(_at_point, f, point, fr))
    except CellTimeout:
        return {d: {"error": f"timeout after {seconds:g} s"} for d in derivs}
    except BaseException as exc:  # noqa: BLE001
        return {d: {"error": describe(exc, CappedText())} for d in derivs}


def _at_point(f: Callable[..., Any], point: list[Any], fr: dict[str, Any]) -> dict[str, Any]:
    dtype, derivs = _DTYPES[fr["dtype"]], fr["derivatives"]
    with torch.enable_grad(), torch.inference_mode(False):
        xs = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in point]
        result: dict[str, Any] = {}
        out = f(*xs)
        if "value" in derivs:
            result["value"] = to_answer(out)
        wanted = [d for d in ("gradient", "hessian") if d in derivs]
        if not wanted:
            return result
        problem = _scalar_problem(out) or _detached(out)
        if problem:
            result.update({d: {"error": problem, "ran": True} for d in wanted})
            return result
        # The function ran: a derivative that cannot be taken fails that derivative alone, and
        # the value already read stays (a numpy or detached function still has the right value).
        if "gradient" in derivs:
            try:
                grads = torch.autograd.grad(out.reshape(()), xs, allow_unused=True)
            except Exception as exc:  # noqa: BLE001
                result["gradient"] = {"error": describe(exc, CappedText()), "ran": True}
            else:
                flat = [torch.zeros(x.numel(), dtype=dtype) if g is None else g.reshape(-1)
                        for g, x in zip(grads, xs, strict=True)]
                result["gradient"] = to_answer(torch.cat(flat).detach())
        blocked = second_order_blocker(out)  # e.g. a @once_differentiable backward: torch gives zeros
        if blocked and "hessian" in derivs:
            result["hessian"], derivs = {"error": blocked, "ran": True}, [d for d in derivs if d != "hessian"]
        if "hessian" in derivs:
            try:
                result["hessian"] = _hessian(f, xs)
            except Exception as exc:  # noqa: BLE001
                result["hessian"] = {"error": describe(exc, CappedText()), "ran": True}
    return result


def _hessian(f: Callable[..., Any], xs: list[torch.Tensor]) -> dict[str, Any]:
    """The Hessian of ``f`` at ``xs`` over all their elements, flattened, as an answer."""
    shapes, sizes = [x.shape for x in xs], [x.numel() for x in xs]

    def g(flat: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(flat, sizes)
        parts = [p.reshape(s) for p, s in zip(pieces, shapes, strict=True)]
        value = f(*parts)
        problem = _scalar_problem(value)
        if problem:
            raise Reject(problem)
        return value.reshape(())

    flat0 = torch.cat([x.detach().reshape(-1) for x in xs])
    hess = torch.autograd.functional.hessian(g, flat0)
    return to_answer(hess.detach())


def _detached(out: torch.Tensor) -> str | None:
    if out.requires_grad:
        return None
    return ("not differentiable: its result is not connected to its input by autograd (computed with "
            "numpy, .item(), .detach() or torch.tensor(...)), so torch cannot differentiate it")


def _scalar_problem(out: object) -> str | None:
    if type(out) is not torch.Tensor:
        return f"not differentiable: the function returned {typename(out)}, not a tensor"
    if out.numel() != 1:
        return f"not a scalar: the function returned shape {list(out.shape)}"
    return None
