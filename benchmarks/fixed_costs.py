"""Fixed costs (issue 11): the import floor, the bundled bank and the 40-notebook grading batch,
whole processes, with the CPU time of *every* process they start.

    python benchmarks/fixed_costs.py [--repeat 3] [--base DIR] [-k floor,bank,grade]

``run.py``'s ``cpu s`` comes from ``os.wait4`` and so misses the sandboxes of ``verifier grade``
(the zygote's children are reaped by the zygote, whose rusage never includes them). Here each
process tree runs in its own cgroup-v1 ``cpuacct`` group when one can be made (root on Linux):
``cpu s`` is then the whole tree's CPU time; elsewhere it falls back to ``wait4`` and says so.

``--base DIR``: a second copy of the package (``git archive REV | tar -x -C DIR``) run through
``PYTHONPATH``, interleaved with this checkout, round by round, for a before/after table.
Prints medians of ``--repeat`` rounds: wall s, cpu s, and cpu / the floor's cpu.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from grading import N_NOTEBOOKS, SEED  # noqa: E402

CGROUP = Path("/sys/fs/cgroup/cpuacct")


def command(kind: str, tmp: Path) -> list[str]:
    py = sys.executable
    bank = str(ROOT / "verifier" / "problems.yaml")
    if kind == "floor":
        return [py, "-c", "import torch, sympy"]
    if kind == "bank":
        return [py, "-m", "verifier", "run", bank]
    out = tmp / "grades"
    shutil.rmtree(out, ignore_errors=True)
    return [py, "-m", "verifier", "grade", str(tmp / "submissions"), "--problems", bank, "--out", str(out)]


def measure(cmd: list[str], pythonpath: str | None) -> tuple[float, float, int, str]:
    """(wall s, cpu s, exit code, how the CPU was counted)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    group = CGROUP / f"verifier-bench-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        group = None
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            preexec_fn=(lambda: (group / "tasks").write_text(str(os.getpid()))) if group else None)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if group is None:
        return wall, usage.ru_utime + usage.ru_stime, code, "wait4 (misses the sandboxes)"
    for _ in range(100):  # the zygote ends just after the grader
        if not (group / "tasks").read_text().strip():
            break
        time.sleep(0.05)
    cpu = int((group / "cpuacct.usage").read_text()) / 1e9
    group.rmdir()
    return wall, cpu, code, "cgroup cpuacct (whole process tree)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--base", type=Path, help="another copy of the package to compare with")
    ap.add_argument("-k", default="floor,bank,grade")
    args = ap.parse_args()
    kinds = args.k.split(",")
    trees = {"this": None, **({"base": str(args.base.resolve())} if args.base else {})}
    results: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    how = ""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "submissions").mkdir()
        for i in range(N_NOTEBOOKS):
            shutil.copyfile(SEED, tmp / "submissions" / f"student_{i:02d}.ipynb")
        print(f"load average at start {os.getloadavg()[0]:.1f}", file=sys.stderr)
        for r in range(args.repeat):
            for kind in kinds:
                for name, path in trees.items():
                    if kind == "floor" and name != "this":
                        continue
                    wall, cpu, code, how = measure(command(kind, tmp), path)
                    results.setdefault((kind, name), []).append((wall, cpu, code))
                    print(f"round {r + 1}: {kind} {name}: {wall:.2f} s wall, {cpu:.2f} s cpu, exit {code}",
                          file=sys.stderr, flush=True)
    floor = statistics.median(c for _, c, _ in results.get(("floor", "this"), [(0, 0, 0)])) or None
    print(f"medians of {args.repeat} interleaved rounds; cpu from {how}; load average at end "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'case':24} {'wall s':>7} {'cpu s':>7} {'cpu/floor':>9} {'per notebook':>12}  exits")
    for (kind, name), runs in results.items():
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        ratio = f"{cpu / floor:.2f}x" if floor else ""
        per = f"{wall / N_NOTEBOOKS:.3f} s" if kind == "grade" else ""
        exits = [c for *_, c in runs]
        print(f"{kind + ' (' + name + ')':24} {wall:7.2f} {cpu:7.2f} {ratio:>9} {per:>12}  {exits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
