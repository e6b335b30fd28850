"""Grading throughput: 40 copies of the seed notebook, graded by one `verifier grade` run.

    python benchmarks/grading.py           # prints the command it would time, or why it can't
    python benchmarks/grading.py --batches 40   # runs it 40 times: rows written, internal errors

``run.py`` calls ``prepare`` and times the command it returns; notebooks per second is
``N_NOTEBOOKS / median seconds``. When the seed notebook or ``verifier grade`` is not
there yet, ``prepare`` returns no command and a note, and the row reads 'n/a'.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "seed" / "practica5.ipynb"
PROBLEMS = ROOT / "verifier" / "problems.yaml"
N_NOTEBOOKS = 40


def verifier_cmd() -> list[str]:
    exe = shutil.which("verifier")
    return [exe] if exe else [sys.executable, "-m", "verifier"]


def grade_available() -> str:
    """'' when `verifier grade` takes --problems and --out, else why not."""
    try:
        proc = subprocess.run([*verifier_cmd(), "grade", "--help"], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"verifier grade --help failed: {exc}"
    if proc.returncode != 0 or "--problems" not in proc.stdout or "--out" not in proc.stdout:
        return "verifier grade not available yet (no --problems/--out)"
    return ""


def prepare(tmp: Path) -> tuple[list[str] | None, Path | None, str]:
    """(command, output dir to clear before each run, note). No command: a note saying why."""
    if not SEED.is_file():
        return None, None, f"n/a: {SEED.relative_to(ROOT)} does not exist yet"
    if not PROBLEMS.is_file():
        return None, None, f"n/a: {PROBLEMS.relative_to(ROOT)} does not exist yet"
    why = grade_available()
    if why:
        return None, None, f"n/a: {why}"
    subs = tmp / "submissions"
    subs.mkdir(parents=True, exist_ok=True)
    for i in range(N_NOTEBOOKS):
        shutil.copyfile(SEED, subs / f"student_{i:02d}.ipynb")
    out = tmp / "grades"
    cmd = [*verifier_cmd(), "grade", str(subs), "--problems", str(PROBLEMS), "--out", str(out)]
    return cmd, out, f"{N_NOTEBOOKS} copies of {SEED.name}"


def graded_rows(out: Path) -> int:
    """How many submissions grades.csv lists (header excluded); -1 when it is missing."""
    csv = out / "grades.csv"
    if not csv.is_file():
        return -1
    return max(0, len(csv.read_text(encoding="utf-8").splitlines()) - 1)


def batches(n: int) -> int:
    """Grade the 40 notebooks ``n`` times; print rows and internal errors (a thread-safety
    check: CPython 3.11's parser once lost a row in 20 batches). Exit 1 on any missing row."""
    with tempfile.TemporaryDirectory() as d:
        cmd, out, note = prepare(Path(d))
        if cmd is None or out is None:
            print(note)
            return 1
        rows = errors = 0
        for _ in range(n):
            shutil.rmtree(out, ignore_errors=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            rows += graded_rows(out)
            errors += proc.stderr.count("internal error grading")
        print(f"{n} batches of {N_NOTEBOOKS}: {rows} rows of {n * N_NOTEBOOKS}, {errors} internal errors")
        return 0 if rows == n * N_NOTEBOOKS else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--batches"]:
        sys.exit(batches(int(sys.argv[2])))
    with tempfile.TemporaryDirectory() as d:
        cmd, _, note = prepare(Path(d))
        print(" ".join(cmd) if cmd else note)
