"""A student's object as a JSON answer, by exact type checks (runs in the sandboxed child).

Tensors, numpy arrays and scalars, Python numbers and nested lists/tuples of them become
``{"shape", "dtype", "data"[, "complex"]}``; anything else is ``{"error": why}``. No method of a
student's class runs (types are compared with ``is``; ``_validate`` re-checks what arrives).
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import torch

__all__ = ["MAX_DEPTH", "MAX_ELEMENTS", "Reject", "safe_repr", "to_answer", "typename"]

MAX_ELEMENTS = 1_000_000
MAX_DEPTH = 32
_NUMPY_SCALARS = {
    id(t)
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64, np.float16, np.float32, np.float64, np.longdouble, np.complex64,
              np.complex128, np.clongdouble)
}
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)


class Reject(Exception):
    """An object that cannot be turned into numbers; the message is the answer's error."""


def typename(obj: object) -> str:
    """The type's qualified name, read without running any code of the type."""
    t = type(obj)
    name = type.__dict__["__qualname__"].__get__(t)
    module = t.__dict__.get("__module__") if type(t.__dict__) is types.MappingProxyType else None
    name = name if type(name) is str else "?"
    if type(module) is str and module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    return name[:100]


def safe_repr(obj: object) -> str:
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001
        return f"<{typename(obj)}>"
    return text if type(text) is str else "?"


def to_answer(obj: object) -> dict[str, Any]:
    """``{"shape", "dtype", "data"[, "complex"]}`` for numbers, else ``{"error": ...}``."""
    try:
        shape, dtype, data, cplx = _convert(obj, 0, [MAX_ELEMENTS])
    except Reject as exc:
        return {"error": str(exc)}
    answer: dict[str, Any] = {"shape": shape, "dtype": dtype, "data": data}
    if cplx:
        answer["complex"] = True
    return answer


def _convert(obj: object, depth: int, budget: list[int]) -> tuple[list[int], str, list, bool]:
    t = type(obj)
    if any(t is k for k in _TENSOR_TYPES):
        return _from_tensor(obj)  # type: ignore[arg-type]
    if t is np.ndarray:
        return _from_array(obj)  # type: ignore[arg-type]
    if id(t) in _NUMPY_SCALARS:
        return _from_array(np.asarray(obj))
    if t is bool or t is int or t is float:
        try:
            value = float(obj)  # type: ignore[arg-type]
        except OverflowError:
            raise Reject("not numeric: int too large") from None
        return [], {bool: "bool", int: "int64", float: "float64"}[t], [value], False
    if t is complex:
        return [], "complex128", [[obj.real, obj.imag]], True  # type: ignore[attr-defined]
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise Reject("not numeric: nested too deeply")
        budget[0] -= len(obj)  # type: ignore[arg-type]
        if budget[0] < 0:
            raise Reject(f"too large: more than {MAX_ELEMENTS} elements")
        items = [_convert(x, depth + 1, budget) for x in obj]  # type: ignore[attr-defined]
        if not items:
            return [0], "float64", [], False
        if any(item[0] != items[0][0] for item in items):
            raise Reject("not numeric: ragged nested list")
        dtypes = {item[1] for item in items}
        cplx = any(item[3] for item in items)
        dtype = dtypes.pop() if len(dtypes) == 1 else ("complex128" if cplx else "float64")
        data: list = []
        for _, _, part, part_cplx in items:
            data.extend(part if part_cplx or not cplx else [[v, 0.0] for v in part])
        return [len(items), *items[0][0]], dtype, data, cplx
    raise Reject(f"not numeric: {typename(obj)}")


def _from_tensor(t: torch.Tensor) -> tuple[list[int], str, list, bool]:
    x = torch.Tensor.detach(t)
    if x.layout != torch.strided:
        x = x.to_dense()
    if x.is_quantized:
        x = x.dequantize()
    if x.device.type != "cpu":
        if x.device.type == "meta":
            raise Reject("not numeric: tensor on the meta device has no values")
        x = x.cpu()
    if x.numel() > MAX_ELEMENTS:
        raise Reject(f"too large: {x.numel()} elements (limit {MAX_ELEMENTS})")
    dtype = str(x.dtype).removeprefix("torch.")
    shape = list(x.shape)
    if x.is_complex():
        pairs = torch.view_as_real(x.resolve_conj().to(torch.complex128)).reshape(-1, 2)
        return shape, dtype, pairs.tolist(), True
    return shape, dtype, x.to(torch.float64).reshape(-1).tolist(), False


def _from_array(a: np.ndarray) -> tuple[list[int], str, list, bool]:
    if a.dtype.kind not in "biufc":
        raise Reject(f"not numeric: ndarray of dtype {a.dtype.str}")
    if a.size > MAX_ELEMENTS:
        raise Reject(f"too large: {a.size} elements (limit {MAX_ELEMENTS})")
    shape = [int(n) for n in a.shape]
    if a.dtype.kind == "c":
        z = a.astype(np.complex128).reshape(-1)
        return shape, a.dtype.name, np.stack([z.real, z.imag], axis=1).tolist(), True
    return shape, a.dtype.name, a.astype(np.float64).reshape(-1).tolist(), False
