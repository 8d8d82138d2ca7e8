"""Preview images for people: sample grids (PNG), orthogonal mid-slices of volumes.

Array conventions: a 2D image is (C, H, W), rows first, as numpy and a PNG have it (``medgan.data`` loads bitmaps
so and turns axial slices of volumes into such pictures); a volume is (C, X, Y, Z) in RAS orientation, as a NIfTI
loads, and each of its planes is shown with anterior / superior up and the patient's right on the right.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

GRID_PADDING = 2  # pixels of black between tiles


def to_uint8(image: torch.Tensor | np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Map values in [low, high] to 0..255 (clipped)."""
    array = torch.as_tensor(image).detach().float().cpu().numpy()
    return (np.clip((array - low) / (high - low), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _picture(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> displayable (H, W) or (H, W, 3)."""
    return image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)


def orthogonal_mid_slices(volume: np.ndarray) -> list[np.ndarray]:
    """Axial, coronal and sagittal mid-slices of a (C, X, Y, Z) RAS volume, each displayable (rows, cols[, 3])."""
    _, x, y, z = volume.shape
    planes = (volume[:, :, :, z // 2], volume[:, :, y // 2, :], volume[:, x // 2, :, :])
    return [_picture(np.flip(plane.swapaxes(1, 2), axis=1)) for plane in planes]


def _side_by_side(pictures: list[np.ndarray]) -> np.ndarray:
    height = max(p.shape[0] for p in pictures)
    padded = [np.pad(p, [(0, height - p.shape[0]), (0, GRID_PADDING)] + [(0, 0)] * (p.ndim - 2)) for p in pictures]
    return np.concatenate(padded, axis=1)[:, :-GRID_PADDING]


def preview_tile(image: torch.Tensor | np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """One image (C, *spatial) as a uint8 picture: itself in 2D, its three mid-slices side by side in 3D."""
    array = to_uint8(image, low, high)
    if array.ndim == 3:
        return _picture(array)
    return _side_by_side(orthogonal_mid_slices(array))


def preview_grid(images: torch.Tensor, ncols: int | None = None, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """A grid of previews of a batch (B, C, *spatial) as a uint8 picture (rows, cols[, 3])."""
    tiles = [preview_tile(image, low, high) for image in images]
    ncols = ncols or math.ceil(math.sqrt(len(tiles)))
    nrows = math.ceil(len(tiles) / ncols)
    tile_h = max(t.shape[0] for t in tiles) + GRID_PADDING
    tile_w = max(t.shape[1] for t in tiles) + GRID_PADDING
    grid = np.zeros((nrows * tile_h - GRID_PADDING, ncols * tile_w - GRID_PADDING) + tiles[0].shape[2:], np.uint8)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, ncols)
        grid[row * tile_h : row * tile_h + tile.shape[0], col * tile_w : col * tile_w + tile.shape[1]] = tile
    return grid


def save_png(picture: np.ndarray, path: str) -> None:
    """Write a uint8 picture (rows, cols[, 3]) as PNG."""
    Image.fromarray(picture).save(path)
