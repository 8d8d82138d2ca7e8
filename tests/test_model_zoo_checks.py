"""The checks the MONAI model zoo's CI (``ci/verify_bundle.py``) runs on a submitted bundle: on every medgan bundle
after a tiny training into its own ``models/`` (as a user would submit it; ConSinGAN: the session's tiny 3D model),
with the zoo's directory, version/changelog, metadata, data-shape and TorchScript steps; and on every bundle
as published (no trained model: the network is built from ``train.json``'s ``model_settings``): the metadata
against the shipped schema, ``verify_net_in_out`` on ``network_def`` (the latent under ``inputs#image``, the key the
tool reads; ConSinGAN's coarsest-stage shape as ``"*"``), and a key-less ``ckpt_export`` of a plain state dict that
generates as the eager network does. In process; ConSinGAN builds its default 3D network from the embedded volume."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from helpers import REPO_ROOT, bundle_copy, write_pngs
from monai.bundle import ConfigParser, ckpt_export, verify_metadata, verify_net_in_out
from monai.bundle import run as run_bundle

BUNDLES = ("consingan", "dcgan", "pggan", "sngan", "stylegan", "stylegan2")
SCHEMA = REPO_ROOT / "medgan" / "bundle_schema" / "meta_schema_20240725.json"
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def argv_of_no_bundle(monkeypatch):
    """The bundle is found from MONAI's call, not from this process's command line."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.mark.parametrize("name", BUNDLES)
def test_zoo_checks_pass_on_the_published_bundle(name, tmp_path, monkeypatch):
    bundle = bundle_copy(name, tmp_path)
    configs = bundle / "configs"
    monkeypatch.chdir(bundle)
    verify_metadata(meta_file=str(configs / "metadata.json"), filepath=str(SCHEMA))
    verify_net_in_out("network_def", meta_file=str(configs / "metadata.json"),
                      config_file=str(configs / "inference.json"))  # fmt: skip

    parser = ConfigParser()
    parser.read_config(str(configs / "inference.json"))
    parser["bundle_root"] = str(bundle)
    eager = parser.get_parsed_content("network_def").eval()
    (bundle / "models").mkdir()
    torch.save(eager.state_dict(), bundle / "models" / "model.pt")  # what a training writes: a plain state dict
    models = bundle / "models"
    ckpt_export("network_def", filepath=str(models / "model.ts"), ckpt_file=str(models / "model.pt"),
                meta_file=str(configs / "metadata.json"), config_file=str(configs / "inference.json"))  # fmt: skip
    scripted = torch.jit.load(str(bundle / "models" / "model.ts"), map_location="cpu").eval()
    latent = json.loads((configs / "metadata.json").read_text())["network_data_format"]["inputs"]["image"]
    spatial = eager.stage_shapes[0].tolist() if name == "consingan" else latent["spatial_shape"]
    z = torch.randn(1, latent["num_channels"], *spatial, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        expected = eager(z)
        torch.manual_seed(1)
        torch.testing.assert_close(scripted(z), expected)


AFTER_TRAINING = {  # tiny trainings with the published input and output shapes (the zoo reads them from metadata)
    "dcgan": {"num_features": 4, "batch_size": 4, "max_epochs": 1},
    "sngan": {"num_features": 4, "batch_size": 4, "max_epochs": 1},
    "stylegan2": {"max_channels": 8, "mapping_layers": 2, "batch_size": 4, "max_epochs": 1, "r1_interval": 2,
                  "pl_interval": 2},
    "pggan": {"max_channels": 4, "batch_size": 2, "batch_size_per_resolution": {}, "images_per_stage": 4,
              "images_per_stage_per_resolution": {}, "sample_every_iterations": 0},
    "stylegan": {"max_channels": 4, "batch_size": 2, "batch_size_per_resolution": {}, "images_per_stage": 4,
                 "images_per_stage_per_resolution": {}, "sample_every_iterations": 0},
}  # fmt: skip


def zoo_checks(bundle) -> None:
    """``ci/verify_bundle.py``'s steps on ``bundle`` as it runs them: the directory, version and changelog, the
    metadata format, the data shape and a TorchScript export of ``models/model.pt``, all with ``bundle_root``."""
    configs, models = bundle / "configs", bundle / "models"
    metadata = json.loads((configs / "metadata.json").read_text())
    assert metadata["version"] in metadata["changelog"]
    verify_metadata(meta_file=str(configs / "metadata.json"), filepath=str(SCHEMA))
    verify_net_in_out("network_def", meta_file=str(configs / "metadata.json"),
                      config_file=str(configs / "inference.json"), bundle_root=str(bundle))  # fmt: skip
    ckpt_export("network_def", filepath=str(models / "verify_model.ts"), ckpt_file=str(models / "model.pt"),
                meta_file=str(configs / "metadata.json"), config_file=str(configs / "inference.json"),
                bundle_root=str(bundle))  # fmt: skip


def eager_and_scripted(bundle):
    """``network_def`` of ``inference.json`` with ``model.pt``'s weights, and the module ``zoo_checks`` exported."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser["bundle_root"] = str(bundle)
    eager = parser.get_parsed_content("network_def")
    eager.load_state_dict(torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True))
    return eager.eval(), torch.jit.load(str(bundle / "models" / "verify_model.ts"), map_location="cpu").eval()


@pytest.mark.parametrize("name", sorted(AFTER_TRAINING))
def test_zoo_checks_pass_after_a_tiny_training_into_the_bundle(name, tmp_path, monkeypatch):
    """A user trains into the bundle's own ``models/`` (the default output_dir), then submits the folder."""
    bundle = bundle_copy(name, tmp_path)
    data = write_pngs(tmp_path / "pngs", 8, shape=(40, 48))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # the bundle installs a brief-error hook: undone after
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), bundle_root=str(bundle),
               dataset_dir=str(data), **AFTER_TRAINING[name])  # fmt: skip
    zoo_checks(bundle)
    eager, scripted = eager_and_scripted(bundle)
    latent = json.loads((bundle / "configs" / "metadata.json").read_text())["network_data_format"]["inputs"]["image"]
    z = torch.randn(2, latent["num_channels"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        expected = eager(z)
        torch.manual_seed(1)
        torch.testing.assert_close(scripted(z), expected)


def test_zoo_checks_pass_on_a_trained_consingan(tiny_consingan, tmp_path):
    bundle = tmp_path / "consingan"
    shutil.copytree(tiny_consingan[0], bundle)
    zoo_checks(bundle)
    eager, scripted = eager_and_scripted(bundle)
    z = torch.randn(1, 1, *eager.stage_shapes[0].tolist(), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        expected = eager(z)
        torch.manual_seed(1)
        torch.testing.assert_close(scripted(z), expected)
