"""What inference and evaluation wrote into a folder, so that ``--overwrite`` removes exactly that and nothing a
user put there is replaced.

After writing, :func:`record_outputs` lists the files in ``<folder>/.medgan_outputs.json`` (written atomically).
:func:`check_output_dir` refuses a folder holding a file of the names a run would write that the manifest does not
list (the user's own ``samples.png``, or outputs of an older medgan), with or without ``--overwrite``, and a folder
holding earlier recorded outputs unless ``--overwrite``; :func:`remove_recorded` deletes the recorded files, just
before the new ones are written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from medgan.errors import BadInputError
from medgan.model_file import atomic_write

MANIFEST = ".medgan_outputs.json"
MAX_NAMED = 3


def recorded_outputs(folder: Path) -> set[str]:
    """The file names the manifest of ``folder`` lists (none without a readable manifest)."""
    try:
        names = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {name for name in names if isinstance(name, str) and Path(name).name == name}


def check_output_dir(
    output_dir: str | os.PathLike, overwrite: bool, patterns: Sequence[str], what: str, create: bool = True
) -> Path:
    """Refuse ``output_dir`` if it holds files matching ``patterns`` (what the run writes) that it did not record,
    or recorded ones (earlier ``what``) without ``overwrite``; create it unless not ``create``.

    Raises:
        BadInputError: naming the files, and what to change.
    """
    folder = Path(output_dir)
    present = {path.name for pattern in patterns for path in folder.glob(pattern)} if folder.is_dir() else set()
    foreign = sorted(present - recorded_outputs(folder))
    if foreign:
        more = f" and {len(foreign) - MAX_NAMED} more" if len(foreign) > MAX_NAMED else ""
        named = ", ".join(foreign[:MAX_NAMED]) + more
        raise BadInputError(
            f"{folder} holds {named}, which medgan did not write there (or an older medgan did); set --output_dir to "
            "a new folder, or move those files away."
        )
    if present and not overwrite:
        raise BadInputError(
            f"{folder} already holds {what}; set --output_dir to a new folder or pass --overwrite true."
        )
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_recorded(folder: Path) -> None:
    """Delete the files the manifest of ``folder`` lists, and the manifest."""
    for name in recorded_outputs(folder):
        (folder / name).unlink(missing_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)


def record_outputs(folder: Path, paths: Iterable[Path]) -> None:
    """List ``paths`` (files directly in ``folder``) as this run's outputs."""
    text = json.dumps({"files": sorted(Path(path).name for path in paths)}, indent=1) + "\n"
    atomic_write(folder / MANIFEST, lambda file: file.write(text.encode("utf-8")))


def add_outputs(folder: Path, paths: Iterable[Path]) -> None:
    """List ``paths`` as outputs of this run too, beside what the manifest already lists (a later step of the same
    inference run: the projection and the SeFa figures after the samples)."""
    record_outputs(folder, [*(folder / name for name in recorded_outputs(folder)), *paths])
