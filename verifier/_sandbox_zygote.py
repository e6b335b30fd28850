"""The zygote: one process that imports torch once and forks a supervised child per submission.

Processes: the grader talks to the zygote over a Unix socket (job JSON plus the write end
of a per-job pipe). For each job the zygote forks a *supervisor*, trusted code that never
runs student code; it creates the namespaces and forks the *child* that runs the cells.
The supervisor enforces the wall-clock timeout, reaps the child and writes one report
frame to the grader's pipe. Frames (``_frames``) are a 4-byte big-endian length and UTF-8 JSON.
Only the standard library is imported at module level; torch and the child's runner are
imported inside :func:`main`.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import random
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from typing import Any

from . import _startup
from ._frames import FrameReader, send_frame
from ._sandbox_fs import check, isolate

FSIZE_LIMIT = 64 * 1024 * 1024
REPORT_HEADROOM = 256 * 1024 * 1024  # memory above the cap kept for reporting the answers
_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38


def main() -> None:
    """Entry point of the zygote process (``python -c``); the socket fd is in the environment.

    The zygote exits when the grader's end of the socket closes (also when the grader dies).
    """
    sock = socket.socket(fileno=int(os.environ.pop("VERIFIER_ZYGOTE_FD")))
    namespaces = os.environ.pop("VERIFIER_SANDBOX_NAMESPACES", "1") == "1"
    _startup.pause()  # torch's import without the cyclic collector (see _startup)
    import numpy
    import torch

    from . import _sandbox_runner  # noqa: F401 - preloaded for the children

    torch.set_num_threads(1)
    x = torch.tensor([2.0, 3.0], requires_grad=True)  # warm up autograd and LAPACK once
    h = torch.autograd.functional.hessian(lambda v: v[0] ** 2 * (v[0] + v[1]), x)
    numpy.linalg.eig(h.numpy())
    (x ** 2).sum().backward()  # and what nearly every notebook does next: backward, print a tensor
    print(x, x.grad, h, f"{h[0, 0]}", numpy.eye(2) + 0j, file=io.StringIO())
    numpy.random.seed()  # the first call is slow (~20 ms); the children reseed cheaply
    torch.seed()
    _startup.resume()  # each child collects its own garbage as usual; the preloaded objects are frozen
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped automatically
    sock.sendall(b"R")
    while True:
        try:
            head, fds, _, _ = socket.recv_fds(sock, 4, 1)
            if not head:
                break
            while len(head) < 4:
                head += sock.recv(4 - len(head))
            (n,) = struct.unpack(">I", head)
            payload = bytearray()
            while len(payload) < n:
                chunk = sock.recv(min(1 << 20, n - len(payload)))
                if not chunk:
                    raise EOFError
                payload += chunk
        except (OSError, EOFError, struct.error):
            break
        if not fds:
            continue
        if os.fork() == 0:
            try:
                _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote ends with the grader
                if os.getppid() == 1:
                    os._exit(0)
                sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                supervise(json.loads(payload), fds[0], namespaces)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
    os._exit(0)  # skip interpreter teardown (about a second with torch loaded)


def _vm_data_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1])
    return 0


def supervise(job: dict[str, Any], report_fd: int, namespaces: bool) -> None:
    """Fork the child, collect its frames until it exits or times out, report to the grader."""
    tmpdir = tempfile.mkdtemp(prefix="verifier-submission-")
    # The grader removes the scratch folder if this supervisor is killed (a timeout, Ctrl-C).
    send_frame(report_fd, {"pid": os.getpid(), "scratch": tmpdir})
    notes: list[str] = []
    pidns, why = False, "disabled"
    if namespaces:
        for flags, what in ((CLONE_NEWPID | CLONE_NEWNET, True), (CLONE_NEWNET, False)):
            if _enter_namespaces(flags):
                pidns, why = what, ""
                break
            why = f"unavailable ({os.strerror(ctypes.get_errno())})"
    if why:
        notes.append(f"sandbox: namespaces {why}: no network, filesystem or process isolation")
    elif not pidns:
        notes.append("sandbox: no pid namespace: no /proc, and processes it starts may outlive it")
    baseline_kb = _vm_data_kb()
    deadline = time.monotonic() + float(job["timeout"])
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.close(report_fd)
            _child(job, w, tmpdir, pidns, not why, baseline_kb)
        finally:
            os._exit(70)
    os.close(w)
    frames, timed_out, garbage, status, rusage = _collect(r, pid, deadline, pidns)
    if not pidns:
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever the child left behind in its session
        except OSError:
            pass
    shutil.rmtree(tmpdir, ignore_errors=True)
    cpu = rusage.ru_utime + rusage.ru_stime if rusage else 0.0
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    send_frame(report_fd, {
        "frames": frames, "timed_out": timed_out, "garbage": garbage, "exit_code": code,
        "signal": sig, "maxrss_kb": rusage.ru_maxrss if rusage else 0, "cpu_seconds": cpu,
        "cpu_limit": cpu_limit(job),
        "limit_kb": baseline_kb + int(job["memory_mb"]) * 1024, "notes": notes,
    })


def _enter_namespaces(flags: int) -> bool:
    """unshare(flags); without root, inside a new user namespace mapping us to its root."""
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        return _libc.unshare(flags) == 0
    if _libc.unshare(flags | CLONE_NEWUSER) != 0:
        return False
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError:
        return False
    return True


def _collect(r: int, pid: int, deadline: float, pidns: bool) -> tuple:
    """Read frames from the child until it exits; kill it at the deadline."""
    reader, frames = FrameReader(), []
    timed_out = garbage = False
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    watch = [r] + ([pidfd] if pidfd is not None else [])
    exited = None

    def read_some() -> bool:
        nonlocal garbage
        chunk = os.read(r, 1 << 16)
        if chunk and not garbage:
            try:
                frames.extend(reader.feed(chunk))
            except ValueError:
                garbage = True
                _kill(pid, pidns)
        return bool(chunk)

    while exited is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            _kill(pid, pidns)
            break
        ready, _, _ = select.select(watch, [], [], min(remaining, 0.05 if pidfd is None else 5))
        if r in ready and not read_some():
            watch.remove(r)
        if pidfd is None or pidfd in ready:
            done, status, rusage = os.wait4(pid, os.WNOHANG)
            if done:
                exited = (status, rusage)
    if exited is None:
        _, status, rusage = os.wait4(pid, 0)
        exited = (status, rusage)
    while r in watch and select.select([r], [], [], 0)[0] and read_some():
        pass  # what the child wrote just before it ended
    if pidfd is not None:
        os.close(pidfd)
    os.close(r)
    return frames, timed_out, garbage, exited[0], exited[1]


def _kill(pid: int, pidns: bool) -> None:
    for kill in ((os.kill,) if pidns else (os.killpg, os.kill)):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def cpu_limit(job: dict[str, Any]) -> int:
    return int(float(job["timeout"])) + 1


def _child(job: dict[str, Any], fd: int, tmpdir: str, pidns: bool, isolated: bool,
           baseline_kb: int) -> None:
    """Isolate this process as far as the system allows, then run the submission."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    os.dup2(fd, 3)
    os.closerange(4, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    notes: list[str] = []
    root = os.geteuid() == 0  # also inside a user namespace, where we are its root
    workdir = tmpdir
    if isolated:
        try:
            workdir, notes = isolate(tmpdir, [str(p) for p in job.get("hide", [])], pidns)
        except OSError as exc:
            notes.append(f"sandbox: filesystem not locked down ({exc})")
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                       "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                       "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"})
    tempfile.tempdir = workdir
    cpu = cpu_limit(job)
    data = (baseline_kb + int(job["memory_mb"]) * 1024) * 1024
    for limit, value in ((resource.RLIMIT_CPU, (cpu, cpu + 2)),
                         (resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT)),
                         (resource.RLIMIT_DATA, (data, data + REPORT_HEADROOM)),
                         (resource.RLIMIT_CORE, (0, 0)),
                         (resource.RLIMIT_NPROC, (256, 256))):
        resource.setrlimit(limit, value)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big file is an OSError, not a kill
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if root:
        _drop_capabilities()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    random.seed()
    import numpy
    import torch

    numpy.random.seed()
    torch.seed()  # like a fresh interpreter: unseeded torch.rand differs between submissions
    torch.set_num_threads(1)
    from . import _sandbox_runner

    if notes:
        send_frame(3, {"notes": notes})
    _sandbox_runner.run(job, 3)
    os._exit(0)


def _drop_capabilities() -> None:
    """Give up every capability for good: root without them cannot remount or load modules."""
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through verifier._sandbox")
