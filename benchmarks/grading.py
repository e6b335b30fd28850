"""Grading throughput: 40 copies of the seed notebook, graded by one `verifier grade` run.

    python benchmarks/grading.py           # prints the command it would time, or why it can't

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


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        cmd, _, note = prepare(Path(d))
        print(" ".join(cmd) if cmd else note)
