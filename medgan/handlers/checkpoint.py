"""Resumable training: atomic checkpoints of a whole run, automatic resume, and the model file for inference.

A run owns its ``ckpt_dir``. Every ``save_every`` epochs and at the end, :class:`ResumableCheckpoint` writes
``checkpoint_<iteration>.pt`` (ignite ``Checkpoint`` with an atomic ``DiskSaver``: a killed process never leaves
a half-written file) holding the networks, optimizers, trainer state, random-number state and the run's settings,
and keeps the newest ``n_saved``. It also writes ``model_file`` (see :mod:`medgan.model_file`): a plain state dict
of the generator to sample from, with the settings that built it beside it, everything ``inference.json`` and
``ckpt_export`` need.

When the run starts and ``ckpt_dir`` holds checkpoints, the newest is loaded (``weights_only=True``) and training
continues from it; the same command after a kill resumes instead of starting over. A checkpoint whose settings
differ from the current ones (another bundle, another image size) stops the run with a clear message instead of
being overwritten.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver

from medgan.errors import BadInputError
from medgan.model_file import save_model_file, settings_file_for

CHECKPOINT_PREFIX = "checkpoint"
CHECKPOINT_PATTERN = re.compile(rf"^{CHECKPOINT_PREFIX}_(\d+)\.pt$")
TEMPORARY_PREFIX = "tmp"  # tempfile's prefix, which ignite's atomic DiskSaver writes under before renaming
logger = logging.getLogger(__name__)


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
        changed = {k: (v, self.settings.get(k)) for k, v in state["settings"].items() if self.settings.get(k) != v}
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
    ) -> None:
        self.ckpt_dir = ckpt_dir
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
        self._newest: tuple[Path, dict] | None = None  # the newest checkpoint, read once when checked
        self._refuse_a_foreign_run()

    def _refuse_a_foreign_run(self) -> None:
        """Check the newest checkpoint's settings now, while the config is still being built: a refused run
        then stops before later handlers (TensorBoard) write anything into the earlier run's folder."""
        files = checkpoint_files(self.ckpt_dir)
        if files:
            self._newest = (files[-1], torch.load(files[-1], map_location="cpu", weights_only=True))
            self.run_settings.load_state_dict(self._newest[1]["run_settings"])
        elif self.model_file is not None and Path(self.model_file).exists():
            raise BadInputError(
                f"{self.model_file} exists but {self.ckpt_dir} holds no run to resume (a downloaded or shared model); "
                "set --output_dir to a new folder to train, so that model is kept."
            )

    def _remove_interrupted_writes(self) -> None:
        """Delete the temporary files of checkpoint and model-file writes that a killed process left (ignite's
        ``DiskSaver`` writes ``tmp*`` in the folder, then renames it; :func:`medgan.model_file.atomic_write` writes
        ``.<name>.<pid>.tmp`` beside the model file)."""
        folder = Path(self.ckpt_dir)
        leftovers = list(folder.glob(f"{TEMPORARY_PREFIX}*")) if folder.is_dir() else []
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
            save_handler=DiskSaver(self.ckpt_dir, require_empty=False, atomic=True, create_dir=self.rank == 0),
            filename_prefix="",
            n_saved=self.n_saved,
            global_step_transform=lambda engine, _: engine.state.iteration,
        )
        engine.add_event_handler(Events.STARTED, self.resume)
        if self.rank == 0:
            engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.save_every), self.save)
            if self.save_every_iterations > 0:
                engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_every_iterations), self.save)
            engine.add_event_handler(Events.COMPLETED, self.save)

    def resume(self, engine: Engine) -> None:
        """Load the newest checkpoint of ``ckpt_dir``, if any, and continue the run from it."""
        if self.rank == 0:
            self._remove_interrupted_writes()
        files = checkpoint_files(self.ckpt_dir)
        if not files:
            return
        latest = files[-1]
        configured_max_epochs = engine.state.max_epochs
        cached, self._newest = self._newest, None
        state = (
            cached[1] if cached and cached[0] == latest else torch.load(latest, map_location="cpu", weights_only=True)
        )
        Checkpoint.load_objects(to_load=self.save_dict, checkpoint=state)
        engine.state.max_epochs = configured_max_epochs
        saved = [(int(CHECKPOINT_PATTERN.match(p.name).group(1)), p.name) for p in files]
        self._checkpoint.load_state_dict({"_saved": saved})
        if engine.state.epoch >= configured_max_epochs:
            logger.info(f"{latest} already finished {engine.state.epoch} epochs; raise --max_epochs to train further.")
        else:
            logger.info(f"resumed from {latest} at epoch {engine.state.epoch}, iteration {engine.state.iteration}.")

    def save(self, engine: Engine) -> None:
        """Write a checkpoint (unless this iteration already has one) and the model file."""
        last = self._checkpoint.last_checkpoint
        if last is None or Path(last).name != f"{CHECKPOINT_PREFIX}_{engine.state.iteration}.pt":
            self._checkpoint(engine)
        if self.model_file is not None:
            settings = dict(self.model_settings)
            if "num_stages" in settings and hasattr(self.model_network, "num_stages"):
                settings["num_stages"] = int(self.model_network.num_stages)
            save_model_file(self.model_file, self.model_network, self.run_settings.bundle, settings)
