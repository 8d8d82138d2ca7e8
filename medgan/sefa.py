"""Latent directions without labels: closed-form factorisation of the style weights (SeFa).

Shen and Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021 (arXiv:2007.06600), Sec. 3.2: a
style layer maps w to its styles by an affine map ``y = A w + b``; moving w by ``alpha * n`` moves the styles by
``alpha * A n``, so the directions that change the styles most are the unit vectors maximising ``|A n|^2``, the
eigenvectors of ``A^T A`` with the largest eigenvalues. With several layers, their weights are stacked into one A
(rows: every style of every chosen layer, columns: w); as the authors' code does, each row is first scaled to unit
norm, so no layer dominates by the scale of its weights (this also removes the equalized-LR gain). All layers are
chosen by default, as in the paper.

The style layers of w index ``i`` are the affine maps that read ``ws[:, i]``: StyleGAN2's
``ModulatedConv.affine`` (:class:`medgan.networks.StyleGAN2Generator`; a ToImage layer shares its w with the next
level's first convolution) and StyleGAN's ``AdaIN.style`` (:class:`medgan.networks.StyleGANGenerator`, the styles
of its active stages only).

- :func:`style_layers`, :func:`sefa_directions`: the factorisation.
- :func:`apply_direction`: ``ws + strength * n`` on the chosen w indices (the edit SeFa makes).
- :func:`traversal_strips`, :func:`write_directions`: images along the top directions, the figure inference writes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from medgan.errors import BadInputError
from medgan.output_manifest import add_outputs
from medgan.utils import seeded
from medgan.visualize import preview_grid, save_png

__all__ = [
    "DIRECTIONS_FIGURE",
    "DIRECTIONS_FILE",
    "apply_direction",
    "chosen_layers",
    "sefa_directions",
    "style_layers",
    "traversal_strips",
    "write_directions",
]

logger = logging.getLogger(__name__)
DIRECTIONS_FIGURE = "sefa_directions.png"
DIRECTIONS_FILE = "sefa_directions.pt"
SEFA_PATTERNS = (DIRECTIONS_FIGURE, DIRECTIONS_FILE)


def style_layers(generator: nn.Module) -> list[list[nn.Module]]:
    """The affine style layers (``EqualizedLinear``, weight (styles, w_dim)) that read each w index, one list per
    index in use: ``num_ws`` lists for StyleGAN2, ``2 * (stage + 1)`` for StyleGAN."""
    from medgan.networks import StyleGAN2Generator, StyleGANGenerator

    if isinstance(generator, StyleGAN2Generator):
        synthesis = generator.synthesis
        layers: list[list[nn.Module]] = [[] for _ in range(synthesis.num_ws)]
        layers[0].append(synthesis.base_conv.conv.affine)
        layers[1].append(synthesis.base_to_image.conv.affine)
        for level, block in enumerate(synthesis.blocks):  # block k reads ws[:, 1 + 2k : 4 + 2k]
            first = 1 + 2 * level
            layers[first].append(block.conv0.conv.affine)
            layers[first + 1].append(block.conv1.conv.affine)
            layers[first + 2].append(block.to_image.conv.affine)
        return layers
    if isinstance(generator, StyleGANGenerator):
        layers = []
        for index, block in enumerate(generator.blocks):
            if index > int(generator.stage):
                break
            first = block.epilogue if index == 0 else block.conv0.epilogue
            second = block.conv.epilogue if index == 0 else block.conv1.epilogue
            layers += [[first.adain.style], [second.adain.style]]
        return layers
    raise BadInputError(f"SeFa directions need a StyleGAN or StyleGAN2 generator, not a {type(generator).__name__}.")


def chosen_layers(generator: nn.Module, layers: Sequence[int] | None) -> list[int]:
    """The w indices ``layers`` (None: all in use), checked against the generator.

    Raises:
        BadInputError: an index the generator does not use.
    """
    in_use = len(style_layers(generator))
    if layers is None:
        return list(range(in_use))
    chosen = sorted({int(index) for index in layers})
    if not chosen or chosen[-1] >= in_use:
        raise BadInputError(
            f"--sefa_layers {list(layers)} names a layer this generator does not have; it has style layers 0 to "
            f"{in_use - 1} (coarse to fine), give indices in that range or null for all."
        )
    return chosen


@torch.no_grad()
def sefa_directions(generator: nn.Module, layers: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa's directions for the style layers of the w indices ``layers`` (None: all).

    Returns:
        directions (w_dim, w_dim) float32, row k the k-th unit direction, orthonormal, and eigenvalues (w_dim,) of
        ``A^T A`` (A: the row-normalised stacked style weights, (sum of styles, w_dim)), largest first.
    """
    modules = [module for index in chosen_layers(generator, layers) for module in style_layers(generator)[index]]
    stacked = torch.cat([module.weight.detach().double().cpu() for module in modules])  # (styles, w_dim)
    stacked = stacked / stacked.norm(dim=1, keepdim=True).clamp_min(1e-12)
    eigenvalues, eigenvectors = torch.linalg.eigh(stacked.T @ stacked)  # ascending, columns are vectors
    order = eigenvalues.argsort(descending=True)
    return eigenvectors[:, order].T.float().contiguous(), eigenvalues[order].float()


def apply_direction(
    ws: torch.Tensor, direction: torch.Tensor, strength: float | torch.Tensor, layers: Sequence[int]
) -> torch.Tensor:
    """``ws`` (B, num_ws, w_dim) moved by ``strength * direction`` (w_dim,) on the w indices ``layers``; a
    ``strength`` tensor (B,) moves each sample by its own amount."""
    mask = torch.zeros(ws.shape[1], 1, device=ws.device, dtype=ws.dtype)
    mask[list(layers)] = 1.0
    strength = torch.as_tensor(strength, device=ws.device, dtype=ws.dtype).reshape(-1, 1, 1)
    return ws + strength * mask * direction.to(ws.device, ws.dtype)


@torch.no_grad()
def traversal_strips(
    generator: nn.Module,
    ws: torch.Tensor,
    directions: torch.Tensor,
    layers: Sequence[int],
    strength: float,
    steps: int,
    noise_seed: int = 0,
) -> torch.Tensor:
    """Images along each direction: for direction k (rows of ``directions`` (K, w_dim)) and ``steps`` strengths
    from ``-strength`` to ``strength``, ``generator(ws=apply_direction(ws, directions[k], s, layers))``; ``ws``
    (1, num_ws, w_dim) is the image in the middle. Every image has the noise maps of ``noise_seed``.

    Returns:
        (K * steps, C, *spatial) on the CPU, direction by direction.
    """
    generator.eval()
    device = next(generator.parameters()).device
    z = torch.zeros((1, generator.latent_size), device=device)
    images = []
    for direction in directions:
        for value in torch.linspace(-strength, strength, steps).tolist():
            with seeded(noise_seed, device):
                edited = apply_direction(ws.to(device), direction, value, layers)
                images.append(generator(z, ws=edited).float().cpu())
    return torch.cat(images)


def write_directions(
    generator: nn.Module,
    output_dir: str | Path,
    num_directions: int = 5,
    layers: Sequence[int] | None = None,
    strength: float = 3.0,
    steps: int = 7,
    seed: int = 0,
    truncation_psi: float = 1.0,
) -> dict[str, Path]:
    """Write ``sefa_directions.png`` (one row per direction, the top ``num_directions`` first, ``steps`` images
    from ``-strength`` to ``strength`` around the w of ``seed``'s latent) and ``sefa_directions.pt`` (``directions``
    (w_dim, w_dim), ``eigenvalues`` (w_dim,), ``layers``: the w indices factorised), and add them to the output
    manifest of ``output_dir`` (a step of the inference run that wrote the samples there)."""
    folder = Path(output_dir)
    used = chosen_layers(generator, layers)
    directions, eigenvalues = sefa_directions(generator, used)
    device = next(generator.parameters()).device
    z = torch.randn((1, generator.latent_size), generator=torch.Generator().manual_seed(seed))  # as z_for_seed
    ws = generator.map(z.to(device), truncation_psi)
    count = min(num_directions, len(directions))
    strips = traversal_strips(generator, ws, directions[:count], used, strength, steps, seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"figure": folder / DIRECTIONS_FIGURE, "directions": folder / DIRECTIONS_FILE}
    save_png(preview_grid(strips, ncols=steps), str(paths["figure"]))
    torch.save({"directions": directions, "eigenvalues": eigenvalues, "layers": used}, paths["directions"])
    add_outputs(folder, paths.values())
    logger.info(f"wrote {count} SeFa directions (layers {used}) to {folder}")
    return paths
