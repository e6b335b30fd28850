"""Verdict quality: does a checker flag wrong derivatives, and only those?

A labelled corpus of small torch functions, each either correct or carrying one injected
derivative bug, in every custom ``torch.autograd.Function`` style the torch docs describe
(https://pytorch.org/docs/stable/notes/extending.html and ``notes/extending.func``) plus plain
torch code, in float32 and float64. Each case goes to ``verifier.check`` at its defaults (no
tolerance, no modes: only the check kinds are chosen), to ``torch.autograd.gradcheck`` and to
``torch.autograd.gradgradcheck`` at theirs. Prints the confusion table (caught / missed per bug
class, false alarms on correct code, per dtype) and the median seconds per case for each tool.

    python benchmarks/verdicts.py            # everything (a few minutes on 2 cores)
    python benchmarks/verdicts.py --quick    # one function per class
    python benchmarks/verdicts.py --json out.json --show-alarms

Target at defaults: no false alarm, and every bug larger than 10x the dtype's rounding level
caught (the ``must`` column: relative size above 10 * unit roundoff of the dtype, i.e. 6e-7 in
float32 and 1.1e-15 in float64; the bugs in a single element, the second derivative, the sign
or a transposition are all far above it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable

import verifier

Tensor = torch.Tensor
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}
DEFAULT_CHECKS = ("value", "gradient", "hessian")  # verifier.check's default kinds
STYLES = ("old-ctx", "old-once", "setup", "setup-jvp", "vmap-rule", "vmap-static", "plain")


# ---- bug injection: the derivative a backward (or jvp) returns --------------------------------

def _mask0(x: Tensor) -> Tensor:
    m = torch.zeros_like(x)
    m[..., 0] = 1
    return m


BUGS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    # (x, the right elementwise derivative d) -> the derivative the buggy code returns
    "correct": lambda x, d: d,
    "rel 1e-2": lambda x, d: d * (1 + 1e-2),
    "rel 1e-3": lambda x, d: d * (1 + 1e-3),
    "rel 1e-5": lambda x, d: d * (1 + 1e-5),
    "rel 1e-7": lambda x, d: d * (1 + 1e-7),
    "rel 1e-9": lambda x, d: d * (1 + 1e-9),
    "one element 1e-3": lambda x, d: d * (1 + 1e-3 * _mask0(x)),
    # the value x - x.detach() is exactly 0, so the first derivative is exact; its derivative is not
    "2nd derivative only": lambda x, d: d + 0.05 * (x - x.detach()),
    "wrong sign": lambda x, d: -d,
    "delicate point": lambda x, d: d,
}
BUG_SIZE = {"rel 1e-2": 1e-2, "rel 1e-3": 1e-3, "rel 1e-5": 1e-5, "rel 1e-7": 1e-7, "rel 1e-9": 1e-9}


# ---- elementwise functions and the Function styles -------------------------------------------

@dataclass
class Elementwise:
    name: str
    phi: Callable[[Tensor], Tensor]
    dphi: Callable[[Tensor], Tensor]


CUBE = Elementwise("cube", lambda x: x**3, lambda x: 3 * x**2)
TANH = Elementwise("tanh", torch.tanh, lambda x: 1 - torch.tanh(x) ** 2)


def function(style: str, f: Elementwise, bug: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """An elementwise y = phi(x) whose derivative is ``bug(x, phi'(x))``, written in ``style``."""
    def deriv(x: Tensor) -> Tensor:
        return bug(x, f.dphi(x))

    if style == "plain":  # value phi(x) exactly; first derivative deriv(x) (straight-through term)
        return lambda x: f.phi(x) + (x - x.detach()) * (deriv(x) - f.dphi(x))

    if style in ("old-ctx", "old-once"):
        def bwd(ctx: Any, g: Tensor) -> Tensor:
            (x,) = ctx.saved_tensors
            return g * deriv(x)

        def fwd(ctx: Any, x: Tensor) -> Tensor:
            ctx.save_for_backward(x)
            return f.phi(x)

        body = {"forward": staticmethod(fwd),
                "backward": staticmethod(once_differentiable(bwd) if style == "old-once" else bwd)}
        return type(f"{f.name}_{style}", (torch.autograd.Function,), body).apply

    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g * deriv(x)

    body: dict[str, Any] = {"forward": staticmethod(lambda x: f.phi(x)),
                            "setup_context": staticmethod(setup_context), "backward": staticmethod(backward)}
    if style == "setup-jvp":
        body["generate_vmap_rule"] = True
        body["jvp"] = staticmethod(lambda ctx, t: t * deriv(ctx.saved_tensors[0]))
    elif style == "vmap-rule":
        body["generate_vmap_rule"] = True
    cls: Any = type(f"{f.name}_{style}", (torch.autograd.Function,), body)
    if style == "vmap-static":
        def vmap(info: Any, in_dims: tuple[int | None], x: Tensor) -> tuple[Tensor, int]:
            return cls.apply(x.movedim(in_dims[0], 0) if in_dims[0] is not None else x), 0
        cls.vmap = staticmethod(vmap)
    return cls.apply


def logsumexp(style: str, bug: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """y = logsumexp(x) over the last dimension; its gradient softmax(x) passed through ``bug``."""
    def deriv(x: Tensor) -> Tensor:
        return bug(x, torch.softmax(x, -1))

    def lse(x: Tensor) -> Tensor:
        return torch.logsumexp(x, -1)

    if style == "plain":
        return lambda x: lse(x) + ((x - x.detach()) * (deriv(x) - torch.softmax(x, -1))).sum(-1)

    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return g.unsqueeze(-1) * deriv(x)

    if style in ("old-ctx", "old-once"):
        def fwd(ctx: Any, x: Tensor) -> Tensor:
            ctx.save_for_backward(x)
            return lse(x)

        body = {"forward": staticmethod(fwd),
                "backward": staticmethod(once_differentiable(backward) if style == "old-once" else backward)}
        return type(f"lse_{style}", (torch.autograd.Function,), body).apply

    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    body: dict[str, Any] = {"forward": staticmethod(lse), "setup_context": staticmethod(setup_context),
                            "backward": staticmethod(backward)}
    if style == "setup-jvp":
        body["generate_vmap_rule"] = True
        body["jvp"] = staticmethod(lambda ctx, t: (deriv(ctx.saved_tensors[0]) * t).sum(-1))
    elif style == "vmap-rule":
        body["generate_vmap_rule"] = True
    cls: Any = type(f"lse_{style}", (torch.autograd.Function,), body)
    if style == "vmap-static":
        cls.vmap = staticmethod(lambda info, in_dims, x: (cls.apply(x.movedim(in_dims[0], 0)), 0))
    return cls.apply


def linear(style: str, W: Tensor, transposed: bool) -> Callable[[Tensor], Tensor]:
    """y = W x; with ``transposed`` the vector-Jacobian product uses W instead of W^T."""
    back = W.T if transposed else W   # J^T g = W^T g = g @ W (batched g: rows)
    tang = W if transposed else W.T   # J t = W t = t @ W^T
    if style == "plain":
        return lambda x: x @ W.T + (x - x.detach()) @ (tang - W.T) if transposed else x @ W.T

    if style in ("old-ctx", "old-once"):
        def bwd(ctx: Any, g: Tensor) -> Tensor:
            return g @ back

        body = {"forward": staticmethod(lambda ctx, x: x @ W.T),
                "backward": staticmethod(once_differentiable(bwd) if style == "old-once" else bwd)}
        return type(f"lin_{style}", (torch.autograd.Function,), body).apply
    body = {"forward": staticmethod(lambda x: x @ W.T),
            "setup_context": staticmethod(lambda ctx, inputs, output: None),
            "backward": staticmethod(lambda ctx, g: g @ back)}
    if style == "setup-jvp":
        body["generate_vmap_rule"] = True
        body["jvp"] = staticmethod(lambda ctx, t: t @ tang)
    elif style == "vmap-rule":
        body["generate_vmap_rule"] = True
    cls: Any = type(f"lin_{style}", (torch.autograd.Function,), body)
    if style == "vmap-static":
        cls.vmap = staticmethod(lambda info, in_dims, x: (cls.apply(x.movedim(in_dims[0], 0)), 0))
    return cls.apply


# ---- the corpus -------------------------------------------------------------------------------

@dataclass
class Case:
    label: str          # bug class ("correct", "delicate point" are the correct ones)
    style: str
    dtype: torch.dtype
    name: str
    fn: Callable[..., Tensor]
    formula: str
    inputs: dict[str, Tensor]
    checks: tuple[str, ...]
    constants: dict[str, Tensor] | None = None

    @property
    def buggy(self) -> bool:
        return self.label not in ("correct", "delicate point")

    @property
    def must_catch(self) -> bool:
        return self.buggy and BUG_SIZE.get(self.label, 1.0) > 10 * UNIT_ROUNDOFF[self.dtype]


def corpus(quick: bool = False) -> list[Case]:
    out = []
    x16 = torch.randn(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([0.7, -1.3, 2.1, 0.4], dtype=dtype)
        for style in STYLES:
            for label, bug in BUGS.items():
                if label == "2nd derivative only" and style == "old-once":
                    continue  # torch cannot take a second derivative through it at all
                if label == "delicate point":
                    F = function(style, CUBE, bug)
                    near = torch.tensor([1000.5, 999.25, 1000.875], dtype=dtype)
                    out.append(Case(label, style, dtype, "cube near 1000", lambda x, F=F: (F(x) - 3e6 * x).sum(),
                                    "sum(x**3 - 3000000*x)", {"x": near}, ("value", "gradient", "hessian")))
                    if not quick:
                        T = function(style, TANH, bug)
                        far = torch.tensor([3.0, 4.5, -6.0], dtype=dtype)
                        out.append(Case(label, style, dtype, "tanh saturated", lambda x, T=T: T(x).sum(),
                                        "sum(tanh(x))", {"x": far}, ("value", "gradient", "hessian")))
                        out.append(Case(label, style, dtype, "logsumexp near 1000", logsumexp(style, bug),
                                        "logsumexp(x)", {"x": (1000 + x16[:12]).to(dtype)}, DEFAULT_CHECKS))
                    continue
                F = function(style, CUBE, bug)
                out.append(Case(label, style, dtype, "sum(x**3)", lambda x, F=F: F(x).sum(), "sum(x**3)",
                                {"x": x}, ("value", "gradient", "hessian")))
                if not quick:
                    T = function(style, TANH, bug)
                    out.append(Case(label, style, dtype, "sum(tanh(x)*x)", lambda x, T=T: (T(x) * x).sum(),
                                    "sum(tanh(x)*x)", {"x": x}, ("value", "gradient", "hessian")))
                    out.append(Case(label, style, dtype, "logsumexp", logsumexp(style, bug), "logsumexp(x)",
                                    {"x": x}, DEFAULT_CHECKS))
                    # 16 parameters, a dense Hessian: the Function inside plain torch code
                    out.append(Case(label, style, dtype, "log(1+sum(tanh^2)) n=16",
                                    lambda x, T=T: torch.log(1 + (T(x) ** 2).sum()),
                                    "log(1 + sum(tanh(x)**2))", {"x": x16.to(dtype)}, DEFAULT_CHECKS))
            W = torch.tensor([[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0], [0.25, 0.0, 1.5]], dtype=dtype)
            xs = torch.tensor([0.3, -0.8, 1.1], dtype=dtype)
            for label, tr in (("correct", False), ("transposed", True)):
                L = linear(style, W, tr)
                out.append(Case(label, style, dtype, "sin(W @ x)", lambda x, L=L: torch.sin(L(x)),
                                "sin(W @ x)", {"x": xs}, ("value", "jacobian"), {"W": W}))
    return out


# ---- the tools --------------------------------------------------------------------------------

def run_verifier(case: Case) -> tuple[bool, str]:
    """(flagged, note). Flagged: the check did not pass (a failure, or an error)."""
    try:
        kw: dict[str, Any] = {} if case.checks == DEFAULT_CHECKS else {"checks": list(case.checks)}  # defaults
        rep = verifier.check(case.fn, case.formula, case.inputs, constants=case.constants, **kw)
    except Exception as exc:  # noqa: BLE001 - a tool error is a verdict too
        return True, f"raised {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
    if rep.passed:
        return False, ""
    ok = ("passed", "nondifferentiable", "skipped")
    bad = [f"{c.kind}:{c.status}" for c in rep.checks if c.status not in ok]
    return True, " ".join(bad)


def _torch_tool(check: Callable[..., bool], case: Case) -> tuple[bool, str]:
    x = case.inputs["x"].detach().clone().requires_grad_(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = check(case.fn, (x,), raise_exception=False)
    except Exception as exc:  # noqa: BLE001
        return True, f"raised {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
    return (not ok), ""


TOOLS: dict[str, Callable[[Case], tuple[bool, str]]] = {
    "verifier": run_verifier,
    "gradcheck": lambda c: _torch_tool(torch.autograd.gradcheck, c),
    "gradgradcheck": lambda c: _torch_tool(torch.autograd.gradgradcheck, c),
}


# ---- the table --------------------------------------------------------------------------------

def render(rows: list[dict[str, Any]]) -> str:
    tools = list(TOOLS)
    labels = list(dict.fromkeys(r["label"] for r in rows))
    lines = []
    head = f"{'class':22s} {'dtype':8s} {'n':>4s} {'must':>4s} " + " ".join(f"{t:>16s}" for t in tools)
    lines += [head, "-" * len(head)]
    totals: dict[str, dict[str, int]] = {t: defaultdict(int) for t in tools}
    for label in labels:
        for dt in ("float32", "float64"):
            sel = [r for r in rows if r["label"] == label and r["dtype"] == dt]
            if not sel:
                continue
            buggy, must = sel[0]["buggy"], sel[0]["must"]
            cells = []
            for t in tools:
                flagged = sum(r[t]["flagged"] for r in sel)
                if buggy:
                    cells.append(f"{flagged:3d} caught {len(sel) - flagged:3d} miss")
                    totals[t]["caught"] += flagged
                    totals[t]["missed"] += len(sel) - flagged
                    if must:
                        totals[t]["must_missed"] += len(sel) - flagged
                else:
                    cells.append(f"{flagged:3d} false alarm")
                    totals[t]["false"] += flagged
            flag = "yes" if must else ("-" if not buggy else "no")
            lines.append(f"{label:22s} {dt:8s} {len(sel):4d} {flag:>4s} " + " ".join(f"{c:>16s}" for c in cells))
    lines.append("-" * len(head))
    for key, name in (("false", "false alarms"), ("must_missed", "missed, must catch"), ("caught", "caught (all)"),
                      ("missed", "missed (all)")):
        lines.append(f"{name:22s} {'':8s} {'':4s} {'':4s} " + " ".join(f"{totals[t][key]:16d}" for t in tools))
    med = {t: statistics.median(r[t]["seconds"] for r in rows) for t in tools}
    lines.append(f"{'median s per case':22s} {'':8s} {'':4s} {'':4s} "
                 + " ".join(f"{med[t]:16.4f}" for t in tools))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one function per class (about a third of the cases)")
    ap.add_argument("--json", help="write every case's verdicts to this file")
    ap.add_argument("--show-alarms", action="store_true", help="list the verifier's false alarms and misses")
    ap.add_argument("-k", default="", help="only cases whose class, style or name contains this text")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cases = [c for c in corpus(args.quick) if args.k in f"{c.label} {c.style} {c.name}"]
    rows = []
    for i, case in enumerate(cases):
        row: dict[str, Any] = {"label": case.label, "style": case.style, "dtype": str(case.dtype)[6:],
                               "name": case.name, "buggy": case.buggy, "must": case.must_catch}
        for tool, run in TOOLS.items():
            t0 = time.perf_counter()
            flagged, note = run(case)
            row[tool] = {"flagged": flagged, "note": note, "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"\r{i + 1}/{len(cases)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"verifier {verifier.__version__}, torch {torch.__version__}; {len(cases)} cases, styles: "
          + ", ".join(STYLES))
    print(render(rows))
    if args.show_alarms:
        for r in rows:
            v = r["verifier"]
            if v["flagged"] != r["buggy"] and (not r["buggy"] or r["must"]):
                kind = "FALSE ALARM" if v["flagged"] else "MISSED"
                print(f"{kind:11s} {r['label']:20s} {r['style']:12s} {r['dtype']:8s} {r['name']:16s} {v['note']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
