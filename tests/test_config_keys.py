"""Strict configs (medgan.config_keys): unknown and renamed keys are refused before anything is written, and
booleans and numbers given as words (as ``fire`` passes ``--cbam false``) mean what they say. In process, through
``monai.bundle.run`` as the command line calls it."""

from __future__ import annotations

import inspect
import json
import logging
import sys

import pytest
import torch
from helpers import REPO_ROOT, bundle_copy, read_model, write_pngs
from monai.bundle import run as run_bundle

from medgan.config_keys import REMOVED, RENAMED, checked_value
from medgan.errors import BadInputError, find_bad_input
from medgan.handlers import ResumableCheckpoint, checkpoint_files

BUNDLES = ("consingan", "dcgan", "pggan", "sngan", "stylegan", "stylegan2")
TINY_CONSINGAN = {"spatial_dims": 2, "num_scales": 3, "max_size": 16, "min_size": 8, "iterations_per_stage": 2,
                  "num_features": 4, "num_layers": 2, "d_steps": 1, "g_steps": 1}  # fmt: skip


def refusal(**call) -> str:
    """The one sentence with which ``monai.bundle.run(**call)`` stops (MONAI wraps it in RuntimeErrors)."""
    with pytest.raises(Exception) as caught:
        run_bundle(**call)
    bad_input = find_bad_input(caught.value)
    assert bad_input is not None, caught.value
    return str(bad_input)


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("False", False), ("no", False), ("OFF", False), ("0", False), (0, False), (False, False),
     ("true", True), ("Yes", True), ("on", True), ("1", True), (1, True), (True, True)],
)  # fmt: skip
def test_boolean_words_become_booleans(value, expected):
    assert checked_value("cbam", value, True) is expected


@pytest.mark.parametrize(
    ("key", "value", "default", "message"),
    [("cbam", "maybe", True, "--cbam is true or false, not 'maybe'"),
     ("cbam", 2, True, "--cbam is true or false"),
     ("batch_size", "two", 16, "--batch_size is a whole number, not 'two'; pass e.g. --batch_size 16"),
     ("batch_size", 2.5, 16, "whole number"),
     ("batch_size", True, 16, "whole number"),
     ("lr", "abc", 0.0002, "--lr is a number, not 'abc'")],
)  # fmt: skip
def test_values_of_another_type_are_one_sentence(key, value, default, message):
    with pytest.raises(BadInputError, match=message):
        checked_value(key, value, default)


def test_numbers_lists_words_and_expressions_pass_where_they_belong():
    assert checked_value("max_epochs", 3.0, 100) == 3 and isinstance(checked_value("max_epochs", 3.0, 100), int)
    assert checked_value("image_size", [80, 96], 64) == [80, 96]  # per-axis sizes
    assert checked_value("lr", 1, 0.0002) == 1
    assert checked_value("amp", "bf16", False) == "bf16"  # amp takes precision words, checked where used
    assert checked_value("batch_size", "$2 * 8", 16) == "$2 * 8"  # an expression is taken as it is
    assert checked_value("dataset_dir", "/data", None) == "/data"


@pytest.mark.parametrize("name", BUNDLES)
def test_a_misspelt_key_is_refused_with_the_closest_key_before_anything_is_written(name, tmp_path):
    bundle = bundle_copy(name, tmp_path)
    output_dir = tmp_path / "run"
    key = "num_sample" if name == "consingan" else "seeed"
    sentence = refusal(run_id="training", config_file=str(bundle / "configs" / "train.json"),
                       output_dir=str(output_dir), **{key: 3})  # fmt: skip
    closest = "num_scales" if name == "consingan" else "seed"
    assert sentence == f"the {name} bundle has no key --{key}; did you mean --{closest}?"
    assert not output_dir.exists()


def test_a_renamed_key_names_its_new_name(tmp_path):
    bundle = bundle_copy("stylegan2", tmp_path)
    sentence = refusal(run_id="training", config_file=str(bundle / "configs" / "train.json"), z_dim=64)
    assert sentence.startswith("--z_dim was renamed: use --latent_size")
    sentence = refusal(run_id="inferring", config_file=str(bundle / "configs" / "inference.json"), use_ema=False)
    assert sentence.startswith("--use_ema is gone: models/model.pt is now the EMA generator")
    assert set(RENAMED.values()).isdisjoint(RENAMED)  # no new name is itself an old one


def test_cbam_false_turns_cbam_off(tmp_path):
    """``--cbam false`` (a string from fire) trains a generator without CBAM; before, the truthy string kept it on."""
    bundle = bundle_copy("consingan", tmp_path)
    image = write_pngs(tmp_path / "image", 1, shape=(20, 24)) / "image_00_L.png"
    output_dir = tmp_path / "run"
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), output_dir=str(output_dir),
               image=str(image), cbam="false", **TINY_CONSINGAN)  # fmt: skip
    model, meta = read_model(output_dir)
    assert meta["settings"]["cbam"] is False
    assert not any("attention" in key or "cbam" in key for key in model)


def test_a_nested_boolean_given_as_false_is_false(tmp_path):
    """``--g_optimizer#fused false``: before, the truthy string kept the optimizer fused."""
    bundle = bundle_copy("consingan", tmp_path)
    image = write_pngs(tmp_path / "image", 1, shape=(20, 24)) / "image_00_L.png"
    output_dir = tmp_path / "run"
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), output_dir=str(output_dir),
               image=str(image), **TINY_CONSINGAN, **{"g_optimizer#fused": "false"})  # fmt: skip
    state = torch.load(checkpoint_files(output_dir / "checkpoints")[-1], map_location="cpu", weights_only=True)
    assert {group["fused"] for group in state["g_optimizer"]["param_groups"]} == {False}
    assert {group["fused"] for group in state["d_optimizer"]["param_groups"]} == {True}


def test_overwrite_false_in_inference_does_not_overwrite(tmp_path):
    bundle = bundle_copy("dcgan", tmp_path)
    output_dir = tmp_path / "run"
    pngs = write_pngs(tmp_path / "pngs", 4)
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), output_dir=str(output_dir),
               dataset_dir=str(pngs), num_features=2, batch_size=4, max_epochs=1)  # fmt: skip
    samples = tmp_path / "samples"
    infer = {"config_file": str(bundle / "configs" / "inference.json"), "ckpt_path": str(output_dir / "model.pt"),
             "output_dir": str(samples), "num_samples": 1}  # fmt: skip
    run_bundle("inferring", **infer)
    before = (samples / "sample_0000.png").read_bytes()
    assert "pass --overwrite true" in refusal(run_id="inferring", **infer, seed=5, overwrite="false")
    assert (samples / "sample_0000.png").read_bytes() == before


@pytest.mark.parametrize("change", [{"lr": 0.001}, {"loss": "hinge"}, {"seed": 3}, {"amp": "bf16"}, {"d_steps": 2}])
def test_resuming_with_another_recipe_is_refused_and_changes_nothing(change, tmp_path):
    bundle = bundle_copy("dcgan", tmp_path)
    output_dir = tmp_path / "run"
    train = {"run_id": "training", "config_file": str(bundle / "configs" / "train.json"), "output_dir": str(output_dir),
             "dataset_dir": str(write_pngs(tmp_path / "pngs", 4)), "num_features": 2, "batch_size": 4}  # fmt: skip
    run_bundle(**train, max_epochs=1)
    before = {p.name: p.read_bytes() for p in (output_dir / "checkpoints").iterdir()}
    key, value = next(iter(change.items()))
    sentence = refusal(**train, max_epochs=2, **change)
    assert f"holds a run trained with {key}=" in sentence and f"(now {value!r})" in sentence
    assert {p.name: p.read_bytes() for p in (output_dir / "checkpoints").iterdir()} == before
    run_bundle(**train, max_epochs=2, log_every=2, save_every=2)  # how long, how often: free to change
    assert read_model(output_dir)[1]["settings"]["num_features"] == 2


@pytest.mark.parametrize("name", BUNDLES)
def test_no_bundle_uses_an_old_name(name):
    """One name for one thing: no config of any bundle has a key medgan renamed or removed."""
    for config in ("train.json", "inference.json", "evaluate.json", "multi_gpu_train.json"):
        keys = set(json.loads((REPO_ROOT / "bundles" / name / "configs" / config).read_text()))
        assert not keys & (RENAMED.keys() | REMOVED.keys()), (config, keys & (RENAMED.keys() | REMOVED.keys()))


def shared_train_keys() -> dict[str, set[str]]:
    """The settings (plain top-level values, no wiring) of each train.json, by key, shared by two or more bundles."""
    wiring = {"imports", "initialize", "training", "run", "train", "model_settings", "network_def", "run_settings",
              "bundle_name", "bundle_root", "rank"}  # fmt: skip
    found: dict[str, set[str]] = {}
    for name in BUNDLES:
        config = json.loads((REPO_ROOT / "bundles" / name / "configs" / "train.json").read_text())
        for key, value in config.items():
            expression = isinstance(value, str) and value.startswith(("$", "@")) and key not in ("device", "output_dir")
            if key not in wiring and not key.endswith("_def") and not isinstance(value, dict) and not expression:
                found.setdefault(key, set()).add(name)
    return {key: names for key, names in found.items() if len(names) > 1}


def test_the_readme_lists_every_shared_key_with_its_bundles():
    """A key that two bundles share is in the README's table with exactly those bundles, so a second name for one
    setting (or a key dropped from one bundle) shows up here."""
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("### Shared keys", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            names = set(BUNDLES) if cells[1] == "all" else {n.strip() for n in cells[1].split(",")}
            rows.update({key.strip("` "): names for key in cells[0].split(",")})  # a row may name related keys
    assert rows == shared_train_keys()


def test_cbam_variant_travels_with_the_model(tmp_path):
    """``--cbam_variant sequential`` (not the default) trains Woo et al.'s CBAM; inference builds it from
    model_settings.json alone, and an older settings file without the key means sequential."""
    bundle = bundle_copy("consingan", tmp_path)
    image = write_pngs(tmp_path / "image", 1, shape=(20, 24)) / "image_00_L.png"
    output_dir = tmp_path / "run"
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), output_dir=str(output_dir),
               image=str(image), cbam_variant="sequential", **TINY_CONSINGAN)  # fmt: skip
    assert read_model(output_dir)[1]["settings"]["cbam_variant"] == "sequential"
    settings_file = output_dir / "model_settings.json"
    samples = {}
    for variant in ("sequential", None, "residual"):  # None: a settings file from before the key
        content = json.loads(settings_file.read_text())
        content["settings"].pop("cbam_variant", None)
        if variant:
            content["settings"]["cbam_variant"] = variant
        settings_file.write_text(json.dumps(content))
        run_bundle("inferring", config_file=str(bundle / "configs" / "inference.json"), num_samples=1,
                   output_dir=str(tmp_path / f"out_{variant}"), ckpt_path=str(output_dir / "model.pt"))  # fmt: skip
        samples[variant] = (tmp_path / f"out_{variant}" / "sample_0000.png").read_bytes()
    assert samples["sequential"] == samples[None] != samples["residual"]
    sentence = refusal(run_id="training", config_file=str(bundle / "configs" / "train.json"), image=str(image),
                       output_dir=str(tmp_path / "other"), cbam_variant="woo", **TINY_CONSINGAN)  # fmt: skip
    assert sentence.startswith("--cbam_variant must be one of sequential, residual, not 'woo'")


def train_further_key(name: str) -> str | None:
    """The key a rerun of a finished ``name`` run names to train further (None: a new --output_dir)."""
    config = json.loads((REPO_ROOT / "bundles" / name / "configs" / "train.json").read_text())
    handlers = [h for h in config["train"]["handlers"] if isinstance(h, dict)]
    (handler,) = [h for h in handlers if h["_target_"].endswith("ResumableCheckpoint")]
    default = inspect.signature(ResumableCheckpoint).parameters["train_further_key"].default
    return handler.get("train_further_key", default)


@pytest.mark.parametrize("name", BUNDLES)
def test_a_finished_run_names_only_keys_of_its_bundle(name):
    """A rerun of a finished run says how to go on: with ``max_epochs`` where the bundle has it (ConSinGAN, PGGAN and
    StyleGAN do not; their length is a run setting, so they need a new --output_dir)."""
    keys = json.loads((REPO_ROOT / "bundles" / name / "configs" / "train.json").read_text())
    assert train_further_key(name) == ("max_epochs" if "max_epochs" in keys else None)


def test_rerunning_a_finished_consingan_run_says_it_is_final(tmp_path, caplog):
    bundle = bundle_copy("consingan", tmp_path)
    image = write_pngs(tmp_path / "image", 1, shape=(20, 24)) / "image_00_L.png"
    train = {"run_id": "training", "config_file": str(bundle / "configs" / "train.json"),
             "output_dir": str(tmp_path / "run"), "image": str(image), **TINY_CONSINGAN,
             "logging_file": False}  # its logging.conf replaces caplog's handler  # fmt: skip
    run_bundle(**train)
    model = (tmp_path / "run" / "model.pt").read_bytes()
    with caplog.at_level(logging.INFO, logger="medgan.handlers.checkpoint"):
        run_bundle(**train)
    (message,) = [r.getMessage() for r in caplog.records if "already finished" in r.getMessage()]
    assert message.endswith(
        f"already finished 3 epochs; {tmp_path / 'run' / 'model.pt'} is final: the run's length is one of its "
        "settings, which a resume keeps; to train longer or with other settings, set --output_dir to a new folder."
    )
    assert (tmp_path / "run" / "model.pt").read_bytes() == model
