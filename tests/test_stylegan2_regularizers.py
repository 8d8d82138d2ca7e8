"""R1 and path-length penalties against hand computation on tiny networks; lazy-regularisation Adam settings and
the reference's default R1 gamma."""

from __future__ import annotations

import math

import pytest
import torch

from medgan.losses import PathLengthPenalty, R1Penalty, auto_r1_gamma, lazy_regularization_adam


def test_r1_penalty_of_a_quadratic_discriminator():
    """D(x) = sum(a * x^2): grad = 2 a x, penalty = sum((2 a x)^2) per sample; its gradient reaches ``a``."""
    a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    real = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    penalty, logits = R1Penalty()(lambda x: (a * x.square()).sum(dim=1, keepdim=True), real)
    expected = (2 * a.detach() * real).square().sum(dim=1)
    torch.testing.assert_close(penalty, expected)
    torch.testing.assert_close(logits[:, 0], (a.detach() * real.square()).sum(dim=1))
    (grad_a,) = torch.autograd.grad(penalty.sum(), a)  # d/da sum(4 a^2 x^2) = 8 a x^2
    torch.testing.assert_close(grad_a, 8 * a.detach() * real.square().sum(dim=0))


def test_path_length_penalty_of_a_linear_generator():
    """images = sum over layers of ws[:, l] @ M_l: J^T y for layer l is M_l y, so the length is computable by hand."""
    torch.manual_seed(0)
    num_ws, w_dim, pixels = 3, 4, (2, 3)
    matrices = torch.randn(num_ws, w_dim, math.prod(pixels))
    ws = torch.randn(2, num_ws, w_dim, requires_grad=True)
    images = torch.einsum("blw,lwp->bp", ws, matrices).reshape(2, 1, *pixels)
    penalty_module = PathLengthPenalty(decay=0.01)
    torch.manual_seed(5)
    penalty = penalty_module(images, ws)
    torch.manual_seed(5)
    y = torch.randn(2, 1, *pixels).flatten(1) / math.sqrt(math.prod(pixels))
    grads = torch.einsum("lwp,bp->blw", matrices, y)
    lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
    mean = 0.01 * lengths.mean()  # from pl_mean = 0
    torch.testing.assert_close(penalty, (lengths - mean).square())
    torch.testing.assert_close(penalty_module.pl_mean, mean)
    torch.testing.assert_close(penalty_module.last, (lengths - mean).square().mean())


def test_lazy_regularization_adjusts_lr_and_betas():
    params = [torch.nn.Parameter(torch.zeros(1))]
    adam = lazy_regularization_adam(params, 0.0025, (0.0, 0.99), 16)
    group = adam.param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert lazy_regularization_adam(params, 0.0025, (0.0, 0.99), 1).param_groups[0]["lr"] == pytest.approx(0.0025 / 2)
    assert lazy_regularization_adam(params, 0.0025, (0.0, 0.99), 0).param_groups[0]["lr"] == pytest.approx(0.0025 / 2)


def test_auto_gamma_as_the_reference():
    assert auto_r1_gamma([64, 64], 32) == pytest.approx(0.0256)
    assert auto_r1_gamma([80, 96, 112], 8) == pytest.approx(0.0002 * 112**2 / 8)
