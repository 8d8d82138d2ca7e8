"""Sliced Wasserstein distance between the local patches of two image sets, in 2D and 3D.

Karras, Aila, Laine and Lehtinen, "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018, https://arxiv.org/abs/1710.10196, Sec. 5 and Appendix D (reference code:
``progressive_growing_of_gans/metrics/sliced_wasserstein.py``):

1. every image is split into a Laplacian pyramid (binomial 5-tap filter, mirrored borders) from its full resolution
   down to ``min_resolution`` (16) pixels;
2. at every level, 128 random 7x7 patches (7x7x7 in 3D) per image are the descriptors; each set's descriptors are
   normalised per channel by that set's own mean and standard deviation;
3. the distance between the two sets' descriptors is the sliced Wasserstein distance over 512 random unit
   directions: the mean absolute difference of the sorted projections.

The reported values are multiplied by 1e3, as in the paper's tables (``SWDx1e3``). Because each set is normalised by
its own statistics, SWD compares the *shapes* of the patch distributions (texture, edges, structure at each scale),
not a global offset or scale of the intensities: the intensity-histogram distance covers that.

Deviations from the reference: the pyramid and the patches are n-D; a level is kept while its shortest axis is at
least ``min_resolution`` (the reference looks at the height only); sets of different sizes are compared on the same
number of patches, ``patches_per_image`` times the larger set's size, drawn evenly over the images of each set; both
sets' patches are cut at the same random positions (common random numbers: sampling noise cancels, so two identical
sets are at distance exactly 0, where the reference's independent draws leave a small positive value).
"""

from __future__ import annotations

import torch
from monai.networks.layers import separable_filtering

from medgan.errors import BadInputError
from medgan.metrics.checks import check_comparable
from medgan.metrics.result import MetricResult

PATCH_SIZE = 7
PATCHES_PER_IMAGE = 128
NUM_PROJECTIONS = 512
MIN_RESOLUTION = 16
SWD_SCALE = 1e3
BINOMIAL_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)
"""The 5-tap binomial filter of ``cv2.pyrDown``/``pyrUp`` (normalised to sum 1), applied along every axis."""
NORMALIZATION_EPSILON = 1e-8
PYRAMID_BORDER = "reflect"  # scipy.ndimage's 'mirror' mode, as the reference


def _binomial_kernel(gain: float = 1.0) -> torch.Tensor:
    taps = torch.tensor(BINOMIAL_TAPS)
    return taps / taps.sum() * gain


def pyramid_down(images: torch.Tensor) -> torch.Tensor:
    """Blur with the binomial filter and keep every second voxel along every axis: (B, C, *s) -> (B, C, *ceil(s/2))."""
    blurred = separable_filtering(images, _binomial_kernel(), mode=PYRAMID_BORDER)
    return blurred[(..., *[slice(None, None, 2)] * (images.ndim - 2))]


def pyramid_up(images: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Insert zeros between voxels and blur with twice the binomial filter per axis (``cv2.pyrUp``), cropped to the
    spatial ``shape``: (B, C, *s) -> (B, C, *shape)."""
    spatial = images.shape[2:]
    upsampled = images.new_zeros((*images.shape[:2], *[2 * size for size in spatial]))
    upsampled[(..., *[slice(None, None, 2)] * len(spatial))] = images
    blurred = separable_filtering(upsampled, _binomial_kernel(gain=2.0), mode=PYRAMID_BORDER)
    return blurred[(..., *[slice(0, size) for size in shape])]


def num_pyramid_levels(shape: tuple[int, ...] | torch.Size, min_resolution: int = MIN_RESOLUTION) -> int:
    """Levels of the Laplacian pyramid of an image of spatial ``shape``: halve while the shortest axis stays at least
    ``min_resolution``; at least 1 (the image itself)."""
    levels, side = 1, min(shape)
    while side // 2 >= min_resolution:
        levels, side = levels + 1, side // 2
    return levels


def laplacian_pyramid(images: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of a batch (B, C, *spatial), finest level first: band-pass levels ``image - up(down(image))``
    and, last, the low-pass residual at 1/2**(num_levels - 1) of the resolution."""
    levels = [images.float()]
    for _ in range(1, num_levels):
        coarser = pyramid_down(levels[-1])
        levels[-1] = levels[-1] - pyramid_up(coarser, levels[-1].shape[2:])
        levels.append(coarser)
    return levels


def patch_corners(
    shape: tuple[int, ...] | torch.Size, num_patches: int, patch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """Uniformly random first corners of ``num_patches`` patches of side ``patch_size`` inside an image of spatial
    ``shape`` (every axis at least ``patch_size``): (num_patches, spatial_dims) int64."""
    return torch.stack(
        [torch.randint(0, size - patch_size + 1, (num_patches,), generator=generator) for size in shape], dim=1
    )


def extract_patches(images: torch.Tensor, corners: torch.Tensor, patch_size: int) -> torch.Tensor:
    """The patches at ``corners`` (P, spatial_dims), taken from the images in turn (patch p from image p mod N).

    Args:
        images: (N, C, *spatial).

    Returns:
        (P, C, *[patch_size] * spatial_dims).
    """
    spatial_dims = images.ndim - 2
    which = torch.arange(len(corners)) % len(images)
    offsets = torch.arange(patch_size)
    index = [which.view(-1, *[1] * spatial_dims)]
    for axis in range(spatial_dims):
        view = [-1] + [1] * spatial_dims
        view[axis + 1] = patch_size
        index.append((corners[:, axis, None] + offsets).view(view))
    patches = images[(index[0], slice(None), *index[1:])]  # (P, *patch, C): the advanced indices come first
    return patches.movedim(-1, 1)


def normalize_descriptors(patches: torch.Tensor) -> torch.Tensor:
    """Per channel, subtract the mean and divide by the standard deviation over all patches and positions, then
    flatten: (P, C, *patch) -> (P, C * prod(patch))."""
    axes = (0, *range(2, patches.ndim))
    centred = patches - patches.mean(dim=axes, keepdim=True)
    scaled = centred / centred.std(dim=axes, correction=0, keepdim=True).clamp_min(NORMALIZATION_EPSILON)
    return scaled.flatten(1)


def sliced_wasserstein(
    first: torch.Tensor, second: torch.Tensor, num_projections: int, generator: torch.Generator
) -> float:
    """Sliced Wasserstein-1 distance between two equally sized point sets (P, D): the mean over ``num_projections``
    random unit directions of the mean absolute difference of the sorted projections."""
    directions = torch.randn(first.shape[1], num_projections, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)
    first_sorted = (first.double() @ directions).sort(dim=0).values
    second_sorted = (second.double() @ directions).sort(dim=0).values
    return float((first_sorted - second_sorted).abs().mean())


def sliced_wasserstein_distance(
    real: torch.Tensor,
    generated: torch.Tensor,
    patch_size: int = PATCH_SIZE,
    patches_per_image: int = PATCHES_PER_IMAGE,
    num_projections: int = NUM_PROJECTIONS,
    min_resolution: int = MIN_RESOLUTION,
    seed: int = 0,
    name: str = "sliced_wasserstein_distance",
) -> MetricResult:
    """PGGAN's SWD between two image sets (see the module docstring), x 1e3.

    Args:
        real: (N, C, *spatial), 2 or 3 spatial axes; any intensity range (each set is normalised).
        generated: (M, C, *spatial) with the same spatial shape.
        patch_size: side of the patches (7 in the paper).
        patches_per_image: patches per image of the larger set (128 in the paper).
        num_projections: random directions (512 in the paper: 4 repeats of 128).
        min_resolution: shortest axis of the coarsest pyramid level (16 in the paper).
        seed: seeds the patch positions and the directions.
        name: the result's name.

    Returns:
        value: the mean over pyramid levels; ``details["per_level"]``: one value per level, keyed by its shape
        (e.g. ``"64x64"``), finest first.

    Raises:
        BadInputError: for sets of different dimensionality, channels or shape, or images smaller than a patch.
    """
    check_comparable(real, generated)
    spatial = tuple(real.shape[2:])
    if min(spatial) < patch_size:
        raise BadInputError(
            f"images of shape {spatial} are smaller than the {patch_size}-voxel patches of the sliced Wasserstein "
            "distance; evaluate larger images."
        )
    num_levels = num_pyramid_levels(spatial, min_resolution)
    num_patches = patches_per_image * max(len(real), len(generated))
    generator = torch.Generator().manual_seed(seed)
    per_level = {}
    for real_level, generated_level in zip(
        laplacian_pyramid(real, num_levels), laplacian_pyramid(generated, num_levels)
    ):
        if min(real_level.shape[2:]) < patch_size:
            break
        corners = patch_corners(real_level.shape[2:], num_patches, patch_size, generator)
        real_descriptors = normalize_descriptors(extract_patches(real_level, corners, patch_size))
        generated_descriptors = normalize_descriptors(extract_patches(generated_level, corners, patch_size))
        distance = sliced_wasserstein(real_descriptors, generated_descriptors, num_projections, generator)
        per_level["x".join(map(str, real_level.shape[2:]))] = distance * SWD_SCALE
    values = list(per_level.values())
    return MetricResult(
        name=name,
        value=sum(values) / len(values),
        samples={"real": len(real), "generated": len(generated), "patches_per_set_and_level": num_patches},
        settings={
            "patch_size": patch_size,
            "patches_per_image": patches_per_image,
            "num_projections": num_projections,
            "min_resolution": min_resolution,
            "pyramid_levels": len(values),
            "scale": SWD_SCALE,
            "descriptor_normalization": "per set and channel (Karras et al. 2018)",
            "seed": seed,
        },
        higher_is_better=False,
        details={"per_level": per_level},
        note="mean over Laplacian pyramid levels of the sliced Wasserstein distance between local patches, x 1e3.",
    )
