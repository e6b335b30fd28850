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
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import _parse
from ._errors import VerifierError
from ._frames import MAX_FRAME, FrameReader
from ._notebook import NotASubmission, read_submission
from ._sandbox_report import (  # noqa: F401 - the request and output types are part of this module's API
    DERIVATIVES,
    CellLog,
    FunctionRequest,
    Read,
    Request,
    Search,
    SubmissionOutput,
    _answer,
    check_request,
    empty,
    interpret,
    request_json,
)

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_GRACE = 15.0  # seconds the grader waits beyond ``timeout`` before killing the supervisor


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
        self._pending: socket.socket | None = None  # spawned, not yet known to be ready
        self._closed = False

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, *, wait: bool = True) -> None:
        """Start the zygote if it is not running (about as long as ``import torch``).

        ``wait=False`` only spawns it and returns at once: the grader can build the key's
        references while the zygote imports torch on another core; the first :meth:`run`
        then waits for it to be ready (or raises VerifierError if it did not start).
        """
        with self._lock:
            self._closed = False
            if wait:
                self._ensure_started()
            elif not self._alive():
                self._spawn()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and (
            self._sock is not None or self._pending is not None)

    def _spawn(self) -> None:
        self._shutdown()
        self._proc, self._pending = _take_spare(self._namespaces) or _launch(self._namespaces)

    def _ensure_started(self) -> socket.socket:
        if self._closed:
            raise VerifierError("the sandbox pool is closed")
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        if self._pending is None or self._proc is None or self._proc.poll() is not None:
            self._spawn()
        mine, self._pending = self._pending, None
        assert mine is not None
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
        never_ready = self._pending is not None
        for sock in (self._sock, self._pending):
            if sock is not None:
                sock.close()
        self._sock = self._pending = None
        if self._proc is not None:
            if never_ready:  # still importing torch, no sandbox forked yet: don't wait for it
                self._proc.kill()
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
        check_request(request)
        try:
            # nbformat's first read imports jsonschema, whose attrs classes parse signatures
            # (inspect): third-party parses, made one at a time with ours (see _parse).
            with _parse.LOCK:
                submission = read_submission(path)
        except NotASubmission as exc:
            out = empty(request, "invalid", f"no result: {exc.reason}")
            out.notes.append(f"not a submission: {exc.reason}")
            out.why = f"not a submission: {exc.reason}"
            out.reason = ("not_submission", exc.reason, "", "")
            out.seconds = time.perf_counter() - started
            return out
        job = {"cells": submission.cells, "timeout": timeout, "cell_timeout": cell_timeout,
               "memory_mb": memory_mb, "request": request_json(request, submission), "hide": self._hide}
        report = self._submit(json.dumps(job).encode(), timeout + _GRACE)
        out = interpret(report, request, submission)
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
    reader, pid, scratch = FrameReader(limit=2 * MAX_FRAME + (1 << 20)), None, None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([r], [], [], remaining)[0]:
            if type(pid) is int and pid > 1:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            _remove_scratch(scratch)
            return {"timed_out": True, "notes": ["sandbox: the supervisor did not report"]}
        chunk = os.read(r, 1 << 16)
        if not chunk:
            _remove_scratch(scratch)
            return {"notes": ["sandbox: the supervisor ended without a report"]}
        try:
            frames = reader.feed(chunk)
        except ValueError as exc:
            return {"garbage": True, "notes": [f"sandbox: unreadable report ({exc})"]}
        for frame in frames:
            if type(frame) is not dict:
                continue
            if "pid" in frame:
                pid, scratch = frame["pid"], frame.get("scratch")
            else:
                return frame


def _remove_scratch(path: Any) -> None:
    """Remove a killed supervisor's scratch folder: only an empty-named temporary folder of
    ours (``verifier-submission-*``, a real directory, not a link); the supervisor sent its path
    before the submission ran, and the submission cannot write to that channel."""
    if type(path) is not str or not os.path.basename(path).startswith("verifier-submission-"):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)


def _launch(namespaces: bool) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start a zygote process; its socket says b"R" once torch is imported."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PYTHONPATH": path, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "VERIFIER_ZYGOTE_FD": str(theirs.fileno()),
           "VERIFIER_SANDBOX_NAMESPACES": "1" if namespaces else "0"}
    if os.environ.get("TMPDIR"):  # where each submission's scratch folder is made (default /tmp)
        env["TMPDIR"] = os.environ["TMPDIR"]
    code = "from verifier._sandbox_zygote import main; main()"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd="/")
    except OSError:
        mine.close()
        raise
    finally:
        theirs.close()
    return proc, mine


_spare: tuple[subprocess.Popen[bytes], socket.socket] | None = None  # started by prespawn(), namespaces on
_spare_lock = threading.Lock()


def prespawn() -> None:
    """Start a zygote now for the next :class:`SandboxPool` (with namespaces) to adopt.

    ``verifier grade`` calls this first thing, so that the zygote's ``import torch`` runs on
    the other core while the grader parses its arguments and imports torch and SymPy itself.
    The zygote holds nothing of the grader's: it is the same fresh interpreter, environment
    and code a pool would start. Killed at exit if no pool took it.
    """
    global _spare
    with _spare_lock:
        if _spare is None:
            _spare = _launch(True)
            atexit.register(_drop_spare)


def _take_spare(namespaces: bool) -> tuple[subprocess.Popen[bytes], socket.socket] | None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and namespaces and spare[0].poll() is None:
        return spare
    if spare is not None:
        _end(*spare)
    return None


def _drop_spare() -> None:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None:
        _end(*spare)


def _end(proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
    sock.close()
    proc.kill()
    proc.wait()


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
