"""The layers import one way, as the README's layout says: core <- images, sandbox, scheduling <- actors <- client,
data (the Ray Data processor) <- cli, http. Read from the source (every import statement, also those inside functions), not assumed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "faber_ray"
CORE = {"models", "config", "errors", "validation", "status", "steps", "languages", "ids", "hostpath", "reporting"}
#: What each layer may not import (faber-ray's own packages; "ray" is Ray itself).
FORBIDDEN = {
    "core": {"images", "sandbox", "scheduling", "actors", "http", "cli", "client", "data", "localray", "ray"},
    # Judging is core too (Task and TaskResult carry its types); running the tests is the sandbox's.
    "judging": {"images", "sandbox", "scheduling", "actors", "http", "cli", "client", "data", "localray", "ray"},
    "images": {"sandbox", "scheduling", "actors", "http", "cli", "client", "data", "ray"},
    "sandbox": {"scheduling", "actors", "http", "cli", "client", "data", "ray"},
    "scheduling": {"images", "sandbox", "actors", "http", "cli", "client", "data", "ray"},
    "actors": {"http", "cli", "client", "data"},
    # The processor is a client of the executor: the CLI may use it, nothing below it may.
    "data": {"http", "cli"},
}


def _layer(path: Path) -> str:
    top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return "core" if top in CORE else top


def _imports(path: Path) -> set[str]:
    """The faber-ray packages (first component below faber_ray) and "ray" that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ray":
                found.add("ray")
            elif parts[0] == "faber_ray" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if _layer(path) in FORBIDDEN)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_imports_only_the_layers_below_it(path: Path) -> None:
    wrong = _imports(path) & FORBIDDEN[_layer(path)]
    assert not wrong, f"{path.relative_to(PACKAGE)} ({_layer(path)}) imports {sorted(wrong)}"
