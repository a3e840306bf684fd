"""The repo keeps the shape ARCHITECTURE.md describes: thin stage scripts, one name per stage."""

import ast

import yaml

from tests.conftest import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_stage_scripts_are_not_a_package():
    assert not (ROOT / "stages" / "__init__.py").exists()


def test_every_dvc_stage_has_a_script_params_section_and_documented_command():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, stage in DVC["stages"].items():
        stage = stage.get("do", stage)  # a foreach stage (audit_data@before, @after)
        script = ROOT / "stages" / f"{name}.py"
        assert f"stages/{name}.py" in stage["cmd"], name
        assert name in params, f"params.yaml has no section '{name}'"
        # its own section first; another stage's section only where it must read it
        assert stage["params"][0] == name and all(p in params for p in stage["params"])
        doc = ast.get_docstring(ast.parse(script.read_text()))
        assert doc and doc.startswith(f"{name}:") and f"python stages/{name}.py" in doc


def _provena_imports(path):
    """Top-level provena modules a file imports ('ingest', 'synth', ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "provena" and len(parts) > 1:
                found.add(parts[1])
            elif node.module == "provena":
                found |= {
                    a.name
                    for a in node.names
                    if (ROOT / "src/provena" / f"{a.name}.py").exists()
                    or (ROOT / "src/provena" / a.name).is_dir()
                }
    return found


def _module_files(mod):
    pkg = ROOT / "src/provena" / mod
    return sorted(pkg.rglob("*.py")) if pkg.is_dir() else [ROOT / "src/provena" / f"{mod}.py"]


def test_stage_deps_list_every_library_module_the_stage_uses():
    for name, stage in DVC["stages"].items():
        deps = set(stage.get("do", stage)["deps"])
        todo, seen = list(_provena_imports(ROOT / "stages" / f"{name}.py")), set()
        while todo:
            mod = todo.pop()
            if mod in seen:
                continue
            seen.add(mod)
            for f in _module_files(mod):
                todo.extend(_provena_imports(f))
        for mod in seen:
            dep = (
                f"src/provena/{mod}"
                if (ROOT / "src/provena" / mod).is_dir()
                else f"src/provena/{mod}.py"
            )
            assert dep in deps, f"dvc.yaml stage {name} uses {dep} but does not list it in deps"


def test_stage_scripts_are_thin():
    for name in DVC["stages"]:
        lines = [
            ln for ln in (ROOT / "stages" / f"{name}.py").read_text().splitlines() if ln.strip()
        ]
        assert len(lines) < 40, (
            f"stages/{name}.py has {len(lines)} lines: move logic into src/provena"
        )
