"""Resumable training: atomic checkpoints of a whole run, automatic resume, and the model file for inference.

A run owns its ``ckpt_dir``. Every ``save_every`` epochs and at the end, :class:`ResumableCheckpoint` writes
``checkpoint_<iteration>.pt`` (ignite ``Checkpoint`` through :class:`SyncedSaver`: fsynced and renamed into place,
so a killed process never leaves a half-written file) holding the networks, optimizers, trainer state,
random-number state and the run's settings, and then, once it is on disk, removes all but the newest ``n_saved``
(a full disk stops the run with one sentence and the earlier checkpoints intact).
It also writes ``model_file`` (see :mod:`medgan.model_file`): a plain state dict
of the generator to sample from, with the settings that built it beside it, everything ``inference.json`` and
``ckpt_export`` need.

When the run starts it takes the folder's :class:`~medgan.handlers.run_lock.RunLock` (a second run on the same
folder stops with a sentence naming the first), and when ``ckpt_dir`` holds checkpoints the newest readable one is
loaded (``weights_only=True``; an unreadable newer one is reported and set aside as ``.corrupt``) and training
continues from it; the same command after a kill resumes instead of starting over. A checkpoint whose settings
differ from the current ones (another bundle, another image size) stops the run with a clear message instead of
being overwritten.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint
from ignite.handlers.checkpoint import BaseSaveHandler

from medgan.errors import BadInputError
from medgan.handlers.run_lock import RunLock
from medgan.model_file import atomic_torch_save, save_model_file, settings_file_for

CHECKPOINT_PREFIX = "checkpoint"
CHECKPOINT_PATTERN = re.compile(rf"^{CHECKPOINT_PREFIX}_(\d+)\.pt$")
CORRUPT_SUFFIX = ".corrupt"  # an unreadable checkpoint is renamed aside, not deleted
UNREADABLE = (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile)
logger = logging.getLogger(__name__)


SETTINGS_BEFORE_THEIR_KEY = {
    "reuse_fakes": False,
    "cbam_variant": "sequential",
    "padded_stages": 0,
    "discriminator_padding": None,
}
"""What runs did before a setting had a key (checkpoints of medgan 2026-12-06 and earlier lack the first two,
those from before the afternoon of 2026-12-07 the last two): a resumed run is checked against these values, so an older
run does not resume under a new default."""


class RunSettings:
    """The settings that define a run (bundle name and network/data settings), checked when a run resumes."""

    def __init__(self, bundle: str, settings: Mapping, ckpt_dir: str = "") -> None:
        self.bundle = bundle
        self.settings = dict(settings)
        self.ckpt_dir = ckpt_dir

    def state_dict(self) -> dict:
        return {"bundle": self.bundle, "settings": self.settings}

    def load_state_dict(self, state: Mapping) -> None:
        if state["bundle"] != self.bundle:
            raise BadInputError(
                f"{self.ckpt_dir} holds a {state['bundle']} run, not a {self.bundle} one; "
                "set --output_dir to a new folder for this bundle."
            )
        saved = {k: v for k, v in SETTINGS_BEFORE_THEIR_KEY.items() if k in self.settings} | dict(state["settings"])
        changed = {k: (v, self.settings.get(k)) for k, v in saved.items() if self.settings.get(k) != v}
        if changed:
            what = ", ".join(f"{k}={old!r} (now {new!r})" for k, (old, new) in changed.items())
            raise BadInputError(
                f"{self.ckpt_dir} holds a run trained with {what}; run with those settings to resume it, "
                "or set --output_dir to a new folder to start a new run."
            )


class RandomState:
    """torch's CPU and CUDA random-number state, saved so a resumed run draws the same numbers."""

    def state_dict(self) -> dict:
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        torch.set_rng_state(state["cpu"])
        if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


class SyncedSaver(BaseSaveHandler):
    """ignite save handler that writes through :func:`medgan.model_file.atomic_torch_save`: a temporary file,
    fsynced, renamed over the checkpoint, the folder fsynced; a full disk is one sentence."""

    def __init__(self, dirname: str | os.PathLike) -> None:
        self.dirname = Path(dirname)

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        atomic_torch_save(checkpoint, self.dirname / filename)

    def remove(self, filename: str) -> None:
        (self.dirname / filename).unlink(missing_ok=True)


def read_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` (``weights_only=True``), or None when it cannot be read: empty, truncated by a
    crash of the disk or the machine, or not a medgan checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except UNREADABLE as error:
        logger.warning(f"{path} cannot be read ({type(error).__name__}: {(str(error).splitlines() or [''])[0][:160]}).")
        return None
    if not (isinstance(state, dict) and "run_settings" in state):
        logger.warning(f"{path} is not a medgan checkpoint (it holds no run settings).")
        return None
    return state


def checkpoint_files(ckpt_dir: str | os.PathLike) -> list[Path]:
    """The run's checkpoints in ``ckpt_dir``, oldest first."""
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


class ResumableCheckpoint:
    """Save and resume a whole training run (see module docstring).

    Args:
        ckpt_dir: folder of the run's checkpoints.
        save_dict: everything with a ``state_dict`` to save and restore, e.g. networks, optimizers, handlers with
            state (loss history); the engine it is attached to (as ``"trainer"``), a :class:`RunSettings` and a
            :class:`RandomState` are added.
        run_settings: the run's identity, checked on resume.
        model_network: the generator written to ``model_file`` (the EMA copy where the recipe keeps one).
        model_settings: the architecture settings written beside it (``model_settings.json``); a ``num_stages``
            entry is refreshed from ``model_network.num_stages`` at every save (ConSinGAN grows stage by stage).
        model_file: path of the model file; None to skip it.
        save_every: epochs between checkpoints.
        n_saved: how many checkpoints to keep.
        rank: only rank 0 writes (all ranks resume).
        save_every_iterations: also save every this many iterations (0: only at epoch ends), for long epochs such
            as ConSinGAN's stages.
        train_further_key: the key a user raises to train a finished run further (``max_epochs``), named when a
            finished run is rerun; None where the run's length is one of its settings (ConSinGAN's stages, the
            progressive schedules), which a resume refuses to change: the rerun then says to train into a new
            ``--output_dir``.
    """

    def __init__(
        self,
        ckpt_dir: str,
        save_dict: Mapping,
        run_settings: RunSettings,
        model_network: torch.nn.Module | None = None,
        model_settings: Mapping | None = None,
        model_file: str | None = None,
        save_every: int = 1,
        n_saved: int = 2,
        rank: int = 0,
        save_every_iterations: int = 0,
        train_further_key: str | None = "max_epochs",
    ) -> None:
        self.ckpt_dir = ckpt_dir
        self.train_further_key = train_further_key
        run_settings.ckpt_dir = ckpt_dir
        self.run_settings = run_settings
        self.save_dict = {**save_dict, "run_settings": run_settings, "random_state": RandomState()}
        self.save_every_iterations = save_every_iterations
        if model_file is not None and model_network is None:
            raise ValueError("ResumableCheckpoint needs model_network to write model_file.")
        self.model_network = model_network
        self.model_settings = dict(model_settings or {})
        self.model_file = model_file
        self.save_every = save_every
        self.rank = rank
        self.n_saved = n_saved
        self._checkpoint: Checkpoint | None = None
        self._lock = RunLock(ckpt_dir)
        self._newest: tuple[Path, dict] | None = None  # the newest readable checkpoint, read once when checked
        self._unreadable: set[Path] = set()  # the checkpoints found unreadable when checked, not read again
        self._refuse_a_foreign_run()

    def _refuse_a_foreign_run(self) -> None:
        """Check the newest readable checkpoint's settings now, while the config is still being built: a refused
        run then stops before later handlers (TensorBoard) write anything into the earlier run's folder."""
        files = checkpoint_files(self.ckpt_dir)
        if files:
            self._newest = self._newest_readable(files, set_aside=False)
            self.run_settings.load_state_dict(self._newest[1]["run_settings"])
        elif self.model_file is not None and Path(self.model_file).exists():
            raise BadInputError(
                f"{self.model_file} exists but {self.ckpt_dir} holds no run to resume (a downloaded or shared model); "
                "set --output_dir to a new folder to train, so that model is kept."
            )

    def _newest_readable(
        self, files: list[Path], set_aside: bool, cached: tuple[Path, dict] | None = None
    ) -> tuple[Path, dict]:
        """The newest of ``files`` that can be read, with its content (``cached`` if it is that file; one found
        unreadable before is not read again); with ``set_aside`` an unreadable newer one is renamed
        ``checkpoint_<n>.pt.corrupt`` (kept, not deleted).

        Raises:
            BadInputError: when none can be read.
        """
        for path in reversed(files):
            if cached is not None and cached[0] == path:
                return cached
            state = None if path in self._unreadable else read_checkpoint(path)
            if state is not None:
                return path, state
            self._unreadable.add(path)
            if set_aside:
                path.rename(path.with_name(path.name + CORRUPT_SUFFIX))
                logger.warning(f"{path} set aside as {path.name}{CORRUPT_SUFFIX}; resuming from an earlier checkpoint.")
        raise BadInputError(
            f"no checkpoint in {self.ckpt_dir} can be read ({', '.join(p.name for p in files)}); restore one, or set "
            "--output_dir to a new folder to start a new run."
        )

    def _remove_interrupted_writes(self) -> None:
        """Delete the temporary files of checkpoint and model-file writes that a killed process left
        (:func:`medgan.model_file.atomic_write` writes ``.<name>.<pid>.tmp`` beside each file). Only the holder of
        the run's lock calls it, so no other run's write in progress is touched."""
        folder = Path(self.ckpt_dir)
        leftovers = list(folder.glob(".*.tmp")) if folder.is_dir() else []
        if self.model_file is not None:
            model_file = Path(self.model_file)
            for name in (model_file.name, settings_file_for(model_file).name):
                leftovers += model_file.parent.glob(f".{name}.*.tmp")
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)

    def attach(self, engine: Engine) -> None:
        # the engine's state comes first: a workflow may rebuild networks or optimizers from it (ConSinGAN's stages)
        self.save_dict = {"trainer": engine, **self.save_dict}
        self._checkpoint = Checkpoint(
            to_save=self.save_dict,
            save_handler=SyncedSaver(self.ckpt_dir),
            filename_prefix="",
            n_saved=None,  # older checkpoints are removed by :meth:`save` once the new one is on disk
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        engine.add_event_handler(Events.STARTED, self.resume)
        if self.rank == 0:
            engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.save_every), self.save)
            if self.save_every_iterations > 0:
                engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_every_iterations), self.save)
            engine.add_event_handler(Events.COMPLETED, self.save)
            engine.add_event_handler(Events.COMPLETED, lambda _: self._lock.release())

    def resume(self, engine: Engine) -> None:
        """Take the run's lock, then load the newest readable checkpoint of ``ckpt_dir``, if any, and continue the
        run from it."""
        if self.rank == 0:
            self._lock.acquire()
            self._remove_interrupted_writes()
        files = checkpoint_files(self.ckpt_dir)
        if not files:
            return
        configured_max_epochs = engine.state.max_epochs
        cached, self._newest = self._newest, None
        latest, state = self._newest_readable(files, set_aside=self.rank == 0, cached=cached)
        Checkpoint.load_objects(to_load=self._objects_in(state, latest), checkpoint=state)
        engine.state.max_epochs = configured_max_epochs
        saved = [(int(CHECKPOINT_PATTERN.match(p.name).group(1)), p.name) for p in checkpoint_files(self.ckpt_dir)]
        self._checkpoint.load_state_dict({"_saved": saved})
        if engine.state.epoch >= configured_max_epochs:
            logger.info(f"{latest} already finished {engine.state.epoch} epochs; {self._finished_hint()}")
        else:
            logger.info(f"resumed from {latest} at epoch {engine.state.epoch}, iteration {engine.state.iteration}.")

    def _finished_hint(self) -> str:
        """How to go on from a finished run (see ``train_further_key``)."""
        if self.train_further_key is not None:
            return f"raise --{self.train_further_key} to train further."
        model = f"{self.model_file} is final" if self.model_file is not None else "the run is final"
        return (
            f"{model}: the run's length is one of its settings, which a resume keeps; to train longer or with "
            "other settings, set --output_dir to a new folder."
        )

    def _objects_in(self, state: Mapping, name: str) -> dict:
        """The objects of ``save_dict`` to load from checkpoint ``state``: an object the checkpoint lacks is skipped
        when it has no state of its own (an ``augment none`` augmentation, which an earlier medgan did not save);
        any other missing object is refused in one sentence (the checkpoint was written by another medgan or
        bundle version) instead of ignite's KeyError."""
        missing = [key for key in self.save_dict if key not in state]
        stateful = [key for key in missing if self.save_dict[key].state_dict()]
        if stateful:
            raise BadInputError(
                f"{name} holds no {', '.join(stateful)} (written by another medgan version or bundle); resume it "
                "with the medgan that wrote it, or train into a new --output_dir."
            )
        return {key: obj for key, obj in self.save_dict.items() if key not in missing}

    def save(self, engine: Engine) -> None:
        """Write a checkpoint (unless this iteration already has one), then remove all but the newest ``n_saved``,
        then write the model file."""
        last = self._checkpoint.last_checkpoint
        if last is None or Path(last).name != f"{CHECKPOINT_PREFIX}_{engine.state.iteration}.pt":
            self._checkpoint(engine)
            for old in checkpoint_files(self.ckpt_dir)[: -self.n_saved]:
                old.unlink()
        if self.model_file is not None:
            settings = dict(self.model_settings)
            if "num_stages" in settings and hasattr(self.model_network, "num_stages"):
                settings["num_stages"] = int(self.model_network.num_stages)
            save_model_file(self.model_file, self.model_network, self.run_settings.bundle, settings)
