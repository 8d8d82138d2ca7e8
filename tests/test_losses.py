import math

import pytest
import torch

from medgan.losses import AdversarialLoss, gradient_penalty

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x):
    return math.log1p(math.exp(x))


def test_bce_matches_hand_computation():
    loss = AdversarialLoss("bce")
    expected_d = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    expected_g = (softplus(-0.5) + softplus(3.0)) / 2
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected_d, rel=1e-6)
    assert loss.generator(FAKE).item() == pytest.approx(expected_g, rel=1e-6)


def test_bce_equals_binary_cross_entropy_with_logits():
    loss = AdversarialLoss("bce")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(REAL, torch.ones(2)) + bce(FAKE, torch.zeros(2))
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(expected.item(), rel=1e-6)


def test_hinge_matches_hand_computation():
    loss = AdversarialLoss("hinge")
    # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0]
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(1.0 + 0.75)
    assert loss.generator(FAKE).item() == pytest.approx(1.25)


def test_wgan_matches_hand_computation():
    loss = AdversarialLoss("wgan")
    assert loss.discriminator(REAL, FAKE).item() == pytest.approx(-1.25 - 0.5)
    assert loss.generator(FAKE).item() == pytest.approx(1.25)


def test_unknown_kind():
    with pytest.raises(ValueError, match="bce"):
        AdversarialLoss("lsgan")


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradient_penalty_of_linear_critic(spatial_dims):
    # D(x) = sum(w * x): its gradient is w everywhere, so the penalty is (||w|| - 1)^2 exactly.
    shape = (3, 1) + (4,) * spatial_dims
    weight = torch.randn(shape[1:])

    def critic(x):
        return (x * weight).flatten(1).sum(1)

    penalty = gradient_penalty(critic, torch.randn(shape), torch.randn(shape))
    assert penalty.item() == pytest.approx((weight.norm().item() - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_is_differentiable_in_critic_parameters():
    critic = torch.nn.Conv2d(1, 1, 3)
    penalty = gradient_penalty(lambda x: critic(x), torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8))
    penalty.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_pixel_gradient_penalty_of_linear_critic():
    # SinGAN's form: the gradient's norm over channels at each pixel, averaged: mean over pixels of (||w_p|| - 1)^2.
    shape = (2, 3, 4, 5)
    weight = torch.randn(shape[1:])

    def critic(x):
        return (x * weight).flatten(1).sum(1)

    penalty = gradient_penalty(critic, torch.randn(shape), torch.randn(shape), norm_over="pixel")
    expected = ((weight.norm(dim=0) - 1.0) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="pixel"):
        gradient_penalty(critic, torch.randn(shape), torch.randn(shape), norm_over="voxel")
