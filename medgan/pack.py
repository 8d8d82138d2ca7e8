"""Check a bundle folder and package it as the MONAI model zoo publishes bundles: ``<name>_v<version>.zip`` holding
one ``<name>/`` folder, which ``python -m monai.bundle download --name <name> --url ...`` fetches and unpacks.

What goes in: only what a bundle is, ``configs/``, ``docs/``, ``scripts/``, ``LICENSE``, the large-files list and,
of ``models/``, the trained ``model.pt``, its ``model_settings.json`` and the exported ``model.ts`` and ``model.onnx``;
nothing else
(run folders such as ``output/``, ``eval/`` or a training run's ``--output_dir`` inside the bundle, checkpoints with
optimizer state, sample previews, TensorBoard logs, hidden files, ``__pycache__``) stays home. Files listed in
``large_files.yml`` (the model zoo's name; ``large_files.yaml`` or ``.json`` also) are left out: a user fetches
them with ``python -m monai.bundle download_large_files --bundle_path <folder>``.

The zip is reproducible: entries in sorted order with a fixed date (1980-01-01) and permissions, so two clones of
the same bundle pack to the same bytes and checksum. An existing zip is not replaced unless ``--overwrite true``.

The checks, each refused with one sentence (:class:`medgan.errors.BadInputError`): a ``LICENSE``,
``configs/metadata.json`` valid against the MONAI metadata schema shipped with medgan, its ``version`` in its
``changelog``, ``medgan`` in its ``required_packages_version``, ``docs/README.md``, no symbolic link (its
target, perhaps outside the bundle, would be packed), and no file over :data:`MAX_FILE_BYTES` unless the
large-files list names it with its path, url and hash.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from medgan.errors import BadInputError
from medgan.model_file import file_hash

SCHEMA_FILE = Path(__file__).resolve().parent / "bundle_schema" / "meta_schema_20240725.json"
MAX_FILE_BYTES = 25 * 1024 * 1024  # the MONAI model zoo's limit for a file kept in the bundle itself
LARGE_FILES_NAMES = ("large_files.yml", "large_files.yaml", "large_files.json")  # what download_large_files reads
LARGE_FILES = LARGE_FILES_NAMES[0]  # the name a refusal suggests
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold: a fixed one makes zips reproducible
ZIP_FILE_MODE = 0o644
REQUIRED_FILES = ("LICENSE", "configs/metadata.json", "docs/README.md")
BUNDLE_FOLDERS = ("configs", "docs", "scripts", "models")  # the folders of a MONAI bundle
# the only files of models/ that are shipped
MODEL_FILES = ("model.pt", "model_settings.json", "model.ts", "model.onnx")
HASH_TYPES = ("md5", "sha1", "sha256", "sha512")


@dataclass
class BundleContents:
    """A checked bundle: its name (the folder's), version, the files to pack and the large files left out."""

    name: str
    version: str
    files: list[Path]
    large_files: list[Path]


def _is_packed(relative: Path, models: bool) -> bool:
    parts = relative.parts
    if any(part.startswith(".") or part == "__pycache__" for part in parts):
        return False
    if parts[0] == "models":
        return models and len(parts) == 2 and parts[1] in MODEL_FILES
    if len(parts) == 1:
        return parts[0] in ("LICENSE", *LARGE_FILES_NAMES)
    return parts[0] in BUNDLE_FOLDERS


def read_metadata(bundle_dir: Path) -> dict:
    """``configs/metadata.json`` of ``bundle_dir`` checked against the shipped MONAI schema, its version in its
    changelog and ``medgan`` among its required packages."""
    meta_file = bundle_dir / "configs" / "metadata.json"
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as error:
        raise BadInputError(f"{meta_file} is not valid JSON ({error}); fix it and pack again.") from None
    if not isinstance(meta, dict):
        raise BadInputError(f"{meta_file} holds no JSON object; write the bundle's metadata there and pack again.")
    schema_name = str(meta.get("schema", "")).rsplit("/", 1)[-1]
    if schema_name != SCHEMA_FILE.name:
        raise BadInputError(
            f"{meta_file} names the schema {schema_name or 'nothing'!r}, not {SCHEMA_FILE.name}, the one medgan "
            "checks bundles against; set its 'schema' to that file's release URL."
        )
    try:
        jsonschema.validate(meta, json.loads(SCHEMA_FILE.read_text()))
    except jsonschema.ValidationError as error:
        where = "/".join(map(str, error.absolute_path)) or "the top level"
        raise BadInputError(
            f"{meta_file} does not match the MONAI metadata schema at {where}: {error.message}; fix it and pack again."
        ) from None
    version = meta["version"]
    if version not in meta.get("changelog", {}):
        raise BadInputError(
            f"{meta_file} has version {version} but its changelog has no entry for it; add one and pack again."
        )
    if "medgan" not in meta.get("required_packages_version", {}):
        raise BadInputError(
            f"{meta_file} does not list medgan in required_packages_version; add the medgan version the bundle needs."
        )
    return meta


def read_large_files(bundle_dir: Path) -> dict[Path, dict]:
    """The entries of the bundle's ``large_files.yml`` / ``.yaml`` / ``.json`` (``{"large_files": [{"path", "url",
    "hash_val", "hash_type"}]}``, what ``monai.bundle download_large_files`` reads) by absolute path; a listed file
    present here must have the listed hash, so that a user downloads the same file."""
    listings = [bundle_dir / name for name in LARGE_FILES_NAMES if (bundle_dir / name).is_file()]
    if not listings:
        return {}
    if len(listings) > 1:
        raise BadInputError(
            f"{bundle_dir} has {' and '.join(p.name for p in listings)}; keep one large-files list "
            "(download_large_files reads only one)."
        )
    listing = listings[0]
    try:
        text = listing.read_text()
        entries = (json.loads(text) if listing.suffix == ".json" else yaml.safe_load(text))["large_files"]
        if not isinstance(entries, list):
            raise TypeError
    except (json.JSONDecodeError, yaml.YAMLError, KeyError, TypeError):
        kind = "JSON" if listing.suffix == ".json" else "YAML"
        raise BadInputError(
            f'{listing} must be {kind} of the form {{"large_files": [{{"path": ..., "url": ..., "hash_val": ..., '
            '"hash_type": "md5"}]}; fix it and pack again.'
        ) from None
    found = {}
    for entry in entries:
        missing = [key for key in ("path", "url", "hash_val") if not isinstance(entry, dict) or not entry.get(key)]
        if missing:
            raise BadInputError(f"an entry of {listing} lacks {', '.join(missing)}; give each a path, url and hash.")
        hash_type = entry.get("hash_type", "md5")
        if hash_type not in HASH_TYPES:
            raise BadInputError(f"{listing} lists hash_type {hash_type!r}; use one of {', '.join(HASH_TYPES)}.")
        path = (bundle_dir / entry["path"]).resolve()
        if bundle_dir.resolve() not in path.parents:
            raise BadInputError(f"{listing} lists {entry['path']}, outside the bundle; list files of the bundle only.")
        if path.is_file() and file_hash(path, hash_type) != entry["hash_val"]:
            raise BadInputError(
                f"{entry['path']} does not have the {hash_type} {entry['hash_val']} that {listing} gives it; "
                "upload this file to its url again and update its hash_val."
            )
        found[path] = entry
    return found


def check_bundle(bundle_dir: str | os.PathLike, models: bool = True) -> BundleContents:
    """Check ``bundle_dir`` (see the module docstring) and list what packing it writes; ``models=False`` leaves
    ``models/`` out."""
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / "configs").is_dir():
        raise BadInputError(f"{bundle_dir} is not a bundle folder (it has no configs/); point pack at bundles/<name>.")
    for required in REQUIRED_FILES:
        if not (bundle_dir / required).is_file():
            raise BadInputError(f"{bundle_dir} has no {required}; a bundle ships one, add it and pack again.")
    meta = read_metadata(bundle_dir)
    large = read_large_files(bundle_dir)
    files, left_out, oversize = [], [], []
    for path in sorted(p for p in bundle_dir.rglob("*") if p.is_file() or p.is_symlink()):
        if not _is_packed(path.relative_to(bundle_dir), models):
            continue
        if path.is_symlink() or any(parent.is_symlink() for parent in path.relative_to(bundle_dir).parents[:-1]):
            raise BadInputError(
                f"{path} is a symbolic link; pack copies files only (a link's target may lie outside the bundle): "
                "replace it by the file itself or remove it."
            )
        if path.resolve() in large:
            left_out.append(path)
        elif path.stat().st_size > MAX_FILE_BYTES:
            oversize.append(path)
        else:
            files.append(path)
    if oversize:
        what = ", ".join(f"{p.relative_to(bundle_dir)} ({p.stat().st_size / 2**20:.1f} MiB)" for p in oversize)
        raise BadInputError(
            f"{bundle_dir} has files over the {MAX_FILE_BYTES // 2**20} MiB limit: {what}; upload each one and list "
            f"it in {bundle_dir / LARGE_FILES} with its path, url and hash_val, or pack with --models false."
        )
    return BundleContents(bundle_dir.resolve().name, str(meta["version"]), files, left_out)


def _as_bool(value: bool | str, name: str) -> bool:
    """``value`` from the command line, where fire passes ``--models false`` as the string ``"false"``."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise BadInputError(f"--{name} is {value!r}; set it to true or false.")


def write_zip(target: Path, root_name: str, bundle_dir: Path, files: list[Path]) -> None:
    """Zip ``files`` under ``root_name/`` reproducibly (sorted, fixed date and mode) through a temporary file that
    is renamed to ``target`` when complete."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(files, key=lambda p: p.relative_to(bundle_dir).as_posix()):
                entry = zipfile.ZipInfo(f"{root_name}/{path.relative_to(bundle_dir).as_posix()}", ZIP_DATE)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.external_attr = (0o100000 | ZIP_FILE_MODE) << 16  # a regular file, rw-r--r--
                with open(path, "rb") as source, archive.open(entry, "w") as destination:
                    shutil.copyfileobj(source, destination, 1 << 20)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def pack(bundle: str, out: str = ".", models: bool | str = True, overwrite: bool | str = False) -> str:
    """Check the bundle folder ``bundle`` and write ``<out>/<name>_v<version>.zip`` holding ``<name>/...``.

    Args:
        bundle: the bundle folder, e.g. ``bundles/consingan``.
        out: the folder the zip goes to (created if missing).
        models: ship ``models/model.pt``, ``models/model_settings.json``, ``models/model.ts`` and
            ``models/model.onnx`` if the bundle has them (``true``/``false``).
        overwrite: replace a zip of the same name in ``out`` (``true``/``false``); refused otherwise.

    Returns:
        the path of the zip written.
    """
    contents = check_bundle(bundle, _as_bool(models, "models"))
    bundle_dir = Path(bundle)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{contents.name}_v{contents.version}.zip"
    if target.exists() and not _as_bool(overwrite, "overwrite"):
        raise BadInputError(
            f"{target} already exists; pass --overwrite true to replace it, or --out another folder "
            "(or raise the version in metadata.json)."
        )
    write_zip(target, contents.name, bundle_dir, contents.files)
    return str(target)
