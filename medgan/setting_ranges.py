"""The type and range of every user-facing bundle setting, in one place, and the one-sentence refusal of a value
outside it.

:func:`medgan.config_keys.check_config_keys` (every bundle config's ``initialize``) checks each top-level key of the
running config against :data:`SETTINGS` (and :data:`BUNDLE_SETTINGS` where one bundle narrows a key) and against
the :data:`RULES` that relate two keys, before anything is built or written: ``--batch_size 0`` or ``--max_epochs
-1`` stop with one sentence instead of a traceback later. A key holding an expression (``$...``, ``@...``) is the
config's own wiring and is not checked here; ``device`` is checked by :func:`checked_device`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from medgan.augment import ADA_OPS, AUGMENT_KINDS, AXIS_NAMES, POLICIES
from medgan.errors import BadInputError
from medgan.layers.cbam import CBAM_VARIANTS
from medgan.losses.adversarial import LOSS_KINDS
from medgan.networks.dcgan import SUPPORTED_SIZES


@dataclass(frozen=True)
class Setting:
    """A setting's type and range.

    Args:
        kind: ``int``, ``float``, ``str`` or ``bool`` (booleans are converted and checked in
            :func:`medgan.config_keys.checked_value`).
        low, high: inclusive bounds of a number (None: unbounded); ``low_open`` makes ``low`` exclusive.
        choices: the values a word (or a number) may take.
        length: a list of exactly this many numbers (``adam_betas``); ``listed``: a list of one or more
            (``exploration_seeds``); ``per_axis`` lets an int setting also be a
            list of one value per spatial axis (``image_size [64, 64, 32]``).
        optional: None is allowed (the default is computed).
        odd: an odd whole number (kernel sizes).
    """

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()
    length: int | None = None
    listed: bool = False
    per_axis: bool = False
    optional: bool = False
    odd: bool = False

    def describe(self) -> str:
        """The range in words: ``"a whole number from 1"``, ``"a list of 2 numbers in [0, 1]"``, ``"one of bce,
        hinge"``."""
        if self.choices:
            words = ", ".join(str(choice).lower() for choice in self.choices)  # True -> true
            return f"a list of any of {words}" if self.listed else f"one of {words}"
        if self.kind is str:
            return "a glob pattern or a list of them" if self.listed else "a file path"
        noun = "odd whole number" if self.odd else "whole number" if self.kind is int else "number"
        if self.length or self.listed:
            noun = f"a list of {self.length or 'one or more'} {noun}s"
        else:
            noun = f"an {noun}" if self.odd else f"a {noun}"
        low, high = _written(self.low), _written(self.high)
        if low is not None and high is not None:
            return f"{noun} in {'(' if self.low_open else '['}{low}, {high}]"
        if low is not None:
            return f"{noun} {'above' if self.low_open else 'from'} {low}"
        if high is not None:
            return f"{noun} up to {high}"
        return noun

    def admits(self, value: Any) -> bool:
        """Whether ``value`` (already of the right type, see :func:`medgan.config_keys.checked_value`) is in range."""
        if value is None:
            return self.optional
        if self.listed and self.kind is str and not self.choices and isinstance(value, str):
            return True  # one pattern for a list of them
        if self.length is not None or self.listed or (self.per_axis and isinstance(value, (list, tuple))):
            items = list(value) if isinstance(value, (list, tuple)) else None
            if items is None or (self.length is not None and len(items) != self.length) or not items:
                return False
            return all(self._admits_one(item) for item in items)
        return self._admits_one(value)

    def _admits_one(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return False
            if self.kind is int and not float(value).is_integer():
                return False
            if self.odd and int(value) % 2 != 1:
                return False
            if self.low is not None and (value <= self.low if self.low_open else value < self.low):
                return False
            return self.high is None or value <= self.high
        return isinstance(value, self.kind)


def _written(bound: float | None) -> str | None:
    """A bound as a user types it: ``1``, ``0.5``, ``4294967295``."""
    if bound is None:
        return None
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


WHOLE_FROM_1 = Setting(int, low=1)
WHOLE_FROM_0 = Setting(int, low=0)
FRACTION = Setting(float, low=0, high=1)
NON_NEGATIVE = Setting(float, low=0)
POSITIVE = Setting(float, low=0, low_open=True)
SEED_RANGE = Setting(int, low=0, high=2**32 - 1)  # what numpy's legacy seeding (DataLoader workers) accepts
CONSINGAN_APPLICATIONS = ("sample", "harmonization", "editing", "paint", "animation", "super_resolution")

SETTINGS: dict[str, Setting] = {
    # data and image
    "spatial_dims": Setting(int, choices=(2, 3)),
    "channels": Setting(int, low=1, high=16),
    "image_size": Setting(int, low=4, high=4096, per_axis=True),
    "base_shape": Setting(int, low=1, per_axis=True, optional=True),
    "batch_size": Setting(int, low=1, high=65536),
    "num_workers": Setting(int, low=0, high=256),
    "max_size": Setting(int, low=4),
    "min_size": Setting(int, low=2),
    "output_shape": Setting(int, low=2, per_axis=True, optional=True),
    "dataset_include": Setting(str, listed=True, optional=True),  # glob patterns, one or a list
    "dataset_exclude": Setting(str, listed=True, optional=True),
    # length of training
    "max_epochs": WHOLE_FROM_1,
    "iterations_per_stage": WHOLE_FROM_1,
    "images_per_stage": WHOLE_FROM_1,
    # networks
    "latent_size": WHOLE_FROM_1,
    "w_dim": WHOLE_FROM_1,
    "mapping_layers": WHOLE_FROM_1,
    "num_features": WHOLE_FROM_1,
    "max_channels": WHOLE_FROM_1,
    "channel_halving_resolution": WHOLE_FROM_1,
    "minibatch_group_size": WHOLE_FROM_1,
    "num_layers": WHOLE_FROM_1,
    "kernel_size": Setting(int, low=1, odd=True),
    "padding": WHOLE_FROM_0,
    "padded_stages": WHOLE_FROM_0,
    "discriminator_padding": Setting(int, low=0, optional=True),  # None: padding
    "cbam_variant": Setting(str, choices=CBAM_VARIANTS),
    "lrelu_alpha": Setting(float, low=0, high=1),
    "num_scales": Setting(int, low=1, high=32),
    "active_scales": WHOLE_FROM_1,
    # optimisation and losses
    "lr": POSITIVE,
    "g_lr": Setting(float, low=0, low_open=True, optional=True),  # None: lr
    "d_lr": Setting(float, low=0, low_open=True, optional=True),
    "real_label": Setting(float, low=0.5, high=1, low_open=True),
    "adam_betas": Setting(float, low=0, high=1, length=2),
    "loss": Setting(str, choices=LOSS_KINDS),
    "d_steps": WHOLE_FROM_1,
    "g_steps": WHOLE_FROM_1,
    "lambda_grad_penalty": NON_NEGATIVE,
    "alpha_rec_loss": NON_NEGATIVE,
    "drift": NON_NEGATIVE,
    "noise_amp": NON_NEGATIVE,
    "lr_factor": POSITIVE,
    "gamma_scheduler": Setting(float, low=0, high=1, low_open=True),
    "mapping_lr_multiplier": POSITIVE,
    "style_mixing_prob": FRACTION,
    "r1_gamma": Setting(float, low=0, optional=True),
    "r1_interval": WHOLE_FROM_1,
    "pl_interval": WHOLE_FROM_1,
    "pl_weight": NON_NEGATIVE,
    "pl_decay": FRACTION,
    "pl_batch_shrink": WHOLE_FROM_1,
    "ema_beta": FRACTION,
    "ema_kimg": NON_NEGATIVE,
    "ema_rampup": Setting(float, low=0, optional=True),
    "seed": SEED_RANGE,
    "amp": Setting(str, choices=(False, True, "bf16", "fp16")),
    # augmentation of what the discriminator sees (medgan.augment)
    "augment": Setting(str, choices=AUGMENT_KINDS),
    "augment_p": FRACTION,
    "ada_target": Setting(float, low=0, high=1, low_open=True, optional=True),  # None: p stays fixed
    "ada_interval": WHOLE_FROM_1,
    "ada_kimg": POSITIVE,
    "augment_flips": Setting(str, choices=tuple(AXIS_NAMES[3]), listed=True),
    "ada_ops": Setting(str, choices=ADA_OPS, listed=True),
    "diffaugment_policy": Setting(str, choices=POLICIES, listed=True),  # true means bf16 (medgan.engines.precision)
    # saving, logging, previews (0: only at the end of an epoch)
    "save_every": WHOLE_FROM_1,
    "save_every_iterations": WHOLE_FROM_0,
    "sample_every": WHOLE_FROM_1,
    "sample_every_iterations": WHOLE_FROM_0,
    "log_every": WHOLE_FROM_1,
    "num_preview_samples": Setting(int, low=1, high=1024),
    # inference and evaluation
    "num_samples": Setting(int, low=1, high=1_000_000),
    "truncation_psi": Setting(float, low=-10, high=10),
    "style_mixing_cutoff": Setting(int, low=0, optional=True),
    "start_stage": WHOLE_FROM_0,
    # ConSinGAN's applications (medgan.consingan_applications; APPLICATIONS there, a higher layer; tested equal)
    "application": Setting(str, choices=CONSINGAN_APPLICATIONS),
    "input_mask": Setting(str, optional=True),  # a file path, checked where it is read
    "mask_dilation": Setting(int, low=0, high=10_000, optional=True),  # None: the reference's radius, scaled
    "mask_blur": Setting(float, low=0, high=10_000, optional=True),
    "paint_clusters": Setting(int, low=0, high=256),  # 0: no quantisation; 1 is refused with the application
    "super_resolution_factor": Setting(float, low=1, high=64, low_open=True),
    "animation_frames": Setting(int, low=2, high=100_000),
    "animation_alpha": FRACTION,
    "animation_beta": FRACTION,
    "animation_fps": Setting(float, low=0, high=100, low_open=True),
    "fine_tune_iterations": Setting(int, low=0, high=1_000_000),
    "fine_tune_checkpoint": Setting(str, optional=True),  # a file or folder path, checked where it is read
    "num_latent_points": Setting(int, low=2),
    "interpolation_steps": Setting(int, low=2),
    "exploration_seeds": Setting(int, low=0, high=2**32 - 1, listed=True),
    "embedding": Setting(str, choices=("auto", "umap", "pca")),
    "max_pairs": WHOLE_FROM_1,
    "ssim_kernel_size": Setting(int, low=3, odd=True),
    # projection of a real scan, SeFa directions (medgan.projection, medgan.sefa)
    "project_image": Setting(str, optional=True),  # a file path, checked where it is read
    "project_slice": Setting(int, low=0, optional=True),
    "project_steps": Setting(int, low=1, high=1_000_000),
    "project_space": Setting(str, choices=("w", "w+")),  # medgan.projection.SPACES (a higher layer; tested equal)
    "project_lr": POSITIVE,
    "project_noise_weight": NON_NEGATIVE,
    "project_w_avg_samples": Setting(int, low=2, high=10_000_000),
    "project_feature_extractor": Setting(str, optional=True),
    "latent_map_images": Setting(str, listed=True, optional=True),  # files or glob patterns, one or a list
    "project_similarity": Setting(str, choices=("ssim", "ms_ssim")),  # medgan.projection.SIMILARITIES, tested equal
    "sefa_directions": WHOLE_FROM_0,
    "sefa_layers": Setting(int, low=0, listed=True, optional=True),
    "sefa_strength": POSITIVE,
    "edit_direction": Setting(int, low=0, optional=True),
    "edit_strength": Setting(float, low=-1000, high=1000),
}
# a bundle that narrows a shared key
BUNDLE_SETTINGS: dict[tuple[str, str], Setting] = {
    ("dcgan", "image_size"): Setting(int, choices=SUPPORTED_SIZES),
    ("sngan", "image_size"): Setting(int, choices=SUPPORTED_SIZES),
}


@dataclass(frozen=True)
class Rule:
    """A relation between settings: ``holds(config)`` is true for a valid config, else ``sentence(config)``."""

    keys: tuple[str, ...]
    holds: Callable[[Mapping], bool]
    sentence: Callable[[Mapping], str]


RULES = (
    Rule(
        ("real_label", "loss"),
        lambda c: c["real_label"] == 1 or c["loss"] == "bce",
        lambda c: (
            f"--real_label {c['real_label']} (one-sided label smoothing) needs --loss bce, not {c['loss']}; use "
            "--loss bce or leave --real_label at 1."
        ),
    ),
    Rule(
        ("augment_flips", "spatial_dims"),
        lambda c: all(name in AXIS_NAMES[c["spatial_dims"]] for name in c["augment_flips"]),
        lambda c: (
            f"--augment_flips {c['augment_flips']} names an axis a {c['spatial_dims']}D image does not have; use "
            f"any of {', '.join(AXIS_NAMES[c['spatial_dims']])}."
        ),
    ),
    Rule(
        ("min_size", "max_size"),
        lambda c: c["min_size"] <= c["max_size"],
        lambda c: (
            f"--min_size {c['min_size']} is above --max_size {c['max_size']}; the coarsest stage cannot be "
            "larger than the finest, lower --min_size or raise --max_size."
        ),
    ),
    Rule(
        ("kernel_size", "padding"),
        lambda c: c["padding"] <= c["kernel_size"] // 2,
        lambda c: (
            f"--padding {c['padding']} is wider than --kernel_size {c['kernel_size']} needs; use "
            f"--padding {c['kernel_size'] // 2} (every conv keeps the shape) or 0 (the reference's unpadded convs)."
        ),
    ),
    Rule(
        ("kernel_size", "discriminator_padding"),
        lambda c: c["discriminator_padding"] is None or c["discriminator_padding"] <= c["kernel_size"] // 2,
        lambda c: (
            f"--discriminator_padding {c['discriminator_padding']} is wider than --kernel_size {c['kernel_size']} "
            f"needs; use {c['kernel_size'] // 2} (every conv keeps the shape), 0 (unpadded) or null (as --padding)."
        ),
    ),
    Rule(
        ("padded_stages", "padding", "kernel_size"),
        lambda c: c["padded_stages"] == 0 or c["padding"] < c["kernel_size"] // 2,
        lambda c: (
            f"--padded_stages {c['padded_stages']} changes nothing with --padding {c['padding']} (every stage "
            "already zero-pads); add --padding 0 (the finer stages then take context) or leave --padded_stages at 0."
        ),
    ),
    Rule(
        ("padded_stages", "num_scales"),
        lambda c: c["padded_stages"] <= c["num_scales"],
        lambda c: (
            f"--padded_stages {c['padded_stages']} is above --num_scales {c['num_scales']}, the number of stages; "
            "lower --padded_stages (0: every stage uses --padding)."
        ),
    ),
    Rule(
        ("active_scales", "num_scales"),
        lambda c: c["active_scales"] <= c["num_scales"],
        lambda c: (
            f"--active_scales {c['active_scales']} is above --num_scales {c['num_scales']}; at most "
            "--num_scales stages can train at once, lower --active_scales."
        ),
    ),
    Rule(
        ("batch_size", "minibatch_group_size"),
        lambda c: c["batch_size"] % min(c["minibatch_group_size"], c["batch_size"]) == 0,
        lambda c: (
            f"--batch_size {c['batch_size']} is not a multiple of --minibatch_group_size "
            f"{c['minibatch_group_size']} (the minibatch-std groups); pick sizes that divide."
        ),
    ),
)


def setting_for(bundle: str, key: str) -> Setting | None:
    """The declared type and range of ``key`` in ``bundle``, None for a key that is not a user setting."""
    return BUNDLE_SETTINGS.get((bundle, key), SETTINGS.get(key))


def check_setting(bundle: str, key: str, value: Any) -> None:
    """Refuse ``value`` for ``key`` outside its declared range, in one sentence.

    Raises:
        BadInputError: e.g. ``"--batch_size is a whole number from 1 (up to 65536), not 0; ..."``.
    """
    setting = setting_for(bundle, key)
    if setting is not None and not setting.admits(value):
        per_axis = " (or one per axis)" if setting.per_axis else ""
        raise BadInputError(f"--{key} must be {setting.describe()}{per_axis}, not {value!r}; change --{key}.")


def check_rules(config: Mapping) -> None:
    """Refuse a config whose settings contradict each other (:data:`RULES`), in one sentence. A rule applies where
    the config has all its keys as plain values (already checked against their ranges)."""
    for rule in RULES:
        values = {key: config.get(key) for key in rule.keys}
        if all(v is not None and not _is_wiring(v) for v in values.values()) and not rule.holds(values):
            raise BadInputError(rule.sentence(values))


def _is_wiring(value: Any) -> bool:
    """A config expression or reference (``$...``, ``@...``), or a structure, not a plain user value."""
    return isinstance(value, dict) or (isinstance(value, str) and value.startswith(("$", "@", "%")))


def checked_device(value: Any) -> torch.device:
    """``--device cpu`` / ``cuda`` / ``cuda:1`` / ``mps`` as a device this machine has.

    Raises:
        BadInputError: a name torch does not know, or a device this machine lacks.
    """
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise BadInputError(f"--device {value!r} is not a device name; use e.g. --device cpu or cuda:1.") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            have = f"only {count} CUDA device(s)" if count else "no CUDA GPU"
            raise BadInputError(f"--device {value} asked for a GPU but this machine has {have}; use --device cpu.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise BadInputError(f"--device {value} needs Apple's MPS, which this machine lacks; use --device cpu.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise BadInputError(f"--device {value} is not a device medgan trains on; use --device cpu or cuda.")
    return device
