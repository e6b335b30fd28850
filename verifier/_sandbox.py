"""Run one untrusted submission in a child process and get plain numbers back.

What the sandbox guarantees:

* Each submission runs in its own freshly forked process (from a zygote that imported
  torch once), in one namespace across cells; a cell that raises, has a syntax error,
  calls ``sys.exit`` or runs past ``cell_timeout`` is logged and the next cells still run.
* The whole run is killed after ``timeout`` seconds of wall clock (RLIMIT_CPU backs it up).
  Memory is capped with RLIMIT_DATA at ``memory_mb`` MiB *on top of* what the preloaded
  interpreter already uses (about 210 MiB with torch); each file it writes is capped at
  64 MiB (RLIMIT_FSIZE).
* Results come back as JSON through a pipe read by trusted code only; nothing is unpickled,
  the grader never reads files from the submission's directory, and what the submission
  prints is only kept, truncated, as text in the cell log. Objects become numbers in the
  child through exact-type checks: no ``__eq__``, ``__float__``, ``__array__`` or
  ``__reduce__`` of a student's type is ever called.
* Where Linux allows it (as root, or through an unprivileged user namespace): new pid,
  network and mount namespaces. The submission then has no network (nor abstract Unix
  sockets), sees only its own processes, every process it starts dies with it (at most ~300
  of them), it has no capabilities, and its filesystem is a minimal root (``_sandbox_fs``):
  ``/usr``, the Python installation and environment, the ``verifier`` package, a few ``/etc``
  files, a minimal ``/dev``, its own ``/proc``, all read-only, and a private 64 MiB ``/tmp``.
  It cannot see the grading key, other submissions, ``--out`` or host Unix sockets; the paths
  given as ``hide`` are covered even inside a folder it is shown.
  Where namespaces are unavailable, it gets a new session (killed as a process group),
  a private temporary directory and the rlimits; ``notes`` then say so, and it can read
  whatever the grader's user can.
* Killing the grader kills the zygote (its socket closes), every supervisor
  (PR_SET_PDEATHSIG) and every child (PR_SET_PDEATHSIG, and the end of its pid namespace).

What it does not guarantee: it is not a security boundary against a kernel exploit. The memory
cap is per process, so a fork bomb multiplies it. A submission can tamper with the interpreter
it runs in, so it can misreport its own answers; it can never see the reference answers,
which are computed in the grader, nor touch another submission.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import VerifierError
from ._frames import MAX_FRAME, FrameReader
from ._notebook import NotASubmission, read_submission

DERIVATIVES = ("value", "gradient", "hessian")
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_GRACE = 15.0  # seconds the grader waits beyond ``timeout`` before killing the supervisor


@dataclass
class FunctionRequest:
    """Evaluate the submission's callable ``name`` with one tensor per arg at each point."""

    name: str
    args: list[str]
    points: list[list[Any]]  # one entry per point: one nested list of floats per arg
    dtype: str = "float64"
    derivatives: list[str] = field(default_factory=lambda: ["value", "gradient", "hessian"])


@dataclass
class Request:
    """What to read from a submission after it ran."""

    names: list[str] = field(default_factory=list)
    functions: list[FunctionRequest] = field(default_factory=list)


@dataclass
class CellLog:
    """How one code cell went (``index`` counts code cells from 1)."""

    index: int
    ok: bool
    error: str | None
    seconds: float
    output: str = ""


@dataclass
class SubmissionOutput:
    """Plain numbers from one submission; ``status`` is the worst thing that happened.

    ``status`` is ``ok``, ``timeout``, ``memory``, ``crash`` or ``invalid``. ``values`` and
    ``functions`` are filled whenever the run got far enough to report them, even if a cell
    timed out or ran out of memory; otherwise each answer is ``{"error": "no result: ..."}``.
    """

    status: str
    values: dict[str, dict[str, Any]]
    functions: dict[str, list[dict[str, dict[str, Any]]]]
    cells: list[CellLog]
    notes: list[str]
    seconds: float


class SandboxPool:
    """A zygote process (torch imported once) that forks one sandboxed child per submission.

    Use as a context manager; :meth:`run` may be called from several threads at once.
    ``namespaces=False`` skips the Linux namespaces (for debugging). ``hide`` names host paths
    (the grading key, the submissions, the output folder) that a child must never see, even
    where one lies inside a folder the child is shown (see ``_sandbox_fs``).
    """

    def __init__(self, *, namespaces: bool = True, hide: tuple[str | Path, ...] = ()) -> None:
        self._namespaces = namespaces
        self._hide = [os.path.abspath(p) for p in hide]
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._closed = False

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the zygote if it is not running (about as long as ``import torch``)."""
        with self._lock:
            self._closed = False
            self._ensure_started()

    def _ensure_started(self) -> socket.socket:
        if self._closed:
            raise VerifierError("the sandbox pool is closed")
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        self._shutdown()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "PYTHONPATH": path, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "VERIFIER_ZYGOTE_FD": str(theirs.fileno()),
               "VERIFIER_SANDBOX_NAMESPACES": "1" if self._namespaces else "0"}
        code = "from verifier._sandbox_zygote import main; main()"
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd="/")
        theirs.close()
        mine.settimeout(180)
        try:
            ready = mine.recv(1)
        except OSError:
            ready = b""
        if ready != b"R":
            mine.close()
            self._shutdown()
            raise VerifierError("the sandbox zygote did not start (is torch importable?)")
        mine.settimeout(None)
        self._sock = mine
        return mine

    def close(self) -> None:
        """Stop the zygote and every sandbox still running (their runs report a crash).

        Until :meth:`start` is called again, :meth:`run` raises VerifierError instead of
        starting a new zygote.
        """
        with self._lock:
            self._closed = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def run(self, path: str | Path, request: Request, *, timeout: float = 60.0,
            cell_timeout: float = 30.0, memory_mb: int = 2048) -> SubmissionOutput:
        """Run the submission at ``path`` and read what ``request`` asks for."""
        started = time.perf_counter()
        _check_request(request)
        try:
            submission = read_submission(path)
        except NotASubmission as exc:
            out = _empty(request, "invalid", f"no result: {exc.reason}")
            out.notes.append(f"not a submission: {exc.reason}")
            out.seconds = time.perf_counter() - started
            return out
        job = {"cells": submission.cells, "timeout": timeout, "cell_timeout": cell_timeout,
               "memory_mb": memory_mb, "request": _request_json(request), "hide": self._hide}
        report = self._submit(json.dumps(job).encode(), timeout + _GRACE)
        out = _interpret(report, request, len(submission.cells), submission.notes)
        out.seconds = time.perf_counter() - started
        return out

    def _submit(self, payload: bytes, wait: float) -> dict[str, Any]:
        r, w = os.pipe()
        try:
            for attempt in (1, 2):
                try:
                    with self._lock:
                        sock = self._ensure_started()
                        socket.send_fds(sock, [struct.pack(">I", len(payload))], [w])
                        sock.sendall(payload)
                    break
                except OSError:
                    with self._lock:
                        self._shutdown()
                    if attempt == 2:
                        raise
        finally:
            os.close(w)
        try:
            return _read_report(r, time.monotonic() + wait)
        finally:
            os.close(r)


def _read_report(r: int, deadline: float) -> dict[str, Any]:
    """The supervisor's report; a synthetic one if it dies, overruns or sends garbage."""
    reader, pid = FrameReader(limit=2 * MAX_FRAME + (1 << 20)), None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([r], [], [], remaining)[0]:
            if type(pid) is int and pid > 1:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            return {"timed_out": True, "notes": ["sandbox: the supervisor did not report"]}
        chunk = os.read(r, 1 << 16)
        if not chunk:
            return {"notes": ["sandbox: the supervisor ended without a report"]}
        try:
            frames = reader.feed(chunk)
        except ValueError as exc:
            return {"garbage": True, "notes": [f"sandbox: unreadable report ({exc})"]}
        for frame in frames:
            if type(frame) is not dict:
                continue
            if "pid" in frame:
                pid = frame["pid"]
            else:
                return frame


def _check_request(request: Request) -> None:
    for fr in request.functions:
        if fr.dtype not in ("float32", "float64"):
            raise ValueError(f"function {fr.name!r}: dtype must be float32 or float64")
        if not set(fr.derivatives) <= set(DERIVATIVES):
            raise ValueError(f"function {fr.name!r}: derivatives must be among {DERIVATIVES}")
        if any(len(p) != len(fr.args) for p in fr.points):
            raise ValueError(f"function {fr.name!r}: each point needs one value per arg")


def _request_json(request: Request) -> dict[str, Any]:
    return {"names": list(request.names), "functions": [
        {"name": f.name, "args": list(f.args), "points": f.points, "dtype": f.dtype,
         "derivatives": list(f.derivatives)} for f in request.functions]}


def _empty(request: Request, status: str, error: str) -> SubmissionOutput:
    values = {name: {"error": error} for name in request.names}
    functions = {f.name: [{d: {"error": error} for d in f.derivatives} for _ in f.points]
                 for f in request.functions}
    return SubmissionOutput(status, values, functions, [], [], 0.0)


def _interpret(report: dict[str, Any], request: Request, n_cells: int,
               notes: list[str]) -> SubmissionOutput:
    """Turn the supervisor's report into a SubmissionOutput, trusting nothing the child sent."""
    notes = list(notes) + [str(n)[:300] for n in _list(report.get("notes"))]
    cells: dict[int, CellLog] = {}
    running, result = None, None
    for frame in _list(report.get("frames")):
        if type(frame) is not dict:
            continue
        if type(frame.get("start")) is int:
            running = frame["start"]
        elif type(frame.get("cell")) is dict:
            log = _cell_log(frame["cell"], n_cells)
            if log is not None:
                cells[log.index] = log
                running = None
        elif type(frame.get("result")) is dict:
            result = frame["result"]
        elif type(frame.get("notes")) is list:
            notes += [str(n)[:300] for n in frame["notes"]][:20]
    code, sig = report.get("exit_code"), report.get("signal")
    maxrss, limit = _number(report.get("maxrss_kb")), _number(report.get("limit_kb"))
    out_of_cpu = _number(report.get("cpu_seconds")) >= _number(report.get("cpu_limit")) - 0.5
    if report.get("timed_out") or sig == signal.SIGXCPU or (sig == signal.SIGKILL and out_of_cpu):
        status, why = "timeout", "the submission ran out of time"
    elif result is not None and result.get("cell_timeout"):
        status, why = "timeout", "a cell ran out of time"
    elif result is not None and result.get("memory"):
        status, why = "memory", "a cell ran out of memory"
    elif sig == signal.SIGKILL or (sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT)
                                   and limit and maxrss >= 0.8 * limit):
        status, why = "memory", f"killed by signal {sig} near the memory limit"
    elif result is None or code != 0 or sig is not None:
        status, why = "crash", _crash_reason(code, sig, report)
    else:
        status, why = "ok", ""
    if why:
        notes.append(why)
    if running is not None and running not in cells:
        cells[running] = CellLog(running, False, f"killed: {why}", 0.0)
    logs = [cells.get(i) or CellLog(i, False, "not run", 0.0) for i in range(1, n_cells + 1)]
    out = _empty(request, status, f"no result: {why}")
    out.cells, out.notes = logs, notes
    if result is not None:
        values = result.get("values") if type(result.get("values")) is dict else {}
        for name in request.names:
            out.values[name] = _answer(values.get(name))
        functions = result.get("functions") if type(result.get("functions")) is dict else {}
        for fr in request.functions:
            points = _list(functions.get(fr.name))
            if len(points) == len(fr.points):
                out.functions[fr.name] = [
                    {d: _answer(p.get(d) if type(p) is dict else None) for d in fr.derivatives}
                    for p in points]
    return out


def _crash_reason(code: Any, sig: Any, report: dict[str, Any]) -> str:
    if report.get("garbage"):
        return "the submission wrote garbage to the result channel"
    if sig is not None:
        return f"the submission was killed by signal {sig}"
    if code is None:
        return "the sandbox failed"
    return f"the submission ended the process (exit code {code}) before reporting"


def _number(value: Any) -> float:
    return float(value) if type(value) in (int, float) else 0.0


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _cell_log(raw: dict[str, Any], n_cells: int) -> CellLog | None:
    index, error = raw.get("index"), raw.get("error")
    if type(index) is not int or not 1 <= index <= n_cells:
        return None
    seconds = raw.get("seconds")
    output = raw.get("output")
    return CellLog(index, raw.get("ok") is True and error is None,
                   str(error)[:1000] if error is not None else None,
                   _number(seconds),
                   output[:8192] if type(output) is str else "")


def _answer(raw: Any) -> dict[str, Any]:
    """A well-formed Answer or an error; anything malformed from the child is rejected."""
    if type(raw) is not dict:
        return {"error": "missing"}
    if "error" in raw:
        return {"error": str(raw["error"])[:300]}
    shape, dtype, data = raw.get("shape"), raw.get("dtype"), raw.get("data")
    bad = {"error": "malformed answer from the sandbox"}
    if (type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape)
            or type(dtype) is not str or len(dtype) > 20 or type(data) is not list):
        return bad
    size = 1
    for n in shape:
        size *= n
    if len(data) != size:
        return bad
    number = (int, float)
    if raw.get("complex") is True:
        if not all(type(z) is list and len(z) == 2 and all(type(v) in number for v in z)
                   for z in data):
            return bad
        return {"shape": shape, "dtype": dtype, "complex": True,
                "data": [[float(z[0]), float(z[1])] for z in data]}
    if not all(type(v) in number for v in data):
        return bad
    return {"shape": shape, "dtype": dtype, "data": [float(v) for v in data]}


_default_pool: SandboxPool | None = None
_default_lock = threading.Lock()


def run_submission(path: str | Path, request: Request, *, timeout: float = 60.0,
                   cell_timeout: float = 30.0, memory_mb: int = 2048) -> SubmissionOutput:
    """Run one submission with a module-level :class:`SandboxPool` (started on first use)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = SandboxPool()
            atexit.register(_default_pool.close)
    return _default_pool.run(path, request, timeout=timeout, cell_timeout=cell_timeout,
                             memory_mb=memory_mb)
