"""ConSinGAN's applications (medgan.consingan_applications): the mask's dilation and compositing against hand
computations in 2D and 3D, super-resolution's shapes and grid, the animation's noise walk, the paint's quantisation,
the refusals; and, end to end in this process, ``inference.json`` with each ``application`` on tiny trained 2D and
3D models: the files it writes, their grid, the manifest, and the refusals before anything is written."""

from __future__ import annotations

import json
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, assert_bad_input, bundle_copy, train_tiny_consingan
from helpers import run_bundle as run_bundle_process
from monai.bundle import run as run_bundle
from PIL import Image

from medgan.consingan_applications import (
    APPLICATION_KEYS,
    APPLICATIONS,
    OUTPUT_PATTERNS,
    check_application_settings,
    composite,
    dilate_and_blur,
    inject,
    intensity_centers,
    load_mask,
    noise_walk,
    quantize_paint,
    super_resolution_shapes,
    super_resolve,
)
from medgan.errors import BadInputError, find_bad_input
from medgan.inference import resampled_affine
from medgan.networks import ConSinGANGenerator
from medgan.output_manifest import MANIFEST, recorded_outputs
from medgan.setting_ranges import CONSINGAN_APPLICATIONS


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    """The bundles install a brief-error hook in ``initialize``; keep it out of the rest of the session."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


def tiny_generator(
    spatial_dims: int, shapes: list[list[int]], padding: int = 1, padded_stages: int = 0
) -> ConSinGANGenerator:
    torch.manual_seed(0)
    generator = ConSinGANGenerator(spatial_dims, shapes, num_features=4, num_layers=2, padding=padding, cbam=False,
                                   num_stages=len(shapes), padded_stages=padded_stages)  # fmt: skip
    generator.noise_amps.fill_(0.1)
    return generator.eval()


# ---------------------------------------------------------------------------------------------- masks


def test_dilation_is_a_disk_in_2d_and_a_ball_in_3d():
    point = torch.zeros(1, 1, 15, 15)
    point[0, 0, 7, 7] = 1
    disk = dilate_and_blur(point, radius=2, sigma=0)[0, 0]
    yy, xx = np.mgrid[:15, :15]
    expected = ((yy - 7) ** 2 + (xx - 7) ** 2 <= 4).astype(np.float32)  # 13 pixels, by hand
    assert expected.sum() == 13
    np.testing.assert_array_equal(disk.numpy(), expected)
    volume = torch.zeros(1, 1, 9, 9, 9)
    volume[0, 0, 4, 4, 4] = 1
    assert dilate_and_blur(volume, radius=1, sigma=0).sum() == 7  # the voxel and its 6 face neighbours
    assert dilate_and_blur(volume, radius=2, sigma=0).sum() == 33  # integer points with x^2 + y^2 + z^2 <= 4


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_outside_the_dilated_blurred_mask_the_output_is_the_input_exactly(spatial_dims):
    size, radius, sigma = (31, 3, 1.0) if spatial_dims == 2 else (21, 2, 0.75)
    mask = torch.zeros(1, 1, *[size] * spatial_dims)
    centre = size // 2
    mask[(0, 0, *[slice(centre - 1, centre + 2)] * spatial_dims)] = 1
    soft = dilate_and_blur(mask, radius, sigma)
    assert soft.min() == 0 and soft.max() == 1
    assert (soft[mask.bool()] > 0.95).all()  # the marked region itself is (almost) all generated
    # the blur reaches radius + ceil(4 sigma) voxels beyond the dilated 3-voxel block, and no further
    reach = 1 + radius + int(np.ceil(4 * sigma))
    grid = np.stack(np.meshgrid(*[np.arange(size)] * spatial_dims, indexing="ij"))
    far = torch.from_numpy(np.abs(grid - centre).max(0) > reach)
    assert far.any() and (soft[0, 0][far] == 0).all()
    rng = torch.Generator().manual_seed(0)
    image, generated = (
        torch.rand(1, 1, *mask.shape[2:], generator=rng),
        torch.rand(3, 1, *mask.shape[2:], generator=rng),
    )
    out = composite(generated, image, soft)
    assert out.shape == generated.shape
    assert torch.equal(out[:, 0][:, far], image[0, 0][far].expand(3, -1))  # bit for bit
    # in between, the hand formula
    torch.testing.assert_close(out, soft * generated + (1 - soft) * image)


def test_composite_by_hand():
    generated, image = torch.tensor([[[2.0, 2.0, 2.0]]]), torch.tensor([[[-1.0, -1.0, -1.0]]])
    mask = torch.tensor([[[0.0, 0.25, 1.0]]])
    assert composite(generated, image, mask).tolist() == [[[-1.0, -0.25, 2.0]]]


def test_a_mask_that_does_not_fit_is_refused(tmp_path):
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(tmp_path / "empty.png")
    mask = np.zeros((20, 24), np.uint8)
    mask[5:9, 5:9] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    with pytest.raises(BadInputError, match="has shape \\[20, 24\\] but --input_image has \\[22, 24\\]"):
        load_mask(tmp_path / "mask.png", 2, [22, 24])
    with pytest.raises(BadInputError, match="marks nothing"):
        load_mask(tmp_path / "empty.png", 2, [20, 24])
    with pytest.raises(BadInputError, match="does not exist"):
        load_mask(tmp_path / "none.png", 2, [20, 24])
    with pytest.raises(BadInputError, match="2 spatial axes but the model is 3D"):
        load_mask(tmp_path / "mask.png", 3, [20, 24])
    loaded = load_mask(tmp_path / "mask.png", 2, [20, 24])
    assert loaded.shape == (1, 1, 20, 24) and loaded.sum() == 16


# ---------------------------------------------------------------------------------------------- super-resolution


def test_super_resolution_steps_by_the_pyramids_finest_step():
    shapes = [[5, 6], [10, 12], [20, 24]]  # finest step 2
    assert super_resolution_shapes(shapes, 4) == [[40, 48], [80, 96]]
    assert super_resolution_shapes(shapes, 2) == [[40, 48]]
    assert super_resolution_shapes(shapes, 3)[-1] == [60, 72]
    assert len(super_resolution_shapes([[20, 24]], 2)) == 3  # one stage: SinGAN's 2^(1/3) step
    with pytest.raises(BadInputError, match="does not enlarge"):
        super_resolution_shapes(shapes, 0.5)


@pytest.mark.parametrize(
    ("spatial_dims", "padding", "padded_stages"), [(2, 1, 0), (2, 0, 0), (2, 0, 1), (2, 0, 2), (3, 1, 0), (3, 0, 1)]
)
def test_super_resolution_shapes_and_affine(spatial_dims, padding, padded_stages):
    shapes = [[8, 9], [12, 14]] if spatial_dims == 2 else [[8, 9, 7], [12, 14, 10]]
    generator = tiny_generator(spatial_dims, shapes, padding, padded_stages)
    with torch.no_grad():
        torch.manual_seed(1)
        out = super_resolve(generator, 2.0, num_samples=2)
        torch.manual_seed(1)
        again = super_resolve(generator, 2.0, num_samples=2)
    expected = [2 * size for size in shapes[-1]]
    assert out.shape == (2, 1, *expected) and out.abs().max() <= 1
    torch.testing.assert_close(out, again)
    assert not torch.equal(out[0], out[1])  # each output its own noise
    if spatial_dims == 3:  # the enlarged volume covers the same field of view with voxels half the size
        affine = np.diag([2.0, 2.0, 2.0, 1.0])
        finer = resampled_affine(affine, shapes[-1], expected)
        np.testing.assert_allclose(np.diag(finer)[:3], [1.0, 1.0, 1.0])
        corner = np.array([-0.5, -0.5, -0.5, 1])
        np.testing.assert_allclose(finer @ corner, affine @ corner)


def test_injection_follows_the_image_before_start_stage():
    generator = tiny_generator(2, [[6, 7], [9, 10], [12, 14]])
    image = torch.rand(1, 1, 12, 14) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(0)
        first = inject(generator, image, generator.stage_shapes.tolist(), start_stage=3)
        torch.manual_seed(1)
        second = inject(generator, image, generator.stage_shapes.tolist(), start_stage=3)
        torch.manual_seed(1)
        noisy = inject(generator, image, generator.stage_shapes.tolist(), start_stage=1)
    assert torch.equal(first, second)  # no stage adds noise: deterministic
    assert not torch.equal(noisy, first)


# ---------------------------------------------------------------------------------------------- animation


def test_the_noise_walk_is_reproducible_smooth_and_anchored():
    anchors = [torch.randn(1, 1, 6, 7, generator=torch.Generator().manual_seed(5)), torch.zeros(1, 4, 9, 10)]
    with torch.random.fork_rng():
        torch.manual_seed(3)
        frames = noise_walk(anchors, 40, alpha=0.1, beta=0.9)
        torch.manual_seed(3)
        again = noise_walk(anchors, 40, alpha=0.1, beta=0.9)
        torch.manual_seed(4)
        other = noise_walk(anchors, 40, alpha=0.1, beta=0.9)
        fixed = noise_walk(anchors, 5, start_stage=1)
    assert len(frames) == 40 and all(f[0].shape == anchors[0].shape and f[1].shape == anchors[1].shape for f in frames)
    assert all(torch.equal(a, b) for f, g in zip(frames, again) for a, b in zip(f, g))
    assert not torch.equal(frames[5][0], other[5][0])
    stacked = torch.stack([torch.cat([f[0].flatten(), f[1].flatten()]) for f in frames])
    assert all(not torch.equal(stacked[i], stacked[i + 1]) for i in range(39))
    consecutive = (stacked[1:] - stacked[:-1]).norm(dim=1).mean()
    random_pairs = (stacked[torch.randperm(40, generator=torch.Generator().manual_seed(0))] - stacked).norm(dim=1)
    assert consecutive < 0.5 * random_pairs[random_pairs > 0].mean()
    assert all(torch.equal(f[0], anchors[0]) for f in fixed)  # stages before start_stage keep the anchor
    assert not torch.equal(fixed[0][1], anchors[1])


# ---------------------------------------------------------------------------------------------- paint


def test_paint_is_quantised_to_the_training_images_intensities():
    levels = torch.tensor([-0.8, 0.0, 0.7])
    reference = levels[torch.arange(60) % 3].reshape(1, 1, 6, 10) + 0.01 * torch.randn(1, 1, 6, 10)
    centers = intensity_centers(reference, 3)
    np.testing.assert_allclose(np.sort(centers[:, 0]), levels.numpy(), atol=0.02)
    paint = torch.tensor([-0.6, -0.65, 0.2, 0.15, 0.9, 0.95]).reshape(1, 1, 2, 3)
    quantized = quantize_paint(paint, centers)
    assert quantized.shape == paint.shape
    values = sorted(set(quantized.flatten().tolist()))
    np.testing.assert_allclose(values, np.sort(centers[:, 0]), atol=1e-6)  # every painted region takes a center
    assert quantized[0, 0, 0, 0] == quantized[0, 0, 0, 1] < quantized[0, 0, 0, 2] < quantized[0, 0, 1, 1]


# ---------------------------------------------------------------------------------------------- settings


def test_the_application_names_and_defaults_agree_with_the_config_and_the_ranges():
    config = json.loads((REPO_ROOT / "bundles" / "consingan" / "configs" / "inference.json").read_text())
    assert CONSINGAN_APPLICATIONS == APPLICATIONS and config["application"] == "sample"
    assert {key: config[key] for key in APPLICATION_KEYS} == {key: v[0] for key, v in APPLICATION_KEYS.items()}


@pytest.mark.parametrize(
    ("application", "settings", "phrase"),
    [("harmonization", {}, "needs --input_image"),
     ("paint", {}, "needs --input_image, the painted image"),
     ("sample", {"input_image": "x.png", "input_mask": "m.png"}, "--input_mask is for --application harmonization"),
     ("harmonization", {"input_image": "x.png", "mask_dilation": 3}, "--input_mask, which is not set"),
     ("animation", {"input_image": "x.png"}, "takes no --input_image"),
     ("super_resolution", {"start_stage": 2}, "takes no --start_stage"),
     ("super_resolution", {"output_shape": [30, 30]}, "drop --output_shape"),
     ("super_resolution", {"input_image": "x.png"}, "takes no --input_image"),
     ("sample", {"super_resolution_factor": 2.0}, "--super_resolution_factor is for --application super_resolution"),
     ("sample", {"animation_frames": 5}, "--animation_frames is for --application animation"),
     ("paint", {"input_image": "x.png", "paint_clusters": 1}, "--paint_clusters 1"),
     ("harmonisation", {}, "--application must be one of")],
)  # fmt: skip
def test_settings_that_make_no_sense_together_are_one_sentence(application, settings, phrase):
    with pytest.raises(BadInputError, match=phrase.replace("[", "\\[")):
        check_application_settings(application, settings)


# ---------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def trained(request, tmp_path_factory):
    return (request.param, *train_tiny_consingan(tmp_path_factory.mktemp(f"apps{request.param}d"), request.param))


def infer(bundle, output_dir, **overrides):
    """``inferring`` in this process with ``overrides`` (2 samples unless given); the names of the files written."""
    run_bundle("inferring", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
               output_dir=str(output_dir), **{"num_samples": 2, **overrides})  # fmt: skip
    return {p.name for p in output_dir.iterdir()} - {MANIFEST}


def write_mask(image, path, spatial_dims):
    """A block mask on ``image``'s grid (PNG in 2D, NIfTI with the scan's affine in 3D)."""
    if spatial_dims == 2:
        mask = np.zeros(np.asarray(Image.open(image)).shape, np.uint8)
        mask[5:10, 6:12] = 255
        Image.fromarray(mask).save(path)
    else:
        scan = nib.load(image)
        mask = np.zeros(scan.shape, np.uint8)
        mask[4:9, 4:8, 3:7] = 1
        nib.save(nib.Nifti1Image(mask, scan.affine), path)
    return path


def test_every_application_writes_its_files(trained, tmp_path):
    spatial_dims, bundle, image = trained
    suffix = ".png" if spatial_dims == 2 else ".nii.gz"
    settings = json.loads((bundle / "models" / "model_settings.json").read_text())["settings"]
    finest = settings["stage_shapes"][-1]
    mask = write_mask(image, tmp_path / f"mask{suffix}", spatial_dims)

    harmonized = infer(bundle, tmp_path / "harm", application="harmonization", input_image=str(image),
                       input_mask=str(mask), start_stage=1)  # fmt: skip
    assert harmonized == {
        f"harmonized_0000{suffix}",
        f"harmonized_0001{suffix}",
        f"mask_dilated{suffix}",
        "samples.png",
    }
    edited = infer(bundle, tmp_path / "edit", application="editing", input_image=str(image), input_mask=str(mask),
                   mask_dilation=1, mask_blur=0.5)  # fmt: skip
    assert f"edited_0001{suffix}" in edited and f"mask_dilated{suffix}" in edited
    painted = infer(bundle, tmp_path / "paint", application="paint", input_image=str(image), paint_clusters=3)
    assert {f"painted_0000{suffix}", f"paint_quantized{suffix}", "samples.png"} <= painted
    resolved = infer(bundle, tmp_path / "sr", application="super_resolution", super_resolution_factor=2)
    assert resolved == {f"super_resolved_0000{suffix}", f"super_resolved_0001{suffix}", "samples.png"}
    animated = infer(bundle, tmp_path / "anim", application="animation", animation_frames=4, num_samples=1)
    assert animated == (
        {"animation_0000.gif"} if spatial_dims == 2 else {"animation_0000.gif", "animation_0000.nii.gz"}
    )
    with Image.open(tmp_path / "anim" / "animation_0000.gif") as gif:  # 4 frames of 100 ms (equal ones merged)
        assert 1 <= gif.n_frames <= 4 and gif.info["loop"] == 0
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        assert sum(durations) == 400
    assert recorded_outputs(tmp_path / "harm") == harmonized

    enlarged = [2 * size for size in finest]
    if spatial_dims == 2:
        with Image.open(tmp_path / "sr" / "super_resolved_0000.png") as picture:
            assert picture.size == (enlarged[1], enlarged[0])
        with Image.open(tmp_path / "harm" / "harmonized_0000.png") as picture:
            out = np.asarray(picture)
        source = np.asarray(Image.open(image))
        if list(source.shape) == finest:  # on the input's grid: away from the mask, the input's pixels
            low, high = settings["intensity_range"]  # (values outside the training range are clipped to it)
            far = (source >= low) & (source <= high)
            far[0:16, 0:18] = False
            assert np.abs(out[far].astype(int) - source[far].astype(int)).max() <= 1
    else:
        scan = nib.load(image)
        resolved = nib.load(tmp_path / "sr" / "super_resolved_0000.nii.gz")
        assert list(resolved.shape) == enlarged
        np.testing.assert_allclose(
            resolved.affine, resampled_affine(scan.affine, list(scan.shape), enlarged), atol=1e-5
        )
        harmonized = nib.load(tmp_path / "harm" / "harmonized_0000.nii.gz")
        assert list(harmonized.shape) == finest
        np.testing.assert_allclose(
            harmonized.affine, resampled_affine(scan.affine, list(scan.shape), finest), atol=1e-5
        )
        series = nib.load(tmp_path / "anim" / "animation_0000.nii.gz")
        assert series.shape == (*finest, 4) and series.header.get_zooms()[3] == pytest.approx(0.1)  # 10 fps
        assert not np.array_equal(series.dataobj[..., 0], series.dataobj[..., 3])


def read_pixels(path):
    return np.asarray(Image.open(path)) if path.suffix == ".png" else nib.load(path).get_fdata()


def test_a_second_run_refuses_to_replace_outputs_and_the_same_seed_repeats(trained, tmp_path):
    out = tmp_path / "sr"
    first = infer(trained[1], out, application="super_resolution", super_resolution_factor=1.5)
    name = next(n for n in first if n.startswith("super_resolved_0000"))
    before = read_pixels(out / name)
    with pytest.raises(Exception) as caught:
        infer(trained[1], out, application="animation", animation_frames=2)
    assert "pass --overwrite true" in str(find_bad_input(caught.value))
    assert {p.name for p in out.iterdir()} - {MANIFEST} == first  # nothing replaced
    infer(trained[1], out, application="super_resolution", super_resolution_factor=1.5, overwrite=True)
    np.testing.assert_array_equal(read_pixels(out / name), before)


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [({"application": "harmonization"}, "needs --input_image"),
     ({"application": "editing", "input_image": "IMAGE", "input_mask": "BADMASK"}, "but --input_image has"),
     ({"application": "paint", "input_image": "IMAGE", "start_stage": 7}, "--start_stage 7 is outside"),
     ({"application": "super_resolution", "super_resolution_factor": 0.5}, "--super_resolution_factor must be"),
     ({"application": "animation", "animation_alpha": 2}, "--animation_alpha must be a number in [0, 1]"),
     ({"application": "harmonise"}, "--application must be one of"),
     ({"input_mask": "BADMASK"}, "--input_mask is for")],
)  # fmt: skip
def test_refusals_come_before_anything_is_written(trained, tmp_path, overrides, phrase):
    spatial_dims, bundle, image = trained
    bad_mask = tmp_path / ("bad.png" if spatial_dims == 2 else "bad.nii.gz")
    if spatial_dims == 2:
        Image.fromarray(np.full((7, 9), 255, np.uint8)).save(bad_mask)
    else:
        nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), np.eye(4)), bad_mask)
    given = {k: {"IMAGE": str(image), "BADMASK": str(bad_mask)}.get(v, v) if isinstance(v, str) else v
             for k, v in overrides.items()}  # fmt: skip
    with pytest.raises(Exception) as caught:
        infer(bundle, tmp_path / "out", **given)
    error = find_bad_input(caught.value)
    assert error is not None and phrase in str(error), caught.value
    assert not (tmp_path / "out").exists()


def test_output_patterns_cover_every_application():
    assert {pattern.split("*")[0] for pattern in OUTPUT_PATTERNS} >= {
        "sample_", "samples.png", "harmonized_", "edited_", "painted_", "super_resolved_", "animation_",
        "mask_dilated.", "paint_quantized.",
    }  # fmt: skip


def test_the_references_names_point_at_the_bundles_keys(tmp_path):
    bundle = bundle_copy("consingan", tmp_path)
    for given, key in [("sr_factor", "super_resolution_factor"), ("paint_start_scale", "start_stage"),
                       ("input_masks", "input_mask"), ("fine_tune", "fine_tune_iterations")]:  # fmt: skip
        with pytest.raises(Exception) as caught:
            run_bundle("inferring", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
                       output_dir=str(tmp_path / "out"), **{given: 2})  # fmt: skip
        assert f"--{key}" in str(find_bad_input(caught.value))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_user_sees_one_sentence_for_a_refusal(trained, tmp_path):
    """As a user types it (a subprocess): a refusal from the settings check and one from the mask, each one
    ``medgan:`` line and no traceback, and no output folder."""
    spatial_dims, bundle, image = trained
    bad_mask = tmp_path / ("bad.png" if spatial_dims == 2 else "bad.nii.gz")
    if spatial_dims == 2:
        Image.fromarray(np.full((7, 9), 255, np.uint8)).save(bad_mask)
    else:
        nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.uint8), np.eye(4)), bad_mask)
    common = [
        "run",
        "inferring",
        "--config_file",
        bundle / "configs" / "inference.json",
        "--output_dir",
        tmp_path / "out",
    ]
    cases = [
        (["--application", "paint"], "needs --input_image"),
        (["--application", "editing", "--input_image", image, "--input_mask", bad_mask], "but --input_image has"),
    ]
    for extra, phrase in cases:
        assert_bad_input(run_bundle_process(*common, *extra), phrase)
    assert not (tmp_path / "out").exists()


def test_padded_stages_travel_from_training_to_inference(tmp_path):
    """``--padding 0 --padded_stages 2 --discriminator_padding 1``: the model file records the generator's geometry
    and inference builds the same mixed generator (two 'same' stages, then one fed context); the checkpoint records
    the critic's, which fine-tuning rebuilds ('same', no margin)."""
    from monai.bundle import ConfigParser

    from medgan.consingan_fine_tune import find_training_checkpoint, read_training_run, training_critic

    bundle, _ = train_tiny_consingan(tmp_path, 2, padding=0, padded_stages=2, discriminator_padding=1)
    settings = json.loads((bundle / "models" / "model_settings.json").read_text())["settings"]
    assert (settings["padding"], settings["padded_stages"]) == (0, 2)
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update({"bundle_root": str(bundle), "ckpt_path": str(bundle / "models" / "model.pt")})
    network = parser.get_parsed_content("network")
    assert [network.stage_margin(stage) for stage in range(network.num_stages)] == [0, 0, 2]
    critic_state, run = read_training_run(find_training_checkpoint(bundle / "models" / "model.pt", None), network)
    assert run["discriminator_padding"] == 1 and training_critic(run, critic_state).margin == 0
    assert infer(bundle, tmp_path / "samples") == {"sample_0000.png", "sample_0001.png", "samples.png"}
