"""Which files ``verifier grade`` grades, and the identity of each.

A submission's identity is its path relative to the folder given on the command line (a
file given by itself: its name, or its path under a folder graded into the same ``--out``
before). Identities never depend on which other files exist or how they sort, so a grade
can never move from one student to another. Each identity gets a folder name in ``--out``
that is safe on any filesystem (see :func:`assign_folders`).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = (".ipynb", ".py", ".txt")
SKIP_DIRS = (".ipynb_checkpoints", "__pycache__", ".git")
RESERVED = {"grades.csv", "report.html", ".verifier.lock", ".gradebook.json"}
_UNSAFE = re.compile(r"[^\w.-]+")


class GradeInputError(Exception):
    """A problem with the command line's paths or ``--out``: message for the user, exit 2."""


@dataclass(frozen=True)
class Submission:
    identity: str  # path relative to its root, with "/" separators
    path: Path  # where to read it (inside its root)


def find_submissions(paths: list[Path], roots: list[str],
                     exclude: Path | None = None) -> tuple[list[Submission], list[tuple[str, str]]]:
    """The submissions under ``paths`` and the files skipped, each with its reason.

    ``roots`` are folders graded into this ``--out`` before (absolute, resolved): a path under
    one of them is identified relative to it. ``exclude`` (the ``--out`` folder) is never
    walked. Symbolic links are followed only when they stay inside their root; FIFOs, devices
    and sockets are never opened. Raises GradeInputError for a path that does not exist or
    two submissions with the same identity.
    """
    found: dict[str, Submission] = {}
    skipped: list[tuple[str, str]] = []
    skip_dir = os.path.realpath(exclude) if exclude is not None else None
    for given in paths:
        if not os.path.lexists(given):
            raise GradeInputError(f"{given}: no such file or folder")
        real = os.path.realpath(given)
        root = next((r for r in roots if real == r or real.startswith(r.rstrip("/") + "/")), None)
        if os.path.isdir(given):
            base = root or real
            for path, reason in _walk(Path(given), real, skip_dir):
                ident = _identity(os.path.realpath(path.parent) + "/" + path.name, base, path)
                _add(found, skipped, ident, path, reason)
        else:
            full = os.path.realpath(os.path.dirname(os.path.abspath(given))) + "/" + Path(given).name
            ident = _identity(full, root, Path(given))
            if os.path.islink(given) and not os.path.exists(given):
                reason = "a symbolic link to a file that does not exist"
            else:
                reason = _not_regular(os.stat(given))
            _add(found, skipped, ident, Path(given), reason)
    return sorted(found.values(), key=lambda s: s.identity), skipped


def _identity(path: str, base: str | None, fallback: Path) -> str:
    if base is None:
        return fallback.name
    rel = os.path.relpath(path, base)
    return unicodedata.normalize("NFC", rel.replace(os.sep, "/"))


def _add(found: dict[str, Submission], skipped: list[tuple[str, str]], ident: str, path: Path,
         reason: str | None) -> None:
    if reason:
        skipped.append((ident, reason))
        return
    if ident in found and found[ident].path != path:
        raise GradeInputError(f"two submissions would both be '{ident}': {found[ident].path} and {path}; "
                              "grade them into different --out folders")
    found[ident] = Submission(ident, path)


def _walk(top: Path, real_top: str, skip_dir: str | None):
    """(path, reason-or-None) for every file under ``top``, without following links out."""
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for d in list(dirnames):
            full = Path(dirpath) / d
            if d in SKIP_DIRS or os.path.realpath(full) == skip_dir:
                dirnames.remove(d)
            elif full.is_symlink():
                dirnames.remove(d)
                yield full, "a symbolic link to a folder (not followed)"
        for name in sorted(filenames):
            path = Path(dirpath) / name
            yield path, _file_reason(path, real_top)


def _file_reason(path: Path, real_top: str) -> str | None:
    """Why ``path`` is not graded, or None."""
    if path.is_symlink():
        target = os.path.realpath(path)
        if not os.path.exists(target):
            return "a symbolic link to a file that does not exist"
        if not (target == real_top or target.startswith(real_top.rstrip("/") + "/")):
            return "a symbolic link that leads outside the folder (not followed)"
    try:
        why = _not_regular(os.stat(path))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if why:
        return why
    if path.suffix.lower() not in SUFFIXES:
        return f"not a notebook or script (graded: {', '.join(SUFFIXES)})"
    return None


def _not_regular(st: os.stat_result) -> str | None:
    mode = st.st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"{kind}, not a regular file (not opened)"


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def safe_name(identity: str) -> str:
    """A folder name for ``identity``: word characters, '.', '-' and '_' only, never hidden,
    never starting with '-', with '__' between the identity's folders."""
    parts = identity.split("/")
    stem, suffix = os.path.splitext(parts[-1])
    if suffix.lower() in SUFFIXES and stem.strip("."):
        parts[-1] = stem
    out = []
    for part in parts:
        part = _UNSAFE.sub("_", part)
        if not part or part[0] in ".-":
            part = "_" + part
        out.append(part)
    name = "__".join(out)
    return name if len(name) <= 120 else name[:100] + "-" + _short_hash(identity)


def _short_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def assign_folders(identities: list[str], existing: dict[str, str]) -> dict[str, str]:
    """A distinct folder per identity. Existing ones keep theirs; a new identity gets
    :func:`safe_name`, with a hash of the identity appended when that name is taken or
    shared with another identity. The result does not depend on the order of identities."""
    folders = {i: existing[i] for i in identities if i in existing}
    used = {f.lower() for f in existing.values()} | RESERVED
    new = [i for i in identities if i not in folders]
    base = {i: safe_name(i) for i in new}
    counts = Counter(b.lower() for b in base.values())
    for i in new:
        b = base[i]
        if counts[b.lower()] > 1 or b.lower() in used:
            b = f"{b}-{_short_hash(i)}"
        folders[i] = b
        used.add(b.lower())
    return folders
