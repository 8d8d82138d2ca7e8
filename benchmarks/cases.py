"""What the benchmark measures: one :class:`Case` per bundle and configuration.

A case names a bundle, the ``train.json`` overrides that fix its configuration, and its switches: each switch is
the overrides that turn it on, measured against the case's baseline (the bundle's defaults). Adding a bundle is
adding cases here; ``run.py`` needs nothing else as long as the bundle's ``trainer`` is an ``AdversarialTrainer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# train.json overrides that turn on each switch (keys of the bundles' configs)
AMP_BF16 = {"amp": "bf16"}
AMP_FP16 = {"amp": "fp16"}  # CUDA only
CHANNELS_LAST = {"channels_last": True}
COMPILE = {"torch_compile": True}
CHECKPOINTING = {"gradient_checkpointing": True}
SEPARATE_CRITIC_BACKWARD = {"separate_critic_backward": True}
LEAN_3D = {**CHECKPOINTING, **SEPARATE_CRITIC_BACKWARD}
NO_FROZEN_CACHE = {"cache_frozen_stages": False}  # the cache is on by default: measured by turning it off
LOADER_WORKER = {"num_workers": 1}

# the embedded MNI152 volume repeated, so a 3D fixed-size bundle has a batch of volumes (one is embedded)
EMBEDDED_VOLUMES = "$medgan.data.load_training_images(None, 3, @image_size, @channels).repeat(8, 1, 1, 1, 1)"


@dataclass(frozen=True)
class Case:
    """One bundle at one configuration.

    Attributes:
        bundle: folder under ``bundles/``.
        setting: label of the configuration in the table, e.g. ``"2D 64 px"``.
        overrides: ``train.json`` keys set for every run of the case.
        switches: switch label -> the overrides that turn it on; each is measured against the baseline.
        iterations: timed training iterations (after ``warmup`` untimed ones, which include any compilation).
        warmup: untimed training iterations first.
        inference_batch: samples per generator call in the inference measurement.
        finest_stage: start training at the last stage (ConSinGAN: the generator is grown to all stages first).
        final_resolution_stage: start a progressive run (PGGAN, StyleGAN) after the final resolution's fade-in.
        default: part of the default set (else only with ``--all``).
        gpu_only: switches measured only on a CUDA device.
    """

    bundle: str
    setting: str
    overrides: dict
    switches: dict[str, dict] = field(default_factory=dict)
    iterations: int = 5
    warmup: int = 2
    inference_batch: int = 16
    finest_stage: bool = False
    final_resolution_stage: bool = False
    default: bool = True
    gpu_only: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.bundle} {self.setting}"


FIXED_SIZE_SWITCHES = {"bf16": AMP_BF16, "fp16": AMP_FP16, "channels_last": CHANNELS_LAST}
CONSINGAN_SWITCHES = {
    "bf16": AMP_BF16,
    "fp16": AMP_FP16,
    "channels_last": CHANNELS_LAST,
    "checkpointing": CHECKPOINTING,
    "separate critic backward": SEPARATE_CRITIC_BACKWARD,
    "no frozen-stage cache": NO_FROZEN_CACHE,
}
GPU_ONLY = ("fp16",)

CASES = [
    # ---------------------------------------------------------------------------------------------------- DCGAN
    Case(
        "dcgan",
        "2D 64 px, batch 16",
        {"spatial_dims": 2, "image_size": 64},
        {**FIXED_SIZE_SWITCHES, "torch.compile": COMPILE, "loader worker": LOADER_WORKER},
        iterations=10,
        gpu_only=GPU_ONLY,
    ),
    Case("dcgan", "2D 128 px, batch 16", {"spatial_dims": 2, "image_size": 128}, iterations=4),
    Case(
        "dcgan",
        "3D 64^3, batch 4",
        {"spatial_dims": 3, "image_size": 64, "batch_size": 4, "images": EMBEDDED_VOLUMES},
        {"bf16": AMP_BF16, "fp16": AMP_FP16},
        iterations=2,
        warmup=1,
        inference_batch=4,
        gpu_only=GPU_ONLY,
    ),
    # ---------------------------------------------------------------------------------------------------- SNGAN
    Case("sngan", "2D 64 px, batch 16", {"spatial_dims": 2, "image_size": 64}, iterations=10),
    Case(
        "sngan",
        "2D 128 px, batch 16",
        {"spatial_dims": 2, "image_size": 128},
        FIXED_SIZE_SWITCHES,
        iterations=4,
        gpu_only=GPU_ONLY,
    ),
    Case(
        "sngan",
        "3D 64^3, batch 4",
        {"spatial_dims": 3, "image_size": 64, "batch_size": 4, "images": EMBEDDED_VOLUMES},
        iterations=2,
        warmup=1,
        inference_batch=4,
        default=False,
    ),
    # ------------------------------------------------------------------------------------------------ ConSinGAN
    Case(
        "consingan",
        "2D max_size 128, finest stage 128x109",
        {"spatial_dims": 2, "max_size": 128},
        CONSINGAN_SWITCHES,
        iterations=3,
        warmup=1,
        inference_batch=1,
        finest_stage=True,
        gpu_only=GPU_ONLY,
    ),
    Case(
        "consingan",
        "3D max_size 64, finest stage 55x64x53",
        {"spatial_dims": 3, "max_size": 64},
        {"bf16": AMP_BF16, "checkpointing + separate critic backward": LEAN_3D, "fp16": AMP_FP16},
        iterations=1,
        warmup=1,
        inference_batch=1,
        finest_stage=True,
        gpu_only=GPU_ONLY,
    ),
    Case(
        "consingan",
        "3D max_size 96, finest stage 82x96x79",
        {"spatial_dims": 3, "max_size": 96},
        {"checkpointing + separate critic backward": LEAN_3D},
        iterations=1,
        warmup=1,
        inference_batch=1,
        finest_stage=True,
        default=False,
    ),
    Case(
        "consingan",
        "3D max_size 128, finest stage 109x128x105",
        {"spatial_dims": 3, "max_size": 128, **LEAN_3D},
        iterations=1,
        warmup=0,
        inference_batch=1,
        finest_stage=True,
        default=False,
    ),
]

# ---------------------------------------------------------------------------------------------------- StyleGAN2
# the embedded volume at StyleGAN2's per-axis image shape, repeated so a batch of 4 volumes exists
STYLEGAN2_EMBEDDED_VOLUMES = (
    "$medgan.data.shaped.load_shaped_training_images(None, 3, @image_shape, @channels).repeat(8, 1, 1, 1, 1)"
)
CASES += [
    Case(  # the CPU quick start of bundles/stylegan2/docs/README.md
        "stylegan2",
        "2D 64 px, max_channels 32, batch 16",
        {"spatial_dims": 2, "image_size": 64, "max_channels": 32, "channel_halving_resolution": 128, "batch_size": 16},
        {"bf16": AMP_BF16, "fp16": AMP_FP16},
        iterations=4,
        gpu_only=GPU_ONLY,
    ),
    Case(
        "stylegan2",
        "3D 32^3, max_channels 16, batch 4",
        {
            "spatial_dims": 3,
            "image_size": 32,
            "max_channels": 16,
            "batch_size": 4,
            "images": STYLEGAN2_EMBEDDED_VOLUMES,
        },
        {"bf16": AMP_BF16, "fp16": AMP_FP16},
        iterations=4,
        inference_batch=4,
        gpu_only=GPU_ONLY,
    ),
    Case(
        "stylegan2",
        "2D 64 px, batch 32",
        {"spatial_dims": 2, "image_size": 64},
        {"bf16": AMP_BF16, "fp16": AMP_FP16},
        iterations=2,
        warmup=1,
        default=False,
        gpu_only=GPU_ONLY,
    ),
    Case(  # the official implementation: 12.8-13.7 s/kimg at 128 px on one V100 (= 73-78 images/s)
        "stylegan2",
        "2D 128 px, batch 32",
        {"spatial_dims": 2, "image_size": 128},
        {"bf16": AMP_BF16, "fp16": AMP_FP16},
        iterations=2,
        warmup=1,
        default=False,
        gpu_only=GPU_ONLY,
    ),
]

# ------------------------------------------------------------------------------------------- PGGAN and StyleGAN
# measured at the final resolution with the fade-in done; the embedded volume repeated for a batch of volumes
PROGRESSIVE_EMBEDDED_VOLUMES = (
    "$medgan.data.progressive.load_progressive_images(None, 3, @image_size, @channels).repeat(8, 1, 1, 1, 1)"
)
for progressive_bundle in ("pggan", "stylegan"):
    CASES += [
        Case(  # the CPU quick start of the bundle's docs/README.md, at its last (64 px) stage
            progressive_bundle,
            "2D 64 px, max_channels 32, batch 16",
            {"spatial_dims": 2, "image_size": 64, "max_channels": 32, "images_per_stage": 10000},
            {"bf16": AMP_BF16, "fp16": AMP_FP16},
            iterations=4,
            final_resolution_stage=True,
            gpu_only=GPU_ONLY,
        ),
        Case(
            progressive_bundle,
            "3D 32^3, max_channels 32, batch 4",
            {
                "spatial_dims": 3,
                "image_size": 32,
                "max_channels": 32,
                "images_per_stage": 1000,
                "batch_size": 4,
                "images": PROGRESSIVE_EMBEDDED_VOLUMES,
            },
            {"bf16": AMP_BF16, "fp16": AMP_FP16},
            iterations=2,
            warmup=1,
            inference_batch=4,
            final_resolution_stage=True,
            gpu_only=GPU_ONLY,
        ),
    ]
