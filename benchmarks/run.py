"""The benchmark suite of verifier: whole-process timings and a per-step profile.

    python benchmarks/run.py [--quick] [--json out.json] [--repeat N] [--timeout S] [-k TEXT]

Every measurement is a fresh process started and timed from here (wall clock, from
spawn to exit), repeated N times: the table shows the median, the minimum and the peak
RSS of the child (from os.wait4). See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import families  # noqa: E402
import grading  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "verifier" / "problems.yaml"
PROFILE = Path(__file__).resolve().parent / "profile_steps.py"
STATUS = {0: "ok", 1: "checks failed"}


def child(cmd: list[str], timeout: float, log: Path) -> dict:
    """Run ``cmd`` once: wall seconds, peak RSS (MiB), exit code, timed out; output -> ``log``."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # keeps Popen from waiting again
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "rc": proc.returncode, "timed_out": killed.is_set()}


def measure(name: str, cmd: list[str] | None, args: argparse.Namespace, tmp: Path, note: str = "",
            clean: Path | None = None) -> dict:
    """Repeat ``cmd``; stop early at a timeout or once the row has used ``args.timeout``."""
    row: dict = {"name": name, "note": note, "cmd": cmd, "runs": []}
    if cmd is None:
        row["status"] = "n/a"
        return row
    log = tmp / f"{name}.log"
    for _ in range(args.repeat):
        if clean is not None:
            shutil.rmtree(clean, ignore_errors=True)
        run = child(cmd, args.timeout, log)
        row["runs"].append(run)
        print(f"  {name}: {run['seconds']:.2f} s, cpu {run['cpu']:.2f} s, rc={run['rc']}, "
              f"{run['rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
        if run["timed_out"] or sum(r["seconds"] for r in row["runs"]) > args.timeout:
            break
    last = row["runs"][-1]
    done = [r["seconds"] for r in row["runs"] if not r["timed_out"]]
    if last["timed_out"] and not done:
        row["status"] = f">{args.timeout:g} s"
    else:
        row.update(median=statistics.median(done), min=min(done),
                   cpu=statistics.median(r["cpu"] for r in row["runs"] if not r["timed_out"]))
        row["status"] = STATUS.get(last["rc"], f"error rc={last['rc']}")
    row["rss_mib"] = max(r["rss_mib"] for r in row["runs"])
    if last["rc"] not in (0, 1) or last["timed_out"]:
        row["log_tail"] = log.read_text(errors="replace")[-2000:]
    return row


def profile(case: str, path: Path, args: argparse.Namespace, tmp: Path) -> dict:
    """One process running profile_steps.py on ``path``; partial results survive a timeout."""
    log = tmp / f"profile-{case}.log"
    run = child([sys.executable, str(PROFILE), str(path)], args.timeout, log)
    records, running, errors = [], None, []
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "begin" in rec:
            running = rec
        elif "step" in rec:
            records.append(rec)
            running = None
        elif "error" in rec:
            errors.append(rec)
    late = " (timed out)" if run["timed_out"] else ""
    print(f"  profile {case}: {run['seconds']:.1f} s{late}", file=sys.stderr, flush=True)
    return {"case": case, "run": run, "records": records, "errors": errors,
            "running": running if run["timed_out"] else None}


def engine() -> str:
    """git HEAD plus a hash of verifier/ as it is on disk (others may edit it during a run)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip()
    digest = hashlib.sha1()
    for f in sorted((ROOT / "verifier").glob("*.py")) + [BUNDLED]:
        digest.update(f.read_bytes() if f.is_file() else b"")
    return f"{head or '?'} + tree {digest.hexdigest()[:10]}"


# ---- the tables ----------------------------------------------------------------------------

def fmt(s: float | str | None) -> str:
    return "" if s is None else s if isinstance(s, str) else f"{s:.3f}" if s < 10 else f"{s:.1f}"


def whole_table(rows: list[dict], floor: float | None, repeat: int) -> str:
    head = (f"{'whole process':<20} {'median s':>9} {'min s':>8} {'cpu s':>8} {'x floor':>8} "
            f"{'peak MiB':>9} {'runs':>4}  {'status':<14} note")
    out = [f"Whole-process timings (median of up to {repeat} fresh processes, timed from the "
           "parent)", head, "-" * len(head)]
    for r in rows:
        med = r.get("median")
        ratio = f"{med / floor:.2f}x" if med is not None and floor else ""
        rss = f"{r['rss_mib']:.0f}" if "rss_mib" in r else ""
        out.append(f"{r['name']:<20} {fmt(med):>9} {fmt(r.get('min')):>8} {fmt(r.get('cpu')):>8} "
                   f"{ratio:>8} {rss:>9} "
                   f"{len(r['runs']):>4}  {r['status']:<14} {r['note']}")
    return "\n".join(out)


COLS = ("build", "derive", "kinks", "exact", "torch", "compare")
MODES = ("backward", "functional", "jacrev", "jacfwd", "hessian_fwdrev")


def profile_table(profiles: list[dict], timeout: float) -> str:
    head = (f"{'case':<16} {'check':<16} " + " ".join(f"{c:>8}" for c in COLS)
            + f" {'total':>8}  slowest torch path / notes")
    out = ["Per-step profile (seconds, one process per case; build = point + target;"
           " torch = all paths; exact includes exact eigenvalues)", head, "-" * len(head)]
    for p in profiles:
        setup = {r["step"]: r["seconds"] for r in p["records"] if not r["check"]}
        out.append(f"{p['case']:<16} {'(setup)':<16} import {fmt(setup.get('import'))}, "
                   f"parse {fmt(setup.get('parse'))}, values {fmt(setup.get('values'))}")
        checks: dict[tuple[str, str], dict[str, float]] = {}
        for r in p["records"]:
            if r["check"] and "seconds" in r:
                checks.setdefault((r["problem"], r["check"]), {})[r["step"]] = r["seconds"]
        run = p["running"]
        if run and run["check"]:
            checks.setdefault((run["problem"], run["check"]), {})
        for (prob, check), steps in checks.items():
            cells: dict[str, float | str | None] = {
                "build": steps.get("point", 0) + steps.get("target", 0),
                     "torch": sum(steps.get(m, 0) for m in MODES) or None}
            cells.update({c: steps.get(c) for c in ("derive", "kinks", "exact", "compare")})
            note, total = "", sum(steps.values())
            if run and (run["problem"], run["check"]) == (prob, check):
                step = {"point": "build", "target": "build"}.get(run["begin"], run["begin"])
                # the step in progress got what the process spent outside the finished steps
                stuck = p["run"]["seconds"] - sum(r["seconds"] for r in p["records"])
                cells[step if step in cells else "torch"] = f">{fmt(stuck)}"
                total += stuck
                note = f"TIMEOUT: still in '{run['begin']}' when killed at {timeout:g} s"
            else:
                modes = {m: steps[m] for m in MODES if m in steps}
                if modes:
                    worst = max(modes, key=modes.__getitem__)
                    note = f"{worst} {fmt(modes[worst])}"
            name = check if len({k[0] for k in checks}) == 1 else f"{prob}:{check}"
            out.append(f"{'':<16} {name:<16} " + " ".join(f"{fmt(cells[c]):>8}" for c in COLS)
                       + f" {('>' if note.startswith('TIMEOUT') else '') + fmt(total):>8}  {note}")
        for e in p["errors"]:
            out.append(f"{'':<16} {e.get('check') or '':<16} error: {e['error'][:120]}")
        if p["run"]["timed_out"]:
            out.append(f"{'':<16} {'(process)':<16} >{timeout:g} s (killed at the timeout)")
        elif p["run"]["rc"] != 0:
            out.append(f"{'':<16} {'(process)':<16} exited with rc={p['run']['rc']}")
        else:
            out.append(f"{'':<16} {'(process)':<16} {fmt(p['run']['seconds'])} s wall, "
                       f"{fmt(p['run']['cpu'])} s cpu, "
                       f"{p['run']['rss_mib']:.0f} MiB peak")
    return "\n".join(out)


# ---- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the small sizes; no larger set")
    ap.add_argument("--json", type=Path, help="also write the results here (as they come)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per row (default 3)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per process (default 300)")
    ap.add_argument("-k", dest="only", help="only cases whose name contains this")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-step profile")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="only print the tables of a --json file")
    args = ap.parse_args(argv)
    if args.render:
        print(report(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0

    verifier = grading.verifier_cmd()
    cases = [c for c in families.cases() if c.quick or not args.quick]
    cases = [c for c in cases if not args.only or args.only in c.name]
    result: dict = {"meta": {"python": platform.python_version(), "machine": platform.machine(),
                             "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                             "load_start": os.getloadavg()[0], "engine_start": engine(),
                             "args": {k: str(v) for k, v in vars(args).items()}},
                    "whole": [], "profile": []}

    def save() -> None:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")

    def add(row: dict) -> dict:
        result["whole"].append(row)
        save()
        return row

    with tempfile.TemporaryDirectory(prefix="verifier-bench-") as d:
        tmp = Path(d)
        paths = families.write(tmp / "families", cases)
        result["meta"]["versions"] = subprocess.run([*verifier, "--version"], capture_output=True,
                                                    text=True, cwd=ROOT).stdout.strip()
        print(f"verifier benchmarks: {result['meta']['versions']}", file=sys.stderr, flush=True)
        floor_cmd = [sys.executable, "-c", "import torch, sympy"]
        floor = add(measure("import floor", floor_cmd, args, tmp,
                            "python -c 'import torch, sympy'")).get("median")
        if BUNDLED.is_file():
            add(measure("bundled problems", [*verifier, "run", str(BUNDLED)], args, tmp,
                        "verifier run verifier/problems.yaml"))
        else:
            add(measure("bundled problems", None, args, tmp,
                        "skipped: verifier/problems.yaml missing"))
        for c in cases:
            row = add(measure(c.name, [*verifier, "run", str(paths[c.name])], args, tmp, c.note))
            med = row.get("median")
            if c.target_ratio and floor:
                ok = med is not None and med <= c.target_ratio * floor
                row["note"] += f"; target <= {c.target_ratio:g}x floor: {'met' if ok else 'MISSED'}"
            if c.target_s:
                ok = med is not None and med <= c.target_s
                row["note"] += f"; target <= {c.target_s:g} s: {'met' if ok else 'MISSED'}"
        if not args.only or args.only in "grading (40 nb)":
            cmd, out, note = grading.prepare(tmp / "grading")
            row = add(measure("grading (40 nb)", cmd, args, tmp, note, clean=out))
            if "median" in row:
                graded = grading.graded_rows(out) if out else -1
                row["notebooks_per_s"] = grading.N_NOTEBOOKS / row["median"]
                row["note"] = (f"{row['notebooks_per_s']:.2f} notebooks/s; grades.csv rows: "
                               f"{graded}; {note}")
        save()
        if not args.no_profile:
            for c in cases:
                if c.name != "larger-set":  # its four problems are profiled as family sizes
                    result["profile"].append(profile(c.name, paths[c.name], args, tmp))
                    save()

    result["meta"].update(load_end=os.getloadavg()[0], engine_end=engine())
    save()
    print(report(result))
    return 0


def report(result: dict) -> str:
    meta, args = result["meta"], result["meta"]["args"]
    floor = next((r.get("median") for r in result["whole"] if r["name"] == "import floor"), None)
    out = [f"{meta.get('versions', '')}; python {meta['python']}, {meta['cpus']} cpus; "
           f"{meta['date']}; load average {meta.get('load_start', 0):.1f} at the start, "
           f"{meta.get('load_end', 0):.1f} at the end", f"engine: {meta.get('engine_start')}"]
    if meta.get("engine_end", meta.get("engine_start")) != meta.get("engine_start"):
        out.append(f"WARNING: verifier/ changed during the run (now {meta['engine_end']}): "
                   "rows measured before and after the change are not comparable")
    out += ["", whole_table(result["whole"], floor, int(args["repeat"]))]
    if result["profile"]:
        out += ["", profile_table(result["profile"], float(args["timeout"]))]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
