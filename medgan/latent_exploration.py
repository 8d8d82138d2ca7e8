"""Looking into a style-based generator's latent space: a 2-D map of w vectors, interpolation, style mixing.

- :func:`latent_map`: sample w = mapping(z) for many seeds, embed them in 2-D with UMAP (McInnes et al. 2018;
  the optional ``umap-learn`` package) or, without it, PCA, and colour each point by a property of the image it
  generates (the foreground fraction: how much of the slice or volume is tissue), as the COMP3710 StyleGAN2
  brain-MRI project shows its UMAP of the latent space.
- :func:`interpolation_strip`: images along the straight line in W between the ws of two seeds.
- :func:`style_mixing_row`: two seeds and their mixes, coarse styles (layers before ``cutoff``) from one and fine
  styles from the other (Karras et al. 2019, Sec. 3.1).

Images of one figure share the same noise maps (each is generated under the same ``noise_seed``), so what changes
between them comes from w alone. Generators must offer ``map(z, truncation_psi)`` -> ws (B, num_ws, w_dim),
``forward(z, ws=ws)`` and ``latent_size``, as :class:`medgan.networks.StyleGAN2Generator` does.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import matplotlib
import numpy as np
import torch

from medgan.output_manifest import add_outputs
from medgan.utils import seeded
from medgan.visualize import preview_grid, save_png

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = [
    "embed_2d",
    "explore_latent_space",
    "foreground_fraction",
    "interpolation_strip",
    "latent_map",
    "style_mixing_row",
    "z_for_seed",
]

logger = logging.getLogger(__name__)
FOREGROUND_THRESHOLD = -0.5
EXPLORATION_FIGURES = ("latent_map", "interpolation", "style_mixing")
EXPLORATION_PATTERNS = tuple(f"{name}.png" for name in EXPLORATION_FIGURES)  # what explore_latent_space writes
"""Values above this (images in [-1, 1], background at -1) count as foreground."""


def z_for_seed(seed: int, latent_size: int) -> torch.Tensor:
    """The latent (1, latent_size) of ``seed``: the first latent ``medgan.inference.generate_samples`` draws for it."""
    return torch.randn((1, latent_size), generator=torch.Generator().manual_seed(seed))


def foreground_fraction(images: torch.Tensor, threshold: float = FOREGROUND_THRESHOLD) -> torch.Tensor:
    """Fraction of pixels (voxels) above ``threshold`` per image: (B, C, *spatial) -> (B,)."""
    return (images > threshold).flatten(1).float().mean(dim=1)


def embed_2d(vectors: torch.Tensor, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates (N, 2) of ``vectors`` (N, D) and the method used: ``"umap"`` (needs ``umap-learn``),
    ``"pca"`` (principal components by SVD of the centred vectors), or ``"auto"``: UMAP when installed, else PCA."""
    if method == "auto":
        method = "umap" if importlib.util.find_spec("umap") is not None else "pca"
    data = vectors.double().cpu()
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(data.numpy()), method
    if method != "pca":
        raise ValueError(f"method must be 'auto', 'umap' or 'pca', got {method!r}.")
    centred = data - data.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ vh[:2].T).numpy(), method


@torch.no_grad()
def _synthesize(generator: torch.nn.Module, ws: torch.Tensor, noise_seed: int) -> torch.Tensor:
    """Images (N, C, *spatial) on the CPU for ws (N, num_ws, w_dim), one at a time, each with the noise maps of
    ``noise_seed``."""
    device = next(generator.parameters()).device
    z = torch.zeros((1, generator.latent_size), device=device)
    images = []
    for w in ws:
        with seeded(noise_seed, device):
            images.append(generator(z, ws=w[None].to(device)).float().cpu())
    return torch.cat(images)


@torch.no_grad()
def latent_map(
    generator: torch.nn.Module,
    path: str | Path,
    num_points: int = 256,
    seed: int = 0,
    truncation_psi: float = 1.0,
    method: str = "auto",
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Plot the w of ``num_points`` random z in 2-D, coloured by the foreground fraction of their images.

    Returns:
        (coordinates (N, 2), foreground fractions (N,), the method used); the figure is written to ``path``.
    """
    generator.eval()
    device = next(generator.parameters()).device
    z = torch.randn((num_points, generator.latent_size), generator=torch.Generator().manual_seed(seed)).to(device)
    ws = generator.map(z, truncation_psi)
    with seeded(seed, device):
        images = torch.cat(
            [
                generator(z[i : i + batch_size], ws=ws[i : i + batch_size]).float().cpu()
                for i in range(0, len(z), batch_size)
            ]
        )
    values = foreground_fraction(images).numpy()
    coordinates, method = embed_2d(ws[:, 0], method, seed)
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(coordinates[:, 0], coordinates[:, 1], c=values, cmap="viridis", s=12)
    fig.colorbar(points, ax=ax, label="foreground fraction of the generated image")
    ax.set_title(f"{method.upper()} of {num_points} sampled w vectors (psi={truncation_psi:g})")
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return coordinates, values, method


@torch.no_grad()
def interpolation_strip(
    generator: torch.nn.Module, seed_a: int, seed_b: int, steps: int = 8, truncation_psi: float = 1.0
) -> torch.Tensor:
    """Images (steps, C, *spatial) at ws lerp(w_a, w_b, t), t = 0 ... 1, for the latents of two seeds."""
    generator.eval()
    device = next(generator.parameters()).device
    z = torch.cat([z_for_seed(seed_a, generator.latent_size), z_for_seed(seed_b, generator.latent_size)]).to(device)
    ws = generator.map(z, truncation_psi)
    t = torch.linspace(0.0, 1.0, steps, device=device).reshape(-1, 1, 1)
    return _synthesize(generator, ws[:1].lerp(ws[1:], t), seed_a)


@torch.no_grad()
def style_mixing_row(
    generator: torch.nn.Module, seed_a: int, seed_b: int, cutoff: int | None = None, truncation_psi: float = 1.0
) -> torch.Tensor:
    """Images (4, C, *spatial): seed A, seed B, A's coarse styles with B's fine ones, B's coarse with A's fine.

    ``cutoff`` is the first layer that takes the other seed's w (default: half of ``num_ws``).
    """
    generator.eval()
    device = next(generator.parameters()).device
    z = torch.cat([z_for_seed(seed_a, generator.latent_size), z_for_seed(seed_b, generator.latent_size)]).to(device)
    ws = generator.map(z, truncation_psi)
    cutoff = generator.num_ws // 2 if cutoff is None else cutoff
    a_b = torch.cat([ws[0, :cutoff], ws[1, cutoff:]])
    b_a = torch.cat([ws[1, :cutoff], ws[0, cutoff:]])
    return _synthesize(generator, torch.stack([ws[0], ws[1], a_b, b_a]), seed_a)


def explore_latent_space(
    generator: torch.nn.Module,
    output_dir: str | Path,
    seeds: list[int] | tuple[int, int] = (0, 1),
    truncation_psi: float = 1.0,
    num_points: int = 256,
    interpolation_steps: int = 8,
    style_mixing_cutoff: int | None = None,
    method: str = "auto",
    batch_size: int = 16,
) -> dict[str, Path]:
    """Write ``latent_map.png``, ``interpolation.png`` and ``style_mixing.png`` (see the functions above) to
    ``output_dir`` for two ``seeds``; returns their paths by name."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    seed_a, seed_b = (int(s) for s in seeds)
    paths = {name: folder / f"{name}.png" for name in EXPLORATION_FIGURES}
    _, _, used = latent_map(generator, paths["latent_map"], num_points, seed_a, truncation_psi, method, batch_size)
    strip = interpolation_strip(generator, seed_a, seed_b, interpolation_steps, truncation_psi)
    save_png(preview_grid(strip, ncols=interpolation_steps), str(paths["interpolation"]))
    mixing = style_mixing_row(generator, seed_a, seed_b, style_mixing_cutoff, truncation_psi)
    save_png(preview_grid(mixing, ncols=4), str(paths["style_mixing"]))
    add_outputs(folder, paths.values())  # beside the samples in the run's manifest: --overwrite replaces them
    logger.info(f"wrote a {used.upper()} latent map, an interpolation strip and a style-mixing row to {folder}")
    return paths
