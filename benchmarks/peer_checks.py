"""What a user would run instead of verifier, one process per (tool, case); timed by peers.py.

    python benchmarks/peer_checks.py data DIR CASE...          # inputs of each case -> DIR/CASE.npz
    python benchmarks/peer_checks.py TOOL CASE DIR/CASE.npz     # one check run; exit 0 pass, 1 fail

TOOL is one of:

  gradcheck   torch.autograd.gradcheck + gradgradcheck, float64 (finite differences)
  sympy       naive SymPy: expressions of Python floats' exact values, ``f.diff`` for the gradient,
              ``sympy.hessian`` and ``subs`` for the Hessian, then ``evalf``
  jax         jax.test_util.check_grads (fwd and rev modes), float64
  numdifftools  numdifftools.Gradient / Hessian against torch's autograd gradient and Hessian

Every tool checks what a verifier run of the same case checks, minus eigenvalues (no peer
has them): the gradient wrt all inputs of the case and the Hessian wrt ``x`` (``w`` for the
logistic loss). For the MLP that is the gradient wrt the weights and the Hessian wrt ``x``,
as in families.py. The inputs are the verifier's own values of the case (``data``), so all
tools check the same function at the same point.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def family(case: str) -> str:
    return case.split("-")[0]


# ---- the functions, in any array library (``xp``: torch, jax.numpy, numpy) -----------------

def fn(case: str, xp: Any, consts: dict[str, Any]) -> tuple[Any, list[str], str]:
    """(f(**inputs), gradient inputs, Hessian input) of the case."""
    fam = family(case)
    if fam == "rosenbrock":
        def f(x: Any) -> Any:
            return xp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        return f, ["x"], "x"
    if fam == "dense":
        W = consts["W"]

        def f(x: Any) -> Any:
            return xp.sum(xp.tanh(W @ x)) + xp.sum(x ** 2) ** 2
        return f, ["x"], "x"
    if fam == "logreg":
        X, y = consts["X"], consts["y"]

        def f(w: Any) -> Any:
            return xp.mean(xp.log(1 + xp.exp(-y * (X @ w))))
        return f, ["w"], "w"
    if fam == "mlp":
        def f(x: Any, W1: Any, b1: Any, W2: Any, b2: Any) -> Any:
            return xp.sum(W2 @ xp.tanh(W1 @ x + b1) + b2)
        return f, ["W1", "b1", "W2", "b2"], "x"
    raise SystemExit(f"unknown case {case}")


def split(case: str, data: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, constants) of a case's data."""
    consts = {"dense": ("W",), "logreg": ("X", "y")}.get(family(case), ())
    return ({k: v for k, v in data.items() if k not in consts}, {k: v for k, v in data.items() if k in consts})


def partial(f: Any, inputs: dict[str, Any], names: list[str]) -> Any:
    """f as a function of ``names`` only, the other inputs fixed."""
    def g(*args: Any) -> Any:
        return f(**{**inputs, **dict(zip(names, args))})
    return g


# ---- the tools --------------------------------------------------------------------------

def run_gradcheck(case: str, data: dict[str, np.ndarray]) -> bool:
    import torch

    ins, consts = split(case, data)
    f, gnames, hname = fn(case, torch, {k: torch.tensor(v, dtype=torch.float64) for k, v in consts.items()})
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in ins.items()}
    ok = torch.autograd.gradcheck(partial(f, t, gnames), tuple(t[n] for n in gnames), raise_exception=False)
    ok2 = torch.autograd.gradgradcheck(partial(f, t, [hname]), (t[hname],), raise_exception=False)
    return bool(ok and ok2)


def run_jax(case: str, data: dict[str, np.ndarray]) -> bool:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.test_util import check_grads

    ins, consts = split(case, data)
    f, gnames, hname = fn(case, jnp, {k: jnp.asarray(v) for k, v in consts.items()})
    j = {k: jnp.asarray(v) for k, v in ins.items()}
    try:
        check_grads(partial(f, j, gnames), tuple(j[n] for n in gnames), order=1, modes=("fwd", "rev"))
        check_grads(partial(f, j, [hname]), (j[hname],), order=2, modes=("fwd", "rev"))
    except AssertionError:
        return False
    return True


def run_numdifftools(case: str, data: dict[str, np.ndarray]) -> bool:
    import numdifftools as nd
    import torch

    ins, consts = split(case, data)
    f_np, gnames, hname = fn(case, np, consts)
    f_t, _, _ = fn(case, torch, {k: torch.tensor(v, dtype=torch.float64) for k, v in consts.items()})
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in ins.items()}
    ok = True
    for names, order in ((gnames, 1), ([hname], 2)):
        shapes = [np.shape(ins[n]) for n in names]
        sizes = [int(np.prod(s)) for s in shapes]
        z0 = np.concatenate([np.ravel(ins[n]) for n in names])

        def unflat(z: Any, lib: Any, names: list[str] = names, shapes: list[Any] = shapes,
                   sizes: list[int] = sizes) -> dict[str, Any]:
            parts, at = {}, 0
            for n, s, k in zip(names, shapes, sizes):
                parts[n] = z[at:at + k].reshape(s)
                at += k
            return parts

        def g_np(z: np.ndarray, names: list[str] = names) -> float:
            return float(f_np(**{**ins, **unflat(z, np)}))

        def g_t(z: Any, names: list[str] = names) -> Any:
            return f_t(**{**t, **unflat(z, torch)})

        z0t = torch.tensor(z0, dtype=torch.float64)
        if order == 1:
            fd, ad = nd.Gradient(g_np)(z0), torch.autograd.functional.jacobian(g_t, z0t).numpy()
        else:
            fd, ad = nd.Hessian(g_np)(z0), torch.autograd.functional.hessian(g_t, z0t).numpy()
        scale = max(1.0, float(np.abs(ad).max()))
        # our threshold (numdifftools has none): 1e-5 relative to the largest entry, as a user might pick
        ok = ok and bool(np.allclose(fd, ad, rtol=1e-5, atol=1e-5 * scale))
    return ok


def run_sympy(case: str, data: dict[str, np.ndarray]) -> bool:
    import sympy as sp

    ins, consts = split(case, data)

    def sym_array(name: str, v: np.ndarray) -> np.ndarray:
        out = np.empty(np.shape(v), dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = sp.Symbol(f"{name}{'_'.join(map(str, idx))}", real=True)
        return out

    def exact(v: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda a: sp.Rational(float(a)), otypes=[object])(np.asarray(v))

    class SymNp:  # the few numpy functions the cases use, on object arrays of SymPy expressions
        sum = staticmethod(lambda a: sp.Add(*np.ravel(a)))
        mean = staticmethod(lambda a: sp.Add(*np.ravel(a)) / np.size(a))
        tanh = staticmethod(np.vectorize(sp.tanh, otypes=[object]))
        exp = staticmethod(np.vectorize(sp.exp, otypes=[object]))
        log = staticmethod(np.vectorize(sp.log, otypes=[object]))

    f, gnames, hname = fn(case, SymNp, {k: exact(v) for k, v in consts.items()})
    syms = {k: sym_array(k, v) for k, v in ins.items()}
    expr = f(**syms)
    point = {s: sp.Rational(float(v)) for k in ins for s, v in zip(np.ravel(syms[k]), np.ravel(ins[k]))}
    gvars = [s for n in gnames for s in np.ravel(syms[n])]
    grad = [sp.N(expr.diff(s).subs(point), 30) for s in gvars]
    hess = sp.hessian(expr, list(np.ravel(syms[hname]))).subs(point).evalf(30)
    return all(g.is_finite for g in grad) and all(h.is_finite for h in hess)


TOOLS = {"gradcheck": run_gradcheck, "sympy": run_sympy, "jax": run_jax, "numdifftools": run_numdifftools}


def write_data(directory: Path, names: list[str]) -> None:
    """The verifier's own input and constant values of each family case, as float64 .npz."""
    import families
    import torch

    from verifier import _autodiff as ad
    from verifier._spec import loads

    cases = {c.name: c for c in families.cases()}
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (prob,) = loads(cases[name].text).problems
        dtype = ad.DTYPES[prob.dtype]
        vals = {**ad.materialize(prob.inputs, dtype), **ad.materialize(prob.constants, dtype)}
        np.savez(directory / f"{name}.npz", **{k: v.to(torch.float64).numpy() for k, v in vals.items()})


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "data":
        write_data(Path(argv[1]), argv[2:])
        return 0
    if len(argv) != 3 or argv[0] not in TOOLS:
        raise SystemExit(__doc__)
    tool, case, path = argv
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    ok = TOOLS[tool](case, data)
    print(f"{tool} {case}: {'pass' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
