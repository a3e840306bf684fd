"""The README stays short and true, the docs cover every stage and module, the bench results
share one shape, and the generated reference pages cover what they claim to."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Literal

import pytest
import yaml
from pydantic import Field

from provena.config import Params, StrictModel, _unwrap

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
README = ROOT / "README.md"
DOCS = ROOT / "docs"
STAGES = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
RESULTS = sorted((ROOT / "bench" / "results").glob("*.json"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hooks():
    return _load("docs_hooks", DOCS / "hooks.py")


# --------------------------------------------------------------------------------- README


def test_readme_is_at_most_12_kb():
    size = len(README.read_bytes())
    assert size <= 12_288, f"README.md is {size} bytes; move detail into docs/"


def test_readme_holds_no_hand_written_test_counts():
    found = re.findall(r"[0-9][0-9,]* (?:passed|tests)\b", README.read_text())
    assert not found, f"README.md states test counts by hand: {found}"


def test_readme_starts_with_the_two_set_up_commands_of_the_makefile():
    commands = re.findall(r"^(make \S+)", README.read_text(), flags=re.M)
    assert commands[:2] == ["make repro", "make test"]
    targets = re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert {"repro", "test", "docs"} <= set(targets)


def test_readme_links_resolve_inside_the_repo():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "the README links into docs/"
    for link in local:
        target = (ROOT / link).resolve()
        assert target.is_relative_to(ROOT), f"README links outside the repo: {link}"
        assert target.exists(), f"README links to {link}, which does not exist"


# ---------------------------------------------------------------------------------- pages


def test_every_dvc_stage_has_a_docs_page_in_the_nav():
    nav = json.dumps(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    for stage in STAGES:
        page = DOCS / "stages" / f"{stage}.md"
        assert page.is_file(), f"dvc.yaml stage {stage} has no page docs/stages/{stage}.md"
        assert page.read_text().startswith(f"# {stage}"), f"{page} does not open with its name"
        assert f'"stages/{stage}.md"' in nav, f"docs/stages/{stage}.md is not in mkdocs.yml's nav"


def test_architecture_names_every_module_of_the_package():
    text = (DOCS / "architecture.md").read_text()
    src = ROOT / "src" / "provena"
    names = sorted(
        p.name if p.is_dir() else p.stem
        for p in src.iterdir()
        if (p.is_dir() and (p / "__init__.py").is_file())
        or (p.suffix == ".py" and p.name != "__init__.py")
    )
    missing = [n for n in names if f"`provena.{n}`" not in text]
    assert not missing, f"docs/architecture.md's code layout does not name: {missing}"


def test_docs_hold_no_hand_written_test_counts():
    for page in DOCS.rglob("*.md"):
        found = re.findall(r"[0-9][0-9,]* (?:passed|tests)\b", page.read_text())
        assert not found, f"{page.relative_to(ROOT)} states test counts by hand: {found}"


# ---------------------------------------------------------------------------- bench results


@pytest.mark.parametrize("path", RESULTS, ids=[p.stem for p in RESULTS])
def test_bench_result_has_a_well_formed_targets_list(path):
    data = json.loads(path.read_text())
    targets = data.get("targets")
    assert isinstance(targets, list) and targets, f"{path.name}: no top-level targets list"
    for i, t in enumerate(targets):
        where = f"{path.name} targets[{i}]"
        assert isinstance(t, dict) and set(t) == {"name", "goal", "measured", "met"}, where
        assert isinstance(t["name"], str) and t["name"], where
        assert isinstance(t["goal"], str) and t["goal"], where
        measured = t["measured"]
        assert measured is None or isinstance(measured, int | float | str), where
        assert t["met"] is None or isinstance(t["met"], bool), where
        # met is null exactly when nothing was measured
        assert (t["met"] is None) == (measured is None), where
    names = [t["name"] for t in targets]
    assert len(set(names)) == len(names), f"{path.name}: target names repeat"


@pytest.mark.parametrize("path", RESULTS, ids=[p.stem for p in RESULTS])
def test_bench_targets_are_what_its_script_computes(path):
    script = ROOT / "bench" / f"bench_{path.stem}.py"
    assert script.is_file(), f"{path.name} has no bench script {script.name}"
    bench = _load(f"bench_{path.stem}", script)
    data = json.loads(path.read_text())
    stored = data.pop("targets")
    assert stored == bench.targets(data), f"{path.name}'s targets differ from {script.name}'s"


@pytest.mark.parametrize(
    "script", sorted((ROOT / "bench").glob("bench_*.py")), ids=lambda p: p.stem
)
def test_every_bench_writes_results_named_after_it_with_targets(script):
    name = script.stem.removeprefix("bench_")
    tree = ast.parse(script.read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "targets" in functions, f"{script.name} defines no targets(result)"
    strings = [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]
    assert any(s.endswith(f"{name}.json") for s in strings), (
        f"{script.name} does not write bench/results/{name}.json"
    )


# ------------------------------------------------------------------------ params reference


def _keys(model, prefix=""):
    """Every key of a config model, walked independently of the docs generator."""
    out = []
    for attr, field in model.model_fields.items():
        key = f"{prefix}{field.alias or attr}"
        out.append(key)
        inner = _unwrap(field.annotation)
        if isinstance(inner, type) and issubclass(inner, StrictModel):
            is_list = typing.get_origin(_strip_optional(field.annotation)) is list
            out += _keys(inner, f"{key}[]." if is_list else f"{key}.")
    return out


def _strip_optional(tp):
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    return _strip_optional(args[0]) if union and len(args) == 1 else tp


def test_params_reference_covers_every_field_of_params(hooks):
    rows = hooks.param_rows(Params)
    assert [r.key for r in rows] == _keys(Params)
    page = hooks.params_reference()
    for key in _keys(Params):
        assert f"`{key}`" in page, f"the params reference misses {key}"
    for attr, section in Params.model_fields.items():
        assert f"\n## `{section.alias or attr}`\n" in page


def test_params_reference_shows_type_default_bounds_choices_and_params_yaml(hooks):
    from provena.config import load_params

    rows = {r.key: r for r in hooks.param_rows(Params, load_params(ROOT / "params.yaml"))}
    n_clinical = rows["synth.n_clinical"]
    assert (n_clinical.type, n_clinical.default) == ("int", "required")
    assert n_clinical.allowed == "10 to 1,000,000"
    assert n_clinical.params_yaml  # a required key is always set in params.yaml
    assert '`"nf4"`' in rows["train.quantization"].allowed
    assert rows["clean.dedup.threshold"].default == "`0.7`"
    assert rows["clean.dedup.threshold"].allowed == "> 0; < 1"
    assert rows["ingest.input_dir"].type == "path"
    assert rows["train.waivers[].reason"].allowed == "length >= 10"
    assert rows["split.shares"].description.startswith("shares of the records left")


def test_params_reference_uses_field_descriptions_and_shows_changed_values(hooks):
    class Inner(StrictModel):
        """Inner settings."""

        size: Annotated[int, Field(ge=1, le=10, description="why the size matters")] = 3

    class Root(StrictModel):
        mode: Literal["fast", "slow"] = "fast"
        inner: Inner = Inner()

    rows = {r.key: r for r in hooks.param_rows(Root, Root(mode="slow", inner=Inner(size=3)))}
    assert rows["inner.size"].description == "why the size matters"
    assert rows["inner.size"].allowed == "1 to 10"
    assert rows["inner.size"].params_yaml == ""  # the same as the default: not repeated
    assert rows["mode"].params_yaml == '`"slow"`'
    assert rows["mode"].allowed == 'one of `"fast"`, `"slow"`'
    assert rows["inner"].description == "Inner settings."


# --------------------------------------------------------------------------- bench page


def test_benchmarks_page_has_one_section_per_result_with_targets_first(hooks):
    page = hooks.benchmarks_page()
    for path in RESULTS:
        head = f"\n## {path.stem}\n"
        assert head in page, f"no section for {path.name}"
        section = page.split(head, 1)[1].split("\n## ", 1)[0]
        assert section.index("### Targets") < section.index("### Figures")
        for t in json.loads(path.read_text())["targets"]:
            assert t["name"] in section


def test_a_bench_marker_in_a_written_page_becomes_that_benchs_targets_and_tables(hooks, tmp_path):
    run = {"size": 10_000, "stage": "clean", "records_in": 10_700, "seconds": 5.0}
    run.update(records_per_s=2_140, records_per_cpu_s=2_200, peak_rss_mb=300.0)
    ray = {**run, "executor": "ray", "code": "a note on this row"}
    result = {"targets": [{"name": "clean: fast", "goal": ">= 1", "measured": 2, "met": True}]}
    result.update(machine={"cpus": 2, "memory_gb": 8, "python": "3.11"}, runs=[run, ray])
    (tmp_path / "stages.json").write_text(json.dumps(result))
    page = hooks.inline_bench("# Scaling\n\n<!-- bench:stages -->\n\nafter\n", tmp_path)
    assert "<!--" not in page and page.endswith("after\n")
    assert "| clean: fast | >= 1 | 2 | met |" in page
    assert "| clean | 10,700 in 5 s (2,140/s, 2,200/s per core) |" in page
    assert "| clean (ray) |" in page and "- clean (ray) at 10,000: a note on this row" in page
    missing = hooks.inline_bench("<!-- bench:nothing -->", tmp_path)
    assert missing == "*(no bench/results/nothing.json yet: run bench/bench_nothing.py)*"


def test_the_metrics_marker_becomes_the_committed_runs_scores(hooks, tmp_path):
    fam = {
        "json_valid": 1.0,
        "sex_em": 0.7,
        "answers": {"answers": 40, "distinct": 22},
        "perplexity": 2.3,
    }
    reply = {
        "answers": {"answers": 40, "distinct": 3},
        "not_evaluable": {"reason": "nearly constant", "withheld": ["rouge_l"]},
    }
    d = {
        "splits": {"test": {"adapter": {"families": {"clinical_extraction": fam, "reply": reply}}}},
        "model_fairness": "inconclusive",
        "privacy_probes": "fail",
        "not_evaluable": [
            {"split": "test", "model": "adapter", "family": "reply", "reason": "nearly constant"}
        ],
    }
    path = tmp_path / "evaluate.json"
    path.write_text(json.dumps(d))
    page = hooks.inline_metrics("# E\n\n<!-- metrics:evaluate -->\n\nafter\n", path)
    assert "<!--" not in page and page.endswith("after\n")
    assert "| test | adapter | clinical extraction | 1 | 0.7 | – | – | – | 22 of 40 | 2.3 |" in page
    assert "| test | adapter | reply | – | – | – | – | not evaluable | 3 of 40 | – |" in page
    assert "Model fairness: **inconclusive**; privacy probes: **fail**." in page
    assert "- Not evaluable: test adapter reply: nearly constant." in page
    missing = hooks.inline_metrics("<!-- metrics:evaluate -->", tmp_path / "none.json")
    assert "no metrics/evaluate.json yet" in missing
    assert "<!-- metrics:evaluate -->" in (DOCS / "stages" / "evaluate.md").read_text()


def test_the_scaling_page_carries_the_stages_bench(hooks):
    page = (DOCS / "scaling.md").read_text()
    assert "<!-- bench:stages -->" in page
    assert "| synth |" in hooks.inline_bench(page)


def test_external_assets_finds_what_a_page_would_fetch_and_allows_links(hooks, tmp_path):
    (tmp_path / "ok.html").write_text(
        '<link rel="stylesheet" href="assets/main.css"><script src="js/app.js"></script>'
        '<a href="https://pypi.org/project/x/">a link people follow</a>'
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.html").write_text(
        '<link href="https://fonts.googleapis.com/css?family=Roboto" rel="stylesheet">'
        "<script src='//cdn.example.org/x.js'></script>"
        '<div style="background: url(https://example.org/a.png)"></div>'
    )
    (tmp_path / "theme.css").write_text('@import "https://fonts.example.org/f.css";')
    assert hooks.external_assets(tmp_path) == [
        "sub/bad.html: //cdn.example.org/x.js",
        "sub/bad.html: https://example.org/a.png",
        "sub/bad.html: https://fonts.googleapis.com/css?family=Roboto",
        "theme.css: https://fonts.example.org/f.css",
    ]
