"""Defaults for ``verifier run`` from ``[tool.verifier]`` in ``pyproject.toml``.

The nearest ``pyproject.toml`` with a ``[tool.verifier]`` table, from the working directory
upwards, gives defaults for ``verifier run``'s options; options on the command line win.
Keys are the long option names (``format``, ``verbose``, ``allow-import``, ``k``, and any
other ``run`` option such as ``timeout``), plus ``files``: problem files or folders, relative
to the ``pyproject.toml``. Example::

    [tool.verifier]
    files = ["tests/banks"]
    format = "table"
    allow-import = true
    k = "not slow"
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A bad ``[tool.verifier]`` table; the message starts with the file's path."""


def find(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The nearest ``pyproject.toml`` with ``[tool.verifier]``, and that table."""
    d = (start or Path.cwd()).resolve()
    for folder in (d, *d.parents):
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        table = data.get("tool", {}).get("verifier")
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: [tool.verifier] must be a table")
            return path, table
    return None


def apply(parser: argparse.ArgumentParser, path: Path, table: dict[str, Any]) -> None:
    """Set ``parser``'s defaults from ``table``; raises ``ConfigError`` naming the bad key."""
    actions = {a.option_strings[-1].lstrip("-"): a for a in parser._actions  # noqa: SLF001
               if a.option_strings and a.dest not in ("help", "output")}
    actions["files"] = next(a for a in parser._actions if a.dest == "files")  # noqa: SLF001
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        name = str(key).replace("_", "-")
        action = actions.get(name)
        where = f"{path}: [tool.verifier] {key}"
        if action is None:
            close = difflib.get_close_matches(name, list(actions), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: unknown key{hint} (keys: {', '.join(sorted(actions))})")
        defaults[action.dest] = _value(action, value, path.parent, where)
    parser.set_defaults(**defaults)


def _value(action: argparse.Action, value: Any, base: Path, where: str) -> Any:
    if action.dest == "files":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{where}: must be a list of paths")
        return [base / v for v in items]
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):  # noqa: SLF001
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {value!r}")
        return value
    if isinstance(value, (dict, list)) or isinstance(value, bool):
        raise ConfigError(f"{where}: must be a single value, got {value!r}")
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{where}: must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    if action.type is not None and callable(action.type):
        try:
            return action.type(value if isinstance(value, str) else str(value))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return value


def budget_option(kind: type) -> Callable[[str], float | int | None]:
    """argparse type of a budget (``--timeout``, ``--memory``): a finite number >= 0; 0 means none
    (None)."""
    def parse(text: str) -> float | int | None:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
        return value or None
    return parse
