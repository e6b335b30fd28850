"""The ``verifier`` command: run, check, show, grade. Exit codes: 0 ok, 1 a check failed, 2 bad input."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._errors import ProblemSpecError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="verifier", description="Check PyTorch autodiff against exact "
                                 "SymPy derivatives.")
    ap.add_argument("--version", action="store_true", help="print versions and exit")
    sub = ap.add_subparsers(dest="command")
    run = sub.add_parser("run", help="verify problem files (default: ./problems.yaml, else the bundled bank)")
    run.add_argument("files", nargs="*", type=Path)
    run.add_argument("-k", dest="pattern", help="only problems whose id or tag matches (substring or glob)")
    run.add_argument("--format", choices=("table", "json", "junit"), default="table")
    run.add_argument("-v", "--verbose", action="store_true", help="list passing checks too")
    run.add_argument("-o", "--output", type=Path, help="write the report to this file instead of stdout")
    chk = sub.add_parser("check", help="validate problem files without running them")
    chk.add_argument("files", nargs="+", type=Path)
    show = sub.add_parser("show", help="print a problem's symbolic derivatives (pretty and LaTeX)")
    show.add_argument("id")
    show.add_argument("files", nargs="*", type=Path)
    from ._gradebook import add_arguments

    add_arguments(sub.add_parser("grade", help="grade student notebooks and scripts"))
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        from ._report import versions

        print(" ".join(f"{k} {v}" for k, v in versions().items()))
        return 0
    if args.command in (None, "run"):
        if args.command is None:
            args = _parser().parse_args(["run", *(argv or [])])
        return _run(args)
    if args.command == "check":
        return _check(args.files)
    if args.command == "show":
        return _show(args.id, args.files)
    from ._gradebook import main as grade_main

    return grade_main(args)


def _files(files: list[Path]) -> list[Path]:
    from ._api import default_files

    return files or default_files()


def _run(args: argparse.Namespace) -> int:
    from ._api import run
    from ._report import RunResult, to_json, to_junit, to_table

    total = RunResult()
    for f in _files(args.files):
        r = run(f, pattern=args.pattern)
        total.problems += r.problems
        total.file_errors += r.file_errors
        total.seconds += r.seconds
    if args.format == "json":
        text = to_json(total)
    elif args.format == "junit":
        text = to_junit(total)
    else:
        colour = args.output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = to_table(total, colour=colour, verbose=args.verbose)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return total.exit_code


def _check(files: list[Path]) -> int:
    from ._runner import ProblemRunner
    from ._spec import load

    bad = 0
    for f in files:
        try:
            pf = load(f)
        except ProblemSpecError as exc:
            print(exc, file=sys.stderr)
            bad += 1
            continue
        for p in pf.problems:
            errors = [str(d) for d in p.errors]
            if not errors:
                result = ProblemRunner(p)
                try:
                    result.validate(result.values())
                except Exception as exc:  # ExprError carries a position
                    line, col = getattr(exc, "line", p.line), getattr(exc, "col", p.col)
                    errors.append(f"{p.file}:{line}:{col}: {getattr(exc, 'message', exc)}")
            for e in errors:
                print(e, file=sys.stderr)
            bad += bool(errors)
        if not any(p.errors for p in pf.problems):
            print(f"{f}: {len(pf.problems)} problems, "
                  f"{sum(len(p.checks) for p in pf.problems)} checks, ok")
    return 2 if bad else 0


def _show(pid: str, files: list[Path]) -> int:
    import sympy as sp

    from ._runner import ProblemRunner
    from ._spec import load

    for f in _files(files):
        try:
            pf = load(f)
        except ProblemSpecError as exc:
            print(exc, file=sys.stderr)
            return 2
        for p in pf.problems:
            if p.id != pid:
                continue
            if p.errors:
                print("\n".join(map(str, p.errors)), file=sys.stderr)
                return 2
            runner = ProblemRunner(p)
            print(f"{p.id}: {p.title}" if p.title else p.id)
            for name, expr in p.define.items():
                print(f"  {name} = {expr.source}")
            values = runner.values()
            for check in p.checks:
                target, syms = runner.exact._target(check, values)
                exprs, shape = runner.exact._derive(check, target, syms, runner.exact.point(values), cache=True)
                exprs = [e if isinstance(e, sp.Basic) else e._sympy_() for e in exprs]  # from SymEngine
                m = sp.Matrix(shape[0] if shape else 1, len(exprs) // (shape[0] if shape else 1) or 1,
                              exprs) if exprs else sp.Matrix([])
                what = {"eigenvalues": "matrix whose eigenvalues are checked"}.get(check.kind, check.kind)
                print(f"\n{check.name} ({what}, wrt {', '.join(check.wrt)}):")
                print(sp.pretty(m, use_unicode=True))
                print("LaTeX: " + sp.latex(m))
            return 0
    print(f"no problem with id '{pid}'", file=sys.stderr)
    return 2
