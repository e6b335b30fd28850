"""The pytest plugin: every check of a problem file becomes one test item.

Collected: ``problems*.yaml``, ``*.problems.yaml`` (and ``.yml``), and any YAML file named on the command
line that has top-level ``version:`` and ``problems:`` keys. Item ids read
``problems.yaml::cubic-2d::hessian[f]``. A failing check shows the mismatch table, a check at
a kink is skipped with the reason, the checks of a problem with ``xfail:`` are expected to
fail, and a problem the loader rejected is one failing ``<id>::load`` item (never xfailed).

Loading this module imports neither torch nor SymPy: the loader (``_spec``) is pure Python
and runs at collection; the engine (``_runner``) is imported when the first check runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._discover import looks_like_problem_file, matches_pattern
from ._errors import Diagnostic, MismatchError, ProblemSpecError, VerifierError

if TYPE_CHECKING:
    from ._runner import ProblemRunner
    from ._spec import CheckSpec, Problem

# Kept in step with _spec.MODES / _spec.DTYPES (a test asserts it); not imported from there so
# that pytest's option parsing never loads the loader.
MODES = ("backward", "functional", "jacrev", "jacfwd", "hessian_fwdrev")
DTYPES = ("float64", "float32")


def _modes_option(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        what = f"unknown mode {', '.join(map(repr, bad))}" if bad else "no mode given"
        raise argparse.ArgumentTypeError(
            f"{what}; give a comma-separated list of: {', '.join(MODES)}")
    return modes


def pytest_configure(config: pytest.Config) -> None:
    from ._quiet import PYTEST_FILTERS

    for line in PYTEST_FILTERS:  # torch's own deprecation noise, hidden in every test
        config.addinivalue_line("filterwarnings", line)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("verifier", "verifier: torch autodiff against exact SymPy derivatives")
    group.addoption(
        "--verifier-modes", type=_modes_option, default=None, metavar="MODES",
        help="run only these torch AD paths in every check, comma-separated "
             f"({', '.join(MODES)}); a check left with none is skipped")
    group.addoption(
        "--verifier-dtype", choices=DTYPES, default=None,
        help="run every problem in this dtype instead of its own; tolerances written for "
             "another dtype are raised to at least this dtype's defaults")
    group.addoption(
        "--verifier-allow-import", action="store_true", default=False,
        help="import the callables that problem files outside the rootdir name with "
             "'implementation:' (files inside the rootdir are the user's own and always may)")
    group.addoption(
        "--verifier-no-collect", action="store_true", default=False,
        help="do not collect problem YAML files")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    if config.getoption("verifier_no_collect"):
        settings = "problem files not collected (--verifier-no-collect)"
    else:
        dtype = config.getoption("verifier_dtype")
        modes = config.getoption("verifier_modes")
        settings = ", ".join([
            f"dtype {dtype} (--verifier-dtype)" if dtype else "dtype per problem",
            f"AD modes {','.join(modes)} (--verifier-modes)" if modes else "all AD modes",
            "random inputs seeded per input in the YAML",
        ])
    return [f"verifier {ver('verifier')}, torch {ver('torch')}, sympy {ver('sympy')}: {settings}"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ProblemFileNode | None:
    if file_path.suffix not in (".yaml", ".yml") or parent.config.getoption("verifier_no_collect"):
        return None
    if matches_pattern(file_path) or (
            parent.session.isinitpath(file_path) and looks_like_problem_file(file_path)):
        node: ProblemFileNode = ProblemFileNode.from_parent(parent, path=file_path)
        return node
    return None


def _display_path(path: Path, config: pytest.Config) -> str:
    """The path as people typed it: relative to where pytest was started, when inside it."""
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


class ProblemFileNode(pytest.File):
    """One problem file; a file the loader rejects as a whole is a collection error."""

    def collect(self) -> Iterator[ProblemNode]:
        from ._spec import loads

        name = _display_path(self.path, self.config)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.CollectError(f"{name}:1:1: cannot read file: {exc}") from None
        try:
            problem_file = loads(text, name)
        except ProblemSpecError as exc:
            raise self.CollectError(str(exc)) from None
        for problem in problem_file.problems:
            yield ProblemNode.from_parent(self, name=problem.id, problem=problem)


class ProblemNode(pytest.Collector):
    """One problem: its checks as items, sharing one ProblemRunner (and its symbolic work)."""

    def __init__(self, *, problem: Problem, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem
        self.extra_keyword_matches.update(problem.tags)  # `pytest -k seed` selects by tag
        self._prepared: tuple[ProblemRunner, dict[str, Any]] | VerifierError | None = None

    def collect(self) -> Iterator[pytest.Item]:
        p = self.problem
        if p.errors:
            yield LoadErrorItem.from_parent(self, name="load")
            return
        for check in p.checks:
            item = CheckItem.from_parent(self, name=check.name, check=check, **_item_id(self, check.name))
            if p.xfail:
                # Only verifier's own errors count as the expected failure; a crash stays a failure.
                item.add_marker(pytest.mark.xfail(reason=p.xfail, raises=VerifierError))
            yield item

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.problem.line - 1, self.problem.id

    def prepare(self) -> tuple[ProblemRunner, dict[str, Any]]:
        """The runner and the input values, built once for all the problem's check items."""
        if self._prepared is None:
            self._prepared = self._build()
        if isinstance(self._prepared, VerifierError):
            raise self._prepared
        return self._prepared

    def _build(self) -> tuple[ProblemRunner, dict[str, Any]] | VerifierError:
        from ._expr import ExprError
        from ._implementation import runner_for

        p = self.problem
        dtype = self.config.getoption("verifier_dtype")
        if dtype and dtype != p.dtype:
            p = dataclasses.replace(p, dtype=dtype,
                                    tolerance=_at_least_defaults(p.tolerance, dtype))
        # `implementation:` is imported for files in the user's own test tree (pytest's rootdir).
        inside = self.path.resolve().is_relative_to(self.config.rootpath.resolve())
        try:
            runner = runner_for(p, allow_import=inside or self.config.getoption("verifier_allow_import"))
        except ProblemSpecError as exc:
            return exc
        try:
            values = runner.values()
            runner.validate(values)
        except ExprError as exc:
            return ProblemSpecError(Diagnostic(p.file, exc.line, exc.col, exc.message))
        except Exception as exc:  # e.g. an input shape the formula cannot take
            message = f"{type(exc).__name__}: {exc}"
            return ProblemSpecError(Diagnostic(p.file, p.line, p.col, message))
        return runner, values


def _item_id(parent: pytest.Collector, name: str) -> dict[str, Any]:
    """The item's node id as pytest itself reads one back from its cache (``--lf``, ``--sw``).

    pytest 9.2 keeps node ids as structured ``NodeId``s and parses a cached id's trailing
    ``[...]`` as parameters: ``cubic-2d::gradient[f]`` becomes name ``gradient``, params ``f``,
    which never equals the id pytest builds for a child named ``gradient[f]``. So a check's id
    is built with pytest's own parser from the same string it writes to the cache. Older
    pytest keeps plain string ids, where the default is already right.
    """
    node_id = getattr(parent, "id", None)
    parse = getattr(type(node_id), "parse", None)
    if parse is None or "[" not in name:
        return {}
    return {"nodeid": parse(f"{parent.nodeid}::{name}")}


def _at_least_defaults(tolerance: dict[str, float], dtype: str) -> dict[str, float]:
    from ._compare import DEFAULT_TOLERANCES

    return {k: max(v, DEFAULT_TOLERANCES[dtype][k]) for k, v in tolerance.items()}


class _VerifierItem(pytest.Item):
    parent: ProblemNode

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, VerifierError):
            return str(excinfo.value)  # the report is the whole story; no traceback
        return super().repr_failure(excinfo, style=style)


class CheckItem(_VerifierItem):
    """One check of one problem, e.g. ``cubic-2d::hessian[f]``."""

    def __init__(self, *, check: CheckSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        runner, values = self.parent.prepare()
        check = self.check
        modes = self.config.getoption("verifier_modes")
        if modes:
            kept = tuple(m for m in check.modes or MODES if m in modes)
            check = dataclasses.replace(check, modes=kept)
        dtype = self.config.getoption("verifier_dtype")
        if dtype and dtype != self.parent.problem.dtype:
            check = dataclasses.replace(check, tolerance=_at_least_defaults(check.tolerance, dtype))
        result = runner.run_check(check, values)
        self.user_properties += [("verifier_dtype", runner.dtype_name),
                                 ("verifier_modes", ",".join(result.modes)),
                                 ("verifier_status", result.status)]
        if result.status == "nondifferentiable":
            pytest.skip(result.message)
        if result.status == "error" and modes and not result.modes and check.kind != "value":
            pytest.skip(f"no AD path left: --verifier-modes={','.join(modes)} has none that "
                        f"applies to a {check.kind} check")
        where = f"check at {_display_path(self.path, self.config)}:{check.line}:{check.col}"
        if result.status == "failed":
            raise MismatchError(f"{result.report()}\n{where}")
        if result.status != "passed":
            raise VerifierError(f"{result.report() or result.status}\n{where}")

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.check.line - 1, f"{self.parent.problem.id}::{self.check.name}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A skipped check points at its line in the YAML, not at the ``pytest.skip`` in this file."""
    outcome = yield
    report = outcome.get_result()
    if isinstance(item, CheckItem) and report.skipped and isinstance(report.longrepr, tuple):
        path, line, _ = item.reportinfo()
        report.longrepr = (str(path), line + 1, report.longrepr[2])


class LoadErrorItem(_VerifierItem):
    """Stands for a problem the loader rejected; it fails with the loader's messages."""

    def runtest(self) -> None:
        raise ProblemSpecError(self.parent.problem.errors)

    def reportinfo(self) -> tuple[Path, int, str]:
        p = self.parent.problem
        return self.path, p.line - 1, f"{p.id}::load"
