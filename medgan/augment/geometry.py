"""n-D affine warps of image batches, per sample, differentiable in the images.

Matrices are ``(B, n + 1, n + 1)`` homogeneous transforms in *pixel* units about the image centre, mapping an
output position to the input position it samples (the inverse of the visible motion, as in stylegan2-ada-pytorch's
``AugmentPipe``); their coordinates are in ``torch.nn.functional.affine_grid`` order, the last spatial axis first
(2D: (x = width, y = height); 3D: (x = W, y = H, z = D) of a (B, C, D, H, W) tensor). Working in pixels keeps a
rotation a rotation on non-square images; :func:`warp` converts to the normalised coordinates of ``affine_grid``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def identity(batch_size: int, n: int, device: torch.device | None = None) -> torch.Tensor:
    """(B, n + 1, n + 1) identity transforms."""
    return torch.eye(n + 1, device=device).expand(batch_size, n + 1, n + 1).clone()


def grid_axis(spatial_axis: int, n: int) -> int:
    """The ``affine_grid`` coordinate of spatial axis ``spatial_axis`` (0 = the first axis after the channels)."""
    return n - 1 - spatial_axis


def scaling(factors: torch.Tensor) -> torch.Tensor:
    """(B, n + 1, n + 1) diagonal transforms from per-axis factors (B, n) in ``affine_grid`` order (-1 flips)."""
    ones = torch.ones_like(factors[:, :1])
    return torch.diag_embed(torch.cat([factors, ones], dim=1))


def translation(shifts: torch.Tensor) -> torch.Tensor:
    """(B, n + 1, n + 1) translations by (B, n) pixels in ``affine_grid`` order."""
    batch_size, n = shifts.shape
    matrix = identity(batch_size, n, shifts.device)
    matrix[:, :n, n] = shifts
    return matrix


def rotation(angle: torch.Tensor, n: int, plane: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """(B, n + 1, n + 1) rotations by ``angle`` (B,) radians in the plane of two ``affine_grid`` coordinates."""
    matrix = identity(angle.shape[0], n, angle.device)
    i, j = plane
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix[:, i, i], matrix[:, i, j] = cos, -sin
    matrix[:, j, i], matrix[:, j, j] = sin, cos
    return matrix


def warp(images: torch.Tensor, matrices: torch.Tensor, padding_mode: str = "reflection") -> torch.Tensor:
    """``images`` (B, C, *spatial) resampled through ``matrices`` (B, n + 1, n + 1) in pixel units (see the module
    docstring), bilinear (trilinear in 3D), reflecting at the border; differentiable in ``images``. A sample whose
    matrix is the identity is returned unchanged, bit for bit."""
    n = images.ndim - 2
    sizes: Sequence[int] = images.shape[2:][::-1]  # affine_grid order
    half = torch.tensor([size / 2 for size in sizes], device=images.device, dtype=matrices.dtype)
    to_pixels = torch.diag(torch.cat([half, half.new_ones(1)]))
    to_normalised = torch.diag(torch.cat([1 / half, half.new_ones(1)]))
    theta = (to_normalised @ matrices @ to_pixels)[:, :n, :]
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    unchanged = (matrices == identity(matrices.shape[0], n, matrices.device)).flatten(1).all(dim=1)
    return torch.where(unchanged.view(-1, *[1] * (n + 1)), images, warped)
