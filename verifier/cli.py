"""The ``verifier`` command: run, check, show, schema, grade.

Exit codes, as pytest's: 0 all passed, 1 a check failed, 2 bad input (a file, a problem, an
option), 5 nothing selected (no problem file, an empty file, a ``-k`` that selects nothing).
Defaults for ``run`` may come from ``[tool.verifier]`` in ``pyproject.toml`` (``_config``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import _startup
from ._errors import ProblemSpecError

NO_TESTS = 5  # pytest's ExitCode.NO_TESTS_COLLECTED


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="verifier", description="Check PyTorch autodiff against exact "
                                 "SymPy derivatives.")
    ap.add_argument("--version", action="store_true", help="print versions and exit")
    sub = ap.add_subparsers(dest="command")
    run = sub.add_parser("run", help="verify problem files (default: ./problems.yaml, else the bundled bank)",
                         description="Verify problem files. Defaults may come from [tool.verifier] in "
                         "pyproject.toml; options given here win.")
    run.add_argument("files", nargs="*", type=Path, help="problem files, or folders to search for them")
    run.add_argument("-k", dest="pattern", metavar="EXPRESSION",
                     help="only problems whose id or tag matches, as pytest's -k: substrings (or globs) "
                          "combined with and, or, not and parentheses, e.g. 'cubic or square', 'not slow'")
    run.add_argument("--format", choices=("table", "json", "junit"), default="table")
    run.add_argument("-v", "--verbose", action="store_true", help="list passing checks too")
    run.add_argument("-o", "--output", type=Path, help="write the report to this file instead of stdout")
    run.add_argument("--allow-import", action="store_true",
                     help="import the callables that problems name with 'implementation:' (runs their code)")
    from ._config import budget_option
    from ._worker import DEFAULT_MEMORY, DEFAULT_TIMEOUT

    run.add_argument("--timeout", type=budget_option(float), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"time budget per problem (default {DEFAULT_TIMEOUT:g}; 0: none)")
    run.add_argument("--memory", type=budget_option(int), default=DEFAULT_MEMORY, metavar="MIB",
                     help=f"memory budget per problem, in MiB (default {DEFAULT_MEMORY}; 0: none)")
    chk = sub.add_parser("check", help="validate problem files without running them")
    chk.add_argument("files", nargs="+", type=Path)
    chk.add_argument("--allow-import", action="store_true",
                     help="import the callables that problems name with 'implementation:' (runs their code)")
    show = sub.add_parser("show", help="print a problem's symbolic derivatives, for teaching")
    from ._show import add_arguments as show_arguments

    show_arguments(show)
    sub.add_parser("schema", help="print the JSON Schema of the problem format (for editors)")
    from ._gradebook import add_arguments

    add_arguments(sub.add_parser("grade", help="grade student notebooks and scripts"))
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the process's own command line (not a caller's list): see _startup
        _startup.pause()
        if sys.argv[1:2] == ["grade"]:
            _startup.prespawn_sandbox()
    try:
        return _main(argv)
    except BrokenPipeError:  # `verifier run | head`: the reader left; no traceback
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a shell reports a program a closed pipe stopped
    finally:
        _startup.resume()


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command not in (None, "run", "grade"):
        _startup.resume()
    if args.version:
        from ._report import versions

        return _emit(" ".join(f"{k} {v}" for k, v in versions().items()), 0)
    if args.command in (None, "run"):
        return _run_with_config(argv if args.command else ["run", *argv])
    if args.command == "check":
        return _check(args.files, args.allow_import)
    if args.command == "show":
        from ._show import main as show_main

        return show_main(args)
    if args.command == "schema":
        import json

        from ._schema import schema

        return _emit(json.dumps(schema(), indent=2), 0)
    from ._gradebook import main as grade_main

    return grade_main(args)


def _run_with_config(argv: list[str]) -> int:
    from . import _config

    ap = _parser()
    try:
        found = _config.find()
        if found is not None:
            (subparsers,) = [a for a in ap._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
            _config.apply(subparsers.choices["run"], *found)
    except _config.ConfigError as exc:
        print(f"verifier: {exc}", file=sys.stderr)
        return 2
    return _run(ap.parse_args(argv))


def _emit(text: str, code: int, output: Path | None = None) -> int:
    """Print the report; a reader that closed the pipe early does not change the exit code."""
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
        return code
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _silence_stdout()
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _expand(files: list[Path]) -> tuple[list[Path], list[str]]:
    """Files as given (none: ./problems.yaml, else the bundled bank), folders replaced by the
    problem files in them; notes for empty folders."""
    from ._api import default_files
    from ._discover import problem_files

    out: list[Path] = []
    notes: list[str] = []
    for f in files or default_files():
        if f.is_dir():
            found = problem_files(f)
            if not found:
                notes.append(f"{f}: no problem files (problems*.yaml, *.problems.yaml, or YAML with "
                             "top-level 'version:' and 'problems:')")
            out += found
        else:
            out.append(f)
    return out, notes


def _run(args: argparse.Namespace) -> int:
    from . import _preflight  # noqa: F401 - torch and SymPy, before the collector is back on
    from ._api import run
    from ._report import RunResult, plural, to_json, to_junit, to_table
    from ._select import KeywordError, compile_keyword
    from ._spec import load

    if args.pattern:
        try:
            compile_keyword(args.pattern)
        except KeywordError as exc:
            print(f"verifier run: {exc}", file=sys.stderr)
            return 2
    files, notes = _expand(args.files)
    if files:
        _startup.preload_torch_func()
    _startup.resume()
    total, seen = RunResult(), 0
    for f in files:
        try:
            pf = load(f)
        except ProblemSpecError as exc:
            total.file_errors += [str(d) for d in exc.diagnostics]
            continue
        seen += len(pf.problems)
        r = run(pf, pattern=args.pattern, allow_import=args.allow_import, timeout=args.timeout,
                memory=args.memory, progress=sys.stderr if sys.stderr.isatty() else None)
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
    code = total.exit_code
    if not total.problems and not total.file_errors:
        if args.pattern and seen:
            notes.append(f"no problem selected by -k {args.pattern!r} ({plural(seen, 'problem')} deselected)")
        elif files:
            notes.append(f"no problems in {', '.join(map(str, files))}")
        code = NO_TESTS
    for note in notes:
        print(f"verifier run: {note}", file=sys.stderr)
    return _emit(text, code, args.output)


def _check(files: list[Path], allow_import: bool = False) -> int:
    """Validate without differentiating: every error ``run`` would report before it differentiates."""
    from ._implementation import runner_for
    from ._preflight import preflight
    from ._report import plural
    from ._spec import load

    bad = 0
    files, notes = _expand(files)
    for note in notes:
        print(f"verifier check: {note}", file=sys.stderr)
    for f in files:
        try:
            pf = load(f)
        except ProblemSpecError as exc:
            print(exc, file=sys.stderr)
            bad += 1
            continue
        file_bad = 0
        for p in pf.problems:
            errors = [str(d) for d in preflight(p).all]
            if not errors:
                try:
                    runner_for(p, allow_import=allow_import)  # refused as `run` would be
                except ProblemSpecError as exc:
                    errors += [str(d) for d in exc.diagnostics]
            for e in errors:
                print(e, file=sys.stderr)
            file_bad += bool(errors)
        bad += file_bad
        if not file_bad:
            print(f"{f}: {plural(len(pf.problems), 'problem')}, "
                  f"{plural(sum(len(p.checks) for p in pf.problems), 'check')}, ok")
    return 2 if bad else NO_TESTS if not files else 0
