"""One figure of an evaluation, in the form ``metrics.json`` records it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


def to_json_value(value):
    """``value`` with tensors, numpy values, paths and tuples turned into JSON types; NaN and infinity become None."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class MetricResult:
    """A named figure with everything needed to read it.

    Attributes:
        name: key of the figure in ``metrics.json``, e.g. ``"sliced_wasserstein_distance"``.
        value: the headline number.
        samples: how many images (or pairs, patches, values) it was computed from, e.g. ``{"real": 80,
            "generated": 64}``.
        settings: the parameters it was computed with, enough to reproduce it.
        higher_is_better: True for similarities and quality scores, False for distances and errors, None when
            neither (e.g. a diversity figure to compare with the real images').
        details: further numbers: per pyramid level, per stage, the spread over pairs.
        note: one sentence on how to read it (e.g. that a comparison is unpaired).
    """

    name: str
    value: float
    samples: dict[str, int]
    settings: dict = field(default_factory=dict)
    higher_is_better: bool | None = None
    details: dict = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict:
        """The JSON-ready record: value, higher_is_better, samples, settings, details (if any), note (if any)."""
        record = {
            "value": to_json_value(float(self.value)),
            "higher_is_better": self.higher_is_better,
            "samples": to_json_value(self.samples),
            "settings": to_json_value(self.settings),
        }
        if self.details:
            record["details"] = to_json_value(self.details)
        if self.note:
            record["note"] = self.note
        return record
