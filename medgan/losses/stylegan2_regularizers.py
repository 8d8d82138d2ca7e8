"""StyleGAN2's regularisers: R1 on real images and path-length regularisation, both applied lazily.

- R1 (Mescheder et al., "Which Training Methods for GANs do actually Converge?", ICML 2018, eq. 9):
  ``gamma / 2 * ||grad_x D(x)||^2`` on real images.
- Path length (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020, Sec. 3.2, eq. 4):
  ``(||J_w^T y||_2 - a)^2`` with y ~ N(0, I) / sqrt(number of pixels) an image-shaped random direction, J_w the
  Jacobian of the generated image with respect to the ws, and ``a`` a running mean of the lengths (decay 0.01).
- Lazy regularisation (paper Sec. 3.1): the penalties run every ``interval`` steps with their weight multiplied by
  the interval; the optimiser's learning rate and Adam betas are adjusted by ``interval / (interval + 1)``
  (:func:`lazy_regularization_adam`), as stylegan2-ada-pytorch's ``training_loop`` does.

Both penalties are modules with buffers (the running mean ``pl_mean``, the last value ``last``) so they are saved in
a checkpoint and a resumed run continues with the same state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["PathLengthPenalty", "R1Penalty", "auto_r1_gamma", "lazy_regularization_adam"]


def auto_r1_gamma(image_shape: Sequence[int], batch_size: int) -> float:
    """stylegan2-ada-pytorch's ``auto`` config: gamma = 0.0002 * resolution^2 / batch size, with the resolution
    the largest side of the image (e.g. 0.0256 at 64 px and batch 32)."""
    return 0.0002 * max(image_shape) ** 2 / batch_size


def lazy_regularization_adam(
    params, lr: float, betas: Sequence[float], interval: int, eps: float = 1e-8
) -> torch.optim.Adam:
    """Adam for a network regularised every ``interval`` steps: learning rate ``lr * r`` and betas ``beta ** r``
    with ``r = interval / (interval + 1)`` (paper Sec. 3.1, reference ``training_loop``): the separate regularisation
    step taken every ``interval`` steps counts in the budget, also at ``interval`` 1 (r = 1/2); ``interval`` 0 is
    taken as 1, as :class:`medgan.engines.StyleGAN2Trainer` then regularises every iteration. Fused (one kernel per
    step for all parameters), as every bundle's Adam."""
    steps = max(interval, 1)
    ratio = steps / (steps + 1)
    return torch.optim.Adam(params, lr=lr * ratio, betas=tuple(beta**ratio for beta in betas), eps=eps, fused=True)


class R1Penalty(nn.Module):
    """R1 penalty ``||grad_x D(x)||^2`` per real sample (without gamma / 2).

    Buffer ``last``: the batch mean of the last penalty computed (for logging between lazy steps).

    Shapes:
        forward(discriminator, real (B, C, *spatial)) -> (penalty (B,), logits of D(real)).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("last", torch.zeros(()))

    def forward(
        self, discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        real = real.detach().requires_grad_(True)
        logits = discriminator(real)
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grad.square().flatten(1).sum(dim=1)
        self.last.copy_(penalty.detach().mean())
        return penalty, logits


class PathLengthPenalty(nn.Module):
    """Path-length penalty ``(||J_w^T y|| - a)^2`` per sample; updates the running mean ``a`` (buffer ``pl_mean``).

    Args:
        decay: weight of the new batch mean in ``pl_mean`` (0.01 in the paper).

    Shapes:
        forward(images (B, C, *spatial) computed from ws, ws (B, num_ws, w_dim)) -> (B,). The length is
        ``sqrt(mean over layers of sum over w_dim of g^2)`` as in the reference, with y scaled by
        1 / sqrt(prod(spatial)) (the reference's 1 / sqrt(H * W), extended to n-D).
    """

    def __init__(self, decay: float = 0.01) -> None:
        super().__init__()
        self.decay = decay
        self.register_buffer("pl_mean", torch.zeros(()))
        self.register_buffer("last", torch.zeros(()))

    def forward(self, images: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        noise = torch.randn_like(images) / math.sqrt(math.prod(images.shape[2:]))
        (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), self.decay)  # not detached in the penalty, as the reference
        self.pl_mean.copy_(pl_mean.detach())
        penalty = (lengths - pl_mean).square()
        self.last.copy_(penalty.detach().mean())
        return penalty
