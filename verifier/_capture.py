"""Inside the sandboxed child: read the answers the key asks for, after every cell that runs.

So an answer computed by an early cell is kept even when a later cell ends the process
(``os._exit``, a segfault, ``abort``, a stack overflow, an alarm it ignored). Only what the
request names is read, and a value is sent again only when it changed (same tensor object
and the same in-place version counter means unchanged), so capture stays cheap.

Access paths (``x.grad``, ``out[0]``, ``res["loss"]``; parsed in the grader by
``_gradekey.parse_path``) are followed with exact-type checks only: attributes through
``torch.Tensor``'s and ``numpy.ndarray``'s own C descriptors, indices into exact ``dict``,
``list``, ``tuple``, tensors and arrays. No ``__getattr__``, ``__getitem__`` or ``__eq__`` of a
student's type is ever called.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

MAX_CANDIDATES = 64  # tensors/arrays sent back for one `answer: any`
_TENSOR_ATTRS = {a: torch._C.TensorBase.__dict__[a] for a in ("grad", "data", "real", "imag", "T")}
_ARRAY_ATTRS = {a: np.ndarray.__dict__[a] for a in ("T", "real", "imag")}
_HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "display"}


class Missing(Exception):
    """The path leads nowhere (no such name, key or index, or ``.grad`` is None)."""


def _is_tensor(obj: object) -> bool:
    t = type(obj)
    return t is torch.Tensor or t is torch.nn.Parameter


def read_path(ns: dict[str, Any], name: str, steps: list[list[Any]]) -> Any:
    """Follow ``name`` then ``steps`` (``["attr", "grad"]``, ``["index", 0]``) in ``ns``."""
    if name not in ns:
        raise Missing("missing")
    obj = ns[name]
    where = name
    for kind, value in steps:
        if kind == "attr":
            if _is_tensor(obj) and value in _TENSOR_ATTRS:
                obj = _TENSOR_ATTRS[value].__get__(obj)
            elif type(obj) is np.ndarray and value in _ARRAY_ATTRS:
                obj = _ARRAY_ATTRS[value].__get__(obj)
            else:
                obj = _member(obj, value, where)
            where += f".{value}"
            if obj is None:
                raise Missing("missing: none")
            continue
        obj = _index(obj, value, where)
        where += f"[{value!r}]"
    return obj


_MRO = type.__dict__["__mro__"]
_CLASS_DICT = type.__dict__["__dict__"]
_PLAIN_DICT = (types.GetSetDescriptorType,)
_SKIP = (object, torch.nn.Module)  # classes whose attribute access is known code
_STORES = ("_parameters", "_buffers", "_modules")


def _member(obj: Any, name: str, where: str) -> Any:
    """``obj.name`` for an ``nn.Module`` (parameters, buffers, submodules) or a plain object,
    read from the instance ``__dict__``; refused when any class of ``obj`` (but ``nn.Module``
    and ``object``) defines ``__getattr__``, ``__getattribute__``, ``__slots__`` or its own
    ``__dict__`` descriptor, so no code of the student's classes runs."""
    cls = type(obj)
    mro = _MRO.__get__(cls)
    if any(type(c) is not type for c in mro):  # a metaclass could run code on any comparison
        raise Missing(f"missing: '{where}' has a class with a custom metaclass")
    if _is_tensor(obj) or any(cls is t for t in (np.ndarray, dict, list, tuple, str, bytes, int, float, complex)):
        raise Missing(f"missing: '{where}' has no readable .{name}")
    for c in mro:
        if any(c is s for s in _SKIP):
            continue
        own = _CLASS_DICT.__get__(c)
        if ("__getattr__" in own or "__getattribute__" in own or "__slots__" in own
                or ("__dict__" in own and type(own["__dict__"]) not in _PLAIN_DICT)):
            raise Missing(f"missing: '{where}' is an object whose attributes are not read safely")
    try:
        state = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        raise Missing(f"missing: '{where}' has no readable .{name}") from None
    if type(state) is not dict:
        raise Missing(f"missing: '{where}' has no readable .{name}")
    places = [state]
    if any(c is torch.nn.Module for c in mro):
        places = [_exact_get(state, s) for s in _STORES] + places
    for place in places:
        if type(place) is dict:
            for k, v in dict.items(place):
                if type(k) is str and k == name:
                    return v
    raise Missing(f"missing: '{where}' has no .{name}")


def _exact_get(d: dict[Any, Any], name: str) -> Any:
    for k, v in dict.items(d):
        if type(k) is str and k == name:
            return v
    return None


def _index(obj: Any, key: Any, where: str) -> Any:
    t = type(obj)
    if t is dict:
        for k, v in dict.items(obj):
            if type(k) is type(key) and k == key:  # str or int: no student __eq__ runs
                return v
        raise Missing(f"missing: '{where}' has no key {key!r}")
    if t is list or t is tuple:
        if type(key) is int and -len(obj) <= key < len(obj):
            return list.__getitem__(obj, key) if t is list else tuple.__getitem__(obj, key)
        raise Missing(f"missing: '{where}' has no index {key!r}")
    if _is_tensor(obj) or t is np.ndarray:
        index = tuple(key) if type(key) is list else key
        if type(key) is str:
            raise Missing(f"missing: '{where}' is indexed by numbers, not {key!r}")
        try:
            return torch.Tensor.__getitem__(obj, index) if t is not np.ndarray else obj[index]  # type: ignore
        except (IndexError, RuntimeError, ValueError) as exc:
            raise Missing(f"missing: '{where}[{key}]': {str(exc)[:100]}") from None
    raise Missing(f"missing: '{where}' cannot be indexed (not a dict, list, tuple, tensor or array)")


def _numel(obj: object) -> int:
    if _is_tensor(obj):
        return int(torch.Tensor.numel(obj))  # type: ignore[arg-type]
    return int(obj.size)  # type: ignore[attr-defined]


class Capture:
    """What the request asks to read, and what was last sent for each key."""

    def __init__(self, request: dict[str, Any], ns: dict[str, Any], to_answer: Callable[[Any], dict[str, Any]],
                 evaluate: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
        self.reads, self.searches = request.get("reads", []), request.get("searches", [])
        self.functions = request.get("functions", [])
        self.ns, self.to_answer, self.evaluate = ns, to_answer, evaluate
        self.sent: dict[str, tuple[Any, int, dict[str, Any]]] = {}  # key -> (object, version, answer)
        self.fn_seen: dict[str, tuple[Any, bool]] = {}  # function name -> (object, had errors)
        self.keep: dict[str, Any] = {}

    def after_cell(self, cell: int, final: bool = False) -> dict[str, Any]:
        """The frame body for what changed after ``cell`` (empty dicts when nothing did)."""
        values: dict[str, Any] = {}
        found: dict[str, Any] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in self.reads:
                at = r.get("cell")
                if at is None or at == cell and not final:
                    answer = self._read(r["key"], r["path"], pinned=at is not None,
                                        history=r.get("history") is True)
                    if answer is not None:
                        values[r["key"]] = answer
            for s in self.searches:
                if s.get("cell") is None or s["cell"] == cell and not final:
                    hits = self._search(s)
                    if hits is not None:
                        found[s["key"]] = hits
        return {"cell": cell, "values": values, "found": found, "functions": {}}

    def functions_after(self, final: bool = False) -> dict[str, Any]:
        """Each requested function, evaluated when its name is bound to a new object (and once
        more at the end if that evaluation had errors: it may use names defined later)."""
        functions = {}
        for fr in self.functions:
            obj = self.ns.get(fr["name"]) if type(fr["name"]) is str else None
            seen = self.fn_seen.get(fr["key"])
            if obj is None or (seen is not None and seen[0] is obj and not (final and seen[1])):
                continue
            results = self.evaluate(fr)
            self.fn_seen[fr["key"]] = (obj, any("error" in a for p in results for a in p.values()))
            functions[fr["key"]] = results
        return functions

    def _read(self, key: str, path: list[Any], pinned: bool, history: bool = False) -> dict[str, Any] | None:
        answer: dict[str, Any] | None
        try:
            obj = read_path(self.ns, path[0], path[1])
        except Missing as exc:
            answer = {"error": str(exc)}
            obj = None
        except Exception as exc:  # noqa: BLE001 - e.g. MemoryError while indexing
            answer, obj = {"error": f"could not read: {type(exc).__name__}"}, None
        else:
            answer = None
        version = _version(obj)
        last = self.sent.get(key)
        if not pinned and last is not None and obj is not None and last[0] is obj and last[1] == version \
                and version >= 0:
            return None  # the same tensor, not changed in place
        if answer is None:
            answer = self.to_answer(obj)
        # An equal value is not sent again, except a new object under a name read with its history:
        # two exercises whose answers are both 6 are two values (a one-to-one matching counts them).
        if not pinned and last is not None and last[2] == answer and (last[0] is obj or not history):
            self.sent[key] = (obj, version, answer)
            return None
        self.sent[key] = (obj, version, answer)
        return answer

    def _search(self, s: dict[str, Any]) -> list[list[Any]] | None:
        size, hits = int(s["size"]), []
        for name, obj in list(dict.items(self.ns)):
            if type(name) is not str or name.startswith("_") or name in _HIDDEN:
                continue
            if _is_tensor(obj) or type(obj) is np.ndarray:
                if _numel(obj) == size:
                    hits.append((name, obj))
                if _is_tensor(obj):
                    grad = _TENSOR_ATTRS["grad"].__get__(obj)
                    if grad is not None and _is_tensor(grad) and _numel(grad) == size:
                        hits.append((name + ".grad", grad))
            if len(hits) >= MAX_CANDIDATES:
                break
        key = s["key"]
        stamp = [(n, id(o), _version(o)) for n, o in hits]
        last = self.sent.get(key)
        if last is not None and last[0] == stamp and all(v >= 0 for _, _, v in stamp):
            return None
        answers = [[n, self.to_answer(o)] for n, o in hits]
        self.sent[key] = (stamp, 0, {"n": len(answers)})
        self.keep[key] = hits  # keep the objects alive so their ids stay theirs
        return answers


def _version(obj: object) -> int:
    """The in-place version counter of a tensor; -1 for anything that has none."""
    if _is_tensor(obj):
        return int(torch._C.TensorBase.__dict__["_version"].__get__(obj))
    return -1
