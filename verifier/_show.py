"""``verifier show ID``: a problem's symbolic derivatives, readable for teaching.

For each check: the derivative as a formula (pretty, ``--latex``, or ``--format json``), its
exact value at the problem's point (``[[18, 4], [4, 0]]``; eigenvalues ``9 - √97, 9 + √97``),
and a decimal approximation where the exact value is not rational. Display only, nothing here
feeds a verdict:

- a number that came from a float (a rational whose denominator is a power of two above
  2**10, equal to a double) prints as its shortest decimal, ``0.3``, not
  ``5404319552844595/18014398509481984``;
- ``x[0]`` prints as x₀ (LaTeX ``x_{0}``), ``w[1,2]`` as w₁,₂;
- a formula with more than ``CSE_NODES`` tree nodes is shown with common subexpressions pulled out by
  ``sympy.cse`` (``where c0 = ...``), and a matrix with more than ``MAX_GRID`` entries as one
  line per nonzero entry.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm
from sympy.printing.str import StrPrinter

from ._errors import ProblemSpecError
from ._exact import to_sympy

CSE_NODES = 120         # more expression-tree nodes than this: pull out common subexpressions
MAX_GRID = 64           # more entries than this: one line per nonzero entry, not a grid
EXACT_EIG_SIZE = 4      # exact eigenvalues (radicals) up to this size, decimals above
MAX_CLOSED_FORM = 60    # a closed form longer than this (characters) is shown as 17-digit decimals
MAX_POINT = 24          # inputs with more elements are shown by their first few and their shape
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("id", help="the problem's id")
    ap.add_argument("files", nargs="*", type=Path, help="problem files (default: ./problems.yaml, "
                    "else the bundled bank)")
    ap.add_argument("--latex", action="store_true", help="print LaTeX instead of the pretty text")
    ap.add_argument("--format", choices=("text", "json"), default="text",
                    help="json: every formula as text and LaTeX, with the exact values at the point")


# -- display of numbers and symbols --------------------------------------------------------
def _from_float(r: sp.Rational, min_q: int = 1024) -> bool:
    q = int(r.q)
    return q > min_q and q & (q - 1) == 0 and sp.Rational(float(r)) == r


def decimals(expr: Any) -> Any:
    """``expr`` with every rational that is a double's exact value replaced by that double's
    shortest decimal (a display form: ``Float('0.3')``)."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(decimals)
    expr = to_sympy(expr)
    repl = {a: sp.Float(repr(float(a))) for a in expr.atoms(sp.Rational) if _from_float(a)}
    if not repl:
        return expr
    with sp.evaluate(False):  # exp(0.05) stays exp(0.05), not its 15-digit value
        return expr.xreplace(repl)


def _split(name: str) -> tuple[str, list[str]]:
    if name.endswith("]") and "[" in name:
        base, _, idx = name[:-1].partition("[")
        return base, idx.split(",")
    return name, []


class _Pretty(PrettyPrinter):
    def _print_Symbol(self, e: sp.Symbol, bold_name: bool = False) -> prettyForm:
        base, idx = _split(e.name)
        return prettyForm(base + ",".join(idx).translate(_SUB) if idx else base)


class _Latex(LatexPrinter):
    def _print_Symbol(self, e: sp.Symbol, style: str = "plain") -> str:
        base, idx = _split(e.name)
        tex = base if len(base) == 1 else r"\mathit{" + base.replace("_", r"\_") + "}"
        return f"{tex}_{{{','.join(idx)}}}" if idx else tex


def pretty(expr: Any) -> str:
    return str(_Pretty({"use_unicode": True, "full_prec": False}).doprint(decimals(expr)))


def latex(expr: Any) -> str:
    return str(_Latex({"full_prec": False}).doprint(decimals(expr)))


def text(expr: Any) -> str:
    return str(StrPrinter({"full_prec": False}).doprint(decimals(expr)))


# -- one problem ----------------------------------------------------------------------------
def describe(problem: Any) -> dict[str, Any]:
    """Everything ``show`` prints for one problem, as data (the ``--format json`` document)."""
    from ._runner import ProblemRunner

    runner = ProblemRunner(problem)
    values = runner.values()
    ref = runner.exact  # the symbolic side: derivatives and the exact point
    point = ref.point(values)
    doc: dict[str, Any] = {"id": problem.id, "title": problem.title,
                           "define": {n: e.source for n, e in problem.define.items()},
                           "point": {n: _nested(_exact_array(values[n]), values[n].dim(), doubles=True)
                                     for n in problem.inputs},
                           "checks": []}
    for check in problem.checks:
        cut = [w for w in check.wrt if w in problem.define]  # intermediates treated as inputs
        if cut:
            point = ref.point(values, cut)
        target, syms = ref._target(check, values)  # noqa: SLF001
        exprs, shape = ref._derive(check, target, syms, point, cache=True)  # noqa: SLF001
        exprs = [e if isinstance(e, sp.Basic) else e._sympy_() for e in exprs]  # from SymEngine
        rows = shape[0] if shape else 1
        m = sp.Matrix(rows, len(exprs) // rows if rows else 0, exprs) if exprs else sp.Matrix([])
        by_name = {str(k): to_sympy(v) for k, v in point.items()}  # SymEngine or SymPy, real or not
        at = m.xreplace({s: by_name[s.name] for s in m.free_symbols if s.name in by_name})
        what = {"eigenvalues": "the matrix whose eigenvalues are checked"}.get(check.kind, check.kind)
        if any(v.free_symbols for v in at):
            raise ValueError(f"{check.name}: no value at the point for {sorted(map(str, at.free_symbols))}")
        entry: dict[str, Any] = {"name": check.name, "kind": check.kind, "what": what, "wrt": list(check.wrt),
                                 "shape": list(shape), "matrix": m, "at_point": at}
        if check.kind == "eigenvalues" and at.rows == at.cols and at.rows:
            entry["eigenvalues"] = _eigenvalues(at)
        if check.kind != "value":
            entry.update(_kink(ref, check, values))
        doc["checks"].append(entry)
    return doc


def _kink(ref: Any, check: Any, values: Any) -> dict[str, Any]:
    """At a kink, the verdict's message and the one-sided derivatives (from ``_reference``)."""
    from ._compare import to_jsonable

    try:
        r = ref.reference(check, values)
    except Exception:  # noqa: BLE001 - the formula is still shown; run reports the error
        return {}
    if r.status != "nondifferentiable":
        return {}
    return {"nondifferentiable": r.message, "left": to_jsonable(r.left), "right": to_jsonable(r.right)}


def _exact_array(t: Any) -> sp.Matrix:
    from . import _symbolic as sym

    arr = t.detach().double().numpy()
    flat = [sym.exact(v) for v in arr.reshape(-1)]
    if arr.ndim == 2:
        return sp.Matrix(arr.shape[0], arr.shape[1], flat)
    return sp.Matrix(flat) if arr.ndim else sp.Matrix([flat[0]])


def _nested(m: sp.Matrix, ndim: int, *, doubles: bool = False) -> Any:
    def one(v: Any) -> str:
        return repr(float(v)) if doubles and v.is_Rational and _from_float(v, 1) else text(v)
    rows = [[one(v) for v in row] for row in m.tolist()]
    return rows if ndim == 2 else [r[0] for r in rows] if ndim == 1 else rows[0][0]


def _entries(m: sp.Matrix) -> list[str]:
    return [text(v) for v in m]


def _eigenvalues(at: sp.Matrix) -> list[Any]:
    exact = all(v.is_Rational for v in at) and at.rows <= EXACT_EIG_SIZE
    if exact:
        try:
            vals = sorted(at.eigenvals(multiple=True), key=lambda v: (complex(v).real, complex(v).imag))
            if all(len(str(v)) <= MAX_CLOSED_FORM for v in vals):  # 9 - sqrt(97), not a page of radicals
                return vals
        except (NotImplementedError, ValueError, TypeError):
            pass
    import numpy as np

    arr = np.array(at.evalf(30).tolist(), dtype=float)
    found = np.linalg.eigvalsh(arr) if np.allclose(arr, arr.T) else np.linalg.eigvals(arr)
    return [sp.Float(float(v.real)) if not np.iscomplexobj(v) or v.imag == 0 else to_sympy(complex(v))
            for v in found]


def _at_display(m: sp.Matrix) -> tuple[sp.Matrix, bool]:
    """The exact values at the point as shown: small fractions, doubles and short closed forms
    (``9 + sqrt(97)``, ``exp(3/10)``) stay exact; fractions with a large denominator and long
    closed forms become 17-digit decimals. The flag says whether any entry was rounded."""
    rounded = False

    def one(v: Any) -> Any:
        nonlocal rounded
        if v.is_Rational and (v.q <= 1000 or _from_float(v)):
            return v
        if not v.is_Rational and len(text(v)) <= MAX_CLOSED_FORM:
            return v
        d = _decimal(v, 17)
        rounded = rounded or d is not v
        return d
    return m.applyfunc(one), rounded


def _approx(m: sp.Matrix) -> sp.Matrix | None:
    """Decimals for the entries that are shown in closed form (exp(3/10), 9 + sqrt(97)), else None."""
    if all(v.is_Rational or v.is_Float for v in m):
        return None
    return m.applyfunc(lambda v: v if v.is_Rational or v.is_Float else _decimal(v, 15))


def _decimal(v: Any, digits: int) -> Any:
    """``v`` to ``digits`` digits, or ``v`` itself when it has no number value (DiracDelta(0), nan)."""
    value = v.evalf(digits + 2)
    return sp.Float(value, digits) if value.is_Float or value.is_Rational else v


def _size(m: sp.Matrix) -> int:
    """Expression-tree nodes of all entries, counted without printing (stops past the limit)."""
    n = 0
    for e in m:
        for _ in sp.preorder_traversal(e):
            n += 1
            if n > CSE_NODES:
                return n
    return n


def _grid_or_lines(m: sp.Matrix, render: Any, label: str) -> str:
    if len(m) <= MAX_GRID:
        return str(render(m))
    lines = [f"{label}[{i},{j}] = {render(m[i, j])}" if m.cols > 1 else f"{label}[{i}] = {render(m[i, j])}"
             for i in range(m.rows) for j in range(m.cols) if m[i, j] != 0]
    return "\n".join(lines) or f"all {len(m)} entries are 0"


def _formula(m: sp.Matrix, render: Any, label: str) -> str:
    """The matrix, with common subexpressions pulled out when it is long."""
    if _size(m) <= CSE_NODES:
        return _grid_or_lines(m, render, label)
    subs, (reduced,) = sp.cse(m, symbols=sp.numbered_symbols("c"))
    where = [str(render(sp.Eq(s, e, evaluate=False))) for s, e in subs]
    return _grid_or_lines(reduced, render, label) + ("\nwhere\n" + "\n".join(where) if where else "")


def render_text(doc: dict[str, Any], *, tex: bool = False) -> str:
    render = latex if tex else pretty
    out = [f"{doc['id']}: {doc['title']}" if doc["title"] else doc["id"]]
    out += [f"  {n} = {src}" for n, src in doc["define"].items()]
    out += [f"  at {n} = {_point_line(v)}" for n, v in doc["point"].items()]
    for c in doc["checks"]:
        wrt = "" if c["kind"] == "value" else f", wrt {', '.join(c['wrt'])}"
        out.append(f"\n{c['name']} ({c['what']}{wrt}):")
        out.append(_formula(c["matrix"], render, c["kind"]))
        shown, rounded = _at_display(c["at_point"])
        out.append("at the point" + (" (decimals: rounded to 17 digits)" if rounded else "") + ":")
        out.append(_grid_or_lines(shown, render, c["kind"]))
        approx = _approx(shown)
        if approx is not None and approx != shown:
            out.append("≈ " + (str(_grid_or_lines(approx, render, c["kind"])) if tex
                               else _one_line(_nested(approx, 1 if approx.cols == 1 else 2))))
        if "eigenvalues" in c:
            vals = c["eigenvalues"]
            shown = [render(v) if tex else text_pretty(v) for v in vals]
            out.append("eigenvalues at the point: " + ", ".join(shown))
        if c.get("nondifferentiable"):
            out.append(f"nondifferentiable: {c['nondifferentiable']}; the values above only evaluate the formula")
            out.append(f"left: {c['left']}\nright: {c['right']}")
    return "\n".join(out)


def text_pretty(v: Any) -> str:
    """One-line pretty form of a scalar: ``9 - √97``."""
    s = pretty(v)
    return s if "\n" not in s else text(v)


def _point_line(value: Any) -> str:
    flat = list(_flatten(value))
    if len(flat) <= MAX_POINT:
        return _one_line(value)
    return f"[{', '.join(flat[:6])}, ...] ({len(flat)} values; --format json lists them all)"


def _flatten(value: Any) -> Any:
    if isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def _one_line(entries: Any) -> str:
    if isinstance(entries, list):
        return "[" + ", ".join(map(_one_line, entries)) + "]"
    return str(entries)


def to_json(doc: dict[str, Any]) -> str:
    out = {k: v for k, v in doc.items() if k != "checks"}
    out["checks"] = []
    for c in doc["checks"]:
        m, at = c["matrix"], c["at_point"]
        subs, (reduced,) = sp.cse(m, symbols=sp.numbered_symbols("c"))
        item = {"name": c["name"], "kind": c["kind"], "wrt": c["wrt"], "shape": c["shape"],
                "entries": _entries(m), "latex": latex(m),
                "cse": {"where": [[str(s), text(e)] for s, e in subs], "entries": _entries(reduced)},
                "at_point": _entries(at), "at_point_latex": latex(at),
                "at_point_approx": [_number(v) for v in at]}
        if c.get("nondifferentiable"):
            item.update(nondifferentiable=c["nondifferentiable"], left=c["left"], right=c["right"])
        if "eigenvalues" in c:
            item["eigenvalues"] = [text(v) for v in c["eigenvalues"]]
            item["eigenvalues_latex"] = [latex(v) for v in c["eigenvalues"]]
            item["eigenvalues_approx"] = [_number(v) for v in c["eigenvalues"]]
        out["checks"].append(item)
    return json.dumps(out, indent=2)


def _number(v: Any) -> float | list[float] | None:
    """A float, ``[re, im]`` for a complex value, or None where there is no number (a kink)."""
    try:
        z = complex(v.evalf(17))
    except (TypeError, ValueError):
        return None
    if z != z:  # nan
        return None
    return z.real if z.imag == 0 else [z.real, z.imag]


def main(args: argparse.Namespace) -> int:
    from ._spec import load
    from .cli import _expand

    for f in _expand(args.files)[0]:
        try:
            pf = load(f)
        except ProblemSpecError as exc:
            print(exc, file=sys.stderr)
            return 2
        for p in pf.problems:
            if p.id != args.id:
                continue
            if p.errors:
                print("\n".join(map(str, p.errors)), file=sys.stderr)
                return 2
            try:
                doc = describe(p)
                out = to_json(doc) if args.format == "json" else render_text(doc, tex=args.latex)
            except Exception as exc:  # an input or formula the loader accepted but cannot be built
                print(f"{p.file}:{p.line}:{p.col}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 2
            print(out)
            return 0
    print(f"no problem with id '{args.id}'", file=sys.stderr)
    return 2
