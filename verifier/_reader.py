"""Reading one value of a problem file: names, numbers, tolerances, dtypes, expressions and
input arrays, each checked and positioned. A ``_Reader`` collects every diagnostic of a
problem instead of stopping at the first (``_spec`` walks the problems and checks with it).
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from ._errors import Diagnostic
from ._expr import CONSTANTS, RESERVED_FUNCTIONS, Expr, ExprError, Origin, list_of, parse
from ._problem import DTYPES, GENERATOR_KEYS, MODES, InputSpec
from ._whitelist import MAX_NDIM
from ._yamlload import Located

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
RESERVED = set(RESERVED_FUNCTIONS) | CONSTANTS | {"I"}
MAX_SEED = 2**64 - 1    # torch.Generator.manual_seed takes a 64-bit seed
FLOAT_MAX = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38}


def _did_you_mean(word: Any, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


class _Reader:
    """Walks one problem's data, collecting every diagnostic instead of stopping."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.diags: list[Diagnostic] = []

    def err(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        self.diags.append(self.doc.diag(path, message, key=key))

    def keys(self, data: dict[str, Any], path: tuple[Any, ...], allowed: tuple[str, ...], what: str) -> None:
        for k in data:
            if k not in allowed:
                self.err(path + (k,), f"unknown key '{k}' in {what}{_did_you_mean(k, allowed)}", key=True)

    def origin(self, path: tuple[Any, ...]) -> Origin:
        line, col = self.doc.where(path)
        return Origin(line, col + (1 if self.doc.styles.get(path) in ("'", '"') else 0))

    def expr(self, value: Any, path: tuple[Any, ...], names: set[str], *, imag: bool = False) -> Expr | None:
        """A YAML value (expression string, number, or nested list of those) as one Expr."""
        try:
            return self._expr(value, path, names, imag)
        except ExprError as exc:
            self.diags.append(Diagnostic(self.doc.file, exc.line, exc.col, exc.message))
            return None

    def _expr(self, value: Any, path: tuple[Any, ...], names: set[str], imag: bool) -> Expr:
        if isinstance(value, list):
            if not value:
                line, col = self.doc.where(path)
                raise ExprError("empty list", line=line, col=col)
            items = [self._expr(v, path + (i,), names, imag) for i, v in enumerate(value)]
            return list_of(items, self.origin(path))
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            line, col = self.doc.where(path)
            raise ExprError(f"expected an expression or number, got {type(value).__name__}",
                            line=line, col=col)
        if isinstance(value, float) and not math.isfinite(value):
            line, col = self.doc.where(path)
            raise ExprError("numbers must be finite", line=line, col=col)
        return parse(value, names, self.origin(path), allow_imag=imag)

    def number(self, value: Any, path: tuple[Any, ...], what: str, *,
               minimum: float | None = None) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.err(path, f"{what} must be a number, got {value!r}")
            return None
        if minimum is not None and value < minimum:
            self.err(path, f"{what} must be >= {minimum}, got {value!r}")
            return None
        return float(value)

    def finite(self, value: Any, path: tuple[Any, ...], what: str, dtype: str) -> float | None:
        """A number that the problem's dtype holds without overflowing to inf."""
        v = self.number(value, path, what)
        if v is not None and abs(v) > FLOAT_MAX[dtype]:
            self.err(path, f"{what} {value!r} overflows {dtype} (largest {FLOAT_MAX[dtype]:.7g})")
            return None
        return v

    def tolerance(self, value: Any, path: tuple[Any, ...]) -> dict[str, float]:
        if not isinstance(value, dict):
            self.err(path, "tolerance must be a mapping like {rtol: 1.0e-7, atol: 1.0e-7}")
            return {}
        self.keys(value, path, ("rtol", "atol"), "tolerance")
        out = {}
        for k in ("rtol", "atol"):
            if k in value:
                v = self.number(value[k], path + (k,), k, minimum=0.0)
                if v is not None:
                    out[k] = v
        return out

    def modes(self, value: Any, path: tuple[Any, ...]) -> tuple[str, ...] | None:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            self.err(path, f"modes must be a list of: {', '.join(MODES)}")
            return None
        for i, m in enumerate(items):
            if m not in MODES:
                self.err(path + (i,) if isinstance(value, list) else path,
                         f"unknown mode '{m}'{_did_you_mean(m, MODES)} (modes: {', '.join(MODES)})")
        return tuple(m for m in items if m in MODES)

    def dtype(self, value: Any, path: tuple[Any, ...]) -> str | None:
        if value not in DTYPES:
            self.err(path, f"unknown dtype '{value}'{_did_you_mean(value, DTYPES)} "
                     f"(dtypes: {', '.join(DTYPES)})")
            return None
        return str(value)

    def name(self, value: Any, path: tuple[Any, ...], what: str) -> bool:
        if not isinstance(value, str) or not _NAME.match(value) or value.startswith("__"):
            self.err(path, f"{what} '{value}' is not a valid name", key=True)
            return False
        if value in RESERVED:
            self.err(path, f"{what} '{value}' shadows a built-in name of the expression language", key=True)
            return False
        return True

    def array(self, name: str, value: Any, path: tuple[Any, ...], dtype: str = "float64") -> InputSpec | None:
        spec = self._array(name, value, path, dtype)
        if spec is not None:
            spec.line, spec.col = self.doc.where(path)
        return spec

    def _array(self, name: str, value: Any, path: tuple[Any, ...], dtype: str) -> InputSpec | None:
        if isinstance(value, dict):
            kind = "random" if "random" in value else "fill" if "fill" in value else None
            if kind is None:
                self.err(path, f"'{name}' must be a number, a nested list, {{random: uniform|normal, "
                         "shape, seed}} or {fill: value, shape}")
                return None
            self.keys(value, path, GENERATOR_KEYS[kind], f"generator of '{name}'")
            shape = value.get("shape", [])
            if not isinstance(shape, list) or not all(type(s) is int and 0 <= s <= 100_000 for s in shape):
                self.err(path + ("shape",), "shape must be a list of non-negative integers (at most 100,000)")
                return None
            if len(shape) > MAX_NDIM:
                self.err(path + ("shape",), f"array has {len(shape)} dimensions (limit {MAX_NDIM})")
                return None
            if math.prod(shape) > 1_000_000:
                self.err(path + ("shape",), "array is too large (limit 1,000,000 elements)")
                return None
            gen: dict[str, Any] = {"kind": kind, "shape": tuple(shape)}
            if kind == "random":
                if value["random"] not in ("uniform", "normal"):
                    self.err(path + ("random",), f"random must be 'uniform' or 'normal', got "
                             f"{value['random']!r}{_did_you_mean(value['random'], ('uniform', 'normal'))}")
                    return None
                gen["dist"] = value["random"]
                seed = value.get("seed", 0)
                if type(seed) is not int or not 0 <= seed <= MAX_SEED:
                    self.err(path + ("seed",), "seed must be an integer from 0 to 2**64 - 1")
                    return None
                gen["seed"] = seed
                params = ("low", "high") if gen["dist"] == "uniform" else ("mean", "std")
                for p, default in zip(params, (0.0, 1.0)):
                    gen[p] = default
                    if p in value:
                        v = self.finite(value[p], path + (p,), p, dtype)
                        gen[p] = default if v is None else v
                for p in ({"low", "high", "mean", "std"} - set(params)) & set(value):
                    self.err(path + (p,), f"'{p}' does not apply to random: {gen['dist']}", key=True)
            else:
                v = self.finite(value["fill"], path + ("fill",), "fill", dtype)
                if v is None:
                    return None
                gen["fill"] = v
            return InputSpec(name, tuple(shape), generator=gen)
        shape = _literal_shape(value)
        if shape is None:
            self.err(path, f"'{name}' is a ragged or empty list; arrays must be rectangular")
            return None
        if len(shape) > MAX_NDIM:
            self.err(path, f"'{name}' is nested {len(shape)} lists deep (limit {MAX_NDIM} dimensions)")
            return None
        e = self.expr(value, path, set())
        return None if e is None else InputSpec(name, shape, expr=e)


def _literal_shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return ()
    if not value:
        return None
    inner = [_literal_shape(v) for v in value]
    if any(s is None or s != inner[0] for s in inner):
        return None
    return (len(value),) + inner[0]  # type: ignore[operator]
