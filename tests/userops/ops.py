"""Custom ops as an engineer keeps them: a numerically stable softplus, a fused MSE, and two
deliberately wrong ones (a backward with a sign bug, a forward off by a constant factor)."""

from __future__ import annotations

import torch


def fused_softplus(x: torch.Tensor) -> torch.Tensor:
    """sum(log(1 + exp(x))), stable for large |x|: log1p(exp(-|x|)) + relu(x)."""
    return (torch.log1p(torch.exp(-x.abs())) + torch.relu(x)).sum()


def fused_mse(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y_label: torch.Tensor) -> torch.Tensor:
    """mean((x @ w + b - y_label)**2); y_label is a constant of the problem."""
    return ((x @ w + b - y_label) ** 2).mean()


class _SoftplusSignBug(torch.autograd.Function):
    """softplus whose backward uses sigmoid(-x) instead of sigmoid(x)."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(x)

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: ANN001, ANN205
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        (x,) = ctx.saved_tensors
        return g * torch.sigmoid(-x)


def softplus_sign_bug(x: torch.Tensor) -> torch.Tensor:
    return _SoftplusSignBug.apply(x).sum()


def softplus_scaled(x: torch.Tensor) -> torch.Tensor:
    return 1.001 * torch.nn.functional.softplus(x).sum()


NOT_CALLABLE = 3
