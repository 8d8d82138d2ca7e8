"""The SDK-free generation behind the MONAI Deploy operators (:mod:`medgan.serving`): an exported generator sampled
from its bundle's metadata, and what it refuses."""

from __future__ import annotations

import pytest
import torch
from helpers import REPO_ROOT

from medgan.errors import BadInputError
from medgan.networks import DCGANGenerator
from medgan.serving import TorchScriptGenerator


def test_exported_dcgan_samples_from_its_metadata(tmp_path):
    network = DCGANGenerator(spatial_dims=2, image_size=64, latent_size=100, out_channels=1, num_features=4)
    torch.jit.script(network.eval()).save(str(tmp_path / "model.ts"))
    generator = TorchScriptGenerator(
        tmp_path / "model.ts", REPO_ROOT / "bundles" / "dcgan" / "configs" / "metadata.json"
    )
    assert generator.latent_shape == [100]
    assert generator.sample(2).shape == (2, 1, 64, 64)


def test_symbolic_latent_without_stage_shapes_and_missing_export_are_refused(tmp_path):
    torch.jit.script(DCGANGenerator(2, 64, 100, 1, 4)).save(str(tmp_path / "model.ts"))
    with pytest.raises(BadInputError, match="symbolic"):
        TorchScriptGenerator(tmp_path / "model.ts", REPO_ROOT / "bundles" / "consingan" / "configs" / "metadata.json")
    with pytest.raises(BadInputError, match="does not exist"):
        TorchScriptGenerator(tmp_path / "nothing.ts", REPO_ROOT / "bundles" / "dcgan" / "configs" / "metadata.json")
