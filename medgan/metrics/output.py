"""What an evaluation writes: ``metrics.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from medgan.metrics.result import MetricResult, to_json_value

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.png"


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
