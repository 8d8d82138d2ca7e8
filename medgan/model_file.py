"""The model files a bundle ships: ``models/model.pt`` and ``models/model_settings.json`` beside it.

``model.pt`` is a plain state dict of the generator to sample from (the EMA copy where the recipe keeps one), as
model-zoo bundles ship it, so ``monai.bundle.load``, ``ckpt_export``, ``CheckpointLoader`` and MONAI Label read
it with no ``key_in_ckpt``. What generation needs that was learned or measured (ConSinGAN's noise amplitudes and
fixed noise, StyleGAN2's ``w_avg``, the progressive generators' resolution and alpha) is in it as buffers.

``model_settings.json`` holds the architecture settings the run used, so ``inference.json`` builds the same
network without extra flags::

    {"bundle": "dcgan", "format": 1, "model_sha256": "<sha256 of model.pt>", "settings": {"image_size": 64, ...}}

It holds no data path (a shared bundle does not reveal where its training data were), only whether the
embedded sample data were used. Without it (a bundle as published, or one shipping ``model.ts`` only), the
settings come from ``train.json``'s ``model_settings`` at its defaults. Both files are written atomically and
fsynced: a killed or full-disk write leaves the previous file intact.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from medgan.errors import BadInputError

FORMAT = 1
SETTINGS_SUFFIX = "_settings.json"
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def settings_file_for(model_file: str | os.PathLike) -> Path:
    """``models/model.pt`` -> ``models/model_settings.json``."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.stem + SETTINGS_SUFFIX)


class _RecordedWrites:
    """A file object that remembers the OSError of a failed ``write``: torch's zip writer reports a full disk as
    a RuntimeError ("unexpected pos") that hides the errno."""

    def __init__(self, file) -> None:
        self.file = file
        self.failure: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as error:
            self.failure = error
            raise

    def __getattr__(self, name: str):
        return getattr(self.file, name)


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, fsync it, rename it over ``path`` and fsync
    the folder. The temporary name carries the process id, so two writers never share one; it is removed when
    the write fails, and the old ``path`` is left as it was; a full disk (or quota, or file-size limit) is one
    sentence (:class:`BadInputError`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    file = None
    try:
        with open(tmp, "wb") as raw:
            file = _RecordedWrites(raw)
            write(file)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        failure = error if isinstance(error, OSError) else getattr(file, "failure", None)
        if failure is not None and failure.errno in DISK_FULL:
            raise BadInputError(
                f"no room to write {path} ({os.strerror(failure.errno)}); the files written before are intact: "
                "free some space and run the same command again (a training run resumes)."
            ) from error
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    atomic_write(path, lambda file: torch.save(obj, file))


def file_hash(path: str | os.PathLike, hash_type: str = "sha256") -> str:
    """The hex digest of a file's bytes (``hash_type``: any ``hashlib`` name), read in 1 MiB blocks."""
    digest = hashlib.new(hash_type)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_file(path: str | os.PathLike, network: torch.nn.Module, bundle: str, settings: Mapping) -> None:
    """Write ``network``'s state dict to ``path`` and its settings file beside it (see the module docstring)."""
    atomic_torch_save(network.state_dict(), path)
    content = {"bundle": bundle, "format": FORMAT, "model_sha256": file_hash(path), "settings": dict(settings)}
    text = json.dumps(content, indent=2, sort_keys=True) + "\n"
    atomic_write(settings_file_for(path), lambda file: file.write(text.encode("utf-8")))


def read_settings_file(path: str | os.PathLike, bundle: str) -> dict:
    """The ``settings`` of a settings file written for ``bundle``; one sentence when it is another bundle's, not a
    settings file, or from a newer medgan."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInputError(
            f"{path} cannot be read as JSON ({error}); delete it or restore it from the bundle."
        ) from error
    if not isinstance(content, dict) or not isinstance(content.get("settings"), dict) or "bundle" not in content:
        raise BadInputError(f"{path} is not a medgan model settings file; delete it or restore it from the bundle.")
    if content["bundle"] != bundle:
        raise BadInputError(
            f"{path} describes a {content['bundle']} model, not a {bundle} one; use the {content['bundle']} "
            f"bundle's configs or a {bundle} model."
        )
    if content.get("format", FORMAT) > FORMAT:
        raise BadInputError(f"{path} was written by a newer medgan (format {content['format']}); upgrade medgan.")
    return content


def _train_config_settings(bundle_root: str | os.PathLike) -> dict:
    """``model_settings`` of the bundle's ``configs/train.json`` at its defaults."""
    from monai.bundle import ConfigParser

    train_config = Path(bundle_root) / "configs" / "train.json"
    if not train_config.is_file():
        raise BadInputError(
            f"no model settings: neither a settings file beside the model nor {train_config}; "
            "set --bundle_root to the bundle folder."
        )
    parser = ConfigParser()
    parser.read_config(str(train_config))
    parser["bundle_root"] = str(bundle_root)
    return dict(parser.get_parsed_content("model_settings"))


def model_settings(model_file: str | os.PathLike, bundle: str, bundle_root: str | os.PathLike) -> dict:
    """The architecture settings of the model at ``model_file``: from its settings file when there is one (a run
    trained with other settings), else from ``train.json``'s defaults.

    Raises:
        BadInputError: the settings file is another bundle's or does not belong to this ``model.pt``.
    """
    settings_file = settings_file_for(model_file)
    if not settings_file.is_file():
        return _train_config_settings(bundle_root)
    content = read_settings_file(settings_file, bundle)
    if Path(model_file).is_file() and content.get("model_sha256") not in (None, file_hash(model_file)):
        raise BadInputError(
            f"{settings_file} describes another model than {model_file} (the checksums differ); "
            f"copy the settings file that came with this model.pt beside it, or delete {settings_file.name} "
            "to use train.json's defaults."
        )
    return dict(content["settings"])


def load_weights(network: torch.nn.Module, model_file: str | os.PathLike, bundle: str) -> torch.nn.Module:
    """Load the plain state dict at ``model_file`` into ``network`` (``weights_only=True``, strict, through the
    network's own ``load_state_dict`` and its hooks), with one sentence for a missing file, another file type, the
    nested layout of medgan before format 1, or weights of another architecture."""
    if not Path(model_file).is_file():
        raise BadInputError(
            f"no model file at {model_file}; train the {bundle} bundle first or set --ckpt_path to its model.pt."
        )
    try:
        state = torch.load(model_file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise BadInputError(
            f"{model_file} cannot be read as a PyTorch state dict ({type(error).__name__}); "
            "set --ckpt_path to a model.pt a medgan training wrote."
        ) from error
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        if isinstance(state, Mapping) and "bundle" in state and "settings" in state:
            raise BadInputError(
                f"{model_file} is a model file of an older medgan (networks nested under names); "
                "resume its training once (the run's checkpoints/ folder) to rewrite it as a plain state dict."
            )
        raise BadInputError(f"{model_file} is not a state dict of tensors; set --ckpt_path to a medgan model.pt.")
    try:
        network.load_state_dict(state)  # the network's load hooks first (older files' layouts)
    except RuntimeError as error:
        expected = network.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong_shape = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
        if not (missing or unexpected or wrong_shape):
            raise
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "") if missing else "",
                f"unexpected {', '.join(unexpected[:3])}" + (" ..." if len(unexpected) > 3 else "")
                if unexpected
                else "",
                f"{wrong_shape[0]} is {tuple(state[wrong_shape[0]].shape)} in the file but "
                f"{tuple(expected[wrong_shape[0]].shape)} in the network"
                if wrong_shape
                else "",
            )
            if part
        )
        raise BadInputError(
            f"{model_file} does not fit the {bundle} network built from its settings ({what}); use the "
            f"settings file that came with this model ({settings_file_for(model_file).name}) or the same "
            "settings as its training."
        ) from error
    return network


def require_evaluation_data(dataset_dir, settings: Mapping, model_file: str | os.PathLike):
    """``dataset_dir`` to score a model against; None (the embedded sample data) only for a model trained on
    them, since the model's files do not record where other training data were."""
    if dataset_dir is None and not settings.get("embedded_sample_data", True):
        raise BadInputError(
            f"{model_file} was trained on your own data, not the embedded sample; set --dataset_dir to the images "
            "to compare it with (held-out images of the same kind)."
        )
    return dataset_dir
