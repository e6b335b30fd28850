"""One answer from the child, checked: the only shapes, types and sizes the child's converter
(``_answer.to_answer``) can produce; anything else is a forged frame (:class:`BadFrame`)."""

from __future__ import annotations

import math
from typing import Any

MAX_ELEMENTS = 1_000_000


class BadFrame(ValueError):
    """A frame from the child that the child's own code could not have written."""


def _finite(x: int | float) -> float:
    if type(x) is int and abs(x) > 10**15:
        raise BadFrame("a number too large")
    value = float(x)
    if not math.isfinite(value):
        raise BadFrame("a number that is not finite")
    return value


def validate_answer(raw: Any) -> dict[str, Any]:
    """A well-formed Answer or an error; raises BadFrame for anything the child cannot send."""
    if raw is None:
        return {"error": "missing"}
    if type(raw) is not dict:
        raise BadFrame("malformed answer")
    if "error" in raw:
        # "ran": the function ran and only this derivative could not be taken (a bool, no more).
        if not set(raw) <= {"error", "ran"} or type(raw["error"]) is not str or raw.get("ran", True) is not True:
            raise BadFrame("malformed answer error")
        return {"error": raw["error"][:300], **({"ran": True} if "ran" in raw else {})}
    if not set(raw) <= {"shape", "dtype", "data", "complex"}:
        raise BadFrame("malformed answer")
    shape, dtype, data = raw.get("shape"), raw.get("dtype"), raw.get("data")
    if (type(shape) is not list or len(shape) > 32
            or not all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape)
            or type(dtype) is not str or len(dtype) > 20 or type(data) is not list or len(data) > MAX_ELEMENTS):
        raise BadFrame("malformed answer")
    size = math.prod(shape)
    if len(data) != size:
        raise BadFrame("an answer whose data does not fill its shape")
    if raw.get("complex") is True:
        if not all(type(z) is list and len(z) == 2 for z in data):
            raise BadFrame("malformed complex answer")
        return {"shape": shape, "dtype": dtype, "complex": True,
                "data": [[_number_in(z[0]), _number_in(z[1])] for z in data]}
    if "complex" in raw:
        raise BadFrame("malformed answer")
    return {"shape": shape, "dtype": dtype, "data": [_number_in(v) for v in data]}


def _number_in(v: Any) -> float:
    """A number the child's converter could have produced: a float (inf/nan allowed) or bool-like int."""
    if type(v) is float:
        return v
    if type(v) is int and abs(v) <= 2**63:
        return float(v)
    raise BadFrame("an answer with a value that is not a float")


def _answer(raw: Any) -> dict[str, Any]:
    """``validate_answer`` that returns an error instead of raising (kept for callers of 0.1)."""
    if type(raw) is not dict:
        return {"error": "missing"}
    try:
        return validate_answer(raw)
    except BadFrame:
        return {"error": "malformed answer from the sandbox"}
