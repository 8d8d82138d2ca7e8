"""Write an ONNX file of a bundle's generator from its model file:
``python -m medgan onnx_export bundles/<name>`` writes ``models/model.onnx`` beside ``models/model.pt``.

The generator is built as ``inference.json``'s ``network_def`` (with the settings file beside the model, see
:mod:`medgan.model_file`), the plain state dict is loaded into it (``weights_only=True``) and it is exported in eval
mode, float32, on the CPU, with a free batch axis. The exporter depends on the network:

- DCGAN, SNGAN (both ``DCGANGenerator``) and StyleGAN2: torch's default exporter (``torch.export``, ``dynamo=True``);
- PGGAN, StyleGAN and ConSinGAN: the TorchScript-based exporter (``dynamo=False``): the progressive generators read
  their ``stage`` buffer as a Python int and ConSinGAN its stage shapes as a list, which ``torch.export`` cannot
  trace.

Tensors (float32; B is free):

- ``z``: the latent, standard normal. DCGAN, SNGAN, PGGAN, StyleGAN, StyleGAN2: (B, latent_size). ConSinGAN: the
  coarsest noise map, (B, out_channels, *stage_shapes[0]).
- ``noise_<k>``: every random map the torch generator draws while generating, as an input, standard normal: StyleGAN
  and StyleGAN2 take one (B, 1, *spatial) map per noise-injection layer it calls (``noise_0`` first, in the order of
  the forward pass; the learned strengths scale them inside the graph); ConSinGAN takes ``noise_1`` ..
  ``noise_<num_stages - 1>``, (B, num_features, *stage_shapes[k]), the maps its stages 1, 2, ... add (scaled inside
  the graph by ``noise_amps[k]`` from the model file). DCGAN, SNGAN and PGGAN draw nothing and take ``z`` only.
  ``onnxruntime.InferenceSession(path).get_inputs()`` lists the names and shapes.
- ``image``: (B, out_channels, *spatial), the generator's output: DCGAN (``image_size`` per axis) and ConSinGAN
  (``stage_shapes[num_stages - 1]``) in [-1, 1] (tanh); PGGAN and StyleGAN at the resolution of the model's
  ``stage`` buffer, faded in with its ``alpha`` buffer (both fixed in the graph); StyleGAN2 at ``image_shape``.

What the graph fixes and how it relates to torch: all weights and buffers of the model file are constants, among
them ConSinGAN's ``noise_amps`` and stage shapes (no retargeting, no image injection: ``generate(z, noise=...)`` at
the trained shapes), the style-based generators' ``w_avg`` (unused: ``truncation_psi`` is fixed at 1, no
truncation), the progressive generators' ``stage`` and ``alpha``. Nothing is drawn inside the graph, so for the same
inputs it gives the torch generator's output up to float rounding: ``image`` equals ``generator(z)`` when torch draws
exactly the ``noise_<k>`` maps, in input order (``torch.manual_seed(s)`` before ``generator(z)``, and the same seed
before drawing the maps with ``torch.randn`` one after the other, as ``tests/test_onnx_export.py`` does); for
ConSinGAN it equals ``generator.generate(z, noise=[None, noise_1, ...])``. Standard normal inputs sample as the torch
generator does. Two rewrites for the exporters, each the same function: StyleGAN2's modulated convolutions run
unfused (scale, convolve with the shared kernel, scale; the fused grouped convolution of torch's eval mode would fix
the batch size in ONNX's ``Conv`` group attribute), and StyleGAN's instance norms are written out as mean and
variance. Measured on default-size 2D generators: max abs difference 1.6e-7 (DCGAN) to 3.2e-5 (StyleGAN2, outputs up
to 12). The export runs the generator on two samples, so it needs the memory of that forward pass.

Exporting needs the ``onnx`` extra (``pip install 'medgan[onnx]'``: onnx, onnxscript, and onnxruntime to run the
file); without it :func:`onnx_export` raises one sentence (:class:`BadInputError`).
"""

from __future__ import annotations

import copy
import importlib
import io
import warnings
from pathlib import Path

import torch
from torch import nn

from medgan.errors import BadInputError
from medgan.model_file import atomic_write, load_weights

MISSING_EXTRA = "ONNX export needs the onnx extra: pip install 'medgan[onnx]'"
EXPORT_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export needs; onnxruntime only runs the file
EXAMPLE_BATCH = 2  # the example inputs' batch size (not 1, which torch.export would fix as a constant)
BATCH_AXIS = "batch"


def require_onnx_packages() -> None:
    """Raise :data:`MISSING_EXTRA` (:class:`BadInputError`) unless the packages the export needs import."""
    for name in EXPORT_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise BadInputError(MISSING_EXTRA) from None


def uses_torch_export(network: nn.Module) -> bool:
    """Whether ``network`` goes through ``torch.export`` (``dynamo=True``); else the TorchScript-based exporter.
    (medgan's networks are imported here, not with this module, so ``python -m medgan pack`` stays quick.)"""
    from medgan.networks import ConSinGANGenerator, ProgressiveNetwork

    return not isinstance(network, (ProgressiveNetwork, ConSinGANGenerator))


def is_consingan(network: nn.Module) -> bool:
    from medgan.networks import ConSinGANGenerator

    return isinstance(network, ConSinGANGenerator)


class _InstanceNorm(nn.Module):
    """``InstanceNorm{1,2,3}d(affine=False)`` written out, (x - mean) / sqrt(var + eps) over the spatial axes: the
    TorchScript-based exporter converts ``instance_norm`` only where it knows the channel count, which it loses
    behind the free batch axis (StyleGAN's AdaIN)."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = list(range(2, x.dim()))
        mean = x.mean(dim=axes, keepdim=True)
        variance = (x - mean).square().mean(dim=axes, keepdim=True)
        return (x - mean) * torch.rsqrt(variance + self.eps)


def _write_out_instance_norms(network: nn.Module) -> None:
    """Replace the plain instance norms of ``network`` (no affine, no running statistics) by :class:`_InstanceNorm`."""
    for module in list(network.modules()):
        for name, child in list(module.named_children()):
            is_plain = isinstance(child, nn.modules.instancenorm._InstanceNorm) and not (
                child.affine or child.track_running_stats
            )
            if is_plain:
                setattr(module, name, _InstanceNorm(child.eps))


class GeneratorWithNoiseInputs(nn.Module):
    """A copy of ``generator`` (eval mode) with every random map it draws as an input: ``forward(z, *noise) ->
    image``, the tensors of the module docstring. ``noise_names`` and ``noise_shapes`` (one sample's, (C, *spatial))
    list the maps in input order. For the TorchScript-based exporter the copy's plain instance norms are written out
    (:class:`_InstanceNorm`); StyleGAN2's synthesis network runs its unfused modulated convolution.

    Args:
        generator: a medgan generator in eval mode (``inference.json``'s ``network_def``).
        latent_shape: one sample's ``z`` shape (:func:`latent_shape_of`).
    """

    def __init__(self, generator: nn.Module, latent_shape: list[int]) -> None:
        from medgan.layers.noise import called_noise_layers, given_noise
        from medgan.networks import StyleGAN2Generator

        super().__init__()
        generator = copy.deepcopy(generator).eval()
        if isinstance(generator, StyleGAN2Generator):
            generator.synthesis.train()  # the unfused modulated convolution; nothing else depends on the mode
        if not uses_torch_export(generator):
            _write_out_instance_norms(generator)
        self.generator = generator
        self.latent_shape = list(latent_shape)
        self._given_noise = given_noise  # the one way medgan's generators take noise maps (medgan.layers.noise)
        self._layers: list[nn.Module] = []
        if is_consingan(generator):
            shapes = generator.stage_shapes.tolist()[: generator.num_stages]
            self.noise_names = [f"noise_{stage}" for stage in range(1, len(shapes))]
            self.noise_shapes = [generator.noise_shape(stage) for stage in range(1, len(shapes))]
            return
        called = called_noise_layers(generator, lambda: generator(torch.zeros(1, *self.latent_shape)))
        self._layers = [layer for layer, _ in called]
        self.noise_names = [f"noise_{index}" for index in range(len(called))]
        self.noise_shapes = [shape[1:] for _, shape in called]

    def example_inputs(self, batch: int = EXAMPLE_BATCH, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Standard normal ``(z, *noise)`` for ``batch`` samples, from a CPU generator seeded with ``seed``."""
        rng = torch.Generator().manual_seed(seed)
        return tuple(torch.randn([batch, *shape], generator=rng) for shape in [self.latent_shape, *self.noise_shapes])

    def forward(self, z: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        if is_consingan(self.generator):
            return self.generator.generate(z, noise=[None, *noise])
        with self._given_noise(self._layers, noise):
            return self.generator(z)


def latent_shape_of(network: nn.Module, latent_size: int | None) -> list[int]:
    """The shape of one sample's ``z``: ConSinGAN's coarsest noise map, else ``(latent_size,)`` (the constructor's
    argument in ``network_def``)."""
    if is_consingan(network):
        return [network.out_channels, *network.stage_shapes[0].tolist()]
    if latent_size is None:
        raise BadInputError(
            f"inference.json's network_def builds a {type(network).__name__} without a latent_size; ONNX export takes "
            "the generator of a medgan bundle."
        )
    return [int(latent_size)]


def _dynamic_shapes(num_noise: int, batch) -> tuple:
    """``torch.export``'s free batch axis for ``forward(z, *noise)``: the variadic maps are one nested tuple."""
    noise = tuple({0: batch} for _ in range(num_noise))
    return ({0: batch}, noise) if noise else ({0: batch},)


def export_module(module: GeneratorWithNoiseInputs) -> bytes:
    """The serialized ONNX model of ``module``: inputs ``z`` and ``noise_<k>``, output ``image``, batch axis free,
    through the exporter :func:`uses_torch_export` picks."""
    inputs = module.example_inputs()
    names = ["z", *module.noise_names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the stage read as an int: fixed, as documented
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False's notice
        warnings.filterwarnings("ignore", "Exporting a model while it is in training mode")  # StyleGAN2's synthesis
        warnings.filterwarnings("ignore", ".*The axis name: batch will not be used")  # one batch axis for all inputs
        if uses_torch_export(module.generator):
            program = torch.onnx.export(
                module, inputs, input_names=names, output_names=["image"], dynamo=True, verbose=False,
                dynamic_shapes=_dynamic_shapes(len(inputs) - 1, torch.export.Dim(BATCH_AXIS)),
            )  # fmt: skip
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        torch.onnx.export(
            module, inputs, buffer, input_names=names, output_names=["image"], dynamo=False,
            dynamic_axes={name: {0: BATCH_AXIS} for name in [*names, "image"]},
        )  # fmt: skip
        return buffer.getvalue()


def build_generator(bundle_root: Path, ckpt_file: Path) -> tuple[nn.Module, list[int]]:
    """``inference.json``'s ``network_def`` for the model at ``ckpt_file`` (its settings file beside it), the
    weights loaded, in eval mode, and the shape of one sample's ``z``."""
    from monai.bundle import ConfigParser

    config_file = bundle_root / "configs" / "inference.json"
    if not config_file.is_file():
        raise BadInputError(f"no {config_file}; pass the bundle folder, e.g. bundles/dcgan.")
    parser = ConfigParser()
    parser.read_config(str(config_file))
    parser.update({"bundle_root": str(bundle_root), "ckpt_path": str(ckpt_file)})
    bundle_name = parser.get("bundle_name") or bundle_root.resolve().name
    if not ckpt_file.is_file():
        raise BadInputError(
            f"no model file at {ckpt_file}; train the {bundle_name} bundle first or set --ckpt_file to its model.pt."
        )
    network = load_weights(parser.get_parsed_content("network_def"), ckpt_file, bundle_name).eval()
    latent_size = parser.get_parsed_content("network_def#latent_size") if "network_def#latent_size" in parser else None
    return network, latent_shape_of(network, latent_size)


def onnx_export(bundle: str, filepath: str | None = None, ckpt_file: str | None = None) -> str:
    """Write the ONNX file of the bundle's generator (the module docstring gives its tensors).

    Args:
        bundle: the bundle folder, e.g. ``bundles/dcgan``.
        filepath: the ``.onnx`` file to write (replaced if there); default ``<bundle>/models/model.onnx``.
        ckpt_file: the model file; default ``<bundle>/models/model.pt`` (its ``model_settings.json`` beside it).

    Returns:
        the path written.
    """
    require_onnx_packages()
    bundle_root = Path(bundle)
    ckpt = Path(ckpt_file) if ckpt_file else bundle_root / "models" / "model.pt"
    target = Path(filepath) if filepath else bundle_root / "models" / "model.onnx"
    if target.suffix != ".onnx":
        raise BadInputError(f"--filepath {target} does not end in .onnx; name the ONNX file, e.g. models/model.onnx.")
    network, latent_shape = build_generator(bundle_root, ckpt)
    model = export_module(GeneratorWithNoiseInputs(network, latent_shape))
    atomic_write(target, lambda file: file.write(model))
    return str(target)
