"""MONAI Label's stock bundle task (``monailabel.tasks.infer.bundle.BundleInferTask``, what the ``monaibundle``
sample app builds for every folder of its ``--conf models``) on each medgan bundle: it finds ``models/model.pt``,
builds ``network_def`` from ``inference.json`` and loads the weights with no key, so the network it would serve
holds exactly the model file's tensors (not its own random initialisation). The model files are plain state dicts
as a training writes them, of networks built from the configs with their weights drawn afresh (seeded), so equal
tensors cannot come from the default initialisation; ConSinGAN's is the session's tiny trained 3D model. Runs in
MONAI Label's virtual environment (``bash .ci/monailabel``)."""

from __future__ import annotations

import logging

import pytest
import torch
from helpers import bundle_copy
from monai.bundle import ConfigParser

pytest.importorskip(
    "monailabel", reason='monailabel is an optional extra: pip install -e ".[monailabel]" to run the MONAI Label test'
)
from monailabel.tasks.infer.bundle import BundleInferTask  # noqa: E402

pytestmark = pytest.mark.slow
SET_OF_IMAGES = ("dcgan", "sngan", "pggan", "stylegan", "stylegan2")


def save_fresh_model(bundle) -> dict[str, torch.Tensor]:
    """A plain state dict of ``network_def`` (built from the bundle's configs) with every float tensor redrawn."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser["bundle_root"] = str(bundle)
    network = parser.get_parsed_content("network_def")
    generator = torch.Generator().manual_seed(7)
    state = {
        name: torch.randn(tensor.shape, generator=generator) if tensor.is_floating_point() else tensor
        for name, tensor in network.state_dict().items()
    }
    (bundle / "models").mkdir(exist_ok=True)
    torch.save(state, bundle / "models" / "model.pt")
    return state


def served_network(bundle, caplog) -> torch.nn.Module:
    with caplog.at_level(logging.WARNING):
        task = BundleInferTask(str(bundle), conf={})
        network = task._get_network("cpu", None)
    assert "don't match" not in caplog.text, caplog.text  # every key of model.pt found its tensor
    return network


@pytest.mark.parametrize("name", SET_OF_IMAGES)
def test_the_stock_bundle_task_serves_the_model_files_weights(name, tmp_path, caplog):
    bundle = bundle_copy(name, tmp_path)
    saved = save_fresh_model(bundle)
    served = served_network(bundle, caplog).state_dict()
    assert served.keys() == saved.keys()
    assert all(torch.equal(served[key], saved[key]) for key in saved)


def test_the_stock_bundle_task_serves_a_trained_consingan(tiny_consingan, caplog):
    bundle, _ = tiny_consingan
    saved = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    served = served_network(bundle, caplog).state_dict()
    assert served.keys() == saved.keys()
    assert all(torch.equal(served[key], saved[key]) for key in saved)
