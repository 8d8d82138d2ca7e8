"""ONNX export of every bundle's generator (:mod:`medgan.onnx_export`, ``python -m medgan onnx_export``).

Per bundle a tiny generator (2D; StyleGAN2 and ConSinGAN also 3D), built from the bundle's ``inference.json`` and
given what training changes and the export must carry (noise strengths and amplitudes, a PGGAN/StyleGAN fade-in
halfway), is written as the bundle's model file (``save_model_file``: ``models/model.pt`` and its settings file),
exported, and run with onnxruntime for a batch of 3 (the export's example batch is 2, so the batch axis must be free).
The torch generator, built again from the model file as ``inference.json`` builds it, generates from the same ``z``
after a seed that makes it draw its noise; the ONNX file gets the maps that seed draws, in the order its inputs list
them. They must agree to ``TOLERANCE`` (max abs difference, times the output's largest magnitude when that is above
1); measured here: 7e-8 and 8e-8 (DCGAN, SNGAN; outputs up to 0.3), 3e-6 (PGGAN; 1.6), 2e-6 (StyleGAN; 5.9), 2e-6 and
3e-6 (StyleGAN2 2D and 3D; 8.9, 6.3), 2e-7 (ConSinGAN 2D and 3D; 0.4). Zeroing the noise inputs must change the output
by more than 100 tolerances (measured: 0.3 to 5), so noise given to the wrong layer fails the comparison.

The exports through ``torch.export`` (DCGAN, SNGAN, StyleGAN2: 3-8 s each here) are in the slow tier; the
TorchScript-based ones (under a second) and the missing-package sentence are fast.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from helpers import bundle_copy
from monai.bundle import ConfigParser

from medgan.errors import BadInputError
from medgan.model_file import load_weights, save_model_file
from medgan.networks import ConSinGANGenerator, DCGANGenerator
from medgan.onnx_export import MISSING_EXTRA, onnx_export

TOLERANCE = 1e-4
BATCH = 3
LATENT = 8
SEED = 11


@dataclass(frozen=True)
class Case:
    bundle: str
    settings: dict  # the model_settings a training would record
    output_shape: tuple[int, ...]  # one sample's image
    noise_inputs: int  # how many noise_<k> inputs the ONNX model takes


GAN = {"spatial_dims": 2, "image_size": 64, "channels": 1, "latent_size": LATENT, "num_features": 4,
       "embedded_sample_data": True}  # fmt: skip
PROGRESSIVE = {"spatial_dims": 2, "image_size": 8, "channels": 1, "latent_size": LATENT, "max_channels": 4,
               "channel_halving_resolution": 8, "num_stages": 2, "embedded_sample_data": True}  # fmt: skip
STYLEGAN2 = {"spatial_dims": 2, "image_shape": [16, 16], "base_shape": [4, 4], "channels": 1, "latent_size": LATENT,
             "w_dim": LATENT, "mapping_layers": 2, "max_channels": 8, "channel_halving_resolution": 16,
             "embedded_sample_data": True}  # fmt: skip
CONSINGAN = {"spatial_dims": 2, "channels": 1, "stage_shapes": [[8, 8], [12, 10], [16, 14]], "image_shape": [16, 14],
             "intensity_range": [0.0, 255.0], "affine": np.eye(4).tolist(), "num_features": 4, "num_layers": 2,
             "kernel_size": 3, "padding": 1, "generator_batch_norm": False, "cbam": True, "lrelu_alpha": 0.05,
             "num_stages": 3, "embedded_sample_data": True}  # fmt: skip
CASES = {
    "dcgan": Case("dcgan", GAN, (1, 64, 64), 0),
    "sngan": Case("sngan", GAN, (1, 64, 64), 0),
    "pggan": Case("pggan", PROGRESSIVE, (1, 8, 8), 0),
    "stylegan": Case("stylegan", {**PROGRESSIVE, "w_dim": LATENT, "mapping_layers": 2, "mapping_lr_multiplier": 0.01},
                     (1, 8, 8), 4),
    "stylegan2": Case("stylegan2", STYLEGAN2, (1, 16, 16), 5),
    "stylegan2_3d": Case("stylegan2", {**STYLEGAN2, "spatial_dims": 3, "image_shape": [8, 8, 8],
                                       "base_shape": [4, 4, 4]}, (1, 8, 8, 8), 3),
    "consingan": Case("consingan", CONSINGAN, (1, 16, 14), 2),
    "consingan_3d": Case("consingan", {**CONSINGAN, "spatial_dims": 3, "stage_shapes": [[6, 6, 6], [8, 7, 6]],
                                       "image_shape": [8, 7, 6], "num_stages": 2}, (1, 8, 7, 6), 1),
    "consingan_unpadded": Case("consingan", {**CONSINGAN, "padding": 0}, (1, 16, 14), 2),  # noise with the margin
    "consingan_batch_norm": Case("consingan", {**CONSINGAN, "generator_batch_norm": True}, (1, 16, 14), 2),
}  # fmt: skip
TORCH_EXPORT = {"dcgan", "sngan", "stylegan2", "stylegan2_3d"}  # the slow ones


def network_def(bundle, settings: dict | None = None) -> torch.nn.Module:
    """``inference.json``'s ``network_def`` of the bundle copy: from ``settings``, else from its model file."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update({"bundle_root": str(bundle), "ckpt_path": str(bundle / "models" / "model.pt")})
    if settings is not None:
        parser["model_settings"] = settings
    return parser.get_parsed_content("network_def")


@torch.no_grad()
def as_trained(network: torch.nn.Module) -> None:
    """What training changes and the export must carry: noise strengths (StyleGAN, StyleGAN2), ConSinGAN's noise
    amplitudes, a fade-in halfway (PGGAN, StyleGAN); the convolutions of DCGAN and ConSinGAN (drawn N(0, 0.02) at
    the start, which leaves their outputs near 0) drawn with a variance of 1 / fan-in, so outputs reach about 0.3-0.6
    and ConSinGAN's later-stage noise shows in them."""
    for name, value in network.named_parameters():
        if name.endswith("strength"):
            value.fill_(0.5)
    if hasattr(network, "alpha"):
        network.alpha.fill_(0.5)
    if hasattr(network, "noise_amps"):
        network.noise_amps.fill_(1.0)
    if isinstance(network, (DCGANGenerator, ConSinGANGenerator)):
        for module in network.modules():
            if isinstance(module, torch.nn.modules.conv._ConvNd):
                fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
                if module.transposed:  # each output position sees kernel / stride of the taps
                    fan_in = module.in_channels * math.prod(module.kernel_size) / math.prod(module.stride)
                module.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))


def onnx_inputs(session, seed: int) -> dict[str, np.ndarray]:
    """Standard normal inputs for a batch of ``BATCH``: ``z`` from a seeded CPU generator, the noise maps as
    ``torch.manual_seed(seed)`` then ``torch.randn`` per map in input order draws them (as the generator would)."""
    inputs = session.get_inputs()
    shapes = [[BATCH if isinstance(size, str) else size for size in given.shape] for given in inputs]
    z = torch.randn(shapes[0], generator=torch.Generator().manual_seed(0))
    torch.manual_seed(seed)
    maps = [torch.randn(shape) for shape in shapes[1:]]
    return {given.name: tensor.numpy() for given, tensor in zip(inputs, [z, *maps])}


def random_ops(path) -> set[str]:
    import onnx

    model = onnx.load(str(path))
    nodes = [*model.graph.node, *(node for function in model.functions for node in function.node)]
    return {node.op_type for node in nodes if node.op_type.startswith("Random")}


def slow_if_torch_export(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in TORCH_EXPORT else n for n in names]


@pytest.mark.parametrize("name", slow_if_torch_export(sorted(CASES)))
def test_onnx_matches_torch(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    case = CASES[name]
    bundle = bundle_copy(case.bundle, tmp_path)
    trained = network_def(bundle, case.settings)
    as_trained(trained)
    save_model_file(bundle / "models" / "model.pt", trained, case.bundle, case.settings)

    written = onnx_export(str(bundle), filepath=str(tmp_path / "generator.onnx"))

    assert random_ops(written) == set(), "the ONNX graph draws noise itself"
    session = ort.InferenceSession(written, providers=["CPUExecutionProvider"])
    names = [given.name for given in session.get_inputs()]
    first = 1 if case.bundle == "consingan" else 0  # ConSinGAN's maps are named by stage, from stage 1
    assert names == ["z", *(f"noise_{k}" for k in range(first, first + case.noise_inputs))]
    feeds = onnx_inputs(session, SEED)
    (image,) = session.run(["image"], feeds)

    generator = load_weights(network_def(bundle), bundle / "models" / "model.pt", case.bundle).eval()
    with torch.no_grad():
        torch.manual_seed(SEED)
        expected = generator(torch.from_numpy(feeds["z"])).numpy()
    assert image.shape == expected.shape == (BATCH, *case.output_shape)
    tolerance = TOLERANCE * max(1.0, float(np.abs(expected).max()))
    difference = float(np.abs(image - expected).max())
    assert difference <= tolerance, f"max abs difference {difference:.2e} to torch, tolerance {tolerance:.1e}"
    if case.noise_inputs:
        zeroed = {key: value if key == "z" else np.zeros_like(value) for key, value in feeds.items()}
        (without_noise,) = session.run(["image"], zeroed)
        assert float(np.abs(without_noise - image).max()) > 100 * tolerance, "the noise inputs change nothing"


def test_cli_writes_model_onnx(tmp_path, monkeypatch, capsys):
    """``python -m medgan onnx_export bundles/<name>`` writes ``models/model.onnx`` beside the model file."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from medgan.__main__ import main

    bundle = bundle_copy("pggan", tmp_path)
    save_model_file(bundle / "models" / "model.pt", network_def(bundle, PROGRESSIVE), "pggan", PROGRESSIVE)
    monkeypatch.setattr(sys, "argv", ["medgan", "onnx_export", str(bundle)])
    main()
    assert capsys.readouterr().out.strip() == str(bundle / "models" / "model.onnx")
    assert (bundle / "models" / "model.onnx").stat().st_size > 0


def test_missing_onnx_is_one_sentence(tmp_path, monkeypatch, capsys):
    """Without the onnx extra: the sentence, as the function's error and as the command's one line (exit 1)."""
    from medgan.__main__ import main

    bundle = bundle_copy("dcgan", tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(BadInputError) as error:
        onnx_export(str(bundle))
    assert str(error.value) == MISSING_EXTRA == "ONNX export needs the onnx extra: pip install 'medgan[onnx]'"
    monkeypatch.setattr(sys, "argv", ["medgan", "onnx_export", str(bundle)])
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 1
    assert capsys.readouterr().err == f"medgan: {MISSING_EXTRA}\n"
    assert not (bundle / "models").exists()
