"""The batch driver of ``verifier grade``: find the submissions, run each in the sandbox,
grade it with :class:`~verifier._grade.Grader`, and keep the gradebook in ``--out``.

``--out`` holds ``grades.csv`` (one row per submission, keyed by its identity, the ``path``
column; see ``_grade_files``), one folder per submission with ``results.json`` (Gradescope
format) and ``feedback.html``, ``report.html`` for the instructor, and a lock file. A rerun
skips a submission whose content hash and results are unchanged, regrades one that changed
and replaces its row; rows of submissions not named on the command line are kept.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _startup
from ._errors import ProblemSpecError, VerifierError
from ._grade_files import GradeInputError, Submission, assign_folders, content_hash, find_submissions

HEADER = ["submission", "path", "sha256", "score", "max_score", "status", "seconds"]
LOCK, META = ".verifier.lock", ".gradebook.json"

if TYPE_CHECKING:  # imported where grading starts: `verifier run` builds this parser too
    from concurrent.futures import Future

    from ._grade import Graded


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("submissions", nargs="+", type=Path, help=".ipynb/.py files or folders of them")
    ap.add_argument("--problems", type=Path, help="problem file (default: ./problems.yaml or the bundled bank)")
    ap.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    ap.add_argument("--cell-timeout", type=float, default=30.0, help="seconds per cell (default 30)")
    ap.add_argument("--memory", type=int, default=2048, help="MiB per submission (default 2048)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel submissions")
    ap.add_argument("--lang", choices=("en", "es"), default="en", help="feedback language")
    ap.add_argument("--force", action="store_true",
                    help="regrade the submissions named here even if unchanged (other rows are kept)")


class Gradebook:
    """The ``--out`` folder, locked for this process while it is open.

    Raises GradeInputError (exit 2) when ``out`` is a file, a dangling link, not writable,
    locked by another grader, or holds a ``grades.csv`` that this program did not write.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.csv = out / "grades.csv"
        self._fd: int | None = _lock(out)
        self._write = threading.Lock()
        try:
            self.rows = _read_rows(self.csv)
            self.roots = _read_roots(out / META)
        except GradeInputError:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def folders(self, subs: list[Submission]) -> dict[str, str]:
        existing = {ident: row["submission"] for ident, row in self.rows.items()}
        return assign_folders([s.identity for s in subs], existing)

    def is_current(self, sub: Submission, sha: str) -> bool:
        row = self.rows.get(sub.identity)
        return (row is not None and row["sha256"] == sha
                and (self.out / row["submission"] / "results.json").is_file())

    def add_roots(self, roots: list[str]) -> None:
        self.roots = sorted(set(self.roots) | set(roots))
        _atomic_write(self.out / META, json.dumps({"roots": self.roots}, indent=1) + "\n")

    def record(self, sub: Submission, folder: str, sha: str, g: Graded, doc: dict[str, Any]) -> None:
        """Write the submission's feedback, then replace its row (atomically) in grades.csv."""
        from ._grade_report import feedback_page

        with self._write:
            d = self.out / folder
            d.mkdir(exist_ok=True)
            _atomic_write(d / "results.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            _atomic_write(d / "feedback.html", feedback_page(sub.identity, doc))
            self.rows[sub.identity] = {
                "submission": folder, "path": sub.identity, "sha256": sha, "score": f"{g.score:g}",
                "max_score": f"{g.max_score:g}", "status": g.status, "seconds": f"{g.seconds:.2f}"}
            buf = io.StringIO()
            w = csv.DictWriter(buf, HEADER, lineterminator="\n")
            w.writeheader()
            for ident in sorted(self.rows):
                w.writerow(self.rows[ident])
            _atomic_write(self.csv, buf.getvalue())


def _lock(out: Path) -> int:
    if out.is_symlink() and not out.exists():
        raise GradeInputError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise GradeInputError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise GradeInputError(f"--out {out}: cannot write there ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise GradeInputError(f"--out {out} is in use by another verifier grade (pid {holder}); "
                              "wait for it to finish or choose another --out") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        os.close(fd)
        raise GradeInputError(f"--out {out}: cannot write there ({exc.strerror})") from None
    return fd


def _read_rows(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    foreign = f"{path} was not written by verifier grade; move it away or choose another --out"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GradeInputError(f"{foreign} ({exc})") from None
    if not text.strip():
        raise GradeInputError(f"{path} is empty: {foreign}")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames == ["submission", "score", "max_score", "status", "seconds"]:
        raise GradeInputError(f"{path} was written by an older verifier grade without a path column, so "
                              "its rows cannot be matched to files safely; move it away or choose "
                              "another --out")
    if reader.fieldnames != HEADER:
        raise GradeInputError(f"{path}: its columns are {reader.fieldnames}, not {HEADER}: {foreign}")
    rows: dict[str, dict[str, str]] = {}
    for row in reader:
        folder, ident = row.get("submission") or "", row.get("path") or ""
        if (None in row or not ident or not folder or "/" in folder or "\\" in folder
                or folder[0] in ".-" or folder in (LOCK, META, "grades.csv", "report.html")):
            raise GradeInputError(f"{path}:{reader.line_num}: malformed row: {foreign}")
        rows[ident] = row
    return rows


def _read_roots(path: Path) -> list[str]:
    try:
        roots = json.loads(path.read_text(encoding="utf-8")).get("roots", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [r for r in roots if type(r) is str and r.startswith("/")] if type(roots) is list else []


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


def main(args: argparse.Namespace) -> int:
    """Grade everything named on the command line. Exit 0, 2 on bad input, 130 on Ctrl-C."""
    from ._api import default_files
    from ._spec import load

    problem_file = args.problems or default_files()[0]
    if args.jobs < 1 or args.timeout <= 0 or args.memory < 64:
        return _fail("--jobs >= 1, --timeout > 0 and --memory >= 64 are required")
    try:
        pf = load(problem_file)
    except (ProblemSpecError, FileNotFoundError) as exc:
        return _fail(str(exc))
    if pf.errors:
        print("\n".join(map(str, pf.errors)), file=sys.stderr)
        return 2
    for p in args.submissions:
        if not os.path.lexists(p):
            return _fail(f"{p}: no such file or folder")
    try:
        book = Gradebook(args.out)
    except GradeInputError as exc:
        return _fail(str(exc))
    try:
        return _grade_all(args, book, problem_file, pf)
    except GradeInputError as exc:
        return _fail(str(exc))
    finally:
        book.close()


def _fail(message: str) -> int:
    print(f"verifier grade: {message}", file=sys.stderr)
    return 2


def _grade_all(args: argparse.Namespace, book: Gradebook, problem_file: Path, pf: Any) -> int:
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from ._grade import Grader, gradescope
    from ._grade_report import write_report
    from ._parse import LOCK as PARSE_LOCK
    from ._sandbox import SandboxPool

    subs, skipped = find_submissions(list(args.submissions), book.roots, exclude=args.out)
    book.add_roots([os.path.realpath(p) for p in args.submissions if os.path.isdir(p)])
    for ident, reason in skipped:
        print(f"verifier grade: skipped {ident}: {reason}", file=sys.stderr)
    folders = book.folders(subs)
    hashes: dict[str, str] = {}
    todo: list[Submission] = []
    for s in subs:
        try:
            hashes[s.identity] = content_hash(s.path)
        except OSError as exc:
            skipped.append((s.identity, f"cannot be read ({exc.strerror})"))
            print(f"verifier grade: skipped {s.identity}: cannot be read ({exc.strerror})", file=sys.stderr)
            continue
        if args.force or not book.is_current(s, hashes[s.identity]):
            todo.append(s)
    kept = len(hashes) - len(todo)
    hide = [problem_file, args.out, *args.submissions]
    pool = SandboxPool(hide=tuple(os.path.realpath(p) for p in hide))
    if todo:  # the zygote imports torch on one core while this process builds the key's references
        pool.start(wait=False)
    try:
        graded_problems = [p for p in pf.problems if any(c.answer for c in p.checks) or p.grading.function]
        grader = Grader(graded_problems, args.lang)
        _startup.resume()  # torch and SymPy are imported: collect garbage as usual from here
    except BaseException:
        pool.close()
        raise
    stop = threading.Event()
    results: list[Graded] = []
    unisolated: list[str] = []

    failed: list[str] = []

    def work(s: Submission) -> Graded | None:
        if stop.is_set():
            return None
        out = pool.run(s.path, grader.request, timeout=args.timeout, cell_timeout=args.cell_timeout,
                       memory_mb=args.memory)
        if stop.is_set():  # stopped by Ctrl-C: not a result
            return None
        if any(n.startswith("sandbox: namespaces") for n in out.notes):
            unisolated.append(s.identity)
        with PARSE_LOCK:  # a lazy import of torch or SymPy may parse, outside _parse (see there)
            g = grader.grade(folders[s.identity], out)
            doc = gradescope(g, out, args.lang)
        book.record(s, folders[s.identity], hashes[s.identity], g, doc)
        results.append(g)  # counted where its row is written, so a Ctrl-C just after still counts it
        return g

    start = time.perf_counter()
    ex = ThreadPoolExecutor(max_workers=args.jobs)
    futures: dict[Future[Graded | None], Submission] = {}
    interrupted = False
    try:
        futures = {ex.submit(work, s): s for s in todo}
        for i, fut in enumerate(as_completed(futures), 1):
            try:
                fut.result()
            except (VerifierError, OSError) as exc:
                print(f"verifier grade: {exc}", file=sys.stderr)
                continue
            except Exception as exc:  # one submission's internal error never stops the batch
                who = futures[fut].identity
                failed.append(who)
                with PARSE_LOCK:  # Python 3.11 parses source lines to underline them in a traceback
                    trace = "".join(traceback.format_exception(exc))
                print(f"{trace}verifier grade: internal error grading {who}: {type(exc).__name__}: {exc}; no "
                      "row was written for it, the others go on; run the same command again to grade it "
                      "(the traceback above is a bug of verifier: please report it)", file=sys.stderr)
                continue
            _progress(i, len(todo))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        restore = _ignore_sigint() if interrupted else None
        stop.set()
        for fut in futures:
            fut.cancel()
        pool.close()  # kills the sandboxes still running
        ex.shutdown(wait=True)
        write_report(args.out, book.rows)
        if restore is not None:
            signal.signal(signal.SIGINT, restore)
    elapsed = time.perf_counter() - start
    print(summary(results, kept, elapsed, skipped=len(skipped)))
    if unisolated:
        print(f"WARNING: {len(unisolated)} submission(s) ran without Linux namespaces: they could read "
              "the grading key and other students' files (see the README's sandbox section)")
    if failed and not interrupted:
        print(f"{len(failed)} submission(s) not graded after an internal error (see above): "
              + ", ".join(sorted(failed)))
        return 1
    if interrupted:
        left = len(todo) - len(results)
        print(f"interrupted: {left} submission(s) not graded; every finished row is kept in "
              f"{book.csv}; run the same command again to grade the rest")
        return 130
    return 0


def _ignore_sigint() -> Any:
    if threading.current_thread() is threading.main_thread():
        return signal.signal(signal.SIGINT, signal.SIG_IGN)
    return None


def _progress(i: int, n: int) -> None:
    if sys.stderr.isatty():
        width = 30
        fill = int(width * i / max(n, 1))
        sys.stderr.write(f"\r[{'#' * fill}{' ' * (width - fill)}] {i}/{n}")
        if i == n:
            sys.stderr.write("\n")
        sys.stderr.flush()


def summary(results: list[Graded], kept: int, elapsed: float, skipped: int = 0) -> str:
    lines = [f"graded {len(results)} submissions in {elapsed:.1f}s"
             + (f" ({elapsed / len(results):.2f}s each)" if results else "")
             + (f"; {kept} already graded and unchanged (use --force to regrade)" if kept else "")
             + (f"; {skipped} files skipped (see above)" if skipped else "")]
    if not results:
        return lines[0]
    statuses = Counter(g.status for g in results)
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    top = max(g.max_score for g in results) or 1.0
    bins = Counter(min(int(10 * g.score / top), 9) for g in results)
    lines.append("score distribution (% of max):")
    for b in range(10):
        lines.append(f"  {10 * b:3d}-{10 * b + 10:<3d}% {'#' * bins[b]} {bins[b] or ''}".rstrip())
    rates: dict[str, list[int]] = {}
    for g in results:
        for t in g.tests:
            rates.setdefault(t["name"], []).append(t["status"] == "passed")
    lines.append("pass rate per check:")
    for name, oks in rates.items():
        lines.append(f"  {100 * sum(oks) / len(oks):5.1f}%  {name}")
    return "\n".join(lines)
