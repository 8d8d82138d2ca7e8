"""Augmentation and the per-network learning rates through ``monai.bundle``, as users run them: every multi-image
bundle trains with ``--augment ada`` and ``--augment diffaugment`` (2D here, 3D in the slow tier), logs and
checkpoints ADA's strength, resumes it exactly; ``--g_lr`` / ``--d_lr`` reach the optimizers of all six bundles."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import torch
from helpers import bundle_copy, write_pngs, write_volumes
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle
from test_bundles_in_process import LATENT, PROGRESSIVE, SET_GAN  # the same tiny runs

from medgan.errors import find_bad_input

TINY = {
    "dcgan": SET_GAN,
    "sngan": SET_GAN,
    "pggan": PROGRESSIVE,
    "stylegan": {**PROGRESSIVE, "w_dim": LATENT},
    "stylegan2": {"latent_size": LATENT, "w_dim": LATENT, "mapping_layers": 2, "max_channels": 8,
                  "channel_halving_resolution": 16, "image_size": 16, "batch_size": 4, "max_epochs": 1,
                  "r1_interval": 2, "pl_interval": 2, "save_every": 1, "sample_every": 1, "num_preview_samples": 2},
}  # fmt: skip
FAST_ADA = {"augment": "ada", "augment_p": 0.5, "ada_kimg": 0.02, "ada_interval": 1}  # p moves by batch / 20 per step


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    """The bundles install a brief-error hook in ``initialize``; keep it out of the rest of the session."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


def train(name: str, tmp_path: Path, output_dir: Path, spatial_dims: int = 2, **overrides) -> list[dict]:
    bundle = tmp_path / name if (tmp_path / name).is_dir() else bundle_copy(name, tmp_path)
    if spatial_dims == 2:
        data = write_pngs(tmp_path / "pngs", 8, shape=(20, 24))
    else:
        data = write_volumes(tmp_path / "volumes", 4)
    run_bundle("training", config_file=str(bundle / "configs" / "train.json"), bundle_root=str(bundle),
               output_dir=str(output_dir), dataset_dir=str(data), spatial_dims=spatial_dims,
               **{**TINY[name], **overrides})  # fmt: skip
    with open(output_dir / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


def newest_checkpoint(output_dir: Path) -> dict:
    files = sorted((output_dir / "checkpoints").glob("checkpoint_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return torch.load(files[-1], map_location="cpu", weights_only=True)


def check_ada_run(rows: list[dict], output_dir: Path) -> None:
    strengths = [float(row["augment_p"]) for row in rows]
    assert strengths[0] >= 0 and len(set(strengths)) > 1, strengths  # tuned while training
    saved = newest_checkpoint(output_dir)["augmentation"]["strength"]
    assert float(saved) == pytest.approx(strengths[-1])


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_multi_image_bundle_trains_with_ada_in_2d(name, tmp_path):
    check_ada_run(train(name, tmp_path, tmp_path / "run", **FAST_ADA), tmp_path / "run")


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_multi_image_bundle_trains_with_diffaugment_in_2d(name, tmp_path):
    rows = train(name, tmp_path, tmp_path / "run", augment="diffaugment", diffaugment_policy="translation,cutout")
    assert {float(row["augment_p"]) for row in rows} == {1.0}
    assert newest_checkpoint(tmp_path / "run")["augmentation"] == {}  # nothing to resume


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ada", "diffaugment"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_every_multi_image_bundle_trains_with_augmentation_in_3d(name, kind, tmp_path):
    overrides = {**FAST_ADA, "augment_flips": "left-right,inferior-superior"} if kind == "ada" else {"augment": kind}
    if "max_epochs" in TINY[name]:
        overrides["max_epochs"] = 3  # 4 volumes, batch 4: one iteration per epoch
    rows = train(name, tmp_path, tmp_path / "run", spatial_dims=3, **overrides)
    if kind == "ada":
        check_ada_run(rows, tmp_path / "run")
    else:
        assert {float(row["augment_p"]) for row in rows} == {1.0}


def test_without_augmentation_nothing_is_logged_for_it(tmp_path):
    rows = train("dcgan", tmp_path, tmp_path / "run")
    assert "augment_p" not in rows[0]


@pytest.mark.parametrize("name", ["dcgan", pytest.param("stylegan2", marks=pytest.mark.slow)])
def test_a_resumed_ada_run_repeats_the_uninterrupted_one(name, tmp_path):
    """Two epochs at once, and one epoch then the same command with two: the same weights and the same p."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    train(name, tmp_path, whole, **FAST_ADA, max_epochs=2)
    train(name, tmp_path, split, **FAST_ADA, max_epochs=1)
    train(name, tmp_path, split, **FAST_ADA, max_epochs=2)
    model_whole = torch.load(whole / "model.pt", weights_only=True)
    model_split = torch.load(split / "model.pt", weights_only=True)
    assert all(torch.equal(model_whole[k], model_split[k]) for k in model_whole)
    a, b = newest_checkpoint(whole), newest_checkpoint(split)
    assert a["augmentation"] == pytest.approx(b["augmentation"]) and float(a["augmentation"]["strength"]) > 0
    assert all(torch.equal(a["discriminator"][k], b["discriminator"][k]) for k in a["discriminator"])


# ------------------------------------------------------------------------------------------------ learning rates
def parsed(name: str, tmp_path: Path, key: str, **overrides):
    bundle = bundle_copy(name, tmp_path)
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    data = {"image": str(write_pngs(tmp_path / "image", 1) / "image_00_L.png")} if name == "consingan" else {}
    parser.update({"bundle_root": str(bundle), "output_dir": str(tmp_path / "run"), **data, **overrides})
    return parser.get_parsed_content(key)


@pytest.mark.parametrize("name", ["dcgan", "sngan", "pggan", "stylegan"])
def test_g_lr_and_d_lr_override_lr_for_one_network(name, tmp_path):
    small = {"pggan": PROGRESSIVE, "stylegan": {**PROGRESSIVE, "w_dim": LATENT}}.get(name, SET_GAN)
    g = parsed(name, tmp_path / "g", "g_optimizer", **small, lr=0.002, d_lr=0.02)
    d = parsed(name, tmp_path / "d", "d_optimizer", **small, lr=0.002, d_lr=0.02)
    assert [group["lr"] for group in g.param_groups] == [0.002] * len(g.param_groups)
    assert [group["lr"] for group in d.param_groups] == [0.02] * len(d.param_groups)


def test_stylegan2_applies_its_lazy_regularisation_factor_on_top_of_d_lr(tmp_path):
    d = parsed("stylegan2", tmp_path / "d", "d_optimizer", **{**TINY["stylegan2"], "r1_interval": 4}, d_lr=0.01)
    g = parsed("stylegan2", tmp_path / "g", "g_optimizer", **{**TINY["stylegan2"], "pl_interval": 3}, g_lr=0.001)
    assert d.param_groups[0]["lr"] == pytest.approx(0.01 * 4 / 5)
    assert g.param_groups[0]["lr"] == pytest.approx(0.001 * 3 / 4)


def test_consingan_trains_its_critic_at_d_lr_and_its_stages_at_lr(tmp_path):
    trainer = parsed("consingan", tmp_path, "train#trainer", spatial_dims=2, num_scales=3, max_size=16, min_size=8,
                     num_features=4, num_layers=2, lr=0.001, d_lr=0.003)  # fmt: skip
    trainer.start_stage()
    assert [group["lr"] for group in trainer.d_optimizer.param_groups] == [0.003]
    assert max(group["lr"] for group in trainer.g_optimizer.param_groups) == 0.001


def test_a_checkpoint_of_an_earlier_medgan_without_augmentation_resumes(tmp_path):
    """Checkpoints written before augmentation existed lack its entry; with ``augment none`` it has no state, so the
    run resumes; a checkpoint lacking state that matters is one sentence."""
    run = tmp_path / "run"
    train("dcgan", tmp_path, run)
    newest = sorted((run / "checkpoints").glob("checkpoint_*.pt"))[-1]
    state = torch.load(newest, weights_only=True)
    torch.save({key: value for key, value in state.items() if key != "augmentation"}, newest)
    assert len(train("dcgan", tmp_path, run, max_epochs=2)) == 4  # resumed: 2 iterations per epoch
    newest = sorted((run / "checkpoints").glob("checkpoint_*.pt"), key=lambda p: int(p.stem.split("_")[1]))[-1]
    state = torch.load(newest, weights_only=True)
    torch.save({key: value for key, value in state.items() if key != "d_optimizer"}, newest)
    with pytest.raises(Exception) as failed:
        train("dcgan", tmp_path, run, max_epochs=3)
    assert str(find_bad_input(failed.value)) == (
        f"{newest} holds no d_optimizer (written by another medgan version or bundle); resume it with the medgan "
        "that wrote it, or train into a new --output_dir."
    )
