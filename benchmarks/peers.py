"""verifier against what users would run instead: whole processes, interleaved, medians of 3.

    python benchmarks/peers.py [--repeat 3] [--cap 120] [--timeout 300] [-k TEXT] [--tools a,b]
                               [--json FILE] [--render FILE.json]

For each case every tool runs as a fresh process (spawn to exit, timed from here with peak
RSS from ``os.wait4``, as in run.py); the repetitions are interleaved (repetition 1 of
every tool on every case, then repetition 2, ...) so that a change of machine load hits
all tools alike. Tools: ``verifier run`` on the case's problem file (families.py: gradient,
Hessian and eigenvalues, every torch path, exact reference) and the peers of
peer_checks.py (gradcheck + gradgradcheck, naive SymPy, jax ``check_grads`` and
numdifftools, the last two when installed: ``pip install -e '.[bench]'``). A peer gets
``--cap`` seconds per process; once it hits the cap on a case it is not run again there
nor on the larger sizes of that family. The seed bank (``verifier run`` on
verifier/problems.yaml) and the 40-notebook grading batch (grading.py) are verifier-only
rows. Prints each median with its ratio to gradcheck, peak memory, and the exponent ``k``
of a least-squares fit ``t ~ n**k`` of the verifier's time on the dense and Rosenbrock
families (wall time, and CPU time above the import floor's: less sensitive to the load).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import families  # noqa: E402
import grading  # noqa: E402
from run import BUNDLED, child, engine  # noqa: E402

CASES = ("dense-10", "dense-30", "dense-100", "logreg-50", "mlp-992",
         "rosenbrock-10", "rosenbrock-30", "rosenbrock-100", "rosenbrock-300")
PEERS = ("gradcheck", "sympy", "jax", "numdifftools")
TOOLS = ("verifier",) + PEERS
OPTIONAL = {"jax": "jax", "numdifftools": "numdifftools"}  # tool -> module it needs
FITS = {"dense": ("dense-10", "dense-30", "dense-100"),
        "rosenbrock": ("rosenbrock-10", "rosenbrock-30", "rosenbrock-100", "rosenbrock-300")}


def size(case: str) -> int:
    return int(case.rsplit("-", 1)[1])


def fit_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log t against log n (None with fewer than 2 positive points)."""
    pts = [(math.log(n), math.log(t)) for n, t in points if n > 0 and t > 0]
    if len(pts) < 2:
        return None
    mx, my = statistics.fmean(p[0] for p in pts), statistics.fmean(p[1] for p in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--cap", type=float, default=120, help="seconds per peer process (default 120)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per verifier process (default 300)")
    ap.add_argument("-k", dest="only", help="only the cases whose name contains this")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--json", type=Path, help="write the results here, after every process")
    ap.add_argument("--render", type=Path, metavar="JSON", help="only print the tables of a --json file")
    args = ap.parse_args(argv)
    if args.render:
        print(report(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    tools = [t for t in args.tools.split(",") if t in TOOLS]
    missing = {t: f"n/a: {m} not installed (pip install -e '.[bench]')" for t, m in OPTIONAL.items()
               if t in tools and importlib.util.find_spec(m) is None}
    cases = [c for c in CASES if not args.only or args.only in c]
    extra = [] if args.only else ["import floor", "seed bank", "grading (40 nb)"]
    result: dict = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
                             "load_start": os.getloadavg()[0], "engine_start": engine(),
                             "repeat": args.repeat, "cap": args.cap, "tools": tools},
                    "rows": {name: {} for name in extra[:2] + cases + extra[2:]}}

    def save() -> None:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")

    verifier = grading.verifier_cmd()
    with tempfile.TemporaryDirectory(prefix="verifier-peers-") as d:
        tmp = Path(d)
        paths = families.write(tmp / "families", [c for c in families.cases() if c.name in cases])
        subprocess.run([sys.executable, str(HERE / "peer_checks.py"), "data", str(tmp / "data"), *cases],
                       check=True, cwd=HERE.parent)
        grade_cmd, grade_out, grade_note = grading.prepare(tmp / "grading") if extra else (None, None, "")
        commands: dict[tuple[str, str], list[str] | str] = {}
        for name in extra:
            cmd = {"import floor": [sys.executable, "-c", "import torch, sympy"],
                   "seed bank": [*verifier, "run", str(BUNDLED)] if BUNDLED.is_file() else "n/a: no bank",
                   "grading (40 nb)": grade_cmd or grade_note}[name]
            commands[(name, "verifier")] = cmd
        for c in cases:
            commands[(c, "verifier")] = [*verifier, "run", str(paths[c])]
            for t in PEERS:
                if t in tools:
                    commands[(c, t)] = missing.get(t) or [sys.executable, str(HERE / "peer_checks.py"), t, c,
                                                          str(tmp / "data" / f"{c}.npz")]
        capped: dict[tuple[str, str], int] = {}  # (family, tool) -> the smallest n that hit the cap
        for rep in range(args.repeat):
            for (name, tool), cmd in commands.items():
                cell = result["rows"][name].setdefault(tool, {"runs": []})
                fam = name.split("-")[0]
                if isinstance(cmd, str) or "status" in cell:
                    cell.setdefault("status", cmd if isinstance(cmd, str) else cell.get("status"))
                    continue
                if name in CASES and size(name) > capped.get((fam, tool), size(name)):
                    cell["status"] = f">{args.cap:g} s (a smaller n hit the cap)"
                    continue
                if name == "grading (40 nb)" and grade_out is not None:
                    shutil.rmtree(grade_out, ignore_errors=True)
                limit = args.cap if tool in PEERS else args.timeout
                run = child(cmd, limit, tmp / f"{name}-{tool}.log")
                cell["runs"].append(run)
                print(f"  [{rep + 1}/{args.repeat}] {name} {tool}: {run['seconds']:.2f} s, rc={run['rc']}, "
                      f"{run['rss_mib']:.0f} MiB{' (timed out)' if run['timed_out'] else ''}",
                      file=sys.stderr, flush=True)
                if run["timed_out"]:
                    cell["status"] = f">{limit:g} s"
                    if name in CASES:
                        capped[(fam, tool)] = min(size(name), capped.get((fam, tool), size(name)))
                elif run["rc"] not in (0, 1):
                    cell["status"] = f"error rc={run['rc']}"
                    cell["log_tail"] = (tmp / f"{name}-{tool}.log").read_text(errors="replace")[-1500:]
                if name == "grading (40 nb)" and grade_out is not None:
                    result["rows"][name]["graded"] = grading.graded_rows(grade_out)
                save()
    result["meta"].update(load_end=os.getloadavg()[0], engine_end=engine())
    save()
    print(report(result))
    return 0


def summary(cell: dict) -> dict:
    done = [r for r in cell.get("runs", []) if not r["timed_out"]]
    out = {"status": cell.get("status") or ("checks failed" if any(r["rc"] == 1 for r in done) else "ok")}
    if done:
        out.update(median=statistics.median(r["seconds"] for r in done), n=len(done),
                   cpu=statistics.median(r["cpu"] for r in done), rss=max(r["rss_mib"] for r in done))
    return out


def report(result: dict) -> str:
    meta, rows = result["meta"], result["rows"]
    tools = [t for t in TOOLS if t in meta["tools"]]
    floor = summary(rows.get("import floor", {}).get("verifier", {})).get("median")
    out = [f"{meta['date']}, {meta['cpus']} cpus, load average {meta['load_start']:.1f} at the start, "
           f"{meta.get('load_end', 0):.1f} at the end; engine {meta['engine_start']}; peers capped at "
           f"{meta['cap']:g} s per process; median of up to {meta['repeat']} interleaved fresh processes",
           ""]
    if meta.get("engine_end", meta["engine_start"]) != meta["engine_start"]:
        out += ["WARNING: verifier/ changed during the run; rows before and after are not comparable", ""]
    head = f"{'case':<16}" + "".join(f"{t:>22}" for t in tools)
    out += ["Whole-process seconds (x gradcheck+gradgradcheck)", head, "-" * len(head)]
    mem = [f"{'case':<16}" + "".join(f"{t:>14}" for t in tools)]
    cpu = list(mem)
    for name, cells in rows.items():
        s = {t: summary(cells.get(t, {})) for t in tools}
        base = s.get("gradcheck", {}).get("median")
        line, mline, cline = f"{name:<16}", f"{name:<16}", f"{name:<16}"
        for t in tools:
            m = s[t].get("median")
            if m is None:
                text = s[t]["status"] if t in cells else ""
            else:
                ratio = f" ({m / base:.2f}x)" if base else (f" ({m / floor:.2f}x floor)"
                                                            if floor and name != "import floor" else "")
                text = f"{m:.2f}{ratio}" + ("" if s[t]["status"] == "ok" else " FAIL")
            line += f"{text[:21]:>22}"
            rss = f"{s[t]['rss']:.0f}" if "rss" in s[t] else ""
            mline += f"{rss:>14}"
            secs = f"{s[t]['cpu']:.2f}" if "cpu" in s[t] else ""
            cline += f"{secs:>14}"
        out.append(line)
        mem.append(mline)
        cpu.append(cline)
        if name == "grading (40 nb)" and s["verifier"].get("median"):
            out.append(f"{'':<16}  {s['verifier']['median'] / grading.N_NOTEBOOKS:.3f} s per notebook, "
                       f"grades.csv rows: {cells.get('graded', '?')}")
    out += ["", "CPU seconds (median user + system of the child and its children; less sensitive to load)"]
    out += cpu + ["", "Peak RSS (MiB, largest over the runs)"] + mem + ["", "Fitted exponent k of t ~ n**k"]
    floor_cpu = summary(rows.get("import floor", {}).get("verifier", {})).get("cpu")
    for fam, names in FITS.items():
        for tool in ("verifier", "gradcheck"):
            got = [(size(c), summary(rows[c].get(tool, {}))) for c in names if c in rows]
            got = [(n, s) for n, s in got if s.get("median")]
            k = fit_exponent([(n, s["median"]) for n, s in got])
            above = fit_exponent([(n, s["cpu"] - floor_cpu) for n, s in got]) if floor_cpu else None
            if k is not None:
                out.append(f"  {fam:<11} {tool:<10} wall k = {k:.2f}"
                           + (f", CPU above the import floor's k = {above:.2f}" if above is not None else "")
                           + f"  (n = {', '.join(str(n) for n, _ in got)})")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
