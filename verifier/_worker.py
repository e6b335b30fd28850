"""Run problems in a forked worker process, each under a time budget and a memory budget.

The symbolic engines are C and C++ code: a crash there (SymEngine raises SIGFPE for
``x**1e15``) or a loop that never returns to Python (an exponent tower) cannot be caught
in-process. So the problems of one run go to a child forked *after* the imports (about
20 ms, nothing is imported twice), which reports each problem as it starts and ends over
a pipe. The parent is the watchdog:

- a problem that runs past ``timeout`` seconds: the child is killed (SIGKILL);
- a problem that needs more than ``memory`` MiB on top of what the process already holds:
  the child's address space is capped (``RLIMIT_AS``, renewed before each problem), so the
  allocation fails (MemoryError, or the C++ side aborts);
- a child that dies (a signal, ``os._exit``): the problem it was on is ``error``.

In each case that problem gets a result saying what happened and how to raise the budget,
every result received before is kept, and a fresh child continues with the next problem.
Where ``fork`` does not exist (Windows) the problems run in-process, without budgets.

The results come back as pickles over a pipe from our own child; the child runs only the
verifier's code on parsed, whitelisted problem data, plus a problem's ``implementation:``
callable when the user allowed imports (their own code, trusted as they said). What it
sends is built by this package. Student code never runs here (see ``_sandbox``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, Pipe
from typing import TextIO

from ._results import ProblemResult
from ._spec import Problem

DEFAULT_TIMEOUT = 300.0   # seconds per problem
DEFAULT_MEMORY = 4096     # MiB per problem, above what the verifier itself holds
_MEMORY_WORDS = ("MemoryError", "can't allocate memory", "bad_alloc", "std::bad_alloc", "Cannot allocate")


def can_isolate() -> bool:
    """True where problems can run in a forked worker: POSIX with fork, and CUDA not yet
    initialized in this process (a forked child cannot use CUDA then; torch docs,
    "Multiprocessing best practices": CUDA needs ``spawn``). Otherwise problems run in-process."""
    if not hasattr(os, "fork") or sys.platform == "win32":
        return False
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return not (cuda is not None and cuda.is_initialized())


def run_problems(problems: Sequence[Problem], run_one: Callable[[Problem], ProblemResult], *,
                 timeout: float | None = DEFAULT_TIMEOUT, memory: int | None = DEFAULT_MEMORY,
                 isolate: bool = True, progress: TextIO | None = None) -> Iterator[ProblemResult]:
    """Yield one result per problem, in order, each computed by ``run_one`` under the budgets.

    ``timeout``: seconds per problem (None: no limit). ``memory``: MiB per problem beyond the
    worker's size when the problem starts (None: no limit). ``progress``: a stream (a
    terminal) to show ``[i/n] id  seconds`` on while problems run.
    """
    show = _Progress(progress, len(problems))
    try:
        if not isolate or not can_isolate() or not problems:
            for i, p in enumerate(problems):
                show.start(i, p.id)
                yield run_one(p)
            return
        i = 0
        while i < len(problems):
            for result in _one_worker(problems, i, run_one, timeout, memory, show):
                yield result
                i += 1
    finally:
        show.clear()


def _one_worker(problems: Sequence[Problem], first: int, run_one: Callable[[Problem], ProblemResult],
                timeout: float | None, memory: int | None, show: _Progress) -> Iterator[ProblemResult]:
    """Run problems[first:] in one child until it finishes, dies or is stopped; yield the results."""
    recv, send = Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # pragma: no cover - a closed stream
            pass
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; its results are what the tests check
        recv.close()
        _child(problems, first, run_one, memory, send)
    send.close()
    current, started = first, time.monotonic()
    show.start(first, problems[first].id)
    try:
        while current < len(problems):
            wait = 1.0 if timeout is None else max(0.0, min(1.0, started + timeout - time.monotonic()))
            if recv.poll(wait):
                try:
                    kind, index, payload = recv.recv()
                except (EOFError, OSError):
                    yield _died(problems[current], _reap(pid), memory)
                    return
                if kind == "done":
                    yield _memory_note(payload, memory)
                    current = index + 1
                    if current < len(problems):
                        started = time.monotonic()
                        show.start(current, problems[current].id)
                    if payload.error and _is_memory(payload.error) or _any_memory(payload):
                        return  # a fresh child after an allocation failure
                continue
            show.tick()
            if timeout is not None and time.monotonic() - started >= timeout:
                os.kill(pid, signal.SIGKILL)
                _reap(pid)
                yield _stopped(problems[current], timeout)
                return
        _reap(pid)
    finally:
        recv.close()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            _reap(pid)


def _child(problems: Sequence[Problem], first: int, run_one: Callable[[Problem], ProblemResult],
           memory: int | None, send: Connection) -> None:  # pragma: no cover - the child process
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent cleans up
        import faulthandler

        faulthandler.disable()  # a crash is reported by the parent, not dumped on the user's terminal
        try:
            import torch

            torch.set_num_threads(1)  # an OpenMP pool inherited through fork must not be entered
        except Exception:
            pass
        for i in range(first, len(problems)):
            _limit_memory(memory)
            try:
                result = run_one(problems[i])
            except Exception as exc:  # run_one records its own errors; this is the last net
                result = _error(problems[i], f"internal error: {type(exc).__name__}: {exc}")
            try:
                send.send(("done", i, result))
            except (TypeError, AttributeError, RecursionError) as exc:  # pickling failed: nothing was sent
                send.send(("done", i, _error(problems[i], f"internal error: result not sendable: {exc}")))
    except BaseException:
        code = 3
    finally:
        try:
            send.close()
        finally:
            os._exit(code)


def _limit_memory(memory: int | None) -> None:  # pragma: no cover - the child process
    """Cap the address space at its present size plus ``memory`` MiB (RLIMIT_AS, soft limit)."""
    if memory is None:
        return
    import resource

    size = _vm_size()
    if size is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + memory * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _vm_size() -> int | None:  # pragma: no cover - the child process
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reap(pid: int) -> int:
    """Wait for the child; its wait status (0 when it was already reaped)."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0


def _error(problem: Problem, message: str) -> ProblemResult:
    where = f"{problem.file}:{problem.line}:{problem.col}"
    return ProblemResult(problem.id, "error", file=problem.file, line=problem.line, title=problem.title,
                         xfail=problem.xfail, error=f"{where}: {message}")


def _stopped(problem: Problem, timeout: float) -> ProblemResult:
    return _error(problem, f"stopped after {timeout:g} s, the time budget per problem; the other problems "
                  "still ran. Raise it with --timeout SECONDS (timeout= in verifier.run), or make the "
                  "problem smaller")


def _died(problem: Problem, status: int, memory: int | None) -> ProblemResult:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        what = {"SIGFPE": "an arithmetic fault (SIGFPE) in the symbolic engine",
                "SIGSEGV": "a segmentation fault (SIGSEGV) in native code",
                "SIGABRT": "an abort (SIGABRT) in native code, often a failed allocation",
                "SIGKILL": "SIGKILL, often the system running out of memory"}.get(name, name)
        message = f"the worker computing this problem was killed by {what}"
    else:
        message = f"the worker computing this problem exited unexpectedly (status {os.WEXITSTATUS(status)})"
    budget = f"{memory} MiB" if memory is not None else "no limit"
    return _error(problem, f"{message}; the other problems still ran. The memory budget is {budget} "
                  "(--memory MIB); a problem with huge exponents or very many entries may need to be "
                  "made smaller")


def _is_memory(text: str) -> bool:
    return any(w in text for w in _MEMORY_WORDS)


def _any_memory(result: ProblemResult) -> bool:
    return any(_is_memory(c.message) or any(_is_memory(m.error) for m in c.modes.values())
               for c in result.checks)


def _memory_note(result: ProblemResult, memory: int | None) -> ProblemResult:
    """Say which budget an allocation failure hit, and how to raise it."""
    if memory is None or not (result.error and _is_memory(result.error) or _any_memory(result)):
        return result
    note = (f" (the memory budget of {memory} MiB per problem was exceeded; raise it with --memory MIB, "
            "memory= in verifier.run)")
    if result.error:
        result.error += note
    for c in result.checks:
        if _is_memory(c.message) or any(_is_memory(m.error) for m in c.modes.values()):
            c.message = (c.message + note).strip()
            c.status = "error"
    if any(c.status == "error" for c in result.checks):
        result.status = "error"
    return result


class _Progress:
    """``[3/22] problem-id  12 s`` on a terminal's stderr while problems run; nothing otherwise."""

    def __init__(self, stream: TextIO | None, total: int) -> None:
        self.stream, self.total = stream, total
        self.label, self.since, self.shown = "", 0.0, False

    def start(self, index: int, pid: str) -> None:
        self.label, self.since = f"[{index + 1}/{self.total}] {pid}", time.monotonic()
        self._write(self.label)

    def tick(self) -> None:
        elapsed = time.monotonic() - self.since
        if elapsed >= 2:
            self._write(f"{self.label}  {elapsed:.0f} s")

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write("\r\x1b[K" + text[:100])
            self.stream.flush()
            self.shown = True
        except (OSError, ValueError):
            self.stream = None

    def clear(self) -> None:
        if self.shown and self.stream is not None:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass

