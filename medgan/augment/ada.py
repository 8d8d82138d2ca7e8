"""Adaptive discriminator augmentation (ADA) in 2D and 3D, for single- or multi-channel scans (Karras et al.,
"Training Generative Adversarial Networks with Limited Data", NeurIPS 2020; stylegan2-ada-pytorch's ``AugmentPipe``
and its ``training_loop`` tuning).

Every transform is applied to each image independently with probability ``p``; ``p`` is tuned from the overfitting
heuristic r_t = E[sign(D(augmented real))]: every ``interval`` iterations ``p += sign(r_t - target) * (batch size *
interval) / (kimg * 1000)``, clamped to [0, 1], so it can go from 0 to 1 in ``kimg`` thousand real images. With
``target`` None, ``p`` stays fixed.

The pipeline follows the reference's 'bgc' order and strengths, adapted to medical images:

- geometric: ``flip`` (each allowed anatomical axis, then mirror with probability 1/2; the reference's x-flip and
  90-degree rotations would swap left and right hemispheres or stand a brain on its head, so only the axes the user
  names flip), ``integer_translation`` (up to 1/8 of the size per axis, whole pixels), ``scale`` (isotropic,
  log2-normal, std 0.2), ``rotate`` (uniform angle in (-pi, pi]; 2D: before and after the anisotropic scaling, each
  with probability 1 - sqrt(1 - p) as in the reference; 3D: about each of the three axes, before and after, each
  with probability 1 - (1 - p)^(1/6)), ``aniso`` (log2-normal std 0.2 per axis, geometric mean 1: the reference's
  (s, 1/s) in n-D), ``fractional_translation`` (normal, std 1/8 of the size per axis). All geometric transforms
  are composed into one matrix per image and applied once, with reflection at the border, by
  :func:`medgan.augment.geometry.resample`: exactly where the matrix maps pixels onto pixels, otherwise at twice the
  resolution as the reference (which upsamples with the sym6 wavelet's filter, here a Lanczos-3 filter), since
  bilinear resampling alone blurs (a half-pixel shift kept 69 % of a slice's gradient energy; 98 % at 2x);
- intensity: ``brightness`` (add N(0, 0.2^2)), ``contrast`` (log2-normal factor, std 0.5, about the image's mean:
  the reference scales about 0, which for scans in [-1, 1] would move the background), ``gamma`` (medgan's: the
  image mapped to [0, 1] raised to a log2-normal power, std 0.2, and mapped back; not in the reference), ``cutout``
  (off by default, as in 'bgc': a box of half the size per axis at a uniform position, filled with -1, the
  background, where the reference fills 0).
The reference's luma flip, hue and saturation rotations assume colour photographs and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributed as dist

from medgan.augment import geometry
from medgan.augment.base import Augmentation, flip_axes

ADA_OPS = (
    "flip", "integer_translation", "scale", "rotate", "aniso", "fractional_translation",
    "brightness", "contrast", "gamma", "cutout",
)  # fmt: skip
DEFAULT_ADA_OPS = ADA_OPS[:-1]  # cutout off, as in the reference's 'bgc'
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, GAMMA_STD, CUTOUT_SIZE = 0.2, 0.5, 0.2, 0.5


class AdaptiveAugmentation(Augmentation):
    """ADA for (B, C, *spatial) images in [-1, 1] (see the module docstring).

    Args:
        spatial_dims: 2 or 3.
        p: the starting (or, with ``target`` None, fixed) probability, in [0, 1].
        target: the r_t the tuning aims at (the reference's 0.6), in (0, 1); None keeps ``p`` fixed.
        interval: iterations between adjustments (4).
        kimg: thousands of real images over which ``p`` can rise from 0 to 1 (500).
        flips: anatomical axes that may be mirrored (:data:`medgan.augment.base.AXIS_NAMES`).
        ops: the transforms used, a subset of :data:`ADA_OPS`.
    """

    def __init__(
        self,
        spatial_dims: int,
        p: float = 0.0,
        target: float | None = 0.6,
        interval: int = 4,
        kimg: float = 500.0,
        flips: Sequence[str] = ("left-right",),
        ops: Sequence[str] = DEFAULT_ADA_OPS,
    ) -> None:
        super().__init__()
        unknown = sorted(set(ops) - set(ADA_OPS))
        if unknown:
            raise ValueError(f"unknown ADA transform {unknown[0]!r}; use any of {', '.join(ADA_OPS)}.")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}.")
        self.spatial_dims = spatial_dims
        self.flip_axes = flip_axes(flips, spatial_dims)
        self.ops = frozenset(ops)
        self.target = target
        self.interval = interval
        self.kimg = kimg
        self.register_buffer("strength", torch.tensor(float(p), dtype=torch.float64))
        self.register_buffer("sign_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sign_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("iterations", torch.zeros((), dtype=torch.int64))

    @property
    def p(self) -> torch.Tensor:
        return self.strength.float()

    # --------------------------------------------------------------------------------------------------- tuning
    def observe(self, real_logits: torch.Tensor) -> None:
        if self.target is not None:
            signs = real_logits.detach().float().sign()
            self.sign_sum += signs.sum().double()
            self.sign_count += signs.numel()

    def step(self, batch_size: int) -> None:
        self.iterations += 1
        if self.target is None or int(self.iterations) % self.interval != 0:
            return
        totals = torch.stack([self.sign_sum, self.sign_count])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(totals)
        if float(totals[1]) > 0:
            r_t = totals[0] / totals[1]
            adjust = torch.sign(r_t - self.target) * (batch_size * self.interval) / (self.kimg * 1000)
            self.strength.copy_((self.strength + adjust).clamp(0.0, 1.0))
        self.sign_sum.zero_()
        self.sign_count.zero_()

    # ------------------------------------------------------------------------------------------------ transforms
    def _chosen(self, batch_size: int, probability: float, device: torch.device) -> torch.Tensor:
        """(B,) bool: which images get a transform applied with ``probability``."""
        return torch.rand(batch_size, device=device) < probability

    def geometric(self, batch_size: int, sizes: Sequence[int], device: torch.device) -> torch.Tensor:
        """(B, n + 1, n + 1) composed transforms in pixels (``affine_grid`` order, see ``geometry``)."""
        n, p, ops = len(sizes), float(self.strength), self.ops
        grid_sizes = torch.tensor(list(sizes)[::-1], device=device, dtype=torch.float32)
        matrix = geometry.identity(batch_size, n, device)

        def where(chosen: torch.Tensor, value: torch.Tensor, neutral: float) -> torch.Tensor:
            return torch.where(chosen.view(-1, *[1] * (value.ndim - 1)), value, torch.full_like(value, neutral))

        if "flip" in ops:
            for axis in self.flip_axes:
                mirror = 1 - 2 * torch.randint(0, 2, (batch_size,), device=device).float()
                factors = torch.ones(batch_size, n, device=device)
                factors[:, geometry.grid_axis(axis, n)] = where(self._chosen(batch_size, p, device), mirror, 1.0)
                matrix = matrix @ geometry.scaling(factors)
        if "integer_translation" in ops:
            shift = (torch.rand(batch_size, n, device=device) * 2 - 1) * XINT_MAX
            shift = torch.round(shift * grid_sizes)
            matrix = matrix @ geometry.translation(where(self._chosen(batch_size, p, device), shift, 0.0))
        if "scale" in ops:
            factor = torch.exp2(torch.randn(batch_size, 1, device=device) * SCALE_STD).expand(batch_size, n)
            matrix = matrix @ geometry.scaling(where(self._chosen(batch_size, p, device), factor, 1.0))
        planes = [(0, 1)] if n == 2 else [(0, 1), (0, 2), (1, 2)]
        p_rotate = 1 - (1 - p) ** (1 / (2 * len(planes)))
        if "rotate" in ops:
            matrix = matrix @ self._rotations(batch_size, n, planes, p_rotate, device)
        if "aniso" in ops:
            logs = torch.randn(batch_size, n, device=device) * ANISO_STD
            factor = torch.exp2(logs - logs.mean(dim=1, keepdim=True))
            matrix = matrix @ geometry.scaling(where(self._chosen(batch_size, p, device), factor, 1.0))
        if "rotate" in ops:
            matrix = matrix @ self._rotations(batch_size, n, planes, p_rotate, device)
        if "fractional_translation" in ops:
            shift = torch.randn(batch_size, n, device=device) * XFRAC_STD * grid_sizes
            matrix = matrix @ geometry.translation(where(self._chosen(batch_size, p, device), shift, 0.0))
        return matrix

    def _rotations(self, batch_size, n, planes, probability, device) -> torch.Tensor:
        matrix = geometry.identity(batch_size, n, device)
        for plane in planes:
            angle = (torch.rand(batch_size, device=device) * 2 - 1) * math.pi * ROTATE_MAX
            angle = torch.where(self._chosen(batch_size, probability, device), angle, torch.zeros_like(angle))
            matrix = matrix @ geometry.rotation(angle, n, plane)
        return matrix

    def intensity(self, images: torch.Tensor) -> torch.Tensor:
        """Brightness, contrast, gamma and cutout, each per image with probability ``p``."""
        batch_size, device, p, ops = images.shape[0], images.device, float(self.strength), self.ops
        shape = (batch_size, *[1] * (images.ndim - 1))

        def chosen() -> torch.Tensor:
            return self._chosen(batch_size, p, device).view(shape)

        if "brightness" in ops:
            offset = torch.randn(shape, device=device) * BRIGHTNESS_STD
            images = torch.where(chosen(), images + offset, images)
        if "contrast" in ops:
            factor = torch.exp2(torch.randn(shape, device=device) * CONTRAST_STD)
            mean = images.mean(dim=tuple(range(1, images.ndim)), keepdim=True)
            images = torch.where(chosen(), (images - mean) * factor + mean, images)
        if "gamma" in ops:
            power = torch.exp2(torch.randn(shape, device=device) * GAMMA_STD)
            unit = ((images + 1) / 2).clamp(min=1e-4)  # the pow's gradient at 0 is infinite for powers below 1
            images = torch.where(chosen(), unit.pow(power) * 2 - 1, images)
        if "cutout" in ops:
            images = torch.where(chosen(), cutout(images, CUTOUT_SIZE, fill=-1.0), images)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) -> same shape, each image transformed with probability ``p`` per transform."""
        if float(self.strength) == 0.0:
            return images
        matrix = self.geometric(images.shape[0], images.shape[2:], images.device)
        return self.intensity(geometry.resample(images, matrix))


def cutout(images: torch.Tensor, size: float, fill: float) -> torch.Tensor:
    """``images`` with one box per image set to ``fill``: ``size`` of the image's extent along every axis, centred at
    a uniform position (it may be cut by the border)."""
    batch_size, n = images.shape[0], images.ndim - 2
    centre = torch.rand(batch_size, n, device=images.device)
    inside = torch.ones((batch_size, *images.shape[2:]), dtype=torch.bool, device=images.device)
    for axis, length in enumerate(images.shape[2:]):
        position = (torch.arange(length, device=images.device) + 0.5) / length
        shape = [1] * n
        shape[axis] = length
        near = (position.view(1, *shape) - centre[:, axis].view(-1, *[1] * n)).abs() < size / 2
        inside = inside & near
    return torch.where(inside.unsqueeze(1), torch.full_like(images, fill), images)
