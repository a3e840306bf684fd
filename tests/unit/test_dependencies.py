"""Every package src/provena imports is declared in pyproject.toml, and named in
docs/dependencies.md or the pyproject comment that says why. A package that only came in with
another one (Babel with the docs extra) made `make repro` fail on a fresh clone."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _imported_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((ROOT / "src" / "provena").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "provena":
                    found.setdefault(top, path)
    return found


def test_every_imported_package_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {_name(d) for d in project["dependencies"]}
    extras = {_name(d) for deps in project["optional-dependencies"].values() for d in deps}
    dists = md.packages_distributions()
    missing = []
    for module, path in _imported_modules().items():
        names = {d.lower().replace("_", "-") for d in dists.get(module, [])} or {module}
        if not names & (base | extras):
            missing.append(f"{module} ({path.relative_to(ROOT)}): from {sorted(names)}")
    assert missing == [], "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_the_scan_reads_requirement_names_and_finds_function_level_imports():
    assert _name("Babel>=2.12  # why") == "babel" and _name("ray[data]>=2.5") == "ray"
    assert "babel" in _imported_modules()  # clean's language names
