import numpy as np
import torch

from medgan.visualize import orthogonal_mid_slices, preview_grid, preview_tile, to_uint8


def test_to_uint8_maps_range_and_clips():
    assert to_uint8(torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0])).tolist() == [0, 0, 128, 255, 255]


def test_2d_tile_is_rows_first():
    image = torch.zeros(1, 3, 5)  # (C, H, W)
    image[0, 0, 4] = 1.0  # top row, rightmost column
    tile = preview_tile(image)
    assert tile.shape == (3, 5) and tile[0, 4] == 255


def test_3d_mid_slices_put_superior_and_anterior_up():
    volume = np.zeros((1, 4, 6, 8), np.float32)
    volume[0, :, -1, :] = 1.0  # the most anterior row
    axial, coronal, sagittal = orthogonal_mid_slices(volume)
    assert axial.shape == (6, 4) and coronal.shape == (8, 4) and sagittal.shape == (8, 6)
    assert axial[0].min() == 1.0  # anterior is the top row of the axial view
    assert sagittal[:, -1].min() == 1.0  # anterior is the right column of the sagittal view


def test_grid_layout():
    grid = preview_grid(torch.zeros(5, 1, 8, 8), ncols=3)
    assert grid.shape == (2 * 8 + 2, 3 * 8 + 2 * 2)
    grid3d = preview_grid(torch.zeros(2, 1, 4, 6, 8), ncols=2)
    assert grid3d.shape[0] == 8
