"""The batch driver of ``verifier grade``: find the submissions, run each in the sandbox,
grade it with :class:`~verifier._grade.Grader`, and keep the gradebook in ``--out``
(``grades.csv`` plus one ``results.json`` per submission).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ._errors import ProblemSpecError
from ._grade import Graded, Grader, gradescope

SUFFIXES = (".ipynb", ".py")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("submissions", nargs="+", type=Path, help=".ipynb/.py files or folders of them")
    ap.add_argument("--problems", type=Path, help="problem file (default: ./problems.yaml or the bundled bank)")
    ap.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per submission (default 60)")
    ap.add_argument("--cell-timeout", type=float, default=30.0, help="seconds per cell (default 30)")
    ap.add_argument("--memory", type=int, default=2048, help="MiB per submission (default 2048)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel submissions")
    ap.add_argument("--lang", choices=("en", "es"), default="en", help="feedback language")
    ap.add_argument("--force", action="store_true", help="regrade submissions already in --out")


def find_submissions(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in SUFFIXES and q.is_file()
                          and ".ipynb_checkpoints" not in q.parts)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def submission_names(paths: list[Path]) -> dict[Path, str]:
    """A safe, unique folder name per submission (its stem, made unique when needed)."""
    names: dict[Path, str] = {}
    used: Counter[str] = Counter()
    for p in paths:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", p.stem) or "submission"
        used[base] += 1
        names[p] = base if used[base] == 1 else f"{base}-{used[base]}"
    return names


def _done(out_dir: Path) -> dict[str, dict[str, str]]:
    path = out_dir / "grades.csv"
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["submission"]: row for row in csv.DictReader(fh)}


def main(args: argparse.Namespace) -> int:
    from ._api import default_files
    from ._sandbox import SandboxPool
    from ._spec import load

    problem_file = args.problems or default_files()[0]
    try:
        pf = load(problem_file)
        subs = find_submissions(args.submissions)
    except (ProblemSpecError, FileNotFoundError) as exc:
        print(f"verifier grade: {exc}", file=sys.stderr)
        return 2
    if pf.errors:
        print("\n".join(map(str, pf.errors)), file=sys.stderr)
        return 2
    if args.jobs < 1 or args.timeout <= 0 or args.memory < 64:
        print("verifier grade: --jobs >= 1, --timeout > 0 and --memory >= 64 are required", file=sys.stderr)
        return 2
    graded_problems = [p for p in pf.problems if any(c.answer for c in p.checks) or p.grading.function]
    grader = Grader(graded_problems, args.lang)
    names = submission_names(subs)
    args.out.mkdir(parents=True, exist_ok=True)
    done = {} if args.force else _done(args.out)
    todo = [s for s in subs if names[s] not in done or not (args.out / names[s] / "results.json").exists()]
    csv_path = args.out / "grades.csv"
    if args.force or not csv_path.exists():
        csv_path.write_text("submission,score,max_score,status,seconds\n", encoding="utf-8")
    lock = threading.Lock()
    results: list[Graded] = []
    start = time.perf_counter()
    with SandboxPool() as pool:
        def work(path: Path) -> Graded:
            out = pool.run(path, grader.request, timeout=args.timeout, cell_timeout=args.cell_timeout,
                           memory_mb=args.memory)
            g = grader.grade(names[path], out)
            folder = args.out / names[path]
            folder.mkdir(exist_ok=True)
            (folder / "results.json").write_text(json.dumps(gradescope(g, out, args.lang), indent=2),
                                                 encoding="utf-8")
            with lock, csv_path.open("a", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerow([g.name, f"{g.score:g}", f"{g.max_score:g}", g.status,
                                         f"{g.seconds:.2f}"])
            return g

        with ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futures = [ex.submit(work, s) for s in todo]
            for i, fut in enumerate(as_completed(futures), 1):
                results.append(fut.result())
                _progress(i, len(todo))
    elapsed = time.perf_counter() - start
    print(summary(results, len(subs) - len(todo), elapsed))
    return 0


def _progress(i: int, n: int) -> None:
    if sys.stderr.isatty():
        width = 30
        fill = int(width * i / max(n, 1))
        sys.stderr.write(f"\r[{'#' * fill}{' ' * (width - fill)}] {i}/{n}")
        if i == n:
            sys.stderr.write("\n")
        sys.stderr.flush()


def summary(results: list[Graded], skipped: int, elapsed: float) -> str:
    lines = [f"graded {len(results)} submissions in {elapsed:.1f}s"
             + (f" ({elapsed / len(results):.2f}s each)" if results else "")
             + (f"; {skipped} already graded (use --force to regrade)" if skipped else "")]
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
