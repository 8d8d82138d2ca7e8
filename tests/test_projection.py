"""Projection of real scans into StyleGAN2 / StyleGAN generators, the anomaly map, SeFa directions
(:mod:`medgan.projection`, :mod:`medgan.sefa`), on tiny generators (2D 16 px, 3D 8^3) and end to end through
``monai.bundle.run("inferring")`` on a saved tiny model."""

from __future__ import annotations

import json
import math
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import bundle_copy
from monai.bundle import run as run_bundle
from PIL import Image

from medgan.errors import BadInputError, find_bad_input
from medgan.layers.noise import called_noise_layers, given_noise
from medgan.model_file import save_model_file
from medgan.networks import StyleGAN2Generator, StyleGANGenerator
from medgan.output_manifest import MANIFEST
from medgan.projection import (
    _learning_rate,
    image_distance,
    load_target,
    ms_ssim_weights,
    noise_regularization,
    project,
    to_input_grid,
)
from medgan.sefa import apply_direction, sefa_directions, style_layers, traversal_strips

LATENT = 8
STYLEGAN2 = {"spatial_dims": 2, "image_shape": [16, 16], "base_shape": [4, 4], "channels": 1, "latent_size": LATENT,
             "w_dim": LATENT, "mapping_layers": 2, "max_channels": 8, "channel_halving_resolution": 16,
             "embedded_sample_data": True}  # fmt: skip
STYLEGAN2_3D = {**STYLEGAN2, "spatial_dims": 3, "image_shape": [8, 8, 8], "base_shape": [4, 4, 4]}
STYLEGAN = {"spatial_dims": 2, "image_size": 16, "channels": 1, "latent_size": LATENT, "w_dim": LATENT,
            "max_channels": 8, "channel_halving_resolution": 8, "num_stages": 3, "mapping_layers": 2,
            "mapping_lr_multiplier": 0.01, "embedded_sample_data": True}  # fmt: skip
FAST = {"project_steps": 20, "project_w_avg_samples": 200, "num_latent_points": 8, "num_samples": 1}


def stylegan2(settings: dict) -> StyleGAN2Generator:
    return StyleGAN2Generator(
        settings["spatial_dims"], settings["image_shape"], settings["base_shape"], latent_size=LATENT, w_dim=LATENT,
        mapping_layers=2, max_channels=8, channel_halving_resolution=16,
    )  # fmt: skip


def stylegan(settings: dict = STYLEGAN) -> StyleGANGenerator:
    return StyleGANGenerator(settings["spatial_dims"], settings["num_stages"], latent_size=LATENT, w_dim=LATENT,
                             max_channels=8, channel_halving_resolution=8, mapping_layers=2)  # fmt: skip


@torch.no_grad()
def as_trained(generator: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Noise strengths as training leaves them (not 0), so the noise maps matter."""
    torch.manual_seed(seed)
    for name, value in generator.named_parameters():
        if name.endswith("strength"):
            value.fill_(0.3)
    return generator.eval()


GENERATORS = {
    "stylegan2_2d": lambda: as_trained(stylegan2(STYLEGAN2)),
    "stylegan2_3d": lambda: as_trained(stylegan2(STYLEGAN2_3D)),
    "stylegan_2d": lambda: as_trained(stylegan()),
}


FAST_PROJECTION = ("stylegan2_2d", "w")  # the other generator and space pairs are in the slow tier


@pytest.mark.parametrize(
    ("name", "space"),
    [
        pytest.param(name, space, marks=() if (name, space) == FAST_PROJECTION else pytest.mark.slow)
        for name in sorted(GENERATORS)
        for space in ("w", "w+")
    ],
)
def test_projecting_a_generated_image_recovers_it_better_than_a_random_latent(name, space):
    generator = GENERATORS[name]()
    with torch.no_grad():
        torch.manual_seed(1)
        target = generator(torch.randn(1, LATENT))
        torch.manual_seed(2)
        unrelated = generator(torch.randn(1, LATENT))
    distance = image_distance(target.dim() - 2, target.shape[2:])
    result = project(generator, target, steps=150, space=space, w_avg_samples=500, seed=0)
    assert result.ws.shape == (1, generator.num_ws, LATENT)
    assert float(distance(result.image, target)) < 0.9 * float(distance(unrelated, target))
    assert result.losses[-1] < result.losses[0]
    assert result.snapshots.shape[1:] == target.shape[1:]
    if space == "w":  # one w on every layer
        assert torch.equal(result.ws, result.ws[:, :1].expand_as(result.ws))
    # the result is what the generator makes from the returned ws and noise maps; the same seed gives the same one
    z = torch.zeros(1, LATENT)
    layers = [layer for layer, _ in called_noise_layers(generator, lambda: generator(z, ws=result.ws))]
    with torch.no_grad(), given_noise(layers, result.noise):
        torch.testing.assert_close(generator(z, ws=result.ws), result.image)
    once, again = (project(generator, target, steps=5, space=space, w_avg_samples=50, seed=4) for _ in range(2))
    torch.testing.assert_close(again.ws, once.ws)


def test_the_settings_admit_exactly_the_projectors_choices():
    from medgan.projection import SIMILARITIES, SPACES
    from medgan.setting_ranges import SETTINGS

    assert SETTINGS["project_space"].choices == SPACES
    assert SETTINGS["project_similarity"].choices == SIMILARITIES


def test_ms_ssim_scales_are_the_standard_weights_that_fit_renormalised():
    standard = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    assert ms_ssim_weights([256, 256]) == pytest.approx([w / sum(standard) for w in standard])
    # 64 px: halved 3 times it is 8 >= 7 (and 64 // 3**2 = 7 > 6, MONAI's check); a 4th halving (4 px) no longer fits
    assert ms_ssim_weights([64, 80]) == pytest.approx([w / sum(standard[:4]) for w in standard[:4]])
    assert len(ms_ssim_weights([32, 32, 32])) == 3
    assert len(ms_ssim_weights([14, 14])) == 2
    assert ms_ssim_weights([13, 40]) == ()  # one scale: single-scale SSIM


def _plain_ms_ssim(x: torch.Tensor, y: torch.Tensor, weights, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """MS-SSIM of 2D images (1, 1, H, W) in [-1, 1] by the paper's formula: prod_k cs_k^w_k, with the last scale's
    full SSIM in place of its cs, a separable Gaussian window without padding, 2x2 average pooling between scales."""
    c1, c2 = (0.01 * 2.0) ** 2, (0.03 * 2.0) ** 2
    g = torch.exp(-((torch.arange(window) - window // 2) ** 2) / (2 * sigma**2))
    kernel = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    result = torch.tensor(1.0)
    for k, weight in enumerate(weights):
        mx, my = (torch.nn.functional.conv2d(v, kernel) for v in (x, y))
        vx = torch.nn.functional.conv2d(x * x, kernel) - mx**2
        vy = torch.nn.functional.conv2d(y * y, kernel) - my**2
        cov = torch.nn.functional.conv2d(x * y, kernel) - mx * my
        cs = (2 * cov + c2) / (vx + vy + c2)
        value = ((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs).mean() if k == len(weights) - 1 else cs.mean()
        result = result * value.clamp(min=0) ** weight
        x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
    return result


def test_image_distance_is_l1_plus_one_minus_ms_ssim_and_has_gradients():  # --project_similarity ms_ssim
    torch.manual_seed(0)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 1, 8, 8) * 2 - 1, size=(64, 64), mode="bilinear")
    image = (0.7 * smooth + 0.05 * torch.randn_like(smooth)).requires_grad_(True)
    distance = image_distance(2, [64, 64], "ms_ssim")
    value = distance(image, smooth)
    plain = image.detach()
    expected = (plain - smooth).abs().mean() + 1 - _plain_ms_ssim(plain, smooth, ms_ssim_weights([64, 64]))
    assert float(value.detach()) == pytest.approx(float(expected), abs=1e-5)
    assert float(distance(smooth, smooth)) == pytest.approx(0.0, abs=1e-6)
    value.backward()
    l1_only = torch.full_like(image, 1 / image.numel())
    assert torch.isfinite(image.grad).all() and not torch.allclose(image.grad.abs(), l1_only)  # MS-SSIM pulls too
    small = image_distance(3, [8, 8, 8], "ms_ssim")  # one scale: single-scale SSIM
    volume = torch.rand(1, 1, 8, 8, 8) * 2 - 1
    assert float(small(volume, volume)) == pytest.approx(0.0, abs=1e-6)
    assert float(small(volume, -volume)) > 1.0


def test_bad_projection_settings_are_one_sentence():
    generator = GENERATORS["stylegan2_2d"]()
    with pytest.raises(BadInputError, match="--project_steps must be 1 or more"):
        project(generator, torch.zeros(1, 1, 16, 16), steps=0)
    with pytest.raises(BadInputError, match="--project_space must be w or w\\+"):
        project(generator, torch.zeros(1, 1, 16, 16), steps=1, space="z")
    with pytest.raises(BadInputError, match="the generator makes"):
        project(generator, torch.zeros(1, 1, 8, 8), steps=1, w_avg_samples=10)


def test_noise_regularization_is_small_for_noise_and_large_for_structure():
    rng = torch.Generator().manual_seed(0)
    noise = [torch.randn(1, 1, 32, 32, generator=rng), torch.randn(1, 1, 16, 16, 16, generator=rng)]
    ramp = torch.linspace(-1.7, 1.7, 32).reshape(1, 1, 1, 32).expand(1, 1, 32, 32)
    assert float(noise_regularization(noise)) < 1e-2
    assert float(noise_regularization([ramp])) > 1.0


def test_learning_rate_ramps_as_the_reference():
    assert _learning_rate(0.0, 0.1) == 0.0
    assert _learning_rate(0.05, 0.1) == pytest.approx(0.1)
    assert _learning_rate(0.5, 0.1) == pytest.approx(0.1)
    assert _learning_rate(0.875, 0.1) == pytest.approx(0.05)  # halfway down the cosine over the last quarter
    assert _learning_rate(0.999, 0.1) < 1e-4


def write_png(path, shape=(40, 48)):
    rows, cols = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    array = (120 + 100 * np.exp(-2 * (rows**2 + (cols - 0.2) ** 2)) + 30 * rows).astype(np.uint8)
    Image.fromarray(array, "L").save(path)
    return path


def write_volume(path, affine, shape=(14, 12, 10)):
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    data = 800 * np.exp(-2 * ((grid[0] - 0.3) ** 2 + grid[1] ** 2 + grid[2] ** 2)) + 200 * grid[1] + 300
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    return path


LPS_AFFINE = np.array([[-2.0, 0, 0, 10], [0, -1.5, 0, 20], [0, 0, 2.5, -30], [0, 0, 0, 1]])
RAS_AFFINE = np.array([[2.0, 0, 0, -10], [0, 1.5, 0, -20], [0, 0, 2.5, -30], [0, 0, 0, 1]])


@pytest.mark.parametrize("affine", [RAS_AFFINE, LPS_AFFINE], ids=["ras", "lps"])
def test_a_volume_goes_to_the_model_grid_and_back_onto_its_own(tmp_path, affine):
    path = write_volume(tmp_path / "scan.nii.gz", affine)
    target = load_target(path, 3, 1, [8, 8, 8])
    assert target.image.shape == (1, 1, 8, 8, 8) and -1 <= target.image.min() and target.image.max() <= 1
    back = to_input_grid(target.image[0], target)
    assert back.shape == target.scan.shape == (1, 14, 12, 10)
    low, high = target.intensity_range
    assert float((back - target.scan).abs().mean()) < 0.05 * (high - low)  # only the resampling's blur
    flipped = to_input_grid(target.image[0].flip(1), target)  # a wrong orientation would be this far off
    assert float((flipped - target.scan).abs().mean()) > 2 * float((back - target.scan).abs().mean())


def test_a_png_and_a_volume_slice_go_to_a_2d_model(tmp_path):
    target = load_target(write_png(tmp_path / "slice.png"), 2, 1, [16, 16])
    assert target.image.shape == (1, 1, 16, 16) and target.scan.shape == (1, 40, 48)
    back = to_input_grid(target.image[0], target)
    low, high = target.intensity_range
    assert back.shape == (1, 40, 48) and float((back - target.scan).abs().mean()) < 0.05 * (high - low)
    volume = load_target(write_volume(tmp_path / "scan.nii.gz", RAS_AFFINE), 2, 1, [16, 16], slice_index=3)
    assert volume.slice_index == 3 and volume.scan.shape == (1, 12, 14)  # an axial picture: rows A-P, columns L-R


@pytest.mark.parametrize(
    ("spatial_dims", "kwargs", "phrase"),
    [(3, {}, "is a 2D image but the model is 3D"), (2, {"channels": 3}, "has 1 channel(s) but the model has 3"),
     (2, {"missing": True}, "does not exist")],
)  # fmt: skip
def test_unusable_scans_are_one_sentence(tmp_path, spatial_dims, kwargs, phrase):
    path = tmp_path / "absent.png" if kwargs.get("missing") else write_png(tmp_path / "slice.png")
    with pytest.raises(BadInputError) as caught:
        load_target(path, spatial_dims, kwargs.get("channels", 1), [16] * spatial_dims)
    assert phrase in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(BadInputError, match="--project_slice 99 is outside"):
        load_target(write_volume(tmp_path / "scan.nii.gz", RAS_AFFINE), 2, 1, [16, 16], slice_index=99)


def test_sefa_matches_a_hand_computation_on_a_tiny_weight():
    generator = StyleGAN2Generator(2, [8, 8], latent_size=2, w_dim=2, mapping_layers=1, max_channels=4,
                                   channel_halving_resolution=64)  # fmt: skip
    with torch.no_grad():  # rows normalised: (1, 0), (0, 1), (a, a), (a, a), a = 1/sqrt(2): A^T A = [[2, 1], [1, 2]]
        generator.synthesis.base_conv.conv.affine.weight.copy_(torch.tensor([[2.0, 0], [0, 5], [1, 1], [3, 3]]))
    directions, eigenvalues = sefa_directions(generator, layers=[0])
    torch.testing.assert_close(eigenvalues, torch.tensor([3.0, 1.0]))
    half = 1 / math.sqrt(2)
    torch.testing.assert_close(directions[0].abs(), torch.tensor([half, half]))
    torch.testing.assert_close(directions[1] * directions[1][0].sign(), torch.tensor([half, -half]))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_sefa_directions_are_orthonormal_and_come_from_every_style_layer(name):
    generator = GENERATORS[name]()
    directions, eigenvalues = sefa_directions(generator)
    torch.testing.assert_close(directions @ directions.T, torch.eye(LATENT), atol=1e-5, rtol=0)
    assert torch.all(eigenvalues[:-1] >= eigenvalues[1:])
    layers = style_layers(generator)
    assert len(layers) == (generator.num_ws if isinstance(generator, StyleGAN2Generator) else 2 * 3)
    # the eigenvalues sum to the number of stacked rows (each row has unit norm): every layer's styles are in A
    rows = sum(module.weight.shape[0] for group in layers for module in group)
    assert float(eigenvalues.sum()) == pytest.approx(rows, rel=1e-5)


def test_a_direction_moves_only_the_chosen_layers_and_the_strip_is_centred_on_the_latent():
    generator = GENERATORS["stylegan2_2d"]()
    directions, _ = sefa_directions(generator, layers=[0, 1])
    ws = generator.map(torch.randn(1, LATENT, generator=torch.Generator().manual_seed(3)))
    moved = apply_direction(ws, directions[0], 2.0, [0, 1])
    torch.testing.assert_close(moved[:, 2:], ws[:, 2:])
    torch.testing.assert_close(moved[:, :2] - ws[:, :2], 2.0 * directions[0].expand(1, 2, -1))
    strips = traversal_strips(generator, ws, directions[:2], [0, 1], strength=3.0, steps=3, noise_seed=5)
    assert strips.shape == (6, 1, 16, 16)
    torch.manual_seed(5)
    with torch.no_grad():
        torch.testing.assert_close(strips[1:2], generator(torch.zeros(1, LATENT), ws=ws))


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    """The bundles install a brief-error hook in ``initialize``; keep it out of the rest of the session."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


def saved_bundle(tmp_path, name: str, settings: dict, generator: torch.nn.Module):
    bundle = bundle_copy(name, tmp_path)
    save_model_file(bundle / "models" / "model.pt", generator, name, settings)
    return bundle


def infer(bundle, output_dir, **overrides):
    run_bundle("inferring", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
               ckpt_path=str(bundle / "models" / "model.pt"), output_dir=str(output_dir), **overrides)  # fmt: skip


def test_stylegan2_inference_projects_a_png_and_writes_every_figure(tmp_path):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2, GENERATORS["stylegan2_2d"]())
    scan = write_png(tmp_path / "scan.png")
    out = tmp_path / "out"
    infer(bundle, out, project_image=str(scan), edit_direction=0, sefa_directions=2, **FAST)
    recorded = set(json.loads((out / MANIFEST).read_text())["files"])
    projection = {"projection.png", "projection_reconstruction.png", "projection_anomaly.png", "projection_latent.pt",
                  "projection_style_mixing.png", "projection_edit.png", "projection_edited.png",
                  "projection_latent_map.png"}  # fmt: skip
    explored = {"latent_map.png", "interpolation.png", "style_mixing.png", "sefa_directions.png", "sefa_directions.pt"}
    assert projection | explored | {"sample_0000.png", "samples.png"} <= recorded
    for name in ("projection_reconstruction.png", "projection_anomaly.png", "projection_edited.png"):
        with Image.open(out / name) as image:
            assert image.size == (48, 40)  # the scan's grid, (W, H)
    latent = torch.load(out / "projection_latent.pt", weights_only=True)
    assert latent["ws"].shape == (1, 6, LATENT) and latent["space"] == "w" and len(latent["losses"]) == 20
    sefa = torch.load(out / "sefa_directions.pt", weights_only=True)
    assert sefa["directions"].shape == (LATENT, LATENT) and sefa["layers"] == list(range(6))
    with Image.open(out / "sefa_directions.png") as image:
        assert image.size[0] >= 8 * 16  # interpolation_steps images per row
    # a second run into the same folder is refused, and with --overwrite replaces exactly what the first wrote
    with pytest.raises(Exception) as caught:
        infer(bundle, out, project_image=str(scan), **FAST)
    assert "--overwrite" in str(find_bad_input(caught.value))
    infer(bundle, out, project_image=str(scan), overwrite=True, **FAST)
    assert not (out / "projection_edit.png").exists()


@pytest.mark.parametrize("name", ["latent_map.png", "sefa_directions.png", "projection.png"])
def test_a_users_file_of_a_later_steps_name_is_refused_before_anything_is_written(tmp_path, name):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2, GENERATORS["stylegan2_2d"]())
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(b"the user's figure")
    with pytest.raises(Exception) as caught:
        infer(bundle, out, project_image=str(write_png(tmp_path / "scan.png")), **FAST)
    assert f"holds {name}, which medgan did not write there" in str(find_bad_input(caught.value))
    assert sorted(p.name for p in out.iterdir()) == [name] and (out / name).read_bytes() == b"the user's figure"


def test_3d_anomaly_map_is_on_the_scans_grid_with_its_affine(tmp_path):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2_3D, GENERATORS["stylegan2_3d"]())
    scan = write_volume(tmp_path / "scan.nii.gz", LPS_AFFINE)
    out = tmp_path / "out"
    infer(bundle, out, project_image=str(scan), project_space="w+", explore_latents=False, **FAST)
    for name in ("projection_anomaly.nii.gz", "projection_reconstruction.nii.gz"):
        written = nib.load(out / name)
        assert written.shape == (14, 12, 10)
        np.testing.assert_allclose(written.affine, LPS_AFFINE)
    anomaly = np.asarray(nib.load(out / "projection_anomaly.nii.gz").dataobj)
    assert anomaly.min() >= 0 and anomaly.max() > 0
    assert not (out / "sefa_directions.png").exists()  # SeFa and the latent map are part of the latent exploration
    assert not (out / "projection_latent_map.png").exists()


def test_stylegan_inference_explores_and_projects(tmp_path):
    settings = {**STYLEGAN, "num_stages": 2}
    bundle = saved_bundle(tmp_path, "stylegan", settings, as_trained(stylegan(settings)))
    out = tmp_path / "out"
    infer(bundle, out, project_image=str(write_png(tmp_path / "scan.png")), explore_latents=True, **FAST)
    names = {path.name for path in out.iterdir()}
    assert {"latent_map.png", "interpolation.png", "style_mixing.png", "sefa_directions.png", "projection.png",
            "projection_anomaly.png", "projection_style_mixing.png"} <= names  # fmt: skip


def test_further_scans_join_the_latent_map_through_a_glob_pattern(tmp_path):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2, GENERATORS["stylegan2_2d"]())
    scans = tmp_path / "heldout"
    scans.mkdir()
    first = write_png(scans / "slice_a.png")
    write_png(scans / "slice_b.png", shape=(44, 40))
    write_png(scans / "slice_c.png", shape=(32, 32))
    (scans / "notes.txt").write_text("not a scan")  # the pattern picks only what it names
    out = tmp_path / "out"
    infer(bundle, out, project_image=str(first), latent_map_images=str(scans / "*.png"), project_similarity="ms_ssim",
          **FAST)  # fmt: skip
    latent = torch.load(out / "projection_latent.pt", weights_only=True)
    # the projected scan once (the pattern also matches it), then the others in sorted order
    assert latent["map_sources"] == ["slice_a.png", "slice_b.png", "slice_c.png"]
    assert latent["map_ws"].shape == (3, 6, LATENT)
    torch.testing.assert_close(latent["map_ws"][:1], latent["ws"])
    assert not torch.allclose(latent["map_ws"][1], latent["map_ws"][2])
    assert (out / "projection_latent_map.png").stat().st_size > 0


def test_latent_map_images_draw_the_map_without_explore_latents(tmp_path):
    settings = {**STYLEGAN, "num_stages": 2}
    bundle = saved_bundle(tmp_path, "stylegan", settings, as_trained(stylegan(settings)))
    scan, other = write_png(tmp_path / "scan.png"), write_png(tmp_path / "other.png", shape=(30, 30))
    out = tmp_path / "out"
    infer(bundle, out, project_image=str(scan), latent_map_images=[str(other)], explore_latents=False, **FAST)
    assert (out / "projection_latent_map.png").stat().st_size > 0
    assert not (out / "latent_map.png").exists()  # the rest of the latent exploration stays off
    assert torch.load(out / "projection_latent.pt", weights_only=True)["map_sources"] == ["scan.png", "other.png"]


@pytest.mark.parametrize(
    ("entry", "phrase"),
    [("", "has an empty entry"), ("folder", "--latent_map_images {tmp}/folder is a folder without DICOM")],
)
def test_an_empty_or_folder_entry_names_the_setting(tmp_path, entry, phrase):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2, GENERATORS["stylegan2_2d"]())
    (tmp_path / "folder").mkdir()
    value = str(tmp_path / entry) if entry else entry
    with pytest.raises(Exception) as caught:
        infer(bundle, tmp_path / "out", project_image=str(write_png(tmp_path / "scan.png")), latent_map_images=value,
              **FAST)  # fmt: skip
    assert phrase.format(tmp=tmp_path) in str(find_bad_input(caught.value))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [({"latent_map_images": "missing/*.png"}, "--latent_map_images pattern"),
     ({"latent_map_images": ["absent.png"]}, "--latent_map_images"),
     ({"latent_map_images": "scan.png", "project_image": None}, "give --project_image too")],
)  # fmt: skip
def test_bad_latent_map_images_stop_before_anything_is_written(tmp_path, overrides, phrase):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2, GENERATORS["stylegan2_2d"]())
    write_png(tmp_path / "scan.png")
    overrides = {"project_image": str(tmp_path / "scan.png"), **overrides}
    value = overrides["latent_map_images"]
    in_tmp = [str(tmp_path / v) for v in value] if isinstance(value, list) else str(tmp_path / value)
    overrides["latent_map_images"] = in_tmp
    with pytest.raises(Exception) as caught:
        infer(bundle, tmp_path / "out", **{**FAST, **overrides})
    assert phrase in str(find_bad_input(caught.value))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [({"project_image": "absent.nii.gz"}, "does not exist"),
     ({"project_image": "scan.png", "project_steps": 0}, "--project_steps must be a whole number"),
     ({"project_image": "scan.png", "project_space": "z"}, "--project_space must be one of w, w+"),
     ({"project_image": "scan.png", "project_similarity": "l2"}, "--project_similarity must be one of ssim, ms_ssim"),
     ({"project_image": "scan.png", "sefa_layers": [99], "edit_direction": 0}, "--sefa_layers [99] names a layer")],
)  # fmt: skip
def test_bad_projection_input_stops_before_anything_is_written(tmp_path, overrides, phrase):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2, GENERATORS["stylegan2_2d"]())
    write_png(tmp_path / "scan.png")
    overrides = {**overrides, "project_image": str(tmp_path / overrides["project_image"])}
    with pytest.raises(Exception) as caught:
        infer(bundle, tmp_path / "out", **{**FAST, **overrides})
    assert phrase in str(find_bad_input(caught.value))
    assert not (tmp_path / "out").exists()


def test_a_2d_scan_for_a_3d_model_is_refused_before_anything_is_written(tmp_path):
    bundle = saved_bundle(tmp_path, "stylegan2", STYLEGAN2_3D, GENERATORS["stylegan2_3d"]())
    with pytest.raises(Exception) as caught:
        infer(bundle, tmp_path / "out", project_image=str(write_png(tmp_path / "scan.png")), **FAST)
    assert "is a 2D image but the model is 3D" in str(find_bad_input(caught.value))
    assert not (tmp_path / "out").exists()


def test_the_real_versus_generated_map_embeds_the_scans_with_the_samples(tmp_path):
    from medgan.projection import real_and_generated_map

    generator = GENERATORS["stylegan_2d"]()
    real = generator.map(torch.randn(2, LATENT, generator=torch.Generator().manual_seed(9)))
    coordinates, method = real_and_generated_map(generator, real, tmp_path / "map.png", num_points=10, method="pca",
                                                 labels=["a", "b"])  # fmt: skip
    assert coordinates.shape == (12, 2) and method == "pca" and (tmp_path / "map.png").stat().st_size > 0
