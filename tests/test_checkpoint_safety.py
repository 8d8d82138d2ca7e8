"""Checkpoints that survive what happens to real runs (medgan.handlers.checkpoint, run_lock): a truncated or empty
newest checkpoint is set aside and the previous one resumed, a full disk is one sentence with the earlier
checkpoints intact, and a second run on a folder in use is refused with the holder named. In process, through
``monai.bundle.run`` on a tiny DCGAN."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest
import torch
from helpers import bundle_copy, env, write_pngs
from monai.bundle import run as run_bundle

from medgan.errors import find_bad_input
from medgan.handlers import checkpoint
from medgan.handlers.checkpoint import checkpoint_files
from medgan.handlers.run_lock import LOCK_NAME


@pytest.fixture(autouse=True)
def keep_excepthook(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)


@pytest.fixture
def train(tmp_path):
    """Call it with overrides to train the tiny DCGAN into ``tmp_path/run`` (one iteration per epoch)."""
    bundle = bundle_copy("dcgan", tmp_path)
    settings = {"run_id": "training", "config_file": str(bundle / "configs" / "train.json"),
                "output_dir": str(tmp_path / "run"), "dataset_dir": str(write_pngs(tmp_path / "pngs", 4)),
                "num_features": 2, "batch_size": 4, "save_every": 1}  # fmt: skip

    def call(**overrides):
        run_bundle(**{**settings, **overrides})
        return tmp_path / "run" / "checkpoints"

    return call


def refusal(call, **overrides) -> str:
    with pytest.raises(Exception) as caught:
        call(**overrides)
    bad_input = find_bad_input(caught.value)
    assert bad_input is not None, caught.value
    return str(bad_input)


def contents(folder) -> dict[str, bytes]:
    """The files of a checkpoint folder but its lock (which names the latest holder)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != LOCK_NAME}


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_an_unreadable_newest_checkpoint_is_set_aside_and_the_previous_one_resumed(train, damage, monkeypatch):
    folder = train(max_epochs=2)
    older, newest = checkpoint_files(folder)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2] if damage == "truncated" else b"")
    damaged = newest.read_bytes()
    warnings = []  # the run's logging configuration disables loggers made before it: record the calls themselves
    monkeypatch.setattr(checkpoint.logger, "warning", warnings.append)
    train(max_epochs=3)
    assert warnings[0].startswith(f"{newest} cannot be read (")
    assert "set aside as checkpoint_2.pt.corrupt; resuming from an earlier checkpoint" in warnings[-1]
    assert (folder / "checkpoint_2.pt.corrupt").read_bytes() == damaged  # reported and kept, not deleted
    assert [p.name for p in checkpoint_files(folder)] == ["checkpoint_2.pt", "checkpoint_3.pt"]
    state = torch.load(folder / "checkpoint_3.pt", weights_only=True)
    assert state["trainer"]["iteration"] == 3  # one iteration per epoch: three epochs, the third after the resume


def test_no_readable_checkpoint_is_one_sentence_and_nothing_is_touched(train):
    folder = train(max_epochs=2)
    for path in checkpoint_files(folder):
        path.write_bytes(b"not a checkpoint")
    before = contents(folder)
    sentence = refusal(train, max_epochs=3)
    assert sentence.startswith(f"no checkpoint in {folder} can be read (checkpoint_1.pt, checkpoint_2.pt)")
    assert contents(folder) == before


def test_a_full_disk_is_one_sentence_and_leaves_the_earlier_checkpoints_intact(train, monkeypatch):
    folder = train(max_epochs=2)
    before = contents(folder)
    real_save = torch.save

    def save_until_the_disk_is_full(obj, file, *args, **kwargs):
        if "checkpoint_" in str(getattr(file, "name", file)):
            file.write(b"\0" * 4096)  # a part of the checkpoint reached the disk, then it was full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    sentence = refusal(train, max_epochs=4)
    assert sentence.startswith(f"no room to write {folder / 'checkpoint_3.pt'} (No space left on device)")
    assert "free some space and run the same command again" in sentence
    after = contents(folder)
    assert {name: after[name] for name in before} == before  # both earlier checkpoints, byte for byte
    assert sorted(after) == sorted(before)  # and no temporary file
    monkeypatch.setattr(torch, "save", real_save)
    train(max_epochs=4)  # space freed: the same command resumes and finishes
    assert [p.name for p in checkpoint_files(folder)] == ["checkpoint_3.pt", "checkpoint_4.pt"]


def test_a_second_run_on_a_folder_in_use_is_refused_naming_the_first(train, tmp_path):
    folder = train(max_epochs=1)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from medgan.handlers.run_lock import RunLock; "
         "RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(120)", str(folder)],
        stdout=subprocess.PIPE, text=True, env=env(),
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = contents(folder)
        sentence = refusal(train, max_epochs=2)
        assert f"{tmp_path / 'run'} is in use by another training run (process {holder.pid} on " in sentence
        assert "set --output_dir to another folder" in sentence
        assert contents(folder) == before
    finally:
        holder.kill()
        holder.wait(timeout=30)
    train(max_epochs=2)  # the lock died with its holder
    assert [p.name for p in checkpoint_files(folder)] == ["checkpoint_1.pt", "checkpoint_2.pt"]
