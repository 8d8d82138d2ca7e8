"""The checks the MONAI model zoo's CI (``ci/verify_bundle.py``) runs on a submitted bundle, on every medgan bundle
as published (no trained model: the network is built from ``train.json``'s ``model_settings``): the metadata
against the shipped schema, ``verify_net_in_out`` on ``network_def`` (the latent under ``inputs#image``, the key the
tool reads; ConSinGAN's coarsest-stage shape as ``"*"``), and a key-less ``ckpt_export`` of a plain state dict that
generates as the eager network does. In process; ConSinGAN builds its default 3D network from the embedded volume."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from helpers import REPO_ROOT, bundle_copy
from monai.bundle import ConfigParser, ckpt_export, verify_metadata, verify_net_in_out

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
