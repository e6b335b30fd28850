"""Grades before/after: run ``verifier grade`` with this checkout and with another copy of the
package (``--base DIR``, e.g. ``git archive main | tar -x -C DIR``) on the 40-notebook batch and on
every key of tests/grading_cases with the submissions next to it, and compare grades.csv (without
the ``seconds`` column), the exit code and every results.json (without timing fields).

    python benchmarks/same_grades.py --base DIR      # exit 1 if any grade or feedback differs
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from grading import N_NOTEBOOKS, PROBLEMS, SEED  # noqa: E402

CASES = ROOT / "tests" / "grading_cases"


def _strip(doc: object) -> object:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in ("execution_time", "seconds")}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return re.sub(r"\d+\.\d+ ?s\b", "<t>", doc) if isinstance(doc, str) else doc


def grade(pythonpath: str | None, subs: list[str], key: str, out: Path) -> tuple:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([sys.executable, "-m", "verifier", "grade", *subs, "--problems", key, "--out", str(out)],
                       env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False)
    if not (out / "grades.csv").is_file():
        return p.returncode, p.stderr, {}
    with open(out / "grades.csv", encoding="utf-8") as f:
        rows = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]
    docs = {d.name: _strip(json.loads((d / "results.json").read_text(encoding="utf-8")))
            for d in sorted(out.iterdir()) if (d / "results.json").is_file()}
    return p.returncode, rows, docs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True)
    args = ap.parse_args()
    differ = 0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        batch = tmp / "batch"
        batch.mkdir()
        for i in range(N_NOTEBOOKS):
            shutil.copyfile(SEED, batch / f"student_{i:02d}.ipynb")
        jobs = [("batch40", [str(batch)], str(PROBLEMS))]
        for key in sorted(CASES.rglob("*.yaml")):
            subs = [str(p) for p in sorted(key.parent.iterdir()) if p.suffix in (".py", ".ipynb", ".txt")]
            jobs.append((key.stem, subs, str(key)))
        for name, subs, key in jobs:
            new = grade(None, subs, key, tmp / "new")
            old = grade(str(args.base.resolve()), subs, key, tmp / "old")
            same = new == old
            differ += not same
            verdict = "same" if same else "DIFFERENT"
            print(f"{name:28} exit {old[0]}/{new[0]}  {len(new[2])} results.json  {verdict}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
