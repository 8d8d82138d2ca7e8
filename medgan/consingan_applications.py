"""The SinGAN / ConSinGAN applications of a trained ConSinGAN generator, n-D: harmonisation and editing with a mask,
paint-to-image, animation from a noise walk and super-resolution.

SinGAN: Shaham, Dekel and Michaeli, "SinGAN: Learning a Generative Model from a Single Natural Image", ICCV 2019
(Sec. 4: paint-to-image, editing, harmonisation, super-resolution, single-image animation; reference code
tamarott/SinGAN). ConSinGAN: Hinz, Fisher, Wang and Wermter, WACV 2021 (reference code tohinz/ConSinGAN,
``evaluate_model.py``). The algorithms follow the references; the code is this project's, in 2D and 3D.

Every function takes images as medgan's generators do: (B, C, *spatial) in [-1, 1], 2 or 3 spatial axes.
:func:`run_application` is what ``configs/inference.json`` runs (key ``application``); it checks everything it can
before it writes, writes NIfTI in 3D (on the input's grid, with its affine resampled to the output's shape) and PNG
in 2D, and records its files with :mod:`medgan.output_manifest` like the samples, so nothing a user has is replaced.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Orientation
from PIL import Image
from scipy import ndimage

from medgan.consingan_fine_tune import fine_tune
from medgan.data.image_set import RAS_LABELS, load_image
from medgan.data.intensity import denormalize
from medgan.data.single_image import SingleImage
from medgan.errors import BadInputError
from medgan.inference import (
    SAMPLE_GRID,
    SAMPLE_PATTERNS,
    consingan_sampler,
    generate_and_save,
    resampled_affine,
    write_image,
)
from medgan.layers.resize import resize, resize_antialiased
from medgan.output_manifest import check_output_dir, record_outputs, remove_recorded
from medgan.utils import seeded
from medgan.visualize import preview_grid, preview_tile, save_png

logger = logging.getLogger(__name__)

APPLICATIONS = ("sample", "harmonization", "editing", "paint", "animation", "super_resolution")
"""Values of the ``application`` key; ``sample`` is plain sampling (with ``input_image``: injection, no mask)."""
PREFIXES = {
    "harmonization": "harmonized_",
    "editing": "edited_",
    "paint": "painted_",
    "super_resolution": "super_resolved_",
    "animation": "animation_",
}
MASK_FILE = "mask_dilated"
PAINT_FILE = "paint_quantized"
OUTPUT_PATTERNS = (
    *SAMPLE_PATTERNS,
    *(f"{prefix}*" for prefix in PREFIXES.values()),
    f"{MASK_FILE}.*",
    f"{PAINT_FILE}.*",
)
"""Everything any application writes: a folder holding another application's recorded outputs needs ``overwrite``."""

# harmonisation and editing (SinGAN's and ConSinGAN's ``dilate_mask``)
REFERENCE_SIZE = 250
"""Longest side of the references' images (their ``max_size``), at which the radii below are given in pixels."""
DILATION_RADIUS = {"harmonization": 7, "editing": 20}
"""The references' dilation radii (disk), pixels at :data:`REFERENCE_SIZE`."""
BLUR_SIGMA = 5.0
"""The references' Gaussian blur of the dilated mask, pixels at :data:`REFERENCE_SIZE`."""
BLUR_TRUNCATE = 4.0
"""The blur kernel ends at this many sigmas, so the blurred mask is exactly 0 beyond radius + ceil(4 sigma)."""
EDIT_NOISE = 0.1
"""ConSinGAN's ``noise_scaling`` for editing: N(0, 0.1^2) added to the naive image where it enters."""

# super-resolution (SinGAN's SR.py)
SINGAN_SR_STEP = 2 ** (1 / 3)
"""SinGAN's upsampling step for super-resolution (its SR model's scale factor, (1/2)^(1/3) downwards), used for a
one-stage model, which has no pyramid step of its own."""

# animation (SinGAN's and ConSinGAN's generate_gif)
WALK_START_MIX = 0.01
"""The walk's first step: ``(1 - 0.01) * anchor + 0.01 * noise`` (ConSinGAN; SinGAN uses 0.05)."""

# paint quantisation (SinGAN's quant / quant2centers)
KMEANS_ITERATIONS = 100

# the application-specific keys with their defaults in inference.json, and the applications that use them
APPLICATION_KEYS = {
    "input_mask": (None, ("harmonization", "editing")),
    "mask_dilation": (None, ("harmonization", "editing")),
    "mask_blur": (None, ("harmonization", "editing")),
    "paint_clusters": (0, ("paint",)),
    "super_resolution_factor": (4.0, ("super_resolution",)),
    "animation_frames": (100, ("animation",)),
    "animation_alpha": (0.1, ("animation",)),
    "animation_beta": (0.9, ("animation",)),
    "animation_fps": (10.0, ("animation",)),
    "fine_tune_iterations": (0, ("harmonization", "editing")),
    "fine_tune_checkpoint": (None, ("harmonization", "editing")),
}
NEEDS_INPUT = ("harmonization", "editing", "paint")


def check_application_settings(application: str, settings: Mapping) -> None:
    """Refuse, in one sentence, settings that make no sense together, before anything is built or written.

    Args:
        application: one of :data:`APPLICATIONS`.
        settings: the inference config's ``input_image``, ``start_stage``, ``output_shape`` and the keys of
            :data:`APPLICATION_KEYS`.

    Raises:
        BadInputError: e.g. a mask without harmonisation or editing, a paint run without ``input_image``.
    """
    if application not in APPLICATIONS:
        raise BadInputError(f"--application must be one of {', '.join(APPLICATIONS)}, not {application!r}.")
    for key, (default, used_by) in APPLICATION_KEYS.items():
        value = settings.get(key, default)
        if value != default and application not in used_by:
            raise BadInputError(
                f"--{key} is for --application {' or '.join(used_by)}, not {application}; drop it or change "
                "--application."
            )
    if application in NEEDS_INPUT and not settings.get("input_image"):
        what = "the painted image" if application == "paint" else "the naive image (the scan with the new region)"
        raise BadInputError(f"--application {application} needs --input_image, {what}; pass one.")
    if settings.get("input_mask") is None and any(settings.get(k) is not None for k in ("mask_dilation", "mask_blur")):
        raise BadInputError("--mask_dilation and --mask_blur shape the --input_mask, which is not set; pass a mask.")
    if application in ("animation", "super_resolution") and settings.get("input_image"):
        what = "walks the noise around" if application == "animation" else "enlarges"
        raise BadInputError(
            f"--application {application} {what} the training image's reconstruction (as SinGAN's) and takes no "
            "--input_image; drop it."
        )
    if application == "super_resolution":
        if settings.get("start_stage", 0) != 0:
            raise BadInputError(
                "--application super_resolution runs the finest stage only and takes no --start_stage; drop it."
            )
        if settings.get("output_shape") is not None:
            raise BadInputError(
                "--application super_resolution sets the output's shape from --super_resolution_factor; drop "
                "--output_shape."
            )
    if settings.get("fine_tune_checkpoint") is not None and not settings.get("fine_tune_iterations"):
        raise BadInputError(
            "--fine_tune_checkpoint is the critic for fine-tuning, which --fine_tune_iterations 0 leaves out; set "
            "--fine_tune_iterations (the reference fine-tunes for a few hundred) or drop it."
        )
    if settings.get("paint_clusters", 0) == 1:
        raise BadInputError("--paint_clusters 1 would paint one flat intensity; use 0 (no quantisation) or 2 or more.")


# ---------------------------------------------------------------------------------------------- masks


def default_mask_dilation(application: str, output_shape: Sequence[int]) -> int:
    """The references' dilation radius for ``application`` (7 px harmonisation, 20 px editing, at 250 px) scaled to
    the output's longest side, in voxels, at least 1."""
    return max(1, round(DILATION_RADIUS[application] * max(output_shape) / REFERENCE_SIZE))


def default_mask_blur(output_shape: Sequence[int]) -> float:
    """The references' blur sigma (5 px at 250 px) scaled to the output's longest side, in voxels."""
    return BLUR_SIGMA * max(output_shape) / REFERENCE_SIZE


def dilate_and_blur(mask: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    """SinGAN's ``dilate_mask``, n-D: dilate a binary mask by a disk (2D) or ball (3D) of ``radius`` voxels, blur it
    with a Gaussian of ``sigma`` voxels (truncated at :data:`BLUR_TRUNCATE` sigmas, replicated borders) and stretch
    it to [0, 1]. Beyond ``radius + ceil(4 * sigma)`` voxels of the mask the result is exactly 0.

    Args:
        mask: (1, 1, *spatial), nonzero inside.
        radius: dilation radius in voxels (0: none).
        sigma: blur in voxels (0: none).

    Returns:
        (1, 1, *spatial) float32 in [0, 1].
    """
    if mask.ndim < 4 or mask.shape[:2] != (1, 1):
        raise BadInputError(f"a mask of shape {tuple(mask.shape)} is not (1, 1, *spatial); pass one mask.")
    inside = mask[0, 0].detach().cpu().numpy() != 0
    if radius > 0 and inside.any() and not inside.all():
        inside = ndimage.distance_transform_edt(~inside) <= radius  # the disk / ball, as a distance
    soft = inside.astype(np.float64)
    if sigma > 0:
        soft = ndimage.gaussian_filter(soft, sigma, mode="nearest", truncate=BLUR_TRUNCATE)
    low, high = soft.min(), soft.max()
    if high > low:
        soft = (soft - low) / (high - low)
    return torch.from_numpy(soft.astype(np.float32))[None, None]


def composite(generated: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask * generated + (1 - mask) * image`` (SinGAN's and ConSinGAN's harmonisation and editing): the generated
    region inside the (soft) mask, the input untouched where the mask is 0.

    Args:
        generated: (B, C, *spatial).
        image: (1 or B, C, *spatial), the input on the same grid.
        mask: (1, 1, *spatial) in [0, 1].
    """
    mask = mask.to(generated)
    return mask * generated + (1 - mask) * image.to(generated)


def load_mask(path: str | Path, spatial_dims: int, image_shape: Sequence[int]) -> torch.Tensor:
    """Read ``input_mask`` (any format medgan reads; nonzero is inside) as a binary (1, 1, *spatial) tensor,
    oriented as :func:`medgan.data.single_image.load_single_image` orients the input image.

    Raises:
        BadInputError: a missing or unreadable file, another number of axes or another shape than the input image,
            NaN values, or a mask with nothing inside.
    """
    if not Path(path).exists():
        raise BadInputError(f"--input_mask {path} does not exist; give the mask of the region to harmonise or edit.")
    mask = load_image(Path(path))
    if mask.ndim == 4 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim - 1 != spatial_dims:
        raise BadInputError(
            f"--input_mask {path} has {mask.ndim - 1} spatial axes but the model is {spatial_dims}D; give a "
            f"{spatial_dims}D mask on the input image's grid."
        )
    if spatial_dims == 3:
        mask = Orientation(axcodes="RAS", labels=RAS_LABELS)(mask)
    mask = torch.as_tensor(mask).float()
    if not torch.isfinite(mask).all():
        raise BadInputError(f"--input_mask {path} holds NaN or infinite values; fix the mask.")
    if list(mask.shape[1:]) != list(image_shape):
        raise BadInputError(
            f"--input_mask {path} has shape {list(mask.shape[1:])} but --input_image has {list(image_shape)}; give "
            "a mask on the input image's grid."
        )
    inside = (mask != 0).any(dim=0)
    if not inside.any():
        raise BadInputError(
            f"--input_mask {path} marks nothing (every voxel is 0); mark the region with nonzero values."
        )
    return inside[None, None].float()


def mask_on_grid(mask: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """A binary (1, 1, *s) mask on another grid: resized linearly and thresholded at 0.5 (itself when same shape)."""
    shape = [int(size) for size in shape]
    if list(mask.shape[2:]) == shape:
        return mask
    return (resize(mask.float(), shape) >= 0.5).float()


# ---------------------------------------------------------------------------------------------- super-resolution


def super_resolution_shapes(stage_shapes: Sequence[Sequence[int]], factor: float) -> list[list[int]]:
    """The shapes SinGAN's super-resolution passes through: the finest stage enlarged ``n`` times by
    ``factor^(1/n)``, ``n = max(1, round(log(factor) / log(step)))`` where ``step`` is the pyramid's finest step
    (longest axis of the finest stage over that of the stage before; :data:`SINGAN_SR_STEP` for one stage), so each
    pass enlarges about as much as the finest stage learnt to add detail for. The last shape is
    ``round(finest * factor)`` per axis.

    Raises:
        BadInputError: a factor of 1 or less.
    """
    if not factor > 1:
        raise BadInputError(f"--super_resolution_factor {factor} does not enlarge; use a factor above 1.")
    finest = [int(size) for size in stage_shapes[-1]]
    step = SINGAN_SR_STEP
    if len(stage_shapes) > 1:
        previous = [int(size) for size in stage_shapes[-2]]
        axis = int(np.argmax(finest))
        if finest[axis] > previous[axis]:
            step = finest[axis] / previous[axis]
    passes = max(1, round(math.log(factor) / math.log(step)))
    per_pass = factor ** (1 / passes)
    return [[max(1, round(size * per_pass**k)) for size in finest] for k in range(1, passes)] + [
        [max(1, round(size * factor)) for size in finest]
    ]


def super_resolve(generator: torch.nn.Module, factor: float, num_samples: int = 1) -> torch.Tensor:
    """SinGAN's super-resolution (``SR.py``), in ConSinGAN's feature space: the training image's reconstruction is
    run to the finest stage's features (zero noise after the coarsest real image, which ``fixed_noise`` holds), then
    enlarged step by step (:func:`super_resolution_shapes`): each step upsamples the features (bi/trilinearly) and
    runs the finest stage on them with its noise, as if it were one more stage of the pyramid (SinGAN reuses its
    finest generator so); the tail turns the last features into the image.

    Args:
        generator: a :class:`medgan.networks.ConSinGANGenerator` in eval mode (its ``stage_shapes`` buffer).
        factor: the enlargement, above 1.
        num_samples: outputs, each with its own noise.

    Returns:
        (num_samples, C, *round(finest * factor)) in [-1, 1].
    """
    last = generator.num_stages - 1
    shapes = [[int(size) for size in shape] for shape in generator.stage_shapes.tolist()[: last + 1]]
    start = generator.fixed_noise.expand(num_samples, *generator.fixed_noise.shape[1:])
    features = generator._run_stages(generator._head(start), 0, shapes, [None] * (last + 1), False)
    for shape in super_resolution_shapes(shapes, factor):
        upsampled = resize(features, shape)
        stage_input = upsampled
        if generator.stage_margin(last) > 0:  # padding 0: the stage is fed context around it, as in the generator
            stage_input = resize(features, [size + 2 * generator.margin for size in shape])
        noise = torch.randn(
            [num_samples, *generator.noise_shape(last, [*shapes[:last], shape])], dtype=features.dtype,
            device=features.device,
        )  # fmt: skip
        features = generator.body[last](stage_input + noise * generator.noise_amps[last]) + upsampled
    return generator._tail(features)


def inject(
    generator: torch.nn.Module,
    image: torch.Tensor,
    stage_shapes: Sequence[Sequence[int]],
    start_stage: int = 1,
    edit_noise: float = 0.0,
) -> torch.Tensor:
    """ConSinGAN's harmonisation, editing and paint input: ``image`` enters at the coarsest stage in place of the
    noise (resized there, plus N(0, ``edit_noise``^2) for editing, as ConSinGAN's ``noise_scaling``), the stages
    before ``start_stage`` follow it with zero noise (the reconstruction path, which the generator learnt to turn
    the coarsest real image into the real image with), and ``start_stage`` and later stages add their random noise
    (SinGAN's injection scale): :meth:`ConSinGANGenerator.generate` with ``start_image``, after the edit noise.

    Args:
        generator: a :class:`medgan.networks.ConSinGANGenerator` in eval mode.
        image: (B, C, *spatial) in [-1, 1], any spatial shape.
        stage_shapes: the shapes to generate at, at least one per built stage.
        start_stage: first stage that adds random noise (0 and 1 are the same: the image replaces stage 0's noise).

    Returns:
        (B, C, *stage_shapes[num_stages - 1]) in [-1, 1].
    """
    shapes = [[int(size) for size in shape] for shape in stage_shapes]
    start = resize_antialiased(image, shapes[0])
    if edit_noise:
        start = start + edit_noise * torch.randn_like(start)
    return generator.generate(start_image=start, start_stage=start_stage, stage_shapes=shapes)


# ---------------------------------------------------------------------------------------------- animation


def noise_walk(
    anchors: Sequence[torch.Tensor],
    num_frames: int,
    alpha: float = 0.1,
    beta: float = 0.9,
    start_stage: int = 0,
) -> list[list[torch.Tensor]]:
    """SinGAN's and ConSinGAN's animation walk (``generate_gif``): per stage, a random walk with momentum around the
    reconstruction's noise ``anchor``::

        z_1 = 0.99 * anchor + 0.01 * n_0,  z_0 = anchor
        d_t = beta * (z_t - z_(t-1)) + (1 - beta) * n_t           # momentum, fresh N(0, 1) noise n_t
        z_(t+1) = alpha * anchor + (1 - alpha) * (z_t + d_t)     # pulled back to the anchor by alpha

    Stages before ``start_stage`` keep their anchor (the reconstruction's coarse layout), later ones walk. Noise is
    drawn from torch's global RNG on the anchors' device (seed it for reproducible walks).

    Args:
        anchors: one per stage: stage 0's (B, C, *shape_0), later stages' (B, num_features, *noise shape).
        num_frames: frames to make.
        alpha: pull towards the anchor (0: a free walk, 1: the reconstruction every frame).
        beta: momentum (1: a straight line, 0: independent steps).
        start_stage: first stage whose noise walks.

    Returns:
        ``num_frames`` lists of per-stage noise, shaped as ``anchors``.
    """
    walking = range(start_stage, len(anchors))
    previous = [anchor.clone() for anchor in anchors]
    current = [anchor.clone() for anchor in anchors]
    for stage in walking:
        current[stage] = (1 - WALK_START_MIX) * anchors[stage] + WALK_START_MIX * torch.randn_like(anchors[stage])
    frames = []
    for _ in range(num_frames):
        step = [a.clone() for a in anchors]
        for stage in walking:
            drift = beta * (current[stage] - previous[stage]) + (1 - beta) * torch.randn_like(anchors[stage])
            step[stage] = alpha * anchors[stage] + (1 - alpha) * (current[stage] + drift)
        previous, current = current, step
        frames.append(step)
    return frames


def walk_anchors(generator: torch.nn.Module, stage_shapes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """The reconstruction's noise at ``stage_shapes``: ``fixed_noise`` at stage 0 (resized when retargeting), zeros
    at the later stages (the reconstruction path adds none), one sample each."""
    fixed = generator.fixed_noise
    shapes = [[int(size) for size in shape] for shape in stage_shapes]
    anchors = [resize(fixed, shapes[0])]
    for stage in range(1, generator.num_stages):
        anchors.append(torch.zeros([1, *generator.noise_shape(stage, shapes)], device=fixed.device, dtype=fixed.dtype))
    return anchors


def animate(
    generator: torch.nn.Module,
    stage_shapes: Sequence[Sequence[int]],
    num_frames: int,
    alpha: float = 0.1,
    beta: float = 0.9,
    start_stage: int = 0,
) -> torch.Tensor:
    """Frames of one animation (:func:`noise_walk` through the generator): (num_frames, C, *stage_shapes[-1])."""
    shapes = [[int(size) for size in shape] for shape in stage_shapes]
    frames = []
    for noise in noise_walk(walk_anchors(generator, shapes), num_frames, alpha, beta, start_stage):
        frames.append(generator.generate(noise[0], stage_shapes=shapes, noise=[None, *noise[1:]]).float().cpu())
    return torch.cat(frames)


def write_gif(frames: torch.Tensor, path: Path, fps: float) -> Path:
    """Frames (T, C, *spatial) in [-1, 1] as a looping GIF: each frame itself in 2D, its axial, coronal and
    sagittal mid-slices side by side in 3D (display range -1..1 over 0..255)."""
    pictures = [Image.fromarray(preview_tile(frame)) for frame in frames]
    duration = max(20, round(1000 / fps))  # GIF delays are in 10 ms units; browsers slow faster ones down
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=duration, loop=0)
    return path


def write_time_series(
    frames: torch.Tensor,
    path: Path,
    affine: np.ndarray,
    intensity_range: tuple[float, float] | None,
    fps: float = 10.0,
) -> Path:
    """Frames (T, C, X, Y, Z) as a 4D NIfTI (X, Y, Z, T), time last (5D with channels after time), in the input's
    intensity units, with ``affine`` and a time step of ``1 / fps`` seconds."""
    values = frames.float().cpu()
    if intensity_range is not None:
        values = denormalize(values, *intensity_range)
    array = np.moveaxis(values.numpy(), (0, 1), (-2, -1))  # (X, Y, Z, T, C)
    array = array[..., 0] if array.shape[-1] == 1 else array
    image = nib.Nifti1Image(np.ascontiguousarray(array), np.asarray(affine, np.float64))
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_zooms((*image.header.get_zooms()[:3], 1.0 / fps, *image.header.get_zooms()[4:]))
    nib.save(image, str(path))
    return path


# ---------------------------------------------------------------------------------------------- paint


def kmeans(
    values: np.ndarray, centers: np.ndarray, iterations: int = KMEANS_ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means of ``values`` (N, C) from ``centers`` (k, C); an empty cluster keeps its center.

    Returns:
        (labels (N,), centers (k, C)).
    """
    centers = centers.astype(np.float64).copy()
    labels = np.zeros(len(values), np.int64)
    for _ in range(iterations):
        labels = ((values[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        moved = np.array(
            [values[labels == k].mean(0) if (labels == k).any() else centers[k] for k in range(len(centers))]
        )
        if np.allclose(moved, centers):
            break
        centers = moved
    return labels, centers


def intensity_centers(image: torch.Tensor, clusters: int) -> np.ndarray:
    """SinGAN's ``quant`` of the training image: ``clusters`` k-means centers (k, C) of its values, started at evenly
    spaced quantiles of the channel mean (deterministic)."""
    values = image.detach().float().cpu().numpy().reshape(image.shape[1], -1).T.astype(np.float64)
    order = np.argsort(values.mean(1), kind="stable")
    start = values[order[((np.arange(clusters) + 0.5) / clusters * (len(values) - 1)).round().astype(int)]]
    return kmeans(values, start)[1]


def quantize_paint(paint: torch.Tensor, centers: np.ndarray) -> torch.Tensor:
    """SinGAN's ``quant2centers``: cluster the paint's values with k-means started at the training image's
    ``centers`` and replace each value by the training center of its cluster, so every painted region takes one of
    the training image's intensities (colours). (B, C, *spatial) -> the same shape."""
    values = paint.detach().float().cpu().numpy()
    flat = np.moveaxis(values, 1, -1).reshape(-1, values.shape[1]).astype(np.float64)
    labels, _ = kmeans(flat, centers)
    quantized = centers[labels].reshape(*values.shape[:1], *values.shape[2:], values.shape[1])
    return torch.from_numpy(np.moveaxis(quantized, -1, 1).astype(np.float32)).to(paint.device)


# ---------------------------------------------------------------------------------------------- the inference run


def _write_mask(mask: torch.Tensor, folder: Path, affine: np.ndarray) -> Path:
    """The dilated, blurred mask (1, 1, *s) in [0, 1]: a PNG (0..255) in 2D, a float NIfTI in 3D."""
    if mask.ndim == 4:
        path = folder / f"{MASK_FILE}.png"
        save_png(preview_tile(mask[0], 0.0, 1.0), str(path))
        return path
    path = folder / f"{MASK_FILE}.nii.gz"
    nib.save(nib.Nifti1Image(mask[0, 0].numpy().astype(np.float32), np.asarray(affine, np.float64)), str(path))
    return path


@torch.no_grad()
def run_application(
    generator: torch.nn.Module,
    application: str,
    stage_shapes: Sequence[Sequence[int]],
    output_dir: str,
    num_samples: int = 8,
    seed: int = 0,
    batch_size: int = 1,
    overwrite: bool = False,
    start_stage: int = 0,
    input_image: SingleImage | None = None,
    input_mask: str | None = None,
    mask_dilation: int | None = None,
    mask_blur: float | None = None,
    paint_clusters: int = 0,
    super_resolution_factor: float = 4.0,
    animation_frames: int = 100,
    animation_alpha: float = 0.1,
    animation_beta: float = 0.9,
    animation_fps: float = 10.0,
    affine: np.ndarray | None = None,
    image_shape: Sequence[int] | None = None,
    intensity_range: tuple[float, float] | None = None,
    fine_tune_iterations: int = 0,
    fine_tune_checkpoint: str | None = None,
    model_file: str | None = None,
) -> list[Path]:
    """Run ``application`` with a trained ConSinGAN generator and write its files into ``output_dir``.

    - ``sample``: :func:`medgan.inference.generate_and_save` as before (``sample_*``; with ``input_image`` the image
      enters at ``start_stage`` through the generator's head, :meth:`ConSinGANGenerator.generate`);
    - ``harmonization`` / ``editing``: ``input_image`` (the naive image) enters at the coarsest stage and random
      noise from ``start_stage`` on (:func:`inject`; editing adds N(0, 0.1^2) to it, as ConSinGAN); with
      ``input_mask`` the result is composited into the input through the mask dilated and blurred
      (:func:`dilate_and_blur`, radius ``mask_dilation``, sigma ``mask_blur``, both in output voxels; None: the
      references' 7 / 20 px and 5 px at 250 px, scaled to the output), which is written as ``mask_dilated``;
      ``harmonized_*`` / ``edited_*``; with ``fine_tune_iterations``, the generator is first fine-tuned on the
      naive image with the critic of its training run (:func:`medgan.consingan_fine_tune.fine_tune`; the run's
      checkpoint is ``fine_tune_checkpoint``, else the newest in the ``checkpoints`` folder beside ``model_file``);
    - ``paint``: ``input_image`` (a rough painting) enters as in harmonisation, quantised first to ``paint_clusters``
      k-means intensity centers of the coarsest real image (0: not quantised; the quantised paint is written as
      ``paint_quantized``); ``painted_*``;
    - ``super_resolution``: the training image's reconstruction enlarged by ``super_resolution_factor``
      (:func:`super_resolve`); ``super_resolved_*``, on a proportionally finer grid (3D: the affine's voxels
      shrink by the factor);
    - ``animation``: ``num_samples`` noise walks of ``animation_frames`` frames from ``start_stage``
      (:func:`noise_walk`), ``animation_*.gif`` (3D: orthogonal mid-slices) and, in 3D, ``animation_*.nii.gz``
      (4D, time last).

    Every application but ``animation`` also writes the preview grid ``samples.png``. ``affine`` and
    ``image_shape`` are the grid the outputs cover (the input image's, else the training image's); 3D outputs get
    that affine resampled to their shape. The same ``seed`` gives the same files.

    Raises:
        BadInputError: before anything is written, for settings that do not fit (see
            :func:`check_application_settings`), a ``start_stage`` outside the built stages, a mask that does not
            fit ``input_image``, or an output folder holding files medgan did not write or, without ``overwrite``,
            earlier outputs.
    """
    image = None if input_image is None else input_image.image
    settings = {
        "input_image": image is not None, "start_stage": start_stage, "input_mask": input_mask,
        "mask_dilation": mask_dilation, "mask_blur": mask_blur, "paint_clusters": paint_clusters,
        "super_resolution_factor": super_resolution_factor, "animation_frames": animation_frames,
        "animation_alpha": animation_alpha, "animation_beta": animation_beta, "animation_fps": animation_fps,
        "fine_tune_iterations": fine_tune_iterations, "fine_tune_checkpoint": fine_tune_checkpoint,
    }  # fmt: skip
    check_application_settings(application, settings)
    shapes = [[int(size) for size in shape] for shape in stage_shapes]
    device = next(generator.parameters()).device
    if application == "sample":
        return generate_and_save(
            generator, [generator.out_channels, *shapes[0]], num_samples, output_dir, seed, batch_size, overwrite,
            consingan_sampler(shapes, start_stage, image), _output_affine(affine, image_shape, shapes[-1]),
            intensity_range, later_outputs=OUTPUT_PATTERNS[len(SAMPLE_PATTERNS):],
        )  # fmt: skip
    if not 0 <= start_stage < generator.num_stages:
        raise BadInputError(
            f"--start_stage {start_stage} is outside 0..{generator.num_stages - 1}, the model's stages; pick one."
        )
    mask = None if input_mask is None else load_mask(input_mask, generator.spatial_dims, image.shape[2:])
    if application == "super_resolution":
        super_resolution_shapes(shapes[: generator.num_stages], super_resolution_factor)  # refuses a factor <= 1
        shapes = generator.stage_shapes.tolist()[: generator.num_stages]  # the training image's grid
    folder = check_output_dir(output_dir, overwrite, OUTPUT_PATTERNS, "generated images", create=False)
    if fine_tune_iterations:
        naive = resize_antialiased(image.to(device), generator.stage_shapes[0].tolist())
        noise_level = EDIT_NOISE if application == "editing" else 0.0
        fine_tune(generator, naive, fine_tune_iterations, model_file, fine_tune_checkpoint, noise_level, seed)
    generator.eval()
    extra: list[tuple[str, torch.Tensor]] = []  # (kind, tensor) written beside the outputs
    with seeded(seed, device):
        if application == "animation":
            animations = [
                animate(generator, shapes, animation_frames, animation_alpha, animation_beta, start_stage)
                for _ in range(num_samples)
            ]
        elif application == "super_resolution":
            outputs = torch.cat(
                [super_resolve(generator, super_resolution_factor).float().cpu() for _ in range(num_samples)]
            )
        else:
            injected = resize_antialiased(image.to(device), shapes[0])
            if application == "paint" and paint_clusters:  # the coarsest real image is the reconstruction's input
                reference = resize_antialiased(generator.fixed_noise, shapes[0])
                injected = quantize_paint(injected, intensity_centers(reference, paint_clusters))
                extra.append(("paint", injected.float().cpu()))
            noise_level = EDIT_NOISE if application == "editing" else 0.0
            outputs = torch.cat([
                inject(generator, injected, shapes, start_stage, noise_level).float().cpu() for _ in range(num_samples)
            ])  # fmt: skip
            if mask is not None:
                grid_mask = dilate_and_blur(
                    mask_on_grid(mask, shapes[-1]),
                    default_mask_dilation(application, shapes[-1]) if mask_dilation is None else int(mask_dilation),
                    default_mask_blur(shapes[-1]) if mask_blur is None else float(mask_blur),
                )
                background = image.float().cpu()
                if list(background.shape[2:]) != shapes[-1]:
                    background = resize_antialiased(background, shapes[-1])
                outputs = composite(outputs, background, grid_mask)
                extra.append(("mask", grid_mask))

    remove_recorded(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = PREFIXES[application]
    paths: list[Path] = []
    if application == "animation":
        out_affine = _output_affine(affine, image_shape, shapes[-1])
        for index, frames in enumerate(animations):
            paths.append(write_gif(frames, folder / f"{prefix}{index:04d}.gif", animation_fps))
            if frames.ndim == 5:
                paths.append(
                    write_time_series(
                        frames, folder / f"{prefix}{index:04d}.nii.gz", out_affine, intensity_range, animation_fps
                    )
                )
    else:
        out_affine = _output_affine(affine, image_shape, list(outputs.shape[2:]))
        for index, output in enumerate(outputs):
            paths.append(write_image(output, folder / f"{prefix}{index:04d}", out_affine, intensity_range))
        save_png(preview_grid(outputs), str(folder / SAMPLE_GRID))
        paths.append(folder / SAMPLE_GRID)
    for kind, tensor in extra:
        if kind == "mask":
            paths.append(_write_mask(tensor, folder, out_affine))
        else:
            stage_affine = _output_affine(affine, image_shape, list(tensor.shape[2:]))
            paths.append(write_image(tensor[0], folder / PAINT_FILE, stage_affine, intensity_range))
    record_outputs(folder, paths)
    logger.info(f"wrote {application} outputs ({len(paths)} files) to {folder}")
    return paths


def _output_affine(
    affine: np.ndarray | None, image_shape: Sequence[int] | None, output_shape: Sequence[int]
) -> np.ndarray | None:
    """The affine of an output of ``output_shape`` over the field of view of the grid (``affine``, ``image_shape``)."""
    if affine is None or image_shape is None or len(image_shape) != len(output_shape):
        return affine
    return resampled_affine(affine, list(image_shape), list(output_shape))
