"""Custom autograd code in the styles the first corpus (tests/userops, tests/test_check_userfn.py) does
not have: ``torch.library.custom_op``, ``once_differentiable`` under another decorator, in-place
``mark_dirty``, several outputs with ``set_materialize_grads(False)``, ``mark_non_differentiable``,
non-tensor arguments with ``None`` gradients and ``needs_input_grad``, a backward that calls another
Function, a numpy backward, Functions inside an ``nn.Module``.

Every builder takes ``bug``: 1.0 is the correct derivative, anything else scales it (a wrong one).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch.autograd.function import once_differentiable

STATE = {"bug": 1.0}  # read at backward time by the registered custom ops (registered once per process)


def _setup_x(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.save_for_backward(inputs[0])


def _cube_backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
    (x,) = ctx.saved_tensors
    return g * 3 * x**2 * STATE["bug"]


@torch.library.custom_op("verifier_userops2::cube", mutates_args=())
def cube_op(x: torch.Tensor) -> torch.Tensor:
    return x**3


@cube_op.register_fake
def _cube_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


cube_op.register_autograd(_cube_backward, setup_context=_setup_x)


def custom_op(bug: float = 1.0):
    """sum(x**3) through a torch.library custom op with register_autograd (no forward-mode rule)."""
    def fn(x):
        STATE["bug"] = bug
        return cube_op(x).sum()
    return fn


def logged(f):
    """A decorator that keeps ``__wrapped__``, as most do (functools.wraps)."""
    @functools.wraps(f)
    def inner(*args):
        return f(*args)
    return inner


def once_wrapped(bug: float = 1.0):
    """sum(x**3), its backward ``@once_differentiable`` under another decorator."""
    class OnceWrapped(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @logged
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2 * bug
    return lambda x: OnceWrapped.apply(x).sum()


def mark_dirty(bug: float = 1.0, new_style: bool = False):
    """sum((2 x)**2) with 2 x computed in place (``ctx.mark_dirty``), old or new style."""
    if not new_style:
        class MulInPlace(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x.mul_(2)

            @staticmethod
            def backward(ctx, g):
                return 2 * g * bug
        F: Any = MulInPlace
    else:
        class MulInPlaceNew(torch.autograd.Function):
            generate_vmap_rule = True

            @staticmethod
            def forward(x):
                return x.mul_(2)

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.mark_dirty(inputs[0])

            @staticmethod
            def backward(ctx, g):
                return 2 * g * bug

            @staticmethod
            def jvp(ctx, t):
                return t.mul_(2 * bug)
        F = MulInPlaceNew
    return lambda x: (F.apply(x.clone()) ** 2).sum()


def sin_cos(bug: float = 1.0):
    """sin(x) cos(x) from a Function with two outputs and ``set_materialize_grads(False)``."""
    class SinCos(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x.sin(), x.cos()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.set_materialize_grads(False)

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            out = torch.zeros_like(x)
            if gs is not None:
                out = out + gs * x.cos() * bug
            if gc is not None:
                out = out - gc * x.sin()
            return out

    def fn(x):
        s, c = SinCos.apply(x)
        return (s * c).sum()
    return fn


def sin_only(bug: float = 1.0):
    """sum(sin(x)): the second output of the same kind of Function is never used (its grad is None)."""
    fn = sin_cos(bug)
    F = fn.__closure__[0].cell_contents  # the SinCos class
    return lambda x: F.apply(x)[0].sum()


def sorted_weights(bug: float = 1.0):
    """sort as a Function, the indices marked non-differentiable: sum(sorted(x) * [1, 2, 3])."""
    class Sort(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return torch.sort(x)

        @staticmethod
        def setup_context(ctx, inputs, output):
            _, idx = output
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)

        @staticmethod
        def backward(ctx, gv, gi):
            (idx,) = ctx.saved_tensors
            return torch.zeros_like(gv).scatter(0, idx, gv * bug)

    def fn(x):
        v, _ = Sort.apply(x)
        return (v * torch.arange(1, 4, dtype=x.dtype)).sum()
    return fn


def scaled(bug: float = 1.0):
    """sum((k x)**2) with k and a mode string passed to the Function (their gradients None)."""
    class Scale(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x, k, mode):
            return x * k if mode == "mul" else x + k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k, ctx.mode = inputs[1], inputs[2]

        @staticmethod
        def backward(ctx, g):
            return (g * ctx.k * bug if ctx.mode == "mul" else g), None, None

        @staticmethod
        def jvp(ctx, t, tk, tmode):
            return t * ctx.k * bug if ctx.mode == "mul" else t
    return lambda x: (Scale.apply(x, 2.5, "mul") ** 2).sum()


def product(bug: float = 1.0):
    """sum(tanh(a * b)), a Function of two tensors whose backward honours ``needs_input_grad``."""
    class Mul(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(a, b):
            return a * b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = g * b if ctx.needs_input_grad[0] else None
            gb = g * a * bug if ctx.needs_input_grad[1] else None
            return ga, gb
    return lambda a, b: torch.tanh(Mul.apply(a, b)).sum()


def nested(bug: float = 1.0):
    """sum(x**2) whose backward calls another custom Function (so its double backward goes through it)."""
    class Twice(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return 2 * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, g):
            return 2 * g * bug

    class Square(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return Twice.apply(x) * g
    return lambda x: Square.apply(x).sum()


def numpy_backward(bug: float = 1.0):
    """sum(exp(x)) with a backward computed in numpy: right first derivatives, no graph for the second."""
    class NpExp(torch.autograd.Function):
        @staticmethod
        def forward(x):
            return x.exp()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * torch.from_numpy(y.detach().numpy() * bug)
    return lambda x: NpExp.apply(x).sum()


class Cube(torch.autograd.Function):
    bug = 1.0

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2 * Cube.bug


class CubeNet(torch.nn.Module):
    """tanh(W cube(x) + b) summed: a Function inside a module with fixed parameters."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2).to(dtype)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]]))
            self.lin.bias.fill_(0.125)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(Cube.apply(x))).sum()


CUBENET_FORMULA = "sum(tanh([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5]] @ x**3 + 0.125))"


def small_cube(bug: float = 1.0):
    """sum(3e-6 x**3) with the derivative of element 0 alone off by ``bug`` (a 1 % bug on a small entry)."""
    class SmallCube(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return 3e-6 * x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            scale = torch.ones_like(x)
            scale[0] = bug
            return g * 9e-6 * x**2 * scale
    return lambda x: SmallCube.apply(x).sum()


def elementwise(forward, derivative, bug: float = 1.0, name: str = "Elementwise"):
    """sum(f(x)) through a Function with backward and jvp ``derivative(x, y) * bug`` (y = f(x)), both
    written with torch ops (so twice differentiable) and a vmap rule."""
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    body = {"generate_vmap_rule": True,
            "forward": staticmethod(lambda x: forward(x)),
            "setup_context": staticmethod(setup_context),
            "backward": staticmethod(lambda ctx, g: g * derivative(*ctx.saved_tensors) * bug),
            "jvp": staticmethod(lambda ctx, t: t * derivative(*ctx.saved_tensors) * bug)}
    F = type(name, (torch.autograd.Function,), body)
    return lambda x: F.apply(x).sum()


EDGES = {  # name: (forward, derivative from x and y, formula, points that stress it)
    "tanh": (torch.tanh, lambda x, y: 1 - y * y, "sum(tanh(x))", [0.0, 1e-30, -1e-20, 9.0, 20.0, -30.0]),
    "softplus": (torch.nn.functional.softplus, lambda x, y: torch.sigmoid(x), "sum(softplus(x))",
                 [0.0, 15.0, -25.0, 1e-8]),
    "log": (torch.log, lambda x, y: 1 / x, "sum(log(x))", [1e-10, 1e10, 1.0]),
    "cube": (lambda x: x**3, lambda x, y: 3 * x**2, "sum(x**3)", [1e-12, 1e12, -3e-5, 0.0]),
    "exp": (torch.exp, lambda x, y: y, "sum(exp(x))", [-30.0, 0.0, 30.0]),
}


def cube_sum(x: torch.Tensor) -> torch.Tensor:
    """sum(x**3) through the custom op, for problem files
    (``implementation: tests.userops2.functions:cube_sum``)."""
    STATE["bug"] = 1.0
    return cube_op(x).sum()
