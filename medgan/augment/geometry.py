"""n-D affine warps of image batches, per sample, differentiable in the images.

Matrices are ``(B, n + 1, n + 1)`` homogeneous transforms in *pixel* units about the image centre, mapping an
output position to the input position it samples (the inverse of the visible motion, as in stylegan2-ada-pytorch's
``AugmentPipe``); their coordinates are in ``torch.nn.functional.affine_grid`` order, the last spatial axis first
(2D: (x = width, y = height); 3D: (x = W, y = H, z = D) of a (B, C, D, H, W) tensor). Working in pixels keeps a
rotation a rotation on non-square images; :func:`warp` converts to the normalised coordinates of ``affine_grid``.

:func:`resample` is what ADA uses: samples whose matrix maps pixel centres onto pixel centres (flips, whole-pixel
shifts, quarter turns) go through :func:`warp`, exactly; the others are resampled at twice the resolution, as
stylegan2-ada-pytorch's ``AugmentPipe`` does, so that a fractional shift, scaling or rotation does not blur them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from medgan.layers.fir import filter_axis

OVERSAMPLING_LOBES = 3
"""Lobes of the Lanczos window of :func:`interpolation_taps` (Lanczos-3: 12 taps)."""


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


def interpolation_taps(lobes: int = OVERSAMPLING_LOBES) -> tuple[float, ...]:
    """The 1-D filter (4 * lobes taps, sum 1) of a 2x up- and downsampling: sinc(t) * sinc(t / lobes) at the offsets
    t = +-1/4, +-3/4, ... (input pixels) where the upsampled grid's samples fall (the binomial [1, 3, 3, 1] is the
    same construction with a triangle for the sinc and one lobe). The reference uses the sym6 wavelet's filter; a
    Lanczos window is the usual resampling kernel and keeps 98 % of a half-pixel shift's gradient energy here."""
    offsets = [(k - (4 * lobes - 1) / 2) / 2 for k in range(4 * lobes)]

    def sinc(t: float) -> float:
        return 1.0 if t == 0 else math.sin(math.pi * t) / (math.pi * t)

    taps = [sinc(t) * sinc(t / lobes) for t in offsets]
    return tuple(tap / sum(taps) for tap in taps)


def maps_pixels_to_pixels(matrices: torch.Tensor, sizes: Sequence[int], tolerance: float = 1e-4) -> torch.Tensor:
    """(B,) bool: whether each matrix (pixel units, ``affine_grid`` order, ``sizes`` in that order) sends every pixel
    centre of the output onto a pixel centre of the input (a signed permutation of the axes, moving no axis onto one
    of another parity, and a whole-pixel shift), so that bilinear :func:`warp` is exact for it."""
    n = len(sizes)
    linear, shift = matrices[:, :n, :n], matrices[:, :n, n]
    rounded = linear.round()
    signed_permutation = ((linear - rounded).abs() < tolerance).flatten(1).all(dim=1) & (
        rounded.abs().sum(dim=1) == 1
    ).all(dim=1)
    # a pixel centre's offset from the image centre is a whole number on an axis of odd size, a half one on an
    # even axis; the permutation must move half offsets onto half offsets, and the shift must be whole
    half = torch.tensor([size % 2 == 0 for size in sizes], device=matrices.device, dtype=matrices.dtype)
    same_parity = ((rounded.abs() @ half - half).abs() < tolerance).all(dim=1)
    whole_shift = ((shift - shift.round()).abs() < tolerance).all(dim=1)
    return signed_permutation & same_parity & whole_shift


def _pad_axis(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    """``x`` with zeros added before and after along axis ``dim``."""
    return F.pad(x, [0, 0] * (x.ndim - 1 - dim) + [before, after])


def _twice(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Every spatial axis upsampled 2x: zero insertion and filtering with ``taps`` (K = 4 * lobes), in polyphase
    form (the even outputs take the even taps, the odd outputs the odd ones, a sample further on); (B, C, *s) ->
    (B, C, *2s), a constant kept away from the borders."""
    reach = taps.numel() // 4
    for dim in range(2, x.ndim):
        padded = _pad_axis(x, dim, reach, reach)
        length = padded.shape[dim] - 1
        even = filter_axis(padded.narrow(dim, 0, length), 2 * taps[0::2], dim, 1)
        odd = filter_axis(padded.narrow(dim, 1, length), 2 * taps[1::2], dim, 1)
        x = torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)
    return x


def _halve(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Every spatial axis filtered with ``taps`` and decimated 2x, aligned as the inverse of :func:`_twice`;
    (B, C, *2s) -> (B, C, *s)."""
    pad = taps.numel() // 2 - 1
    for dim in range(2, x.ndim):
        x = filter_axis(_pad_axis(x, dim, pad, pad), taps, dim, 2)
    return x


def resample(images: torch.Tensor, matrices: torch.Tensor, lobes: int = OVERSAMPLING_LOBES) -> torch.Tensor:
    """``images`` (B, C, *spatial) through ``matrices`` (B, n + 1, n + 1), reflecting at the border, differentiable:
    exactly by :func:`warp` where the matrix maps pixels onto pixels (:func:`maps_pixels_to_pixels`), otherwise at
    twice the resolution: reflect-padded, upsampled 2x with :func:`interpolation_taps`, warped bilinearly,
    filtered and decimated back. Plain bilinear resampling blurs: on 64x64 brain slices it kept 69 % of the gradient
    energy (mean squared neighbour difference) through a half-pixel shift and 79 % through a 0.3 rad rotation; this
    keeps 98 % and 92 %. It costs more: forward and backward with every image moved, one CPU thread, 33-42 ms against
    bilinear's 2.2-2.5 ms for 16 images of 64x64, 0.47-0.61 s against 0.02 s for 4 volumes of 32^3."""
    n = images.ndim - 2
    exact = maps_pixels_to_pixels(matrices, images.shape[2:][::-1])
    if bool(exact.all()):
        return warp(images, matrices)
    kept, moved = exact.nonzero().squeeze(1), (~exact).nonzero().squeeze(1)
    out = torch.empty_like(images)
    if kept.numel():  # affine_grid refuses an empty batch
        out = out.index_copy(0, kept, warp(images[kept], matrices[kept]))
    taps = torch.tensor(interpolation_taps(lobes), device=images.device, dtype=images.dtype)
    reach = taps.numel() // 4  # input pixels at each border that the filters' zero padding reaches
    margin = 2 * reach + 1
    # reflected context for both filters (repeated edges where an image is too small to reflect that far)
    mode = "reflect" if min(images.shape[2:]) > margin else "replicate"
    upsampled = _twice(F.pad(images[moved], [margin] * (2 * n), mode=mode), taps)
    inner = (slice(None), slice(None), *[slice(2 * reach, -2 * reach)] * n)  # clean samples only, same centre
    twice = matrices[moved].clone()  # the same motion in the upsampled grid's pixels: twice the shift
    twice[:, :n, n] *= 2
    warped = _halve(warp(upsampled[inner], twice), taps)
    start = margin - reach
    warped = warped[(slice(None), slice(None), *(slice(start, start + size) for size in images.shape[2:]))]
    return out.index_copy(0, moved, warped)
