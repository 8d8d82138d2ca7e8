"""Checkpoints that survive what happens to real runs (medgan.handlers.checkpoint, run_lock): a truncated or empty
newest checkpoint is set aside and the previous one resumed, a full disk is one sentence with the earlier
checkpoints intact, and a second run on a folder in use is refused with the holder named. In process, through
``monai.bundle.run`` on a tiny DCGAN."""

from __future__ import annotations

import errno
import resource
import subprocess
import sys

import pytest
import torch
from helpers import assert_ok, bundle_command, bundle_copy, env, run_command, write_pngs
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
    assert [w for w in warnings if "cannot be read" in w] == warnings[:1]  # read once, when the run is checked
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


def limit_file_size(limit: int):
    """A ``preexec_fn`` giving the child a file-size limit: a write past it fails with EFBIG (Python ignores the
    SIGXFSZ signal), as a full disk fails with ENOSPC."""

    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.slow
def test_a_real_write_limit_mid_run_is_one_sentence_and_the_same_command_resumes(tmp_path):
    """Not simulated in Python: the operating system refuses the checkpoint write (a file-size limit half the size
    of a checkpoint), the run ends with one sentence and exit code 1, the earlier checkpoints are the same bytes,
    no temporary file is left, and without the limit the same command resumes and finishes."""
    bundle = bundle_copy("dcgan", tmp_path)
    output_dir = tmp_path / "run"
    command = bundle_command(
        "run", "training", config_file=bundle / "configs" / "train.json", output_dir=output_dir,
        dataset_dir=write_pngs(tmp_path / "pngs", 4), num_features=16, batch_size=4, save_every=1,
    )  # fmt: skip
    assert_ok(run_command([*command, "--max_epochs", "2"]))
    folder = output_dir / "checkpoints"
    before = contents(folder)
    limit = max(len(data) for data in before.values()) // 2
    assert limit > 1 << 20, "the checkpoint must dwarf the run's other files (previews, logs) for this test"
    limited = subprocess.run(
        [*command, "--max_epochs", "4"], capture_output=True, text=True, env=env(), preexec_fn=limit_file_size(limit),
        timeout=300,
    )  # fmt: skip
    assert limited.returncode != 0
    sentence = [line for line in limited.stderr.splitlines() if line.startswith("medgan:")]
    assert sentence == [
        f"medgan: no room to write {folder / 'checkpoint_3.pt'} (File too large); the files written "
        "before are intact: free some space and run the same command again (a training run resumes)."
    ]
    assert "Traceback" not in limited.stderr
    assert contents(folder) == before
    assert list(output_dir.rglob("*.tmp")) == []
    assert_ok(run_command([*command, "--max_epochs", "4"]))
    assert [p.name for p in checkpoint_files(folder)] == ["checkpoint_3.pt", "checkpoint_4.pt"]
