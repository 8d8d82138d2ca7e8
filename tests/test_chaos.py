"""Chaos tests: one per trainer kind (fixed size: ``dcgan``; ConSinGAN: ``consingan``; StyleGAN2: ``stylegan2``;
progressive: ``pggan``). Each bundle trains for a few seconds, with a checkpoint every epoch or every two
iterations, uninterrupted into one folder (A); the same command into another folder (B) is SIGKILLed at random
points of its training and started again, ``KILLS`` times, then run to its end. B must end bit for bit where A
ended: the same ``model.pt`` tensors, the same newest checkpoint (every tensor in it: networks, EMA, optimizers,
regularizer state, random-number state), the same loss history, and no ``*.tmp`` or ``*.corrupt`` file left.

A kill is placed by B's progress, not by the clock (B may run faster or slower than A on shared cores): drawn from
``random.Random`` seeded per kind, it picks one of A's checkpoints before the last that B has not passed (or the
start of training) and comes up to half of A's time to the next checkpoint after B has written it, so kills
spread over the whole run and land between and during checkpoint writes, never after the run's end. Only kills that
hit a live process count; where each landed is printed (``pytest -rP``) and in every failure message. Each run's
log is in the test's temporary folder. (Kills timed as a share of A's whole training time missed in CI once: B ran
faster than A and ended before its first kill.)

Measured (2 CPU cores shared with other work; 1.5 to 3 minutes for the file, 8 runs): 3 of 3 kills landed per
kind (dcgan, consingan, stylegan2, pggan) every time, in about half the runs one during a checkpoint write, and
every kind ended bit-identical; no ``.corrupt`` file ever appeared.
"""

from __future__ import annotations

import csv
import random
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from helpers import (
    RUN_TIMEOUT_S,
    bundle_command,
    bundle_copy,
    describe,
    env,
    in_parallel,
    read_model,
    run_command,
    tail,
    write_pngs,
)
from progressive_bundle import TINY as PROGRESSIVE_TINY
from test_bundle_dcgan import TINY as DCGAN_TINY
from test_bundle_stylegan2 import TINY as STYLEGAN2_TINY
from test_config_keys import TINY_CONSINGAN

from medgan.handlers.checkpoint import CHECKPOINT_PATTERN, checkpoint_files
from medgan.handlers.run_lock import LOCK_NAME

KILLS = 3
SEED = 14
KINDS = {  # kind -> bundle, overrides (the bundle test's tiny ones, saving often, a few seconds of training)
    "fixed_size": ("dcgan", {**DCGAN_TINY, "max_epochs": 12}),
    "consingan": ("consingan", {**TINY_CONSINGAN, "iterations_per_stage": 10, "save_every_iterations": 2}),
    "stylegan2": ("stylegan2", {**STYLEGAN2_TINY, "image_size": 16, "max_epochs": 8}),
    "progressive": ("pggan", {**PROGRESSIVE_TINY, "save_every_iterations": 2}),
}

pytestmark = pytest.mark.slow


@dataclass
class Kill:
    """One SIGKILL that hit a live training process."""

    after: int  # the checkpoint (iteration; 0: the start of training) the kill waited for
    delay_s: float  # after that checkpoint appeared
    newest: int  # the newest checkpoint's iteration after the kill (0: none yet)
    interrupted_writes: list[str]  # the ``*.tmp`` files the kill left (it came during a write)

    def __str__(self) -> str:
        during = f", during a write ({', '.join(self.interrupted_writes)})" if self.interrupted_writes else ""
        return f"{self.delay_s:.2f} s after checkpoint {self.after} -> checkpoint {self.newest}{during}"


@dataclass
class ChaosRun:
    """One kind's uninterrupted run (A) and killed-and-restarted run (B)."""

    kind: str
    uninterrupted_dir: Path
    killed_dir: Path
    kills: list[Kill]
    unkilled_returncode: int | None  # a run that ended before its kill came (None: every kill landed)
    finished: subprocess.CompletedProcess  # B's last run, to its end

    def report(self) -> str:
        lines = [f"{self.kind}: {len(self.kills)} kills landed (of {KILLS})", *map(str, self.kills)]
        if self.unkilled_returncode is not None:
            lines.append(f"then a run ended (exit status {self.unkilled_returncode}) before its kill came")
        return "\n  ".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# running, killing


def newest_checkpoint(output_dir: Path) -> int:
    """The iteration of ``output_dir``'s newest checkpoint; 0 when there is none."""
    files = checkpoint_files(output_dir / "checkpoints")
    return int(CHECKPOINT_PATTERN.match(files[-1].name).group(1)) if files else 0


def partial_files(output_dir: Path) -> list[str]:
    """What interrupted writes and unreadable checkpoints leave: ``*.tmp`` and ``*.corrupt`` files."""
    return sorted(
        str(p.relative_to(output_dir)) for pattern in ("*.tmp", "*.corrupt") for p in output_dir.rglob(pattern)
    )


def wait_until_training(process: subprocess.Popen, output_dir: Path, log: Path) -> None:
    """Return once ``process`` holds the run's lock, which it takes when training starts (resume included)."""
    lock, holder = output_dir / "checkpoints" / LOCK_NAME, f"process {process.pid} "
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (lock.is_file() and lock.read_text().startswith(holder)):
        assert process.poll() is None, f"the run ended before training started:\n{tail(log.read_text())}"
        assert time.monotonic() < deadline, f"training did not start in {RUN_TIMEOUT_S} s"
        time.sleep(0.005)


def checkpoint_times(command: list[str], output_dir: Path, log: Path) -> dict[int, float]:
    """Run ``command`` uninterrupted; the seconds from training start (0) to each checkpoint, by iteration."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env())
        try:
            wait_until_training(process, output_dir, log)
            started = time.monotonic()
            deadline, times = started + RUN_TIMEOUT_S, {0: 0.0}
            while process.poll() is None:
                assert time.monotonic() < deadline, f"the uninterrupted run took over {RUN_TIMEOUT_S} s"
                if (found := newest_checkpoint(output_dir)) > max(times):
                    times[found] = time.monotonic() - started
                time.sleep(0.01)
        finally:
            process.kill()  # a no-op once it has ended
            process.wait(timeout=60)
    assert process.returncode == 0, f"the uninterrupted run failed:\n{tail(log.read_text())}"
    times[newest_checkpoint(output_dir)] = times.get(newest_checkpoint(output_dir), time.monotonic() - started)
    return times


def kill_after(command: list[str], output_dir: Path, log: Path, checkpoint: int, delay_s: float) -> int:
    """Start ``command`` and SIGKILL it ``delay_s`` after its checkpoint ``checkpoint`` exists (0: after training
    started); its exit status."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env())
        try:
            wait_until_training(process, output_dir, log)
            while newest_checkpoint(output_dir) < checkpoint and process.poll() is None:
                time.sleep(0.005)
            time.sleep(delay_s)
        finally:
            process.send_signal(signal.SIGKILL)  # a no-op if it has already ended
            process.wait(timeout=60)
    return process.returncode


def chaos(kind: str, root: Path) -> ChaosRun:
    """Train ``kind`` uninterrupted into ``root/A``, then into ``root/B`` killed ``KILLS`` times and run to its end."""
    name, tiny = KINDS[kind]
    bundle = bundle_copy(name, root)
    if name == "consingan":
        data = {"image": write_pngs(root / "image", 1, shape=(20, 24)) / "image_00_L.png"}
    else:
        data = {"dataset_dir": write_pngs(root / "pngs", 8, shape=(40, 48) if name == "dcgan" else (20, 24))}
    uninterrupted_dir, killed_dir = root / "A", root / "B"

    def command(output_dir: Path) -> list[str]:
        config = bundle / "configs" / "train.json"
        return bundle_command("run", "training", config_file=config, output_dir=output_dir, **tiny, **data)

    times = checkpoint_times(command(uninterrupted_dir), uninterrupted_dir, root / "A.log")
    steps = sorted(times)  # 0, then A's checkpoints; the last one ends the run
    rng = random.Random(f"{SEED}:{kind}")
    kills: list[Kill] = []
    unkilled = None
    while len(kills) < KILLS and unkilled is None:
        open_steps = [step for step in steps[:-1] if step >= newest_checkpoint(killed_dir)]
        assert open_steps, f"{kind}: too few checkpoints for {KILLS} kills: {steps}"
        after = rng.choice(open_steps[: max(1, len(open_steps) // (KILLS - len(kills)))])  # room for the rest
        following = steps[steps.index(after) + 1]
        delay = rng.uniform(0, 0.5) * (times[following] - times[after])  # before B's next one unless 2x faster
        returncode = kill_after(command(killed_dir), killed_dir, root / f"B{len(kills)}.log", after, delay)
        if returncode == -signal.SIGKILL:
            kills.append(Kill(after, delay, newest_checkpoint(killed_dir), partial_files(killed_dir)))
        else:
            unkilled = returncode
    finished = run_command(command(killed_dir))
    return ChaosRun(kind, uninterrupted_dir, killed_dir, kills, unkilled, finished)


@pytest.fixture(scope="module")
def chaos_runs(tmp_path_factory) -> dict[str, ChaosRun]:
    """Every kind's chaos run, two kinds at a time."""
    root = tmp_path_factory.mktemp("chaos")
    runs = in_parallel(*[lambda kind=kind, i=i: chaos(kind, root / f"kind{i}") for i, kind in enumerate(KINDS)])
    return dict(zip(KINDS, runs))


# ---------------------------------------------------------------------------------------------------------------
# what the runs ended with


def tensors(tree: object, prefix: str) -> dict[str, torch.Tensor]:
    """Every tensor in a nest of mappings and sequences, by its dotted path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, Mapping):
        items = tree.items()
    elif isinstance(tree, list | tuple):
        items = enumerate(tree)
    else:
        return {}
    return {path: t for key, value in items for path, t in tensors(value, f"{prefix}.{key}").items()}


def final_tensors(output_dir: Path) -> dict[str, torch.Tensor]:
    """``model.pt``'s tensors and every tensor of the newest checkpoint."""
    newest = checkpoint_files(output_dir / "checkpoints")[-1]
    checkpoint = torch.load(newest, map_location="cpu", weights_only=True)
    return {**tensors(read_model(output_dir)[0], "model.pt"), **tensors(checkpoint, newest.name)}


def loss_rows(output_dir: Path) -> list[dict[str, str]]:
    """The rows of ``output_dir/losses.csv`` (iteration and losses, as written)."""
    with open(output_dir / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", KINDS)
def test_killed_run_ends_bit_identical_to_an_uninterrupted_one(chaos_runs, kind):
    """After ``KILLS`` kills, B keeps A's checkpoints and ends with A's tensors, bit for bit."""
    run = chaos_runs[kind]
    print(run.report())  # where the kills landed: shown with pytest -rP
    assert run.finished.returncode == 0, f"{run.report()}\n{describe(run.finished)}"
    assert len(run.kills) == KILLS, run.report()
    a, b = run.uninterrupted_dir, run.killed_dir
    assert [p.name for p in checkpoint_files(b / "checkpoints")] == [
        p.name for p in checkpoint_files(a / "checkpoints")
    ], run.report()
    expected, actual = final_tensors(a), final_tensors(b)
    assert sorted(actual) == sorted(expected), run.report()
    assert [key for key in expected if not torch.equal(expected[key], actual[key])] == [], run.report()


@pytest.mark.parametrize("kind", KINDS)
def test_killed_run_leaves_no_partial_file_and_a_complete_loss_history(chaos_runs, kind):
    """No ``*.tmp`` or ``*.corrupt`` file is left in B, and its loss history is A's, row for row."""
    run = chaos_runs[kind]
    assert run.finished.returncode == 0, f"{run.report()}\n{describe(run.finished)}"
    assert partial_files(run.killed_dir) == [], run.report()
    expected = loss_rows(run.uninterrupted_dir)
    assert expected, "the uninterrupted run logged no losses"
    iterations = [row["iteration"] for row in loss_rows(run.killed_dir)]
    assert iterations == [row["iteration"] for row in expected], run.report()
    assert loss_rows(run.killed_dir) == expected, run.report()
