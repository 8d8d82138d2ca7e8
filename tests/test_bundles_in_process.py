"""Fast end to end, one test per bundle: ``monai.bundle.run("training")`` on a copy of the bundle with tiny
overrides and a few small images, in this process (no subprocess, no second torch import), then
``run("inferring")`` and ``ckpt_export``; the exported TorchScript generator must give the eager generator's images
for the same input and random stream. The subprocess runs (as a user types them), resume after SIGKILL, 3D, bad
input and torchrun are in the ``slow`` tier (``python -m pytest -m slow``).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import bundle_copy, loss_iterations, write_pngs
from monai.bundle import ConfigParser, ckpt_export
from monai.bundle import load as load_bundle
from monai.bundle import run as run_bundle
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from medgan.output_manifest import MANIFEST

LATENT = 8


@dataclass(frozen=True)
class Case:
    """One bundle's tiny run: overrides, the iterations they give, the generator's input, a sample's size."""

    overrides: dict
    iterations: int
    input_shape: tuple[int, ...]  # one sample's generator input
    image_size: tuple[int, int]  # (W, H) of a written sample
    data: dict = field(default_factory=dict)  # a 'dataset_dir' of PNGs unless the bundle takes one 'image'


SET_GAN = {"image_size": 64, "num_features": 4, "batch_size": 4, "max_epochs": 1, "latent_size": LATENT,
           "save_every": 1, "sample_every": 1, "num_preview_samples": 2}  # fmt: skip
PROGRESSIVE = {"image_size": 8, "max_channels": 4, "channel_halving_resolution": 8, "latent_size": LATENT,
               "batch_size": 2, "batch_size_per_resolution": {}, "images_per_stage": 8,
               "images_per_stage_per_resolution": {}, "save_every_iterations": 4, "sample_every_iterations": 0,
               "num_preview_samples": 2, "log_every": 1}  # fmt: skip
CASES = {
    "dcgan": Case(SET_GAN, 2, (LATENT,), (64, 64)),
    "sngan": Case(SET_GAN, 2, (LATENT,), (64, 64)),
    "pggan": Case(PROGRESSIVE, 8, (LATENT,), (8, 8)),
    "stylegan": Case({**PROGRESSIVE, "w_dim": LATENT}, 8, (LATENT,), (8, 8)),
    "stylegan2": Case(
        {"latent_size": LATENT, "w_dim": LATENT, "mapping_layers": 2, "max_channels": 8,
         "channel_halving_resolution": 16, "image_size": 16, "batch_size": 4, "max_epochs": 1, "r1_interval": 2,
         "pl_interval": 2, "save_every": 1, "sample_every": 1,
         "num_preview_samples": 2},
        2, (LATENT,), (16, 16),
    ),
    "consingan": Case(
        {"spatial_dims": 2, "num_scales": 3, "max_size": 24, "min_size": 8, "iterations_per_stage": 3,
         "num_features": 4, "num_layers": 2, "d_steps": 1, "g_steps": 1, "log_every": 1},
        9, (), (24, 20), data={"image": True},
    ),
}  # fmt: skip


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    """The bundles install a brief-error hook in ``initialize``; keep it out of the rest of the session."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


def scripted_and_eager(bundle: Path, model_file: Path, case: Case, export_to: Path):
    """``ckpt_export`` of the bundle's ``network_def`` (as the README's command), and the same network built from
    ``inference.json`` with the model file's weights, both in eval mode."""
    configs = bundle / "configs"
    ckpt_export("network_def", filepath=str(export_to), ckpt_file=str(model_file),
                meta_file=str(configs / "metadata.json"), config_file=str(configs / "inference.json"),
                bundle_root=str(bundle), ckpt_path=str(model_file))  # fmt: skip
    parser = ConfigParser()
    parser.read_config(str(configs / "inference.json"))
    parser.update({"bundle_root": str(bundle), "ckpt_path": str(model_file)})
    eager = parser.get_parsed_content("network_def")
    eager.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True))
    return torch.jit.load(str(export_to), map_location="cpu").eval(), eager.eval()


def tensorboard_tags(folder: Path) -> set[str]:
    """The scalar tags of the TensorBoard event files in ``folder``."""
    events = EventAccumulator(str(folder))
    events.Reload()
    return set(events.Tags()["scalars"])


def loss_columns(output_dir: Path) -> set[str]:
    """The loss and penalty columns of ``losses.csv``."""
    return set((output_dir / "losses.csv").read_text().splitlines()[0].split(",")) - {"iteration"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_train_infer_export(name, tmp_path):
    case = CASES[name]
    bundle = bundle_copy(name, tmp_path)
    output_dir, samples_dir = tmp_path / "run", tmp_path / "samples"
    if case.data:
        data = {"image": write_pngs(tmp_path / "image", 1, shape=(40, 48)) / "image_00_L.png"}
    else:
        data = {"dataset_dir": write_pngs(tmp_path / "pngs", 8, shape=(20, 24))}
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), bundle_root=str(bundle),
               output_dir=str(output_dir), **{k: str(v) for k, v in data.items()}, **case.overrides)  # fmt: skip

    assert loss_iterations(output_dir) == list(range(1, case.iterations + 1))
    for produced in ("model.pt", "loss.png", "losses.csv"):
        assert (output_dir / produced).is_file(), produced
    assert any((output_dir / "checkpoints").glob("checkpoint_*.pt"))
    model = torch.load(output_dir / "model.pt", map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in model.values())  # a plain state dict, as zoo bundles ship
    settings = json.loads((output_dir / "model_settings.json").read_text())
    assert settings["bundle"] == name and settings["format"] == 1
    assert settings["settings"]["embedded_sample_data"] is False
    assert settings["model_sha256"] == hashlib.sha256((output_dir / "model.pt").read_bytes()).hexdigest()
    assert not {"dataset_dir", "image"} & settings["settings"].keys()  # a shared model reveals no data path
    assert tensorboard_tags(output_dir / "tensorboard") == loss_columns(output_dir)

    run_bundle("inferring", config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
               ckpt_path=str(output_dir / "model.pt"), output_dir=str(samples_dir), num_samples=2,
               **({"explore_latents": False} if name == "stylegan2" else {}))  # fmt: skip
    assert {p.name for p in samples_dir.iterdir()} == {"sample_0000.png", "sample_0001.png", "samples.png", MANIFEST}
    with Image.open(samples_dir / "sample_0000.png") as image:
        assert image.size == case.image_size
        pixels = np.asarray(image)
    if name == "consingan":  # a single-image model writes its samples in the training image's intensity units
        low, high = settings["settings"]["intensity_range"]
        assert math.floor(low) <= pixels.min() and pixels.max() <= math.ceil(high) < 255

    scripted, eager = scripted_and_eager(bundle, output_dir / "model.pt", case, tmp_path / "model.ts")
    if name == "consingan":
        input_shape = (1, *eager.stage_shapes[0].tolist())
    else:
        input_shape = case.input_shape
    z = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.manual_seed(2)
        expected = eager(z)
        torch.manual_seed(2)
        actual = scripted(z)
    assert expected.shape == (2, 1, *case.image_size[::-1])
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_trainer_takes_the_speed_switches_from_the_config(name, tmp_path):
    """``amp``, ``channels_last`` and ``torch_compile`` are top-level keys of every train.json, and the trainer the
    config builds has the values given on the command line."""
    case, bundle = CASES[name], bundle_copy(name, tmp_path)
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    assert {"amp", "channels_last", "torch_compile"} <= parser.get().keys()
    if case.data:
        data = {"image": str(write_pngs(tmp_path / "image", 1, shape=(40, 48)) / "image_00_L.png")}
    else:
        data = {"dataset_dir": str(write_pngs(tmp_path / "pngs", 8, shape=(20, 24)))}
    switches = {"amp": "bf16", "channels_last": True, "torch_compile": True}
    parser.update({"bundle_root": str(bundle), "output_dir": str(tmp_path / "run"), **data, **case.overrides,
                   **switches})  # fmt: skip
    trainer = parser.get_parsed_content("train#trainer")
    assert (trainer.precision.dtype, trainer.channels_last, trainer.torch_compile) == (torch.bfloat16, True, True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_tensorboard_and_the_log_write_on_rank_0_only(name, tmp_path):
    """The TensorBoard and log handlers are ``_disabled_`` off rank 0 and leave the handler list (no None in it)."""
    bundle = bundle_copy(name, tmp_path)
    kinds = {}
    for rank in (0, 1):
        parser = ConfigParser()
        parser.read_config(str(bundle / "configs" / "train.json"))
        parser.update({"bundle_root": str(bundle), "output_dir": str(tmp_path / "run"), "rank": rank})
        kinds[rank] = [type(handler).__name__ for handler in parser.get_parsed_content("train#handlers")]
    for logger in ("TensorBoardStatsHandler", "StatsHandler"):
        assert logger in kinds[0] and logger not in kinds[1]
    assert "NoneType" not in kinds[1] and len(kinds[1]) == len(kinds[0]) - 2


@pytest.mark.parametrize("name", ["dcgan", "stylegan2"])
def test_monai_bundle_load_reads_the_model_with_no_key(name, tmp_path, monkeypatch):
    """``monai.bundle.load(..., workflow_type="inference")`` from another folder gives the trained weights: the
    model file is a plain state dict and ``inference.json`` finds the bundle from MONAI's call, not ``sys.argv``."""
    case = CASES[name]
    bundle = bundle_copy(name, tmp_path / "bundles")
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), bundle_root=str(bundle),
               dataset_dir=str(write_pngs(tmp_path / "pngs", 8, shape=(20, 24))), **case.overrides)  # fmt: skip
    shutil.rmtree(bundle / "models" / "checkpoints")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["python"])
    network = load_bundle(name, bundle_dir=str(tmp_path / "bundles"), source="disk", workflow_type="inference")
    trained = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert network.state_dict().keys() == trained.keys()
    assert all(torch.equal(network.state_dict()[k].cpu(), v) for k, v in trained.items())


def initial_weights(bundle: Path, overrides: dict, seed: int) -> dict[str, torch.Tensor]:
    """The generator's and the discriminator's weights as ``train.json`` builds them after its ``initialize``
    expressions (the settings checks, then the seed), nothing trained or written."""
    from monai.bundle import ConfigWorkflow

    workflow = ConfigWorkflow(config_file=str(bundle / "configs" / "train.json"), workflow_type="train",
                              bundle_root=str(bundle), seed=seed, **overrides)  # fmt: skip
    workflow.initialize()
    networks = {role: workflow.parser.get_parsed_content(role) for role in ("generator", "discriminator")}
    return {f"{role}.{key}": value.clone() for role, net in networks.items() for key, value in net.state_dict().items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_seed_fixes_the_initial_weights_of_both_networks(name, tmp_path):
    """Nothing in ``initialize`` may draw random numbers before the seed is set (a settings check that built a
    network there once made every ConSinGAN critic start from unseeded weights, and resumed runs diverge)."""
    case = CASES[name]
    bundle = bundle_copy(name, tmp_path)
    if case.data:
        data = {"image": str(write_pngs(tmp_path / "image", 1, shape=(40, 48)) / "image_00_L.png")}
    else:
        data = {"dataset_dir": str(write_pngs(tmp_path / "pngs", 8, shape=(20, 24)))}
    overrides = {**data, **case.overrides, "output_dir": str(tmp_path / "run")}
    first = initial_weights(bundle, overrides, seed=3)
    torch.manual_seed(12345)  # whatever the global stream holds before, the seed decides
    torch.rand(17)
    again = initial_weights(bundle, overrides, seed=3)
    assert sorted(again) == sorted(first)
    assert [key for key in first if not torch.equal(first[key], again[key])] == []
    other = initial_weights(bundle, overrides, seed=4)
    assert any(not torch.equal(first[key], other[key]) for key in first if first[key].is_floating_point())
    assert not (tmp_path / "run").exists()
