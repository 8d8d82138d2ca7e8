"""Strict bundle configs: a key the bundle does not have is refused, a boolean given as ``false`` means False.

``python -m monai.bundle run ... --key value`` accepts any key (an unknown one is added to the config and ignored)
and parses values with ``fire``, so ``--cbam false`` arrives as the truthy string ``"false"``. Every bundle's
``initialize`` calls :func:`check_config_keys` second (after the brief-error hook), before anything is built or
written. It compares the running config with the bundle's config files, both found from the MONAI call on the
call stack:

- a top-level key that no config file defines (and that MONAI's ``--tracking`` does not add) stops the run with
  one sentence naming the closest real key, or the new name of a key medgan renamed;
- a value given for a key whose default is a boolean must be a boolean or one of ``true/false``, ``yes/no``,
  ``on/off``, ``1/0`` (any case), and is replaced by the boolean before the config is parsed further; so is a
  nested one (``--g_optimizer#fused false``) whose default in the config files is a boolean;
- a value given for a key whose default is a number, top-level or nested, must be a number (``--batch_size two``
  is one sentence);
- every value must lie in its declared range (:mod:`medgan.setting_ranges`: ``--batch_size 0`` is one sentence),
  related settings must agree (``--padding`` with ``--kernel_size``), and ``--device`` must name a device this
  machine has.

Expressions (``$...``) and references (``@...``) given on the command line are taken as they are.
:func:`recipe_settings` gives the settings a checkpoint records, so that a resumed run refuses any change of them.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser
from monai.bundle.utils import DEFAULT_EXP_MGMT_SETTINGS, ID_SEP_KEY

from medgan.bundle import running_config_files
from medgan.errors import BadInputError
from medgan.setting_ranges import check_rules, check_setting, checked_device

# keys an earlier medgan version used, with what to use now
RENAMED = {
    "z_dim": "latent_size",
    "num_mapping_layers": "mapping_layers",
    "beta1_adam": "adam_betas",
    "betas_adam": "adam_betas",
    "betas": "adam_betas",
    "num_feature_maps": "num_features",
    "num_feature_channels": "num_features",
    "final_resolution": "image_size",
    "fmap_base": "max_channels and channel_halving_resolution",
    "fmap_max": "max_channels",
    "mbstd_group_size": "minibatch_group_size",
    "mbstd_num_channels": "minibatch_num_channels",
    "epochs": "iterations_per_stage",
    "batch_norm": "discriminator_batch_norm",
    "image_channels": "channels",
}
# the SinGAN / ConSinGAN reference scripts' names (tamarott/SinGAN, tohinz/ConSinGAN) of keys medgan names otherwise
REFERENCE_NAMES = {
    "sr_factor": "super_resolution_factor",
    "harmonization_start_scale": "start_stage",
    "paint_start_scale": "start_stage",
    "gen_start_scale": "start_stage",
    "start_scale": "start_stage",
    "alpha_animation": "animation_alpha",
    "beta_animation": "animation_beta",
    "quantization_flag": "paint_clusters",
    "naive_img": "input_image",
    "ref_name": "input_image",
    "mask": "input_mask",
    "mode": "application",
    "train_mode": "application",
    "fine_tune": "fine_tune_iterations",
}
REMOVED = {
    "use_ema": "models/model.pt is now the EMA generator itself (the raw one is training state in checkpoints/)",
    "weights_key": "models/model.pt is now a plain state dict",
}
# each bundle's one key for how long to train, and what it counts
LENGTH_KEYS = {
    "max_epochs": "passes over the training images",
    "iterations_per_stage": "iterations per stage",
    "images_per_stage": "real images shown per resolution stage",
}
# what users type for a run's length in other projects (and in other medgan bundles)
LENGTH_WORDS = frozenset(
    {"epochs", "max_epoch", "num_epochs", "n_epochs", "iterations", "max_iterations", "num_iterations", "niter",
     "kimg", "total_kimg", *LENGTH_KEYS}
)  # fmt: skip
# keys MONAI's --tracking adds to a config (MLflow's tracking_uri, experiment_name, ...)
TRACKING_KEYS = frozenset(
    key for settings in DEFAULT_EXP_MGMT_SETTINGS.values() for key in settings.get("configs", {})
) | {"_meta_"}
TRACKING_OUTPUT_TRANSFORM = DEFAULT_EXP_MGMT_SETTINGS["mlflow"]["configs"]["trainer"]["output_transform"]
TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
WORD_VALUED = frozenset({"amp"})  # a boolean default that also takes words (amp: bf16, fp16, any case)


def _running_parser() -> ConfigParser | None:
    """The ConfigParser that is evaluating this call's expression: a ``self`` on the call stack."""
    frame = sys._getframe(2)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, ConfigParser):
            return owner
        frame = frame.f_back
    return None


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and value[:1] in ("$", "@", "%")


def _unknown_key_sentence(key: str, known: list[str], bundle: str) -> str:
    """The sentence for a key ``bundle`` does not have: its new name if this bundle renamed it, why it is gone, this
    bundle's length key for another project's length setting, else the closest real key."""
    if key in RENAMED and RENAMED[key].split()[0] in known:
        return f"--{key} was renamed: use --{RENAMED[key]} (see the {bundle} bundle's docs/README.md)."
    if key in REFERENCE_NAMES and REFERENCE_NAMES[key] in known:
        return f"--{key} is the reference code's name; the {bundle} bundle's key is --{REFERENCE_NAMES[key]}."
    if key in REMOVED:
        return f"--{key} is gone: {REMOVED[key]}."
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    length = next((name for name in LENGTH_KEYS if name in known), None)
    if key in LENGTH_WORDS and length is not None and close != [length]:
        return f"the {bundle} bundle has no key --{key}; its training length is --{length} ({LENGTH_KEYS[length]})."
    hint = f"did you mean --{close[0]}?" if close else "its keys are listed in the bundle's docs/README.md."
    return f"the {bundle} bundle has no key --{key}; {hint}"


def checked_value(key: str, value: Any, default: Any) -> Any:
    """``value`` given for ``key`` as the type of its ``default``: booleans from their usual words, whole numbers
    for integer keys (a list too, for per-axis sizes), numbers for float keys, a list of words from one word or
    words separated by commas for a key whose default is a list of words (``--augment_flips left-right``).

    Raises:
        BadInputError: a value that is not of that type.
    """
    if _is_expression(value) or value is None or default is None or _is_expression(default):
        return value
    if isinstance(default, list) and default and all(isinstance(item, str) for item in default):
        if isinstance(value, str):  # --augment_flips left-right,anterior-posterior
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, tuple):
            return list(value)
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        if key in WORD_VALUED:
            return value.strip().lower() if isinstance(value, str) else value
        raise BadInputError(f"--{key} is true or false, not {value!r}; pass --{key} true or --{key} false.")
    if isinstance(default, int):
        if isinstance(value, (list, tuple)) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise BadInputError(f"--{key} is a whole number, not {value!r}; pass e.g. --{key} {default}.")
    if isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise BadInputError(f"--{key} is a number, not {value!r}; pass e.g. --{key} {default}.")
    return value


# top-level keys a resumed run may change: where the run lives and runs, how often it saves, logs and previews, how
# long it trains; every other setting of the recipe defines the run's result and must stay as the run began
RESUMABLE_KEYS = frozenset({
    "bundle_root", "output_dir", "device", "num_workers", "max_epochs", "save_every", "save_every_iterations",
    "sample_every", "sample_every_iterations", "num_preview_samples", "log_every", "rank",
})  # fmt: skip
STRUCTURE_KEYS = frozenset({"imports", "initialize", "training", "run", "finalize", "train"})


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def recipe_settings() -> dict:
    """Every top-level setting of the running train config that defines a run's result, as written (booleans as
    checked by :func:`check_config_keys`): all plain values (no expressions) but :data:`RESUMABLE_KEYS`.
    A checkpoint stores them; a resume with one of them changed (``lr``, ``loss``, ``seed``, ``amp``) is refused."""
    parser = _running_parser()
    if parser is None:
        return {}
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in parser.get().items()
        if key not in RESUMABLE_KEYS | STRUCTURE_KEYS | TRACKING_KEYS
        and not key.startswith("_")
        and _is_plain(value)
        and not _is_expression(value)  # the config's own wiring (images, networks), the same in every run
    }


def _replace(parser: ConfigParser, path: list[str | int], value: Any) -> None:
    """Set the value at ``path`` (``["cbam"]``, ``["train", "handlers", 5, "output_transform"]``) while the parser
    is resolving ``initialize`` (``parser[id] = ...`` would reset the resolver mid-way): the raw config and the
    parsed item both get it."""
    container = parser.get()
    for part in path[:-1]:
        container = container[part]
    container[path[-1]] = value
    item = parser.ref_resolver.items.get(ID_SEP_KEY.join(str(part) for part in path))
    if item is not None:
        item.update_config(value)


def _adopt_tracking_handlers(parser: ConfigParser) -> None:
    """Point the MLflow handler that ``--tracking mlflow`` appends to ``train#handlers`` at every loss term: its
    default ``from_engine(['loss'], first=True)`` expects MONAI's decollated list of outputs and, on medgan's
    dict output, hands MLflow a tuple it cannot log."""
    handlers = parser.get().get("train", {}).get("handlers", [])
    for index, handler in enumerate(handlers):
        if isinstance(handler, dict) and handler.get("_target_") == "MLFlowHandler":
            if handler.get("output_transform") == TRACKING_OUTPUT_TRANSFORM:
                _replace(parser, ["train", "handlers", index, "output_transform"], "$medgan.utils.loss_terms")


def check_config_keys() -> None:
    """Refuse unknown keys and mistyped values of the running bundle config (see the module docstring); call it
    from a bundle's ``initialize``."""
    parser, files = _running_parser(), running_config_files()
    if parser is None or not files or not all(Path(f).is_file() for f in files):
        return
    defaults = ConfigParser.load_config_files([str(f) for f in files])
    config = parser.get()
    bundle = str(config.get("bundle_name", Path(files[0]).resolve().parent.parent.name))
    for key in list(config):
        if key not in defaults and key not in TRACKING_KEYS:
            raise BadInputError(_unknown_key_sentence(key, sorted(defaults), bundle))
        if key in defaults and config[key] != defaults[key]:
            value = checked_value(key, config[key], defaults[key])
            if value is not config[key]:
                _replace(parser, [key], value)
            if key == "device" and not _is_expression(value):
                _replace(parser, [key], f"$torch.device({str(checked_device(value))!r})")
        if not _is_expression(config[key]):
            check_setting(bundle, key, config[key])
    check_rules({key: value for key, value in config.items() if not _is_expression(value)})
    for path, default in _nested_scalars(defaults):
        _check_nested(parser, config, path, default)
    _adopt_tracking_handlers(parser)


def _nested_scalars(tree: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """``(path, value)`` of every boolean or number below the top level of a config (``("g_optimizer", "fused")``,
    ``("train", "handlers", 3, "save_every")``)."""
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    found = []
    for key, value in children:
        if isinstance(value, (dict, list)):
            found += _nested_scalars(value, (*path, key))
        elif path and isinstance(value, (bool, int, float)):
            found.append(((*path, key), value))
    return found


def _check_nested(parser: ConfigParser, config: dict, path: tuple, default: Any) -> None:
    """A nested override (``--g_optimizer#fused false``) checked as :func:`checked_value` checks a top-level one, and
    replaced by the boolean it names; nothing when the config has no value there (the user replaced the part above
    it)."""
    value = config
    for part in path:
        if isinstance(value, dict) and part in value or isinstance(value, list) and part in range(len(value)):
            value = value[part]
        else:
            return
    if value == default and type(value) is type(default):
        return
    checked = checked_value("#".join(str(part) for part in path), value, default)  # as users type nested keys
    if checked is not value:
        _replace(parser, list(path), checked)
