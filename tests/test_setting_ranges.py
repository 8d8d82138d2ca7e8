"""Declared types and ranges of every bundle setting (medgan.setting_ranges): each user-facing key of every config
is declared, every shipped default lies in its range, and values outside it are one sentence; plain checks of the
range arithmetic."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import REPO_ROOT

from medgan.config_keys import STRUCTURE_KEYS
from medgan.errors import BadInputError
from medgan.setting_ranges import (
    Setting,
    check_rules,
    check_setting,
    checked_device,
    setting_for,
)

BUNDLES = ("consingan", "dcgan", "pggan", "sngan", "stylegan", "stylegan2")
CONFIGS = ("train.json", "inference.json", "evaluate.json")
# plain top-level keys that are not numbers to range-check: names, paths (checked where they are read), booleans
# (checked by config_keys.checked_value), wrap_generator (the multi-GPU config's wiring)
UNRANGED = {"bundle_name", "dataset_dir", "image", "input_image", "feature_extractor", "wrap_generator"}


def plain_settings(bundle: str) -> dict[str, object]:
    """Every top-level key of the bundle's configs whose value is not an expression or a structure."""
    found = {}
    for name in CONFIGS:
        for key, value in json.loads((REPO_ROOT / "bundles" / bundle / "configs" / name).read_text()).items():
            items = value if isinstance(value, list) else [value]
            is_expression = all(isinstance(item, str) and item[:1] in "$@%" for item in items)  # or a run list
            if not key.startswith(("+", "_")) and key not in STRUCTURE_KEYS and not is_expression:
                if not isinstance(value, (bool, dict)):
                    found[key] = value
    return found


@pytest.mark.parametrize("bundle", BUNDLES)
def test_every_setting_of_every_config_is_declared_and_its_default_is_in_range(bundle):
    settings = plain_settings(bundle)
    undeclared = sorted(k for k in settings if setting_for(bundle, k) is None and k not in UNRANGED)
    assert undeclared == []
    for key, value in settings.items():
        check_setting(bundle, key, value)  # raises for a default outside its own range
    check_rules(settings)


@pytest.mark.parametrize(
    ("key", "value", "sentence"),
    [("batch_size", 0, "--batch_size must be a whole number in [1, 65536], not 0"),
     ("batch_size", -2, "not -2"),
     ("max_epochs", 0, "--max_epochs must be a whole number from 1, not 0"),
     ("lr", 0, "--lr must be a number above 0, not 0"),
     ("lr", float("nan"), "not nan"),
     ("adam_betas", [0.5], "--adam_betas must be a list of 2 numbers in [0, 1]"),
     ("adam_betas", [0.5, 1.5], "not [0.5, 1.5]"),
     ("spatial_dims", 4, "--spatial_dims must be one of 2, 3, not 4"),
     ("kernel_size", 4, "an odd whole number from 1"),
     ("loss", "wasserstein", "--loss must be one of bce, hinge, wgan"),
     ("image_size", [64, 2], "(or one per axis), not [64, 2]"),
     ("num_samples", 0, "--num_samples must be a whole number in [1, 1000000], not 0"),
     ("style_mixing_prob", 1.5, "a number in [0, 1]"),
     ("seed", -1, "--seed must be a whole number in [0, 4294967295], not -1")],
)  # fmt: skip
def test_a_value_outside_its_range_is_one_sentence(key, value, sentence):
    with pytest.raises(BadInputError) as caught:
        check_setting("stylegan2", key, value)
    assert sentence in str(caught.value) and str(caught.value).endswith(f"change --{key}.")


def test_values_in_range_pass_and_bundles_narrow_shared_keys():
    for key, value in [("batch_size", 1), ("image_size", [64, 64, 32]), ("r1_gamma", None), ("lr", 1e-9)]:
        check_setting("stylegan2", key, value)
    with pytest.raises(BadInputError, match="--image_size must be one of 64, 128, 256, not 32"):
        check_setting("dcgan", "image_size", 32)
    check_setting("pggan", "image_size", 32)


def test_ranges_by_hand():
    open_low = Setting(float, low=0, high=1, low_open=True)
    assert [open_low.admits(v) for v in (0, 1e-12, 1, 1.0000001)] == [False, True, True, False]
    assert open_low.describe() == "a number in (0, 1]"
    whole = Setting(int, low=2)
    assert [whole.admits(v) for v in (1, 2, 2.0, 2.5, True, "3")] == [False, True, True, False, False, False]
    assert Setting(int, low=0, optional=True).admits(None) and not whole.admits(None)
    seeds = Setting(int, low=0, listed=True)
    assert [seeds.admits(v) for v in ([0, 1], [3], 3, [], [-1])] == [True, True, False, False, False]
    assert seeds.describe() == "a list of one or more whole numbers from 0"


@pytest.mark.parametrize(
    ("config", "sentence"),
    [({"min_size": 300, "max_size": 250}, "--min_size 300 is above --max_size 250"),
     ({"kernel_size": 3, "padding": 2}, "--padding 2 is wider than --kernel_size 3 needs"),
     ({"kernel_size": 5, "padding": 3}, "use --padding 2"),
     ({"active_scales": 4, "num_scales": 3}, "--active_scales 4 is above --num_scales 3"),
     ({"padded_stages": 7, "num_scales": 6}, "--padded_stages 7 is above --num_scales 6"),
     ({"padded_stages": 2, "padding": 1, "kernel_size": 3}, "--padded_stages 2 changes nothing with --padding 1"),
     ({"kernel_size": 3, "discriminator_padding": 2}, "--discriminator_padding 2 is wider than --kernel_size 3"),
     ({"batch_size": 6, "minibatch_group_size": 4}, "--batch_size 6 is not a multiple of --minibatch_group_size 4")],
)  # fmt: skip
def test_settings_that_contradict_each_other_are_one_sentence(config, sentence):
    with pytest.raises(BadInputError, match=sentence.replace("(", r"\(")):
        check_rules(config)
    check_rules({"batch_size": 2, "minibatch_group_size": 4, "kernel_size": 5, "padding": 2})
    check_rules({"kernel_size": 3, "padding": 0})  # the reference's unpadded convs
    check_rules({"kernel_size": 3, "discriminator_padding": None})  # as --padding
    check_rules({"padded_stages": 0, "padding": 1, "kernel_size": 3})  # the default
    check_rules({"padded_stages": 3, "padding": 0, "kernel_size": 3})
    check_rules({"kernel_size": 5, "padding": 1})


def test_devices_this_machine_lacks_are_refused():
    assert checked_device("cpu") == torch.device("cpu")
    for name, sentence in [("gpu", "is not a device name"), ("cuda:7", "asked for a GPU"), (3.5, "not a device")]:
        if name == "cuda:7" and torch.cuda.device_count() > 7:
            continue
        with pytest.raises(BadInputError, match=sentence):
            checked_device(name)
