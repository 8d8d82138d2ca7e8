"""Where an evaluation writes: the output folder, ``metrics.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from medgan.errors import BadInputError
from medgan.metrics.result import MetricResult, to_json_value

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.png"


def prepare_output_dir(output_dir: str | Path, overwrite: bool) -> Path:
    """Create ``output_dir``; refuse one that already holds an evaluation unless ``overwrite``."""
    folder = Path(output_dir)
    existing = [name for name in (METRICS_FILE, REPORT_FILE) if (folder / name).exists()]
    if existing and not overwrite:
        raise BadInputError(
            f"{folder} already holds an evaluation ({', '.join(existing)}); set --output_dir to a new folder or "
            "pass --overwrite true."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_metrics(
    path: str | Path, header: Mapping, results: Sequence[MetricResult], skipped: Mapping[str, str]
) -> dict:
    """Write ``{**header, "metrics": {name: record}, "skipped": {name: reason}}`` as JSON (atomically) and return it."""
    content = {
        **to_json_value(dict(header)),
        "metrics": {result.name: result.to_dict() for result in results},
        "skipped": dict(skipped),
    }
    path = Path(path)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(partial, path)
    return content
