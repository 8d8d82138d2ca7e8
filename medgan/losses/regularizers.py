"""Gradient regularisers of the discriminator."""

from __future__ import annotations

from collections.abc import Callable

import torch

GRADIENT_NORMS = ("sample", "pixel")


def gradient_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    norm_over: str = "sample",
) -> torch.Tensor:
    """WGAN-GP penalty of Gulrajani et al. 2017 (arXiv:1704.00028), eq. 3, without its weight lambda.

    E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per sample.
    For a patch critic the gradient is that of the sum of its outputs.

    Args:
        discriminator: the critic, (B, C, *spatial) -> logits of any shape.
        real, fake: (B, C, *spatial) images; ``fake`` is detached here.
        norm_over: ``"sample"``: the norm of each sample's whole gradient (the paper); ``"pixel"``: the norm over
            channels at every pixel (voxel), averaged over pixels, as SinGAN's and ConSinGAN's
            ``calc_gradient_penalty`` computes it (``gradients.norm(2, dim=1)``). The pixel form allows a patch
            critic a range about sqrt(number of pixels) times larger.
    """
    if norm_over not in GRADIENT_NORMS:
        raise ValueError(f"norm_over must be one of {GRADIENT_NORMS}, got {norm_over!r}.")
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    logits = discriminator(mixed)
    (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1) if norm_over == "sample" else grad.norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean()
