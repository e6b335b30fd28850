"""Nested torch.func Hessian paths are batched past a size, so they cannot build n**3 tensors."""

from __future__ import annotations

import pytest
import torch

from verifier import _autodiff as ad


def rosen_tanh(x):
    return torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2) + torch.sum(torch.tanh(x)) ** 2


def test_small_problems_use_torchs_own_call_and_large_ones_are_batched():
    assert ad.nested_chunk(100) is None          # 1e6 <= 2**22: unchanged
    assert ad.nested_chunk(300) == 2**22 // 300**2
    assert ad.nested_chunk(3000) == 1


@pytest.mark.parametrize("mode", ["jacfwd", "jacrev", "hessian_fwdrev"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batched_hessians_are_bit_identical_to_the_unbatched_ones(mode, dtype, monkeypatch):
    z0 = torch.rand(13, generator=torch.Generator().manual_seed(0), dtype=dtype)
    p = ad.FlatProblem(rosen_tanh, z0, True)
    whole = ad.hessian(p, mode)
    monkeypatch.setattr(ad, "NESTED_ELEMENTS", 13 * 13 * 4)  # batches of 4, 4, 4, 1 columns
    assert ad.nested_chunk(13) == 4
    batched = ad.hessian(p, mode)
    assert torch.equal(whole, batched)
    ref = torch.autograd.functional.hessian(rosen_tanh, z0)
    torch.testing.assert_close(batched, ref)


def test_columns_are_not_transposed():
    # a non-symmetric Jacobian: a transposed assembly would differ
    a = torch.arange(12.0, dtype=torch.float64).reshape(3, 4)

    def square(z):  # 4 -> 4 map with a non-symmetric Jacobian
        return torch.cat([a @ z**2, z[:1] * z[3:]])[:4]

    z0 = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    expected = torch.func.jacfwd(square)(z0)
    assert not torch.equal(expected, expected.T)
    assert torch.equal(ad._forward_columns(square, z0, 3), expected)
