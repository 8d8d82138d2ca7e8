"""Project a real scan into a style-based generator, map its anomalies, mix and edit its styles.

The projector follows NVlabs stylegan2-ada-pytorch's ``projector.py`` (Karras et al., "Analyzing and Improving the
Image Quality of StyleGAN", CVPR 2020, Sec. 5 and appendix D), written n-D for 2D slices and 3D volumes:

- the latent is optimised in W (one w for every layer; ``space="w+"``: one w per layer, Abdal et al. 2019),
  initialised at the mean ``w_avg`` of the ws of ``W_AVG_SAMPLES`` = 10000 random z, whose spread
  ``w_std = sqrt(sum |w - w_avg|^2 / N)`` scales the noise added to the latent;
- every noise map the generator adds (:func:`medgan.layers.noise.called_noise_layers`, given to the generator with
  :func:`medgan.layers.noise.given_noise`) is optimised with it, renormalised to zero mean and unit variance after
  every step, and regularised: over a pyramid of the map downsampled 2x until a side is at most 8, the squared
  mean product of the map with itself shifted by one along every axis, weighted ``NOISE_REGULARIZATION`` = 1e5;
- Adam (betas 0.9, 0.999), learning rate ``LEARNING_RATE`` = 0.1 times a linear ramp-up over the first
  ``LR_RAMPUP`` = 0.05 and a cosine ramp-down over the last ``LR_RAMPDOWN`` = 0.25 of the steps;
- Gaussian noise on the latent of strength ``w_std * INITIAL_NOISE_FACTOR (0.05) * max(0, 1 - t / NOISE_RAMP
  (0.75))^2`` at progress ``t``.

The distance is, by default, ``L1 + (1 - SSIM)`` in image space (values in [-1, 1], SSIM with a Gaussian window of up
to 7 pixels; ``similarity="ms_ssim"``: MS-SSIM over as many of its five scales as the image holds,
:func:`image_distance`); with a user-supplied TorchScript feature extractor (as the evaluation's FID
option, :mod:`medgan.metrics.features`: images in [-1, 1] -> (B, F) or (B, F, *spatial)) it is the sum of squared
feature differences instead, the reference's perceptual distance with the extractor in place of its VGG16 (nothing is
downloaded). The scan is read, normalised and fitted to the model's shape as training images are
(:mod:`medgan.data.image_set`: RAS orientation, robust range to [-1, 1], padding to the model's proportions,
resizing); a volume given to a 2D model gives one axial slice. The reconstruction is mapped back onto the scan's own
grid (resized to the padded size, padding cropped, orientation undone, intensities denormalised), so the anomaly map
``|scan - reconstruction|`` overlays the scan: in 3D a NIfTI with the scan's affine, in the scan's units (the scan
clipped to its normalisation range, as the model saw it).

:func:`project_and_save` writes, next to the samples of an inference run (names in :data:`PROJECTION_PATTERNS`):
``projection_reconstruction`` and ``projection_anomaly`` (``.png`` / ``.nii.gz``), ``projection_latent.pt``,
``projection.png`` (the scan, the reconstruction along the optimisation, the anomaly map),
``projection_style_mixing.png`` (the scan's coarse styles with random fine ones and back, the PGGAN+StyleGAN
seed's "style migration") and, with an ``edit_direction``, ``projection_edit.png`` and ``projection_edited`` (the
scan moved along a SeFa direction), and ``projection_latent_map.png`` (:func:`real_and_generated_map`: the scan's w
among sampled ones).
"""

from __future__ import annotations

import glob
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import SSIMLoss
from monai.metrics.regression import compute_ms_ssim
from torch import nn

from medgan.data.image_set import fit_to_shape, load_image, padded_sizes
from medgan.data.intensity import denormalize, normalize
from medgan.data.sample import axial_to_picture
from medgan.errors import BadInputError
from medgan.inference import png_picture, write_image
from medgan.latent_exploration import embed_2d, z_for_seed
from medgan.layers.noise import called_noise_layers, given_noise
from medgan.metrics.features import load_feature_extractor
from medgan.output_manifest import add_outputs, check_output_dir
from medgan.sefa import apply_direction, chosen_layers, sefa_directions
from medgan.visualize import preview_grid, save_png

__all__ = [
    "PROJECTION_PATTERNS",
    "ProjectionResult",
    "ProjectionTarget",
    "check_projection",
    "image_distance",
    "ms_ssim_weights",
    "load_target",
    "noise_regularization",
    "project",
    "project_and_save",
    "projected_style_mixing",
    "real_and_generated_map",
    "to_input_grid",
]

logger = logging.getLogger(__name__)

W_AVG_SAMPLES = 10000
LEARNING_RATE = 0.1
LR_RAMPDOWN = 0.25
LR_RAMPUP = 0.05
INITIAL_NOISE_FACTOR = 0.05
NOISE_RAMP = 0.75
NOISE_REGULARIZATION = 1e5
ADAM_BETAS = (0.9, 0.999)
PYRAMID_MIN_SIDE = 8
SSIM_WINDOW = 7
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SNAPSHOTS = 6  # reconstructions shown along the optimisation in projection.png
MAPPING_BATCH = 1000
PREFIX = "projection"
PROJECTION_PATTERNS = (f"{PREFIX}*",)
SPACES = ("w", "w+")
SIMILARITIES = ("ssim", "ms_ssim")


@dataclass
class ProjectionTarget:
    """A scan ready to project: ``image`` (1, C, *model shape) in [-1, 1], and what maps a result back onto the
    scan's grid: ``scan`` (C, *scan spatial) in the scan's units, clipped to ``intensity_range`` (for a volume given
    to a 2D model: its slice as a picture), ``affine`` (4x4, RAS) of a 3D scan and ``to_ras`` (nibabel orientation
    of its axes), ``source``: the file."""

    image: torch.Tensor
    scan: torch.Tensor
    intensity_range: tuple[float, float]
    source: Path
    affine: np.ndarray | None = None
    to_ras: np.ndarray | None = None
    slice_index: int | None = None

    @property
    def is_volume(self) -> bool:
        return self.scan.dim() == 4


def load_target(
    path: str | Path,
    spatial_dims: int,
    channels: int,
    image_shape: Sequence[int],
    slice_index: int | None = None,
    key: str = "project_image",
) -> ProjectionTarget:
    """Read ``path`` for a model of ``spatial_dims`` and ``channels`` that makes ``image_shape`` images.

    A 2D image goes to a 2D model; a volume to a 3D model (in RAS orientation, as training reads it) or, for a 2D
    model, its axial slice ``slice_index`` (None: the middle one) as training cuts slices.

    Raises:
        BadInputError: a missing or unreadable file, NaN, a blank image, the wrong channel count, a 2D image for a
            3D model, a slice index outside the volume; the sentence names the setting ``key`` that gave the file.
    """
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"--{key} {path} does not exist; give the scan to project (an image or volume).")
    try:
        loaded = load_image(path)
    except BadInputError as error:  # not an image, a folder without DICOM, unreadable: say which setting gave it
        raise BadInputError(f"--{key} {error}") from error
    if loaded.dim() == 4 and loaded.shape[-1] == 1:
        loaded = loaded[..., 0]
    dims = loaded.dim() - 1
    if dims not in (2, 3):
        raise BadInputError(f"--{key} {path} has {dims} spatial dimensions; give a 2D image or a 3D volume.")
    if loaded.shape[0] != channels:
        raise BadInputError(
            f"--{key} {path} has {loaded.shape[0]} channel(s) but the model has {channels}; give an image "
            "with the model's channels."
        )
    if not torch.isfinite(loaded).all():
        raise BadInputError(f"--{key} {path} holds NaN or infinite values; fix it or give another scan.")
    if loaded.min() == loaded.max():
        raise BadInputError(f"--{key} {path} is blank (every value is {float(loaded.min())}); give a scan.")
    if dims < spatial_dims:
        raise BadInputError(
            f"--{key} {path} is a 2D image but the model is 3D; give a volume (NIfTI, NRRD, MHA, DICOM)."
        )
    array = scan = loaded.as_tensor().float()
    affine = to_ras = None
    if dims == 3:
        affine = np.asarray(loaded.affine, np.float64)
        to_ras = nib.io_orientation(affine)
        array = _reoriented(array, to_ras)
    if dims == 3 and spatial_dims == 2:
        depth = array.shape[-1]
        slice_index = depth // 2 if slice_index is None else int(slice_index)
        if not 0 <= slice_index < depth:
            raise BadInputError(
                f"--project_slice {slice_index} is outside {path}, which has {depth} axial slices; give 0 to "
                f"{depth - 1} or null for the middle one."
            )
        array = scan = axial_to_picture(array[..., slice_index])
        affine = to_ras = None
    normalised, (low, high) = normalize(array)
    image = fit_to_shape(normalised, image_shape)[None]
    scan = scan.clamp(low, high)  # in the file's axis order, as the model saw its values
    return ProjectionTarget(image, scan, (low, high), path, affine, to_ras, slice_index if spatial_dims == 2 else None)


def _reoriented(array: torch.Tensor, orientation: np.ndarray, inverse: bool = False) -> torch.Tensor:
    """(C, X, Y, Z) in the file's axis order -> RAS order (``inverse``: back), by nibabel's orientation."""
    if inverse:
        orientation = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt("RAS"), orientation)
    moved = nib.orientations.apply_orientation(np.moveaxis(array.numpy(), 0, -1), orientation)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(moved, -1, 0)))


def to_input_grid(image: torch.Tensor, target: ProjectionTarget) -> torch.Tensor:
    """An image (C, *model shape) in [-1, 1] on the scan's grid in the scan's units: resized to the padded size,
    the padding cropped (as :func:`medgan.data.image_set.fit_to_shape` padded it), the orientation undone."""
    oriented = _reoriented_shape(target)
    padded = padded_sizes(oriented, image.shape[1:])
    mode = "bilinear" if image.dim() == 3 else "trilinear"
    resized = F.interpolate(image[None].float().cpu(), size=padded, mode=mode, align_corners=False)[0]
    crop = tuple(slice((p - s) // 2, (p - s) // 2 + s) for p, s in zip(padded, oriented))
    values = denormalize(resized[(slice(None), *crop)], *target.intensity_range)
    return _reoriented(values, target.to_ras, inverse=True) if target.to_ras is not None else values


def _reoriented_shape(target: ProjectionTarget) -> list[int]:
    """The scan's spatial shape in the order the model saw it (RAS for a volume)."""
    shape = list(target.scan.shape[1:])
    if target.to_ras is None:
        return shape
    return [shape[int(axis)] for axis in target.to_ras[:, 0].argsort()]


Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ms_ssim_weights(image_shape: Sequence[int], window: int = SSIM_WINDOW) -> tuple[float, ...]:
    """The MS-SSIM scale weights for images of spatial ``image_shape``: the first of the five standard weights (Wang,
    Simoncelli and Bovik 2003, MONAI's defaults) for as many scales as the image allows, renormalised to sum to 1.

    A scale k (0-based) needs every side halved k times to hold the ``window`` (and MONAI's own check of the smallest
    side). Returns () when fewer than two scales fit: the distance then uses single-scale SSIM.
    """
    smallest = min(int(s) for s in image_shape)
    scales = 0
    for count in range(1, len(MS_SSIM_WEIGHTS) + 1):
        fits = smallest // 2 ** (count - 1) >= window and smallest // max(1, count - 1) ** 2 > window - 1
        if not fits:
            break
        scales = count
    if scales < 2:
        return ()
    total = sum(MS_SSIM_WEIGHTS[:scales])
    return tuple(weight / total for weight in MS_SSIM_WEIGHTS[:scales])


def image_distance(spatial_dims: int, image_shape: Sequence[int], similarity: str = "ssim") -> Distance:
    """``distance(x, y)`` = mean |x - y| + (1 - similarity(x, y)) for images (B, C, *image_shape) in [-1, 1].

    ``similarity``: ``"ssim"`` (the default; MONAI's ``SSIMLoss``) or ``"ms_ssim"`` (MS-SSIM, Wang, Simoncelli and
    Bovik 2003, over the scales :func:`ms_ssim_weights` allows: a 64 px slice 4 of the 5, a 32^3 volume 3; images too
    small for two scales use SSIM). Both with a Gaussian window of ``min(7, smallest side)`` pixels (odd, sigma 1.5)
    and data range 2. MS-SSIM's product of per-scale powers has unbounded gradients where a scale's contrast-structure
    term nears 0: at the reference's learning rate it made one of five projections of the quick-start StyleGAN diverge
    (bundle docs), so SSIM is the default.
    """
    if similarity not in SIMILARITIES:
        raise BadInputError(f"--project_similarity must be one of {', '.join(SIMILARITIES)}, not {similarity!r}.")
    window = min(SSIM_WINDOW, min(int(s) for s in image_shape))
    window -= 1 - window % 2
    window = max(window, 1)
    weights = ms_ssim_weights(image_shape, window) if similarity == "ms_ssim" else ()
    if not weights:
        ssim = SSIMLoss(spatial_dims, data_range=2.0, win_size=window)
        return lambda x, y: (x - y).abs().mean() + ssim(x.float(), y.float())

    def distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        value = compute_ms_ssim(x.float(), y.float(), spatial_dims, data_range=2.0, kernel_size=window,
                                weights=weights)  # fmt: skip
        return (x - y).abs().mean() + 1.0 - value.mean()

    return distance


def feature_distance(extractor: nn.Module) -> Distance:
    """``distance(x, y)`` = the sum of squared differences of ``extractor``'s features of x and y."""
    return lambda x, y: (extractor(x) - extractor(y)).square().sum()


def load_extractor(path: str | Path, device: torch.device | str) -> nn.Module:
    """A user's TorchScript feature extractor in eval mode, its parameters frozen.

    Raises:
        BadInputError: a missing file or one that is not TorchScript.
    """
    extractor = load_feature_extractor(path, device, key="project_feature_extractor")  # in eval mode
    for parameter in extractor.parameters():
        parameter.requires_grad_(False)
    return extractor


def noise_regularization(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """The reference's noise regulariser: for every map (1, 1, *spatial) and its 2x average-pooled versions down to a
    smallest side of at most 8, the squared mean of the map times itself shifted by one (cyclically) along each
    spatial axis, summed. Near 0 for independent noise; large when the map carries structure (an image)."""
    total = maps[0].new_zeros(())
    for noise in maps:
        while True:
            for axis in range(2, noise.dim()):
                total = total + (noise * torch.roll(noise, shifts=1, dims=axis)).mean().square()
            if min(noise.shape[2:]) <= PYRAMID_MIN_SIDE:
                break
            noise = F.avg_pool2d(noise, 2) if noise.dim() == 4 else F.avg_pool3d(noise, 2)
    return total


def _learning_rate(t: float, initial: float) -> float:
    """Learning rate at progress ``t`` in [0, 1): cosine ramp-down over the last LR_RAMPDOWN, linear ramp-up over
    the first LR_RAMPUP."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial * ramp * min(1.0, t / LR_RAMPUP)


@dataclass
class ProjectionResult:
    """``ws`` (1, num_ws, w_dim) and ``noise`` (maps (1, 1, *spatial), in the order the generator adds them) that
    reconstruct the target; ``image`` (1, C, *shape) is ``generator(ws=ws)`` with those maps; ``snapshots``
    (SNAPSHOTS, C, *shape) the reconstructions along the way; ``losses`` the distance at every step."""

    ws: torch.Tensor
    noise: list[torch.Tensor]
    image: torch.Tensor
    snapshots: torch.Tensor
    losses: list[float] = field(default_factory=list)
    space: str = "w"


def w_statistics(generator: nn.Module, samples: int, seed: int) -> tuple[torch.Tensor, float]:
    """``w_avg`` (1, 1, w_dim) and ``w_std`` of the ws of ``samples`` random z (drawn from ``seed``)."""
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    ws = []
    with torch.no_grad():
        for start in range(0, samples, MAPPING_BATCH):
            z = torch.randn((min(MAPPING_BATCH, samples - start), generator.latent_size), generator=rng)
            ws.append(generator.mapping(z.to(device)).double())
    ws = torch.cat(ws)
    w_avg = ws.mean(dim=0, keepdim=True)
    w_std = float(((ws - w_avg).square().sum() / len(ws)).sqrt())
    return w_avg.float()[None], w_std


def project(
    generator: nn.Module,
    target: torch.Tensor,
    steps: int = 1000,
    space: str = "w",
    learning_rate: float = LEARNING_RATE,
    noise_weight: float = NOISE_REGULARIZATION,
    w_avg_samples: int = W_AVG_SAMPLES,
    seed: int = 0,
    distance: Distance | None = None,
) -> ProjectionResult:
    """Find the ws and noise maps whose image is closest to ``target`` (1, C, *image shape) in [-1, 1] (see the
    module docstring). ``seed`` fixes the w samples, the initial noise maps and the latent noise, so the same call
    gives the same result. ``distance(image, target)``: default :func:`image_distance`.

    Raises:
        BadInputError: ``steps`` < 1, an unknown ``space``, a target of another shape than the generator's images.
    """
    if steps < 1:
        raise BadInputError(f"--project_steps must be 1 or more, not {steps}; the reference takes 1000.")
    if space not in SPACES:
        raise BadInputError(f"--project_space must be w or w+, not {space!r}; change --project_space.")
    device = next(generator.parameters()).device
    generator.eval()
    frozen = [(parameter, parameter.requires_grad) for parameter in generator.parameters()]
    for parameter, _ in frozen:
        parameter.requires_grad_(False)
    try:
        return _optimise(generator, target.to(device), steps, space, learning_rate, noise_weight, w_avg_samples,
                         seed, distance)  # fmt: skip
    finally:
        for parameter, wanted in frozen:
            parameter.requires_grad_(wanted)


def _optimise(generator, target, steps, space, learning_rate, noise_weight, w_avg_samples, seed, distance):
    device = target.device
    z = torch.zeros((1, generator.latent_size), device=device)
    w_avg, w_std = w_statistics(generator, w_avg_samples, seed)
    w_avg = w_avg.to(device)
    layers = called_noise_layers(generator, lambda: generator(z, ws=w_avg.expand(1, generator.num_ws, -1)))
    rng = torch.Generator().manual_seed(seed)
    maps = [torch.randn(shape, generator=rng).to(device).requires_grad_(True) for _, shape in layers]
    layers = [layer for layer, _ in layers]
    probe = _render(generator, z, w_avg.expand(1, generator.num_ws, -1), layers, maps)
    if probe.shape != target.shape:
        raise BadInputError(
            f"the scan was fitted to {tuple(target.shape[1:])} but the generator makes {tuple(probe.shape[1:])}; "
            "give a scan for this model."
        )
    distance = distance or image_distance(target.dim() - 2, target.shape[2:])
    w_opt = (w_avg if space == "w" else w_avg.repeat(1, generator.num_ws, 1)).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt, *maps], lr=learning_rate, betas=ADAM_BETAS)
    keep = {round(k * (steps - 1) / max(SNAPSHOTS - 1, 1)) for k in range(SNAPSHOTS)}
    snapshots, losses = [], []
    for step in range(steps):
        t = step / steps
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(t, learning_rate)
        noise_scale = w_std * INITIAL_NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        w_noise = torch.randn(w_opt.shape, generator=rng).to(device) * noise_scale
        ws = (w_opt + w_noise).expand(1, generator.num_ws, -1)
        image = _render(generator, z, ws, layers, maps)
        dist = distance(image, target)
        loss = dist + noise_weight * noise_regularization(maps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(dist.detach()))
        with torch.no_grad():
            for noise in maps:
                noise -= noise.mean()
                noise *= noise.square().mean().rsqrt()
            if step in keep:
                snapshots.append(_render(generator, z, w_opt.expand(1, generator.num_ws, -1), layers, maps).cpu())
    final_ws = w_opt.detach().expand(1, generator.num_ws, -1).clone()
    noise = [m.detach().clone() for m in maps]
    with torch.no_grad():
        image = _render(generator, z, final_ws, layers, noise).cpu()
    return ProjectionResult(final_ws.cpu(), [m.cpu() for m in noise], image, torch.cat(snapshots), losses, space)


def _render(generator, z, ws, layers, maps) -> torch.Tensor:
    with given_noise(layers, maps):
        return generator(z, ws=ws)


@torch.no_grad()
def render_with_noise(generator: nn.Module, ws: torch.Tensor, noise: Sequence[torch.Tensor]) -> torch.Tensor:
    """Images (N, C, *spatial) on the CPU of ws (N, num_ws, w_dim), each with the projection's noise maps."""
    device = next(generator.parameters()).device
    z = torch.zeros((1, generator.latent_size), device=device)
    layers = [layer for layer, _ in called_noise_layers(generator, lambda: generator(z, ws=ws[:1].to(device)))]
    maps = [m.to(device) for m in noise]
    return torch.cat([_render(generator, z, w[None].to(device), layers, maps).float().cpu() for w in ws])


@torch.no_grad()
def projected_style_mixing(
    generator: nn.Module,
    result: ProjectionResult,
    seeds: Sequence[int],
    cutoff: int | None = None,
    truncation_psi: float = 1.0,
) -> torch.Tensor:
    """Style mixing with a projected scan: for every seed, (scan, seed, the scan's coarse styles (w indices below
    ``cutoff``, default half) with the seed's fine ones, the seed's coarse styles with the scan's fine ones), all with
    the projection's noise maps.

    Returns:
        (4 * len(seeds), C, *spatial) on the CPU, row by row.
    """
    generator.eval()
    device = next(generator.parameters()).device
    cutoff = generator.num_ws // 2 if cutoff is None else int(cutoff)
    scan = result.ws[0].to(device)
    rows = []
    for seed in seeds:
        other = generator.map(z_for_seed(int(seed), generator.latent_size).to(device), truncation_psi)[0]
        rows += [scan, other, torch.cat([scan[:cutoff], other[cutoff:]]), torch.cat([other[:cutoff], scan[cutoff:]])]
    return render_with_noise(generator, torch.stack(rows), result.noise)


@torch.no_grad()
def real_and_generated_map(
    generator: nn.Module,
    real_ws: torch.Tensor,
    path: str | Path,
    num_points: int = 256,
    seed: int = 0,
    truncation_psi: float = 1.0,
    method: str = "auto",
    labels: Sequence[str] | None = None,
) -> tuple[np.ndarray, str]:
    """The latent map of real scans beside generated ones (the COMP3710 StyleGAN2 project's plot): the ws of
    ``num_points`` random z and the projected ``real_ws`` (R, num_ws, w_dim) (their mean over the layers for a W+
    projection) embedded together in 2-D (:func:`medgan.latent_exploration.embed_2d`: UMAP with ``umap-learn``, else
    PCA), generated points in grey, real ones as labelled red stars; the figure is written to ``path``.

    Returns:
        coordinates (num_points + R, 2), generated first, and the method used.
    """
    import matplotlib.pyplot as plt  # the Agg backend, which medgan.latent_exploration selects

    device = next(generator.parameters()).device
    z = torch.randn((num_points, generator.latent_size), generator=torch.Generator().manual_seed(seed)).to(device)
    generated = generator.map(z, truncation_psi)[:, 0].float().cpu()
    real = real_ws.float().cpu().mean(dim=1)
    coordinates, method = embed_2d(torch.cat([generated, real]), method, seed)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(coordinates[:num_points, 0], coordinates[:num_points, 1], c="0.6", s=10, label="generated (random z)")
    ax.scatter(coordinates[num_points:, 0], coordinates[num_points:, 1], c="red", marker="*", s=160,
               label="projected real scan")  # fmt: skip
    for index, (name, (x, y)) in enumerate(zip(labels or [], coordinates[num_points:])):
        # labels stacked downwards by their order, so those of scans that project close together stay readable
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(8, 6 - 11 * index), fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.5})  # fmt: skip
    ax.set_title(f"{method.upper()} of {num_points} sampled w and {len(real)} projected scan(s)")
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return coordinates, method


def latent_map_sources(patterns: str | Sequence[str] | None) -> list[Path]:
    """The files of ``latent_map_images``: each entry a file or a glob pattern (``heldout/*.npy``), patterns expanded
    in sorted order, duplicates dropped. Missing files are reported when they are read (:func:`load_target`).

    Raises:
        BadInputError: a pattern that matches no file.
    """
    if patterns is None:
        return []
    sources: list[Path] = []
    for entry in [patterns] if isinstance(patterns, str) else list(patterns):
        if not str(entry).strip():
            raise BadInputError("--latent_map_images has an empty entry; give files or glob patterns of scans.")
        if glob.has_magic(str(entry)):
            matches = sorted(Path(m) for m in glob.glob(str(entry)) if Path(m).is_file())
            if not matches:
                raise BadInputError(
                    f"--latent_map_images pattern {entry} matches no file; give files or a pattern that matches scans."
                )
            sources += matches
        else:
            sources.append(Path(entry))
    return list(dict.fromkeys(sources))


def check_projection(
    generator: nn.Module,
    project_image: str | None,
    output_dir: str,
    overwrite: bool = False,
    project_slice: int | None = None,
    feature_extractor: str | None = None,
    edit_direction: int | None = None,
    sefa_layers: Sequence[int] | None = None,
    latent_map_images: str | Sequence[str] | None = None,
) -> None:
    """Refuse a projection request that cannot run, in one sentence, before inference writes anything: the scan (see
    :func:`load_target`) and the latent map's further scans, the feature extractor, the SeFa direction and layers, and
    files of the projection's names in ``output_dir`` that medgan did not write (or earlier projections without
    ``overwrite``). Nothing to check without ``project_image``."""
    if project_image is None:
        if latent_map_images is not None:
            raise BadInputError(
                "--latent_map_images adds scans to the map of a projection; give --project_image too (the scan to "
                "project and edit)."
            )
        return
    settings = _model_shape(generator)
    load_target(project_image, *settings, slice_index=project_slice)
    for source in latent_map_sources(latent_map_images):
        load_target(source, *settings, slice_index=project_slice, key="latent_map_images")
    if feature_extractor is not None:
        load_extractor(feature_extractor, "cpu")
    if edit_direction is not None:
        w_dim = generator.mapping.w_dim
        if not 0 <= int(edit_direction) < w_dim:
            raise BadInputError(
                f"--edit_direction {edit_direction} is not a SeFa direction; there are {w_dim} (0 = the strongest)."
            )
        chosen_layers(generator, sefa_layers)
    check_output_dir(output_dir, overwrite, PROJECTION_PATTERNS, "a projection", create=False)


def _model_shape(generator: nn.Module) -> tuple[int, int, list[int]]:
    """(spatial_dims, channels, image shape) of a StyleGAN or StyleGAN2 generator's images."""
    with torch.no_grad():
        device = next(generator.parameters()).device
        z = torch.zeros((1, generator.latent_size), device=device)
        shape = generator.eval()(z).shape
    return len(shape) - 2, int(shape[1]), [int(s) for s in shape[2:]]


def project_and_save(
    generator: nn.Module,
    project_image: str | None,
    output_dir: str,
    steps: int = 1000,
    space: str = "w",
    learning_rate: float = LEARNING_RATE,
    noise_weight: float = NOISE_REGULARIZATION,
    w_avg_samples: int = W_AVG_SAMPLES,
    seed: int = 0,
    project_slice: int | None = None,
    feature_extractor: str | None = None,
    mixing_seeds: Sequence[int] = (0, 1),
    mixing_cutoff: int | None = None,
    truncation_psi: float = 1.0,
    edit_direction: int | None = None,
    edit_strength: float = 3.0,
    sefa_layers: Sequence[int] | None = None,
    edit_steps: int = 8,
    latent_map_points: int = 256,
    embedding: str = "auto",
    latent_map_images: str | Sequence[str] | None = None,
    similarity: str = "ssim",
) -> dict[str, Path]:
    """Project ``project_image`` and write the files of the module docstring to ``output_dir``, adding them to its
    output manifest (a step of the inference run that wrote the samples there; :func:`check_projection` ran before
    it). Nothing happens without ``project_image``. Returns the paths written, by name.

    ``latent_map_images`` (files or glob patterns, :func:`latent_map_sources`): further scans projected with the same
    settings for the latent map only; their ws are beside the scan's in ``projection_latent_map.png`` and in
    ``projection_latent.pt`` (``map_ws`` (R, num_ws, w_dim), ``map_sources``). ``similarity``: the image distance's
    (:func:`image_distance`) when there is no ``feature_extractor``."""
    if project_image is None:
        return {}
    device = next(generator.parameters()).device
    spatial_dims, channels, shape = _model_shape(generator)
    target = load_target(project_image, spatial_dims, channels, shape, project_slice)
    distance = image_distance(spatial_dims, shape, similarity)
    if feature_extractor is not None:
        distance = feature_distance(load_extractor(feature_extractor, device))
    result = project(generator, target.image, steps, space, learning_rate, noise_weight, w_avg_samples, seed,
                     distance)  # fmt: skip
    map_sources = [s for s in latent_map_sources(latent_map_images) if s.resolve() != target.source.resolve()]
    map_ws = [result.ws]
    for source in map_sources:
        other = load_target(source, spatial_dims, channels, shape, project_slice, key="latent_map_images")
        projected = project(generator, other.image, steps, space, learning_rate, noise_weight, w_avg_samples, seed,
                            distance)  # fmt: skip
        map_ws.append(projected.ws)
        logger.info(
            f"projected {source.name} for the latent map: distance {projected.losses[0]:.4f} -> "
            f"{projected.losses[-1]:.4f}"
        )
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    reconstruction = to_input_grid(result.image[0], target)
    paths["reconstruction"] = _write_on_scan_grid(reconstruction, target, folder / f"{PREFIX}_reconstruction")
    anomaly = (target.scan - reconstruction).abs()
    paths["anomaly"] = _write_anomaly(anomaly, target, folder / f"{PREFIX}_anomaly")
    paths["latent"] = folder / f"{PREFIX}_latent.pt"
    torch.save(
        {"ws": result.ws, "noise": result.noise, "space": result.space, "losses": result.losses, "steps": steps,
         "source": target.source.name, "intensity_range": list(target.intensity_range),
         "slice_index": target.slice_index, "map_ws": torch.cat(map_ws),
         "map_sources": [target.source.name] + [source.name for source in map_sources]},
        paths["latent"],
    )  # fmt: skip
    model_anomaly = (target.image.cpu() - result.image).abs() - 1.0  # 0..2 shown as black..white
    strip = torch.cat([target.image.cpu(), result.snapshots, result.image, model_anomaly])
    paths["figure"] = folder / f"{PREFIX}.png"
    save_png(preview_grid(strip, ncols=len(strip)), str(paths["figure"]))
    mixing = projected_style_mixing(generator, result, mixing_seeds, mixing_cutoff, truncation_psi)
    paths["style_mixing"] = folder / f"{PREFIX}_style_mixing.png"
    save_png(preview_grid(mixing, ncols=4), str(paths["style_mixing"]))
    if edit_direction is not None:
        layers = chosen_layers(generator, sefa_layers)
        direction = sefa_directions(generator, layers)[0][int(edit_direction)]
        strengths = torch.linspace(0.0, float(edit_strength), edit_steps)
        edits = render_with_noise(generator, apply_direction(result.ws.expand(edit_steps, -1, -1), direction,
                                                             strengths, layers), result.noise)  # fmt: skip
        paths["edit"] = folder / f"{PREFIX}_edit.png"
        save_png(preview_grid(edits, ncols=edit_steps), str(paths["edit"]))
        edited = to_input_grid(edits[-1], target)
        paths["edited"] = _write_on_scan_grid(edited, target, folder / f"{PREFIX}_edited")
    if latent_map_points:
        paths["latent_map"] = folder / f"{PREFIX}_latent_map.png"
        labels = [target.source.name] + [source.name for source in map_sources]
        real_and_generated_map(generator, torch.cat(map_ws), paths["latent_map"], latent_map_points, mixing_seeds[0],
                               truncation_psi, embedding, labels)  # fmt: skip
    add_outputs(folder, paths.values())
    logger.info(
        f"projected {target.source.name} in {steps} steps ({space}): distance {result.losses[0]:.4f} -> "
        f"{result.losses[-1]:.4f}; wrote {', '.join(sorted(p.name for p in paths.values()))} to {folder}"
    )
    return paths


def _write_on_scan_grid(image: torch.Tensor, target: ProjectionTarget, path: Path) -> Path:
    """An image (C, *scan spatial) in the scan's units: NIfTI with the scan's affine (3D), else a PNG in the scan's
    units (:func:`medgan.inference.png_picture`)."""
    low, high = target.intensity_range
    if target.is_volume:
        return _write_nifti(image, target.affine, path)
    normalised = normalize(image, intensity_range=(low, high))[0]
    path = path.with_suffix(".png")
    save_png(png_picture(normalised, (low, high)), str(path))
    return path


def _write_anomaly(anomaly: torch.Tensor, target: ProjectionTarget, path: Path) -> Path:
    """3D: a float32 NIfTI of |scan - reconstruction| in the scan's units with its affine. 2D: an 8-bit PNG, 0 for
    no difference and 255 for the whole normalised range (|difference| of 2 in [-1, 1] units, i.e. ``high - low``)."""
    if target.is_volume:
        return _write_nifti(anomaly, target.affine, path)
    low, high = target.intensity_range
    return write_image(anomaly / (high - low) * 2.0 - 1.0, path)


def _write_nifti(image: torch.Tensor, affine: np.ndarray, path: Path) -> Path:
    """A float32 NIfTI of (C, X, Y, Z) (channels last when more than one) at ``path`` + ``.nii.gz``."""
    path = path.with_name(path.name + ".nii.gz")
    array = image.float().numpy()
    array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    nib.save(nib.Nifti1Image(array, affine), str(path))
    return path
