"""The repo keeps the shape docs/architecture.md describes: thin stage scripts, one name per stage."""

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


#: the stage packages, named as in dvc.yaml; everything else under src/provena is shared
STAGE_PACKAGES = set(DVC["stages"])
#: imports from one stage package into another that the rule allows, each with its reason
#: (none today: what two stages share lives in a shared module)
ALLOWED_CROSS_STAGE: dict[tuple[str, str], str] = {}


def test_there_is_one_package_per_stage_named_as_in_dvc_yaml():
    for name in STAGE_PACKAGES:
        assert (ROOT / "src/provena" / name / "__init__.py").is_file(), name


def test_a_stage_package_imports_shared_modules_only():
    wrong = []
    for name in sorted(STAGE_PACKAGES):
        for path in (ROOT / "src/provena" / name).rglob("*.py"):
            for used in _provena_imports(path) & STAGE_PACKAGES - {name}:
                if (name, used) not in ALLOWED_CROSS_STAGE:
                    wrong.append(f"{path.relative_to(ROOT)} imports provena.{used}")
    assert not wrong, "a stage package imports another stage's package:\n" + "\n".join(wrong)


#: packages above the stages, which may use a stage's code (and no stage or shared module
#: imports them): the command line, and ``provena export`` (it scores with evaluate's code)
TOP_PACKAGES = {"cli", "export"}


def test_shared_modules_import_no_stage_package():
    shared = [
        p
        for p in (ROOT / "src/provena").rglob("*.py")
        if p.relative_to(ROOT / "src/provena").parts[0].removesuffix(".py")
        not in STAGE_PACKAGES | TOP_PACKAGES
    ]
    wrong = [
        f"{p.relative_to(ROOT)} imports provena.{m}"
        for p in shared
        for m in sorted(_provena_imports(p) & STAGE_PACKAGES)
    ]
    assert not wrong, "a shared module imports a stage package:\n" + "\n".join(wrong)


def test_the_top_level_import_graph_has_no_cycle():
    graph = {}
    for path in (ROOT / "src/provena").rglob("*.py"):
        mod = path.relative_to(ROOT / "src/provena").parts[0].removesuffix(".py")
        graph.setdefault(mod, set()).update(_provena_imports(path) - {mod})
    done, stack = set(), []

    def visit(mod):
        if mod in stack:
            cycle = [*stack[stack.index(mod) :], mod]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if mod in done:
            return
        stack.append(mod)
        for dep in sorted(graph.get(mod, ())):
            visit(dep)
        stack.pop()
        done.add(mod)

    for mod in sorted(graph):
        visit(mod)


def test_the_contracts_stage_list_is_dvc_yamls_in_order():
    from provena.records import STAGES

    assert list(STAGES) == list(DVC["stages"])


def test_no_stage_or_shared_module_imports_a_top_package():
    wrong = [
        f"{p.relative_to(ROOT)} imports provena.{m}"
        for p in (ROOT / "src/provena").rglob("*.py")
        if p.relative_to(ROOT / "src/provena").parts[0].removesuffix(".py") not in TOP_PACKAGES
        for m in sorted(_provena_imports(p) & TOP_PACKAGES)
    ]
    assert not wrong, "a module below the commands imports one:\n" + "\n".join(wrong)
