"""ConSinGAN's fine-tuning on the naive image before harmonisation and editing (medgan.consingan_fine_tune and
medgan.engines.consingan_fine_tuner): what an iteration's fake is made from, what trains and what stays, the
critic and settings taken from the training run's checkpoint, the refusals; and, through ``inference.json`` on
tiny trained 2D and 3D models, that ``--fine_tune_iterations`` changes the output, repeats with the seed and leaves
the model file as it was."""

from __future__ import annotations

import shutil
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from helpers import train_tiny_consingan
from monai.bundle import run as run_bundle
from PIL import Image

from medgan.consingan_applications import check_application_settings
from medgan.consingan_fine_tune import find_training_checkpoint, read_training_run, training_critic
from medgan.engines import ConSinGANFineTuner
from medgan.errors import BadInputError, find_bad_input
from medgan.handlers.checkpoint import checkpoint_files
from medgan.model_file import file_hash
from medgan.networks import ConSinGANDiscriminator, ConSinGANGenerator


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    """The bundles install a brief-error hook in ``initialize``; keep it out of the rest of the session."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


# ---------------------------------------------------------------------------------------------- the engine


def tiny_run(spatial_dims: int, edit_noise: float = 0.0, active_scales: int = 2, iterations: int = 3):
    """A 3-stage generator and critic with a fine-tuner on a random naive image; (tuner, generator, naive)."""
    torch.manual_seed(0)
    shapes = [[8, 9], [11, 12], [14, 16]] if spatial_dims == 2 else [[6, 7, 6], [8, 9, 8], [10, 11, 10]]
    generator = ConSinGANGenerator(spatial_dims, shapes, num_features=4, num_layers=2, cbam=False, num_stages=3)
    generator.noise_amps.copy_(torch.tensor([1.0, 0.3, 0.2]))
    critic = ConSinGANDiscriminator(spatial_dims, num_features=4, num_layers=2, cbam=False)
    reals = [torch.rand(1, 1, *shape) * 2 - 1 for shape in shapes]
    naive = torch.rand(1, 1, *shapes[0]) * 2 - 1
    tuner = ConSinGANFineTuner(
        "cpu", generator, critic, torch.optim.Adam(generator.parameters()), torch.optim.Adam(critic.parameters()),
        reals, naive, iterations, edit_noise, active_scales=active_scales, d_steps=2, g_steps=1, reuse_fakes=True,
    )  # fmt: skip
    return tuner, generator, naive


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_the_fakes_come_from_the_naive_image_and_only_the_active_stages_train(spatial_dims):
    tuner, generator, naive = tiny_run(spatial_dims)
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    seen = []
    generate = tuner.generate
    tuner.generate = lambda latents: seen.append(latents.clone()) or generate(latents)
    tuner.run()
    assert tuner.state.iteration == 3 and tuner.state.epoch == 1 and generator.num_stages == 3
    assert len(seen) == 3  # one fake per iteration (reuse_fakes), judged by the 2 critic steps and the generator
    for latents in seen:
        torch.testing.assert_close(latents, naive, rtol=0, atol=0)
    after = generator.state_dict()
    changed = {name.split(".")[0] + (f".{name.split('.')[1]}" if name.startswith("body") else "")
               for name in after if not torch.equal(after[name], before[name])}  # fmt: skip
    assert changed == {"body.1", "body.2", "tail"}  # active_scales 2: stages 1 and 2 and the tail; head, stage 0 kept
    for buffer in ("noise_amps", "fixed_noise", "stage_shapes"):
        torch.testing.assert_close(after[buffer], before[buffer], rtol=0, atol=0)


def test_editing_adds_its_noise_to_the_naive_image_every_iteration():
    tuner, _, naive = tiny_run(2, edit_noise=0.1)
    draws = torch.stack([tuner.sample_latents(1) - naive for _ in range(200)])
    assert draws.std().item() == pytest.approx(0.1, rel=0.05)  # 200 x 72 draws of N(0, 0.1^2)
    assert not torch.equal(draws[0], draws[1])


def test_the_reconstruction_keeps_the_models_own_input():
    tuner, generator, _ = tiny_run(2)
    torch.testing.assert_close(tuner.reals[0], generator.fixed_noise, rtol=0, atol=0)


def test_a_naive_image_of_another_shape_and_a_pyramid_of_other_stages_are_refused():
    tuner, generator, naive = tiny_run(2)
    critic, optimizers = tuner.discriminator, (tuner.g_optimizer, tuner.d_optimizer)
    with pytest.raises(BadInputError, match="naive_image has shape"):
        ConSinGANFineTuner("cpu", generator, critic, *optimizers, tuner.reals, naive[..., :-1], 1)
    with pytest.raises(BadInputError, match="fine-tune a model with the checkpoint of the run that trained it"):
        ConSinGANFineTuner("cpu", generator, critic, *optimizers, tuner.reals[:2], naive, 1)


# ---------------------------------------------------------------------------------------------- the bundle


@pytest.fixture(scope="module", params=[2, 3], ids=["2d", "3d"])
def trained(request, tmp_path_factory):
    return (request.param, *train_tiny_consingan(tmp_path_factory.mktemp(f"tune{request.param}d"), request.param))


def infer(bundle, output_dir, **overrides):
    run_bundle("inferring", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
               output_dir=str(output_dir), **{"num_samples": 1, **overrides})  # fmt: skip
    return sorted(p for p in output_dir.iterdir() if p.name.startswith(("harmonized_", "edited_")))


def pixels(path):
    if path.suffix == ".png":
        return np.asarray(Image.open(path)).astype(float)
    return nib.load(path).get_fdata()


def test_fine_tuning_changes_the_output_repeats_with_the_seed_and_leaves_the_model(trained, tmp_path):
    spatial_dims, bundle, image = trained
    model = bundle / "models" / "model.pt"
    model_hash = file_hash(model)
    common = {"application": "harmonization", "input_image": str(image), "start_stage": 1}
    plain = infer(bundle, tmp_path / "plain", **common)
    tuned = infer(bundle, tmp_path / "tuned", fine_tune_iterations=2, **common)
    again = infer(bundle, tmp_path / "again", fine_tune_iterations=2, **common)
    assert [p.name for p in tuned] == [p.name for p in plain]
    assert not np.array_equal(pixels(tuned[0]), pixels(plain[0]))
    np.testing.assert_array_equal(pixels(again[0]), pixels(tuned[0]))
    checkpoint = checkpoint_files(bundle / "models" / "checkpoints")[-1]
    named = infer(bundle, tmp_path / "named", fine_tune_iterations=2, fine_tune_checkpoint=str(checkpoint), **common)
    np.testing.assert_array_equal(pixels(named[0]), pixels(tuned[0]))  # the file itself = the newest in the folder
    edited = infer(bundle, tmp_path / "edit", application="editing", input_image=str(image), fine_tune_iterations=1)
    assert edited[0].name.startswith("edited_0000")
    assert file_hash(model) == model_hash


def test_the_training_runs_critic_and_recipe_are_read_from_its_checkpoint(trained):
    _, bundle, _ = trained
    model = bundle / "models" / "model.pt"
    path = find_training_checkpoint(model)
    assert path == checkpoint_files(bundle / "models" / "checkpoints")[-1]
    state = torch.load(path, weights_only=True)
    generator = ConSinGANGenerator(**_generator_settings(state))
    generator.load_state_dict(torch.load(model, weights_only=True))
    critic_state, settings = read_training_run(path, generator)
    assert settings["d_steps"] == 1 and settings["num_features"] == 4 and settings["reuse_fakes"] is True
    critic = training_critic(settings, critic_state)
    for name, value in critic.state_dict().items():
        torch.testing.assert_close(value, state["discriminator"][name], rtol=0, atol=0)


def _generator_settings(state):
    settings = state["run_settings"]["settings"]
    keys = ("spatial_dims", "stage_shapes", "num_features", "num_layers", "cbam", "cbam_variant", "num_stages")
    return {key: settings[key] for key in keys}


@pytest.mark.parametrize(
    ("settings", "phrase"),
    [({"fine_tune_iterations": 5}, "--fine_tune_iterations is for --application harmonization or editing"),
     ({"application": "harmonization", "input_image": "x.png", "fine_tune_checkpoint": "c.pt"},
      "--fine_tune_iterations 0 leaves out")],
)  # fmt: skip
def test_settings_that_make_no_sense_together(settings, phrase):
    with pytest.raises(BadInputError, match=phrase):
        check_application_settings(settings.pop("application", "sample"), settings)


def test_refusals_before_anything_is_written(trained, tmp_path):
    spatial_dims, bundle, image = trained
    common = {"application": "harmonization", "input_image": str(image)}
    other = tmp_path / "other"
    other.mkdir()
    cases = [
        ({"fine_tune_iterations": -1}, "--fine_tune_iterations must be"),
        ({"fine_tune_iterations": 1, "fine_tune_checkpoint": str(other)}, f"{other} holds none"),
        ({"fine_tune_iterations": 1, "fine_tune_checkpoint": str(image)}, "is not a readable medgan checkpoint"),
    ]
    for overrides, phrase in cases:
        with pytest.raises(Exception) as caught:
            infer(bundle, tmp_path / "out", **common, **overrides)
        error = find_bad_input(caught.value)
        assert error is not None and phrase in str(error), caught.value
        assert not (tmp_path / "out").exists()


def test_a_training_image_changed_since_training_is_refused(trained, tmp_path):
    spatial_dims, bundle, image = trained
    moved = tmp_path / image.name
    shutil.copy2(image, moved)
    try:
        if spatial_dims == 2:
            Image.fromarray(255 - np.asarray(Image.open(moved))).save(image)  # the same path, another picture
        else:
            scan = nib.load(moved)
            nib.save(nib.Nifti1Image(-scan.get_fdata(), scan.affine), image)
        with pytest.raises(Exception) as caught:
            infer(bundle, tmp_path / "out", application="harmonization", input_image=str(moved),
                  fine_tune_iterations=1)  # fmt: skip
        assert "is not the image this model was trained on" in str(find_bad_input(caught.value))
        assert not (tmp_path / "out").exists()
    finally:
        shutil.copy2(moved, image)


def test_a_checkpoint_of_another_run_is_refused(trained, tmp_path):
    spatial_dims, bundle, image = trained
    other, _ = train_tiny_consingan(tmp_path, spatial_dims, num_scales=2, active_scales=2)  # another run
    with pytest.raises(Exception) as caught:
        infer(bundle, tmp_path / "out", application="harmonization", input_image=str(image), fine_tune_iterations=1,
              fine_tune_checkpoint=str(other / "models" / "checkpoints"))  # fmt: skip
    assert "give the checkpoint of the run that trained this model" in str(find_bad_input(caught.value))
    assert not (tmp_path / "out").exists()
