"""The filesystem a sandboxed child sees: a minimal root that shows only what Python needs.

Runs in the child, after it entered its own user/pid/network namespaces (see
``_sandbox_zygote``) and before any student code. :func:`isolate` makes a private mount
namespace whose root is a fresh tmpfs holding, read-only, exactly:

* ``/usr`` (with the ``/bin``, ``/lib``, ``/lib64``, ``/sbin`` links of a merged-/usr system, or
  bind mounts of those folders where they are real), a few files of ``/etc`` (``passwd``,
  ``group``, ``hosts``, ``nsswitch.conf``, ``ld.so.cache``, ``localtime``, ``alternatives``);
* the Python installation (``sys.base_prefix``), the virtual environment (``sys.prefix``),
  its site-packages, and the ``verifier`` package folder itself;
* a ``/proc`` of the child's own pid namespace (only its processes), a ``/dev`` with
  ``null``, ``zero``, ``random`` and ``urandom``, and a writable 64 MiB tmpfs ``/tmp`` that is
  the working directory and ``HOME``.

Nothing else of the host exists there: not the grading key, not the submissions, not the
``--out`` folder, not ``/run``, ``/tmp`` or ``/home`` (so no host Unix socket can be reached;
abstract sockets are cut off by the network namespace). Paths the grader names in
``hide`` are covered again (an empty tmpfs or an empty file) in case one of them lies
inside a folder that is shown, e.g. a key kept inside the virtual environment.

If the minimal root cannot be built (an old kernel, a locked mount), the child falls back to
the whole host filesystem read-only with the ``hide`` paths covered, and says so in a note.
"""

from __future__ import annotations

import ctypes
import os
import platform
import site
import sys
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_MOVE, MS_REC, MS_PRIVATE = 8192, 16384, 1 << 18
MNT_DETACH = 2
SYS_MOUNT_SETATTR, AT_RECURSIVE = 442, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
ETC_FILES = ("passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "localtime")
WORKDIR = "/tmp"
PACKAGE_DIR = str(Path(__file__).resolve().parent)


def check(result: int, what: str) -> None:
    """Raise OSError with errno's text when a libc call returned non-zero."""
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s else None

    check(_libc.mount(enc(src), target.encode(), enc(fstype), flags, enc(data)), f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def isolate(tmpdir: str, hide: list[str], pidns: bool) -> tuple[str, list[str]]:
    """Enter a new mount namespace and show the child only what it needs.

    ``tmpdir`` is an empty host folder (it becomes the new root's mount point); ``hide`` are
    host paths that must stay invisible. Returns the working directory to use and notes.
    Raises OSError when not even a private mount namespace could be made.
    """
    check(_libc.unshare(CLONE_NEWNS), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    real_root = _uid_map_is_identity()
    try:
        _minimal_root(tmpdir, hide, pidns, real_root)
        return WORKDIR, []
    except OSError as exc:
        note = (f"sandbox: minimal root unavailable ({exc}); the host filesystem is visible "
                "read-only, except the grading key, the submissions and --out")
    _lock_in_place(tmpdir, pidns, real_root)
    _hide(hide, "", "/dev/null")
    return tmpdir, [note]


def shown_paths() -> list[str]:
    """Host folders bound read-only into the minimal root (outermost first, no duplicates)."""
    wanted = ["/usr", sys.base_prefix, sys.prefix, sys.exec_prefix, PACKAGE_DIR]
    wanted += [p for p in site.getsitepackages() if os.path.isdir(p)]
    wanted += [f"/{n}" for n in ("bin", "sbin", "lib", "lib64", "lib32") if _is_real_dir(f"/{n}")]
    if os.path.isdir("/etc/alternatives"):
        wanted.append("/etc/alternatives")
    chosen: list[str] = []
    for p in sorted({os.path.realpath(p) for p in wanted}, key=len):
        if p != "/" and not any(p == c or p.startswith(c + "/") for c in chosen):
            chosen.append(p)
    return chosen


def _is_real_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _minimal_root(root: str, hide: list[str], pidns: bool, real_root: bool) -> None:
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    # The private /tmp first: a shown folder under /tmp (a venv made by mktemp -d, a checkout in
    # /tmp) is then bound on top of it, not covered by it.
    os.mkdir(root + WORKDIR)
    mount("tmpfs", root + WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=700")
    for name in ("bin", "sbin", "lib", "lib64", "lib32"):
        if os.path.islink(f"/{name}"):  # merged /usr: /bin -> usr/bin
            os.symlink(os.readlink(f"/{name}"), f"{root}/{name}")
    for src in shown_paths():
        os.makedirs(root + src, exist_ok=True)
        mount(src, root + src, None, MS_BIND | MS_REC)
        _read_only(root + src, src, real_root)
    os.makedirs(f"{root}/etc", exist_ok=True)
    for name in ETC_FILES:
        src = f"/etc/{name}"
        if os.path.isfile(src):  # follows links: localtime -> /usr/share/zoneinfo/...
            open(f"{root}{src}", "w").close()
            mount(src, root + src, None, MS_BIND)
            _read_only(root + src, src, real_root)
    if pidns:
        os.mkdir(f"{root}/proc")
        mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        try:
            with open(f"{root}/proc/sys/kernel/pid_max", "w") as f:  # per pid namespace (6.14+)
                f.write("320")
        except OSError:
            pass
    _make_dev(f"{root}/dev", real_root)
    open(f"{root}/.hidden", "w").close()
    os.chmod(f"{root}/.hidden", 0)
    _hide(hide, root, f"{root}/.hidden", shown_paths())
    os.chdir(root)
    _pivot(root)
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _read_only(target: str, src: str, real_root: bool) -> None:
    """Make a bind mount (and its submounts) read-only, nosuid, and nodev for the real root."""
    flags = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | (MOUNT_ATTR_NODEV if real_root else 0)
    attr = _MountAttr(flags, 0, 0, 0)
    if _libc.syscall(SYS_MOUNT_SETATTR, -100, target.encode(), AT_RECURSIVE, ctypes.byref(attr),
                     ctypes.sizeof(attr)) == 0:
        return
    kept = os.statvfs(src).f_flag & (MS_NODEV | MS_NOEXEC)  # locked in a user namespace
    extra = MS_NOSUID | (MS_NODEV if real_root else 0) | kept
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)


def _make_dev(dev: str, real_root: bool) -> None:
    """A /dev with only null, zero, random and urandom."""
    os.mkdir(dev)
    names = (("null", 3), ("zero", 5), ("random", 8), ("urandom", 9))
    if real_root:
        mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
        for name, minor in names:
            os.mknod(f"{dev}/{name}", 0o20666, os.makedev(1, minor))
        mount(None, dev, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
        return
    for name, _ in names:  # a user namespace cannot mknod: bind the host's nodes
        open(f"{dev}/{name}", "w").close()
        mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)


def _hide(hide: list[str], root: str, empty_file: str, shown: list[str] | tuple[str, ...] = ()) -> None:
    """Cover each host path in ``hide`` that is visible under ``root``.

    A folder that merely contains a shown one (``grade .`` run next to its ``.venv``) is not
    covered: in the minimal root it holds nothing but the path down to the shown folder.
    """
    for path in hide:
        real = os.path.realpath(path)
        if any(s.startswith(real.rstrip("/") + "/") for s in shown):
            continue
        target = root + real
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=000")
        elif os.path.exists(target):
            mount(empty_file, target, None, MS_BIND)


def _pivot(root: str) -> None:
    """Make the current directory ``root`` the root, and drop the host's tree from view."""
    number = _PIVOT_ROOT.get(platform.machine())
    if number is not None and _libc.syscall(number, b".", b".") == 0:
        check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    else:
        mount(".", "/", None, MS_MOVE)
        check(_libc.chroot(b"."), "chroot")
    os.chdir("/")


def _lock_in_place(tmpdir: str, pidns: bool, real_root: bool) -> None:
    """Fallback: own /proc, everything read-only, a minimal /dev, a tmpfs workdir."""
    if pidns:
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            pass
    # Real root can open device nodes on a read-only mount (/dev/vda...): forbid devices
    # everywhere, then rebuild a /dev with the four harmless ones.
    flags = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | (MOUNT_ATTR_NODEV if real_root else 0)
    attr = _MountAttr(flags, 0, 0, 0)
    if _libc.syscall(SYS_MOUNT_SETATTR, -100, b"/", AT_RECURSIVE, ctypes.byref(attr),
                     ctypes.sizeof(attr)) != 0:  # before Linux 5.12: one mount at a time
        extra = MS_NOSUID | (MS_NODEV if real_root else 0)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for point in sorted(set(points), key=len):
            try:
                mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)
            except OSError:
                if point == "/":
                    raise
    if real_root:
        mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
        for name, minor in (("null", 3), ("zero", 5), ("random", 8), ("urandom", 9)):
            os.mknod(f"/dev/{name}", 0o20666, os.makedev(1, minor))
        mount(None, "/dev", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    mount("tmpfs", tmpdir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=700")


def _uid_map_is_identity() -> bool:
    """True for the real root (not the root of a user namespace)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split()[:3] == ["0", "0", "4294967295"]
    except OSError:
        return False
