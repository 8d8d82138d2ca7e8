"""ConSinGAN generator and discriminator, n-D, with optional CBAM attention.

Hinz, Fisher, Wang and Wermter, "Improved Techniques for Training Single-Image GANs", WACV 2021,
https://arxiv.org/abs/2003.11512 (reference code: tohinz/ConSinGAN, ``ConSinGAN/models.py``), built on SinGAN
(Shaham, Dekel and Michaeli, ICCV 2019). CBAM: Woo et al., ECCV 2018 (see :mod:`medgan.layers.cbam`).

The generator grows one stage at a time; all stages share one head (image -> features) and one tail
(features -> image). Stage 0 turns the coarsest noise map into features; every later stage upsamples the previous
stage's features, adds noise in feature space and refines them residually. Only the newest ``active_scales`` stages
train, the older ones with a learning rate scaled down by ``lr_factor`` per stage of age.
"""

import copy
from collections.abc import Mapping, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers import Act, Conv, Norm
from torch import nn
from torch.utils.checkpoint import checkpoint

from medgan.errors import BadInputError
from medgan.layers.cbam import CBAM, CBAM_VARIANTS, ChannelAttention
from medgan.layers.resize import resize, resize_antialiased
from medgan.networks.init import gan_weights_init

__all__ = [
    "ConSinGANDiscriminator",
    "check_critic_fits",
    "critic_margin",
    "ConSinGANGenerator",
    "stages_in_state_dict",
]

SEED_BOUND = 2**31 - 1
"""Exclusive upper bound of the seed drawn from torch's RNG for the fixed reconstruction noise."""

CRITIC_CHANNELS = 1
"""Output channels of the discriminator: one realness score per patch."""


def _conv_block(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    padding: int,
    batch_norm: bool,
    lrelu_alpha: float,
) -> Convolution:
    """ConSinGAN's ``ConvBlock``: conv (stride 1), optional batch norm, LeakyReLU. (B, in, *s) -> (B, out, *s').

    The batch norm is the reference's as it runs: the reference never calls ``eval()``, so its ``BatchNorm`` always
    normalises with the statistics of the batch it is given, one image (or noise map) at a time. Here each sample is
    normalised with its own statistics, in training and inference alike (an affine instance norm: the batch norm of
    a batch of one, with the same ``weight`` and ``bias``). With running statistics, the model file's
    reconstruction was 70x further from the image than in training (MSE 0.112 against 0.0016, 2D, 4 x 150
    iterations), because they averaged the reconstruction and the noise passes; and per sample, a sample does not
    depend on the others in its batch, nor the gradient penalty's per-sample gradients on the rest of the batch."""
    return Convolution(
        spatial_dims,
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        padding=padding,
        adn_ordering="NA",
        act=(Act.LEAKYRELU, {"negative_slope": lrelu_alpha, "inplace": True}),
        norm=(Norm.INSTANCE, {"affine": True}) if batch_norm else None,
    )


RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
"""Buffers of a batch norm with running statistics, which model files and checkpoints of medgan until 2026-12-07
hold for ConSinGAN's norm layers."""


def _drop_running_statistics(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: an older file's running statistics of the norm layers are dropped (the layers
    normalise per sample and keep none; ``weight`` and ``bias`` load as they are)."""
    for name, layer in module.named_modules(prefix=prefix.rstrip(".")):
        if isinstance(layer, nn.modules.instancenorm._InstanceNorm):
            for buffer in RUNNING_STATISTICS:
                state_dict.pop(f"{name}.{buffer}", None)


class ConSinGANGenerator(nn.Module):
    """ConSinGAN's ``GrowingGenerator``, n-D, with CBAM at the end of every stage.

    Data flow (reference ``GrowingGenerator.forward``)::

        features = body[0](head(z))                                    # stage 0, z: (B, out_channels, *shape_0)
        for stage k >= 1:
            up = upsample(features, shape_k)
            features = body[k](up + noise_k * noise_amps[k]) + up      # noise_k: (B, num_features, *shape_k)
        image = tanh(tail(features))                                    # (B, out_channels, *shape_last)

    As in the reference, the noise of stage 0 is not scaled by ``noise_amps[0]`` and the later stages' noise lives in
    feature space (``num_features`` channels). Stages are upsampled (bi/tri)linearly instead of bicubically (no 3D
    bicubic in torch).

    Two edge geometries, chosen by ``padding``:

    - ``padding = kernel_size // 2`` ('same'): every conv zero-pads, so every map keeps its stage's shape;
    - ``padding = 0``, the reference's generation mode (``padd_size 0``): the convs are unpadded and each conv of a
      stage's body takes ``edge = kernel_size // 2`` pixels off every side, ``margin = num_layers * edge`` in all, so a
      stage is fed context instead of zeros: stage k's input is the previous features upsampled to
      ``shape_k + 2 * margin`` plus noise of that shape, and its output, of ``shape_k``, is added to the previous
      features upsampled to ``shape_k``; stage 0's head features are upsampled by ``edge`` on every side and
      zero-padded to ``shape_0 + 2 * margin``; the head and tail zero-pad their input by ``edge``. Only stage 0 and
      the head and tail see zero padding, so the later stages cannot tell where the image edge is (less copying of
      the layout, more diverse samples: benchmarks/README.md). Intermediate paddings shrink each conv by
      ``kernel_size // 2 - padding`` per side in the same way.

    ``padded_stages`` mixes the two: the ``padded_stages`` coarsest stages zero-pad ('same', so they know where the
    image edge is and lay the anatomy out where it was) and the finer ones use ``padding`` with context (they refine
    texture without knowing the position). With ``padding = kernel_size // 2`` it changes nothing.

    Everything needed to generate is a buffer, so the state dict is self-contained:

    - ``stage_shapes`` (LongTensor [num_total_stages, spatial_dims]): the spatial shape of every planned stage;
    - ``noise_amps`` (float [num_total_stages]): noise amplitude per stage, 1.0 until the training workflow sets it;
    - ``fixed_noise`` (1, out_channels, *stage_shapes[0]): the reconstruction input of stage 0.

    The number of built stages is ``len(body)``; a checkpoint with k stages loads into
    ``ConSinGANGenerator(..., num_stages=k)`` (see :func:`stages_in_state_dict`).

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        stage_shapes: spatial shape of every planned stage, coarsest first (e.g. from ``consingan_stage_shapes``).
        out_channels: image channels (ConSinGAN's ``nc_im``), also those of the noise it takes.
        num_features: feature channels of every conv (``nfc``).
        num_layers: conv blocks per stage (``num_layer``).
        kernel_size: conv kernel side (``ker_size``).
        padding: conv padding, 0 (the reference: context instead of zero padding, see above) to
            ``kernel_size // 2`` (every conv keeps the shape).
        padded_stages: number of coarsest stages whose convs zero-pad ('same') whatever ``padding`` is, 0 (every
            stage uses ``padding``) to the number of planned stages.
        batch_norm: batch norm in the generator's conv blocks (``batch_norm``, off by default in ConSinGAN), with
            each sample's own statistics, as the reference's runs (:func:`_conv_block`).
        cbam: append CBAM to every stage.
        lrelu_alpha: LeakyReLU negative slope.
        num_stages: number of stages to build now (``len(body)``), 1 to ``len(stage_shapes)``.
        cbam_reduction_ratio: channel reduction of CBAM's MLP.
        cbam_kernel_size: kernel side of CBAM's spatial attention.
        cbam_variant: ``"sequential"`` (Woo et al.: channel, then spatial attention) or ``"residual"`` (the seed
            project ConSinGAN_ND's: spatial, then channel attention, plus the stage's features); see
            :class:`medgan.layers.cbam.CBAM`.
        gradient_checkpointing: in training, keep only each trained stage's input and recompute the stage in the
            backward pass (``torch.utils.checkpoint``): less memory for large 3D volumes, one more forward per
            trained stage. Same numbers as without.
    """

    def __init__(
        self,
        spatial_dims: int,
        stage_shapes: Sequence[Sequence[int]],
        out_channels: int = 1,
        num_features: int = 64,
        num_layers: int = 3,
        kernel_size: int = 3,
        padding: int = 1,
        batch_norm: bool = False,
        cbam: bool = True,
        lrelu_alpha: float = 0.05,
        num_stages: int = 1,
        cbam_reduction_ratio: int = 16,
        cbam_kernel_size: int = 7,
        cbam_variant: str = "sequential",
        gradient_checkpointing: bool = False,
        padded_stages: int = 0,
    ) -> None:
        super().__init__()
        self.register_load_state_dict_pre_hook(_drop_running_statistics)
        if not stage_shapes or any(len(shape) != spatial_dims for shape in stage_shapes):
            raise BadInputError(
                f"stage_shapes {list(stage_shapes)} must be a non-empty list of {spatial_dims}-D shapes; "
                f"pass one shape with {spatial_dims} sizes per stage."
            )
        if not 1 <= num_stages <= len(stage_shapes):
            raise BadInputError(
                f"num_stages {num_stages} is outside 1..{len(stage_shapes)}, the planned stages; pass a value in range."
            )
        if not 0 <= padding <= kernel_size // 2:
            raise BadInputError(
                f"padding {padding} is outside 0..{kernel_size // 2} for kernel_size {kernel_size}; pass 0 (the "
                f"reference's unpadded convs) or {kernel_size // 2} (shape-keeping convs)."
            )
        if not 0 <= padded_stages <= len(stage_shapes):
            raise BadInputError(
                f"padded_stages {padded_stages} is outside 0..{len(stage_shapes)}, the planned stages; pass a value "
                "in range (0: every stage uses padding)."
            )
        self.spatial_dims = spatial_dims
        self.out_channels = out_channels
        self.num_features = num_features
        self.gradient_checkpointing = gradient_checkpointing
        self.padded_stages = padded_stages if padding < kernel_size // 2 else 0
        self.edge = kernel_size // 2 - padding
        self.margin = num_layers * self.edge  # of every stage from padded_stages on (stage_margin)
        self.head_edge = 0 if self.padded_stages else self.edge  # a padded stage 0 takes 'same' head features
        self._stage_paddings = (kernel_size // 2, padding)  # before and from padded_stages

        def block(channels_in: int, block_padding: int) -> Convolution:
            return _conv_block(
                spatial_dims, channels_in, num_features, kernel_size, block_padding, batch_norm, lrelu_alpha
            )

        self.head = block(out_channels, kernel_size // 2 - self.head_edge)
        first_stage = nn.Sequential(*[block(num_features, self._stage_padding(0)) for _ in range(num_layers)])
        if cbam:
            first_stage.append(CBAM(spatial_dims, num_features, cbam_reduction_ratio, cbam_kernel_size, cbam_variant))
        self.body = nn.ModuleList([first_stage])
        self.tail = nn.Sequential(
            Conv[Conv.CONV, spatial_dims](num_features, out_channels, kernel_size=kernel_size, padding=padding),
            nn.Tanh(),
        )
        self.apply(partial(gan_weights_init, zero_conv_bias=False))  # reference weights_init
        for _ in range(num_stages - 1):
            self.body.append(self._copy_stage(len(self.body)))

        shapes = torch.tensor([list(shape) for shape in stage_shapes], dtype=torch.long)
        seed = int(torch.randint(SEED_BOUND, ()).item())
        fixed_noise = torch.randn((1, out_channels, *shapes[0].tolist()), generator=torch.Generator().manual_seed(seed))
        self.register_buffer("stage_shapes", shapes)
        self.register_buffer("noise_amps", torch.ones(len(stage_shapes)))
        self.register_buffer("fixed_noise", fixed_noise)

    @property
    def num_stages(self) -> int:
        """Number of built stages (``len(body)``)."""
        return len(self.body)

    @property
    def num_total_stages(self) -> int:
        """Number of planned stages (rows of ``stage_shapes``)."""
        return self.stage_shapes.shape[0]

    def add_stage(self) -> nn.Module:
        """Append a new finest stage initialised as a copy of the current finest one (reference ``init_next_stage``).

        Returns:
            The new stage, trainable (``requires_grad`` True).

        Raises:
            BadInputError: when all planned stages are built.
        """
        if self.num_stages >= self.num_total_stages:
            raise BadInputError(
                f"All {self.num_total_stages} planned stages are built; plan more stage_shapes to add another stage."
            )
        stage = self._copy_stage(self.num_stages)
        stage.requires_grad_(True)
        self.body.append(stage)
        return stage

    def stage_margin(self, stage: int) -> int:
        """Context margin of stage ``stage``'s input on every side: 0 for a zero-padding stage, else ``margin``."""
        return 0 if stage < self.padded_stages else self.margin

    def _stage_padding(self, stage: int) -> int:
        """Conv padding of stage ``stage``'s blocks: 'same' before ``padded_stages``, else ``padding``."""
        return self._stage_paddings[0] if stage < self.padded_stages else self._stage_paddings[1]

    def _copy_stage(self, stage: int) -> nn.Module:
        """Stage ``stage`` initialised as a copy of the current finest one (reference ``init_next_stage``); the
        first stage past ``padded_stages`` keeps the weights with unpadded convs (a copy also keeps the weights'
        memory format and the forward hooks of :func:`medgan.engines.performance.fast_cpu_conv3d`)."""
        copied = copy.deepcopy(self.body[-1])
        padding = self._stage_padding(stage)
        if padding != self._stage_padding(stage - 1):
            for block in copied:
                if isinstance(block, Convolution):
                    block.conv.padding = (padding,) * self.spatial_dims
        return copied

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generate at the finest built stage from the coarsest noise ``z``; noise of later stages is drawn here.

        Args:
            z: (B, out_channels, *stage_shapes[0]).

        Returns:
            (B, out_channels, *stage_shapes[num_stages - 1]) in [-1, 1]. TorchScript-compatible.
        """
        shapes = self._stage_shape_list()
        noise: list[torch.Tensor | None] = [None for _ in range(len(shapes))]
        return self._synthesize(z, shapes, noise)

    def _stage_shape_list(self) -> list[list[int]]:
        """``stage_shapes`` as lists, read from the buffer only when it changed (on a GPU every read of a device
        tensor waits for the queued work, so the training loop does not read it at every forward)."""
        if torch.jit.is_scripting():
            return self.stage_shapes.tolist()
        return self._cached_stage_shapes()

    @torch.jit.unused
    def _cached_stage_shapes(self) -> list[list[int]]:
        key = (self.stage_shapes.data_ptr(), self.stage_shapes._version)
        if getattr(self, "_shape_cache_key", None) != key:
            self._shape_cache = self.stage_shapes.tolist()
            self._shape_cache_key = key
        return self._shape_cache

    def noise_shape(self, stage: int, stage_shapes: list[list[int]] | None = None) -> list[int]:
        """One sample's noise map at ``stage`` >= 1: ``[num_features, *(shape + 2 * margin)]`` (the stage's shape,
        from ``stage_shapes`` or the buffer, enlarged by the context margin of ``padding = 0``)."""
        shapes = self._stage_shape_list() if stage_shapes is None else stage_shapes
        return [self.num_features] + [size + 2 * self.stage_margin(stage) for size in shapes[stage]]

    def _pad(self, x: torch.Tensor, width: int) -> torch.Tensor:
        """Zero-pad every spatial side of ``x`` by ``width`` (nothing for 0)."""
        if width == 0:
            return x
        return F.pad(x, [width, width] * self.spatial_dims)

    def _synthesize(
        self, image: torch.Tensor, shapes: list[list[int]], noise: list[torch.Tensor | None]
    ) -> torch.Tensor:
        """Run the head on ``image`` (stage 0's input) and every built stage; a None noise entry is drawn as N(0, 1)."""
        return self._tail(self._run_stages(self._head(image), 0, shapes, noise, True))

    def _head(self, image: torch.Tensor) -> torch.Tensor:
        """(B, out_channels, *s) -> (B, num_features, *s)."""
        return self.head(self._pad(image, self.head_edge))

    def _tail(self, features: torch.Tensor) -> torch.Tensor:
        """(B, num_features, *s) -> (B, out_channels, *s) in [-1, 1]."""
        return self.tail(self._pad(features, self.edge))

    def _run_stages(
        self,
        features: torch.Tensor,
        start_stage: int,
        shapes: list[list[int]],
        noise: list[torch.Tensor | None],
        add_noise: bool,
        end_stage: int = -1,
    ) -> torch.Tensor:
        """Stages ``start_stage`` .. ``end_stage - 1`` (-1: to the finest built) on ``features``.

        Args:
            features: (B, num_features, *s): head features at stage 0, else the previous stage's output or the head
                features of an injected image (upsampled to ``shapes[start_stage]`` here).
            noise: per-stage noise maps, (B, *noise_shape(stage)); None entries are drawn as N(0, 1) when
                ``add_noise``.
            add_noise: False for the reconstruction path (zero noise at every stage after 0; nothing is added).

        Returns:
            (B, num_features, *shapes[end_stage - 1]).
        """
        last = self.num_stages if end_stage < 0 else end_stage
        checkpointing = self.gradient_checkpointing and torch.is_grad_enabled() and not torch.jit.is_scripting()
        for stage, block in enumerate(self.body):
            if stage == 0 and start_stage == 0:
                if self.stage_margin(0) > 0:  # the reference's generation mode: upsampled by edge, zero-padded
                    enlarged = resize(features, [size + 2 * self.edge for size in shapes[0]])
                    features = self._pad(enlarged, self.margin - self.edge)
                features = self._checkpointed_stage(stage, features) if checkpointing else block(features)
            elif start_stage <= stage < last:
                upsampled = resize(features, shapes[stage])
                stage_input = upsampled
                if self.stage_margin(stage) > 0:
                    stage_input = resize(features, [size + 2 * self.margin for size in shapes[stage]])
                if add_noise:
                    stage_noise = noise[stage]
                    if stage_noise is None:
                        stage_noise = torch.randn(
                            [features.shape[0]] + self.noise_shape(stage, shapes),
                            dtype=features.dtype,
                            device=features.device,
                        )
                    stage_input = stage_input + stage_noise * self.noise_amps[stage]
                refined = self._checkpointed_stage(stage, stage_input) if checkpointing else block(stage_input)
                features = refined + upsampled
        return features

    @torch.jit.unused
    def _checkpointed_stage(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """``body[stage](x)`` through ``torch.utils.checkpoint`` when the stage is trained (else plainly)."""
        block = self.body[stage]
        if any(p.requires_grad for p in block.parameters()):
            return checkpoint(block, x, use_reentrant=False)
        return block(x)

    def generate(
        self,
        z: torch.Tensor | None = None,
        stage_shapes: Sequence[Sequence[int]] | None = None,
        start_stage: int = 0,
        start_image: torch.Tensor | None = None,
        noise: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Generate with other stage shapes (retargeting), from an image (harmonisation, editing), or with given noise.

        With ``start_image`` the generator runs as ConSinGAN's harmonisation and editing do (reference
        ``evaluate_model.py``: the naive image replaces the reconstruction's input ``fixed_noise[0]``): the image,
        resized (antialiased) to the coarsest stage's shape, replaces ``z``; the stages before ``start_stage`` add no
        noise (the reconstruction path, along which the generator learnt to turn the coarsest real image into the
        real image), and ``start_stage`` and later stages add their noise, which makes the learnt texture. (Feeding
        the image's head features to a later stage instead, SinGAN's injection, reaches features that stage never
        saw in training; with a trained model it gave dark, broken images.)

        Args:
            z: coarsest noise (B, out_channels, *shapes[0]); required without ``start_image``, not allowed with it.
            stage_shapes: per-stage spatial shapes to generate at instead of the ``stage_shapes`` buffer, at least
                ``num_stages`` of them (e.g. the training shapes scaled per axis).
            start_stage: with ``start_image``, the first stage that adds noise (0 and 1 are the same: stage 0 adds
                none), 0 to ``num_stages`` (no stage adds noise: the reference's harmonisation, which runs the
                reconstruction path from the image).
            start_image: (B, out_channels, *spatial), any spatial size.
            noise: one entry per built stage: the map added at stage k, (B, *noise_shape(k, shapes)); None entries
                are drawn; entries of stage 0 and of stages before ``start_stage`` are ignored (no noise there).
                Zeros give the reconstruction path.

        Returns:
            (B, out_channels, *shapes[num_stages - 1]) in [-1, 1].

        Raises:
            BadInputError: on inconsistent arguments or shapes.
        """
        shapes = self._generation_shapes(stage_shapes)
        if not 0 <= start_stage <= self.num_stages:
            raise BadInputError(
                f"start_stage {start_stage} is outside 0..{self.num_stages}; pick a built stage, or "
                f"{self.num_stages} for no noise at all."
            )
        if (z is None) == (start_image is None):
            raise BadInputError("Pass exactly one of z (noise) and start_image (an image to inject) to generate.")
        if start_image is None:
            if start_stage != 0:
                raise BadInputError(f"start_stage {start_stage} needs a start_image; pass one or use start_stage 0.")
            self._check_map(z, "z", self.out_channels, shapes[0])
            image = z
        else:
            if start_image.ndim != self.spatial_dims + 2 or start_image.shape[1] != self.out_channels:
                raise BadInputError(
                    f"start_image has shape {tuple(start_image.shape)}; pass (B, {self.out_channels}, *spatial) "
                    f"with {self.spatial_dims} spatial axes."
                )
            image = resize_antialiased(start_image, shapes[0])
        stage_noise = self._generation_noise(noise, shapes, start_stage, len(image))
        return self._synthesize(image, shapes, stage_noise)

    def reconstruct(self, start_features: torch.Tensor | None = None, start_stage: int = 0) -> torch.Tensor:
        """The reconstruction path: ``fixed_noise`` at stage 0, zero noise at later stages.

        Args:
            start_features: the path's features after stages 0 .. ``start_stage - 1``
                (:meth:`reconstruction_features`), to skip stages whose output cannot change (frozen stages).
            start_stage: the first stage to run when ``start_features`` is given.

        Returns:
            (1, out_channels, *stage_shapes[num_stages - 1]), the output the reconstruction loss compares to the image.
        """
        shapes = self._stage_shape_list()
        if start_features is None:
            return self._tail(self._run_stages(self._head(self.fixed_noise), 0, shapes, [], False))
        return self._tail(self._run_stages(start_features, start_stage, shapes, [], False))

    def reconstruction_features(self, end_stage: int) -> torch.Tensor:
        """Features of the reconstruction path after stages 0 .. ``end_stage - 1``:
        (1, num_features, *stage_shapes[end_stage - 1])."""
        shapes = self._stage_shape_list()
        return self._run_stages(self._head(self.fixed_noise), 0, shapes, [], False, end_stage)

    def _generation_shapes(self, stage_shapes: Sequence[Sequence[int]] | None) -> list[list[int]]:
        """Checked per-stage shapes for ``generate``: the override or the buffer."""
        if stage_shapes is None:
            return self._stage_shape_list()
        shapes = [[int(size) for size in shape] for shape in stage_shapes]
        if len(shapes) < self.num_stages or any(len(s) != self.spatial_dims or min(s) < 1 for s in shapes):
            raise BadInputError(
                f"stage_shapes {shapes} must give {self.num_stages} or more positive {self.spatial_dims}-D shapes, "
                "one per built stage."
            )
        return shapes

    def _generation_noise(
        self, noise: Sequence[torch.Tensor | None] | None, shapes: list[list[int]], start_stage: int, batch: int
    ) -> list[torch.Tensor | None]:
        """Checked per-stage noise for ``generate``: zeros before ``start_stage``, the given maps from it on (None
        entries are drawn later)."""
        if noise is not None and len(noise) != self.num_stages:
            raise BadInputError(f"noise has {len(noise)} entries; pass one per built stage ({self.num_stages}).")
        checked: list[torch.Tensor | None] = [None] * self.num_stages
        for stage in range(1, self.num_stages):
            if stage < start_stage:
                checked[stage] = self.fixed_noise.new_zeros([batch] + self.noise_shape(stage, shapes))
            elif noise is not None and noise[stage] is not None:
                expected = self.noise_shape(stage, shapes)
                self._check_map(noise[stage], f"noise[{stage}]", expected[0], expected[1:])
                checked[stage] = noise[stage]
        return checked

    def _check_map(self, value: torch.Tensor, name: str, channels: int, shape: list[int]) -> None:
        """Raise BadInputError unless ``value`` is (B, channels, *shape)."""
        if value.ndim != self.spatial_dims + 2 or value.shape[1] != channels or list(value.shape[2:]) != shape:
            raise BadInputError(
                f"{name} has shape {tuple(value.shape)}; pass (B, {channels}, {', '.join(map(str, shape))})."
            )


def stages_in_state_dict(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Number of built stages in a :class:`ConSinGANGenerator` state dict, the ``num_stages`` to construct it with."""
    return len({key.split(".")[1] for key in state_dict if key.startswith("body.")})


def critic_margin(num_layers: int, kernel_size: int, padding: int) -> int:
    """Voxels a :class:`ConSinGANDiscriminator` takes off every side: ``(num_layers + 2) * (kernel_size // 2 -
    padding)`` (head, body and tail convs; 0 for shape-keeping padding). Computed from the settings, so a config can
    check the stage shapes without building (and drawing the weights of) a critic."""
    return (num_layers + 2) * (kernel_size // 2 - padding)


def check_critic_fits(stage_shapes: Sequence[Sequence[int]], margin: int) -> None:
    """Refuse, in one sentence, a coarsest stage that a critic taking ``margin`` voxels off every side
    (:attr:`ConSinGANDiscriminator.margin`, ``padding`` 0) would leave without a score.

    Raises:
        BadInputError: when an axis of ``stage_shapes[0]`` is ``2 * margin`` or shorter.
    """
    coarsest = [int(size) for size in stage_shapes[0]]
    if min(coarsest) <= 2 * margin:
        raise BadInputError(
            f"the coarsest stage {coarsest} is too small for the critic's unpadded convs, which take {margin} voxels "
            f"off every side (--padding 0 or --discriminator_padding 0); raise --min_size above {2 * margin} (an axis "
            "shorter than --min_size keeps its size) or give the critic 'same' padding (--discriminator_padding with "
            "kernel_size // 2)."
        )


class ConSinGANDiscriminator(nn.Module):
    """ConSinGAN's ``Discriminator``, n-D, with attention: a fully convolutional WGAN critic.

    head conv block (in_channels -> num_features), ``num_layers`` body conv blocks (as the reference, whose default
    ``num_layer = 3`` gives five convs in all, the receptive field of SinGAN's critic), and a tail conv to one
    channel with no activation. With 'same' padding the score map has the input's spatial shape. Attention, with
    ``cbam``, depends on ``cbam_variant``: ``"sequential"`` puts a CBAM (channel, then spatial attention) between the
    body and the tail; ``"residual"`` follows the seed project ConSinGAN_ND, whose critic weighs its input image's
    channels (channel attention on the image, ``input_attention``) and has no CBAM inside.

    Args:
        spatial_dims: number of spatial dimensions (2 or 3).
        in_channels: image channels.
        num_features: feature channels of every conv.
        num_layers: body conv blocks.
        kernel_size: conv kernel side.
        padding: conv padding; ``kernel_size // 2`` keeps shapes, 0 is the reference's unpadded critic (every conv
            takes ``kernel_size // 2`` pixels off each side, so no score sees the zero padding of the image edge).
        batch_norm: batch norm in the conv blocks, with each sample's own statistics (:func:`_conv_block`). Off
            by default, as in the reference (whose ``ConvBlock`` adds BatchNorm to the generator only).
        cbam: insert CBAM after the body.
        lrelu_alpha: LeakyReLU negative slope.
        cbam_reduction_ratio: channel reduction of CBAM's MLP.
        cbam_kernel_size: kernel side of CBAM's spatial attention.
        cbam_variant: where the attention is and which (above).

    Shapes:
        input (B, in_channels, *spatial) -> patch scores (B, 1, *spatial) for ``padding = kernel_size // 2``;
        (B, 1, *(spatial - 2 * margin)) otherwise, ``margin = (num_layers + 2) * (kernel_size // 2 - padding)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 1,
        num_features: int = 64,
        num_layers: int = 3,
        kernel_size: int = 3,
        padding: int = 1,
        batch_norm: bool = False,
        cbam: bool = True,
        lrelu_alpha: float = 0.05,
        cbam_reduction_ratio: int = 16,
        cbam_kernel_size: int = 7,
        cbam_variant: str = "sequential",
    ) -> None:
        super().__init__()
        self.register_load_state_dict_pre_hook(_drop_running_statistics)

        def block(channels_in: int) -> Convolution:
            return _conv_block(spatial_dims, channels_in, num_features, kernel_size, padding, batch_norm, lrelu_alpha)

        self.margin = critic_margin(num_layers, kernel_size, padding)
        self.head = block(in_channels)
        self.body = nn.Sequential(*[block(num_features) for _ in range(num_layers)])
        if cbam_variant not in CBAM_VARIANTS:
            raise BadInputError(f"cbam_variant {cbam_variant!r} is unknown; use one of {', '.join(CBAM_VARIANTS)}.")
        self.input_attention = nn.Identity()
        if cbam and cbam_variant == "residual":
            self.input_attention = ChannelAttention(spatial_dims, in_channels, cbam_reduction_ratio)
        elif cbam:
            self.body.append(CBAM(spatial_dims, num_features, cbam_reduction_ratio, cbam_kernel_size))
        self.tail = Conv[Conv.CONV, spatial_dims](
            num_features, CRITIC_CHANNELS, kernel_size=kernel_size, padding=padding
        )
        self.apply(partial(gan_weights_init, zero_conv_bias=False))  # reference weights_init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(self.input_attention(x))))
