"""The package's layering stays true: a module imports medgan modules of lower levels only (or of its own package),
errors <- utilities <- layers <- networks, losses, data <- engines, handlers <- inference <- metrics <- serving,
pack <- the apps and the command line. Read from the
source's import statements (also those inside functions), so a lazy import cannot hide a wrong direction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "medgan"
LEVELS = {
    "errors": 0,
    "utils": 1, "visualize": 1, "bundle": 1, "model_file": 1,
    "output_manifest": 2,
    "layers": 2,
    "networks": 3, "losses": 3, "data": 3, "augment": 3,
    "engines": 4, "handlers": 4,
    "inference": 5, "latent_exploration": 5, "sefa": 5, "setting_ranges": 5, "config_keys": 6, "projection": 7,
    "consingan_fine_tune": 5, "consingan_applications": 6,
    "metrics": 6,
    "serving": 7, "pack": 7, "onnx_export": 7,
    "monai_label": 8, "deploy": 8, "__main__": 8,  # the apps and the command line
}  # fmt: skip
ROOT = "__init__"  # medgan/__init__.py holds the version only; anyone may read it


def part_of(module: str) -> str:
    """``medgan.networks.dcgan`` -> ``networks``; ``medgan`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def medgan_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "medgan":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "medgan"}
    return found


def wrong_directions(package: Path) -> list[str]:
    wrong = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        own = part_of(module)
        if own == ROOT:
            continue
        for imported in medgan_imports(path):
            other = part_of(imported)
            if other not in (own, ROOT) and LEVELS[other] >= LEVELS[own]:
                wrong.append(f"{module} (level {LEVELS[own]}) imports {imported} (level {LEVELS[other]})")
    return wrong


def test_every_module_has_a_level():
    parts = {
        path.stem if path.parent == PACKAGE else path.relative_to(PACKAGE).parts[0] for path in PACKAGE.rglob("*.py")
    }
    assert parts - {ROOT} - LEVELS.keys() == set()


def test_imports_point_down_only():
    assert wrong_directions(PACKAGE) == []


def test_a_wrong_direction_is_found(tmp_path):
    networks = tmp_path / "medgan" / "networks"
    networks.mkdir(parents=True)
    (networks / "bad.py").write_text("def f():\n    from medgan.data.pyramid import image_pyramid\n")
    with pytest.raises(AssertionError, match="imports medgan.data.pyramid"):
        assert wrong_directions(tmp_path / "medgan") == []
