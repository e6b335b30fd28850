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

from ._config import budget_option
from ._discover import looks_like_problem_file, matches_pattern
from ._errors import MismatchError, ProblemSpecError, VerifierError

if TYPE_CHECKING:
    from ._results import ProblemResult
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
    group.addoption(
        "--verifier-timeout", type=budget_option(float), default=300.0, metavar="SECONDS",
        help="time budget per problem, as verifier run's --timeout (default 300; 0: none)")
    group.addoption(
        "--verifier-memory", type=budget_option(int), default=4096, metavar="MIB",
        help="memory budget per problem in MiB, as verifier run's --memory (default 4096; 0: none)")


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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._results: dict[str, ProblemResult] = {}
        self._pending: Iterator[tuple[str, ProblemResult]] | None = None

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

    def result_for(self, node: ProblemNode) -> ProblemResult:
        """The result of ``node``'s problem, computed with the file's other selected problems.

        The first item of the file starts them in one forked worker under the time and memory
        budgets of ``verifier run`` (``_worker``): a problem that hangs or crashes the symbolic
        engine fails its own items, and the file's other problems still run. Only the checks
        pytest selected (``-k``, node ids, ``--lf``) run, with the ``--verifier-*`` settings.
        """
        if self._pending is None:
            self._pending = self._start()
        while node.nodeid not in self._results:
            try:
                nodeid, result = next(self._pending)
            except StopIteration:
                raise VerifierError(f"{node.problem.id}: no result came back from the worker") from None
            self._results[nodeid] = result
        return self._results[node.nodeid]

    def _start(self) -> Iterator[tuple[str, ProblemResult]]:
        from ._preflight import run_problem
        from ._worker import run_problems

        chosen: dict[str, tuple[ProblemNode, list[CheckSpec]]] = {}
        for item in self.session.items:
            if isinstance(item, CheckItem) and item.parent.parent is self:
                entry = chosen.setdefault(item.parent.nodeid, (item.parent, []))
                entry[1].append(item.configured_check())
        nodes = [node for node, _ in chosen.values()]
        problems = [node.configured_problem(checks) for node, checks in chosen.values()]
        allow = self.allow_import()
        results = run_problems(problems, lambda p: run_problem(p, allow_import=allow),
                               timeout=self.config.getoption("verifier_timeout"),
                               memory=self.config.getoption("verifier_memory"))
        try:
            for node, result in zip(nodes, results):
                yield node.nodeid, result
        finally:
            close = getattr(results, "close", None)  # a generator: its worker is stopped when
            if close is not None:                     # pytest stops early (-x, Ctrl-C)
                close()

    def teardown(self) -> None:
        pending, self._pending = self._pending, None
        close = getattr(pending, "close", None)
        if close is not None:
            close()

    def allow_import(self) -> bool:
        """``implementation:`` is imported for files in the user's own test tree (pytest's rootdir)."""
        inside = self.path.resolve().is_relative_to(self.config.rootpath.resolve())
        return bool(inside or self.config.getoption("verifier_allow_import"))


class ProblemNode(pytest.Collector):
    """One problem: its checks as items, computed together (sharing their symbolic work)."""

    def __init__(self, *, problem: Problem, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem
        self.extra_keyword_matches.update(problem.tags)  # `pytest -k seed` selects by tag

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

    def configured_problem(self, checks: list[CheckSpec]) -> Problem:
        """The problem with only ``checks``, in the dtype ``--verifier-dtype`` asks for."""
        p = dataclasses.replace(self.problem, checks=checks)
        dtype = self.config.getoption("verifier_dtype")
        if dtype and dtype != p.dtype:
            p = dataclasses.replace(p, dtype=dtype, tolerance=_at_least_defaults(p.tolerance, dtype))
        return p


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

    def configured_check(self) -> CheckSpec:
        """The check with the ``--verifier-modes`` and ``--verifier-dtype`` settings applied."""
        check = self.check
        modes = self.config.getoption("verifier_modes")
        if modes:
            check = dataclasses.replace(check, modes=tuple(m for m in check.modes or MODES if m in modes))
        dtype = self.config.getoption("verifier_dtype")
        if dtype and dtype != self.parent.problem.dtype:
            check = dataclasses.replace(check, tolerance=_at_least_defaults(check.tolerance, dtype))
        return check

    def runtest(self) -> None:
        file = self.parent.parent
        assert isinstance(file, ProblemFileNode)
        problem = file.result_for(self.parent)
        if problem.error:  # the problem as a whole: invalid, stopped at a budget, or its worker died
            if problem.diagnostics:
                raise ProblemSpecError(list(problem.diagnostics))
            raise VerifierError(problem.error)
        result = next((r for r in problem.checks if r.name == self.check.name and r.line == self.check.line),
                      None)
        if result is None:
            raise VerifierError(f"{problem.id}::{self.check.name}: the worker sent no result for this check")
        modes = self.config.getoption("verifier_modes")
        self.user_properties += [("verifier_dtype", self.config.getoption("verifier_dtype")
                                  or self.parent.problem.dtype),
                                 ("verifier_modes", ",".join(result.modes)),
                                 ("verifier_status", result.status)]
        if result.status == "nondifferentiable":
            pytest.skip(result.message)
        if result.status == "error" and modes and not result.modes and self.check.kind != "value":
            pytest.skip(f"no AD path left: --verifier-modes={','.join(modes)} has none that "
                        f"applies to a {self.check.kind} check")
        where = f"check at {_display_path(self.path, self.config)}:{self.check.line}:{self.check.col}"
        if result.status == "failed":
            raise MismatchError(f"{result.report()}\n{where}")
        if result.status != "passed":
            if result.message.startswith("internal error:"):  # a crash stays a crash, never an xfail
                raise RuntimeError(f"{result.report() or result.message}\n{where}")
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
