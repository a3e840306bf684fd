import re
import typing

import pytest
import yaml
from pydantic import BaseModel

from provena.config import (
    SWEEP_KEYS,
    AuditDataConfig,
    AugmentConfig,
    CleanConfig,
    ConfigError,
    IngestConfig,
    Params,
    ScrubPiiConfig,
    ValidateConfig,
    load_params,
    merge_params,
    parse_params,
)
from tests.conftest import PARAMS, ROOT, TINY, load_tiny


def test_real_params_file_validates():
    params = load_params(ROOT / "params.yaml")
    assert params.synth.n_clinical + params.synth.n_support >= 10_000
    assert params.synth.female_share <= 0.30
    assert params.ingest.input_dir == "data/raw"


def _is_model(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _leaves(data: dict, prefix: tuple = ()) -> dict[tuple, object]:
    """{key path: value} for every value that is not a non-empty mapping (lists are values)."""
    out: dict[tuple, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, (*prefix, key)))
        else:
            out[(*prefix, key)] = value
    return out


def test_tiny_overlay_validates_and_changes_exactly_the_keys_it_names():
    base = _leaves(load_params(PARAMS).model_dump(by_alias=True))
    tiny = _leaves(load_tiny().model_dump(by_alias=True))
    changed = {k for k in base.keys() | tiny.keys() if base.get(k) != tiny.get(k)}
    named = set(_leaves(yaml.safe_load(TINY.read_text())))
    # the overlay names only keys it changes, and nothing it does not name changes
    assert changed == named
    assert {
        ("synth", "n_clinical"),
        ("train", "tiny", "hidden_size"),
        ("train", "waivers"),
    } <= named


def test_a_deep_merge_keeps_sibling_keys_and_replaces_lists_and_values():
    base = {"a": {"x": 1, "y": [1, 2], "z": {"p": 1, "q": 2}}, "b": {"k": "v"}, "c": 3}
    overlay = {"a": {"y": [3], "z": {"q": 9}}, "b": None, "d": {"new": 1}}
    merged = merge_params(base, overlay)
    assert merged == {
        "a": {"x": 1, "y": [3], "z": {"p": 1, "q": 9}},
        "b": None,
        "c": 3,
        "d": {"new": 1},
    }
    assert base["a"]["z"] == {"p": 1, "q": 2} and overlay["a"]["z"] == {"q": 9}  # unchanged
    merged["a"]["y"].append(4)
    assert overlay["a"]["y"] == [3]  # the result shares nothing with its inputs


def test_an_overlay_changes_one_key_and_keeps_its_siblings(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("clean:\n  dedup:\n    chunk_size: 7\n")
    base, merged = load_params(PARAMS), load_params(PARAMS, overlays=[overlay])
    assert merged.clean.dedup.chunk_size == 7
    assert merged.clean.dedup.model_copy(update={"chunk_size": 1000}) == base.clean.dedup
    assert merged.model_copy(update={"clean": base.clean}) == base


def test_an_overlay_with_an_unknown_key_is_refused_naming_the_key_file_and_line(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "synth:\n  n_clinical: 150\n  colour: blue\nclean:\n  dedup: {treshold: 1}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_params(PARAMS, overlays=[overlay])
    assert exc.value.path == f"{PARAMS} + {overlay}"
    colour, treshold = exc.value.problems
    assert colour.startswith(f"{overlay} line 3: synth.colour: unknown key; allowed keys here: ")
    assert treshold.startswith(f"{overlay} line 5: clean.dedup.treshold: unknown key;")


def test_a_bad_value_in_params_yaml_names_its_file_and_line_under_an_overlay(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(PARAMS.read_text().replace("  female_share: 0.28", "  female_share: 0.6", 1))
    lines = bad.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("  female_share: 0.6"))
    with pytest.raises(ConfigError) as exc:
        load_params(bad, overlays=[TINY])  # the overlay does not set female_share
    (problem,) = exc.value.problems
    assert problem.startswith(f"{bad} line {line}: synth.female_share = 0.6: Input should be less")


def test_params_yaml_sets_only_what_differs_from_the_defaults_or_dvc_yaml_reads():
    """Parameters are written once: a key in params.yaml either has no default, differs from
    it, or is a path dvc.yaml reads through ${...}; every section is there (dvc.yaml lists them)."""
    raw = yaml.safe_load(PARAMS.read_text())
    assert list(raw) == list(Params.model_fields[n].alias or n for n in Params.model_fields)
    dvc_refs = {
        tuple(ref.split("."))
        for ref in re.findall(r"\$\{([a-z_.]+)\}", (ROOT / "dvc.yaml").read_text())
        if ref.split(".")[0] in raw
    }
    assert {("synth", "out_dir"), ("validate", "suite")} <= dvc_refs
    written = _leaves(raw)
    assert dvc_refs <= set(written)  # dvc.yaml cannot resolve a key params.yaml leaves out

    def default(path: tuple) -> object:
        model: type[BaseModel] = Params
        for depth, key in enumerate(path, 1):
            field = {f.alias or n: f for n, f in model.model_fields.items()}[key]
            if depth < len(path) and _is_model(field.annotation):
                model = field.annotation
                continue
            if field.is_required():
                return "(required)"
            value = field.get_default(call_default_factory=True)
            # a key inside a mapping the model types as a dict: that entry of its default
            for inner in path[depth:]:
                value = value.get(inner, "(no default)") if isinstance(value, dict) else value
            return value.model_dump() if isinstance(value, BaseModel) else value
        raise AssertionError(path)

    swept = {tuple(k.split(".")) for k in SWEEP_KEYS}
    redundant = [
        ".".join(k)
        for k, v in written.items()
        if v != {} and k not in dvc_refs | swept and default(k) == v
    ]
    assert redundant == []


def test_params_yaml_holds_every_sweep_key_so_dvc_exp_run_dash_s_can_set_it():
    """`dvc exp run -S train.lora.r=8,16` fails on a key params.yaml lacks (DVC: 'Key ... is
    not in struct'): the keys docs/sweeps.md sweeps are written there, and are real params."""
    written = _leaves(yaml.safe_load(PARAMS.read_text()))
    assert [k for k in SWEEP_KEYS if tuple(k.split(".")) not in written] == []
    params = load_params(PARAMS).model_dump()
    for key in SWEEP_KEYS:
        value = params
        for part in key.split("."):
            value = value[part]
        assert value == written[tuple(key.split("."))], key
    sweeps = (ROOT / "docs" / "sweeps.md").read_text()
    assert [k for k in SWEEP_KEYS if f"`{k}`" not in sweeps] == []


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    seen[model.__name__] = model
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            arg = stack.pop()
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                if arg.__name__ not in seen:
                    _models(arg, seen)
            else:
                stack += typing.get_args(arg)
    return seen


def test_every_field_of_every_model_has_a_description():
    """docs/reference/params.md is generated from the models: every value says why."""
    models = _models(Params, {})
    assert {
        "Params",
        "SynthConfig",
        "DefectRates",
        "SourceRule",
        "OutcomeSpec",
        "GateWaiver",
    } <= set(models)
    missing = [
        f"{name}.{field}"
        for name, model in models.items()
        for field, info in model.model_fields.items()
        if not (info.description and info.description.strip())
    ]
    assert missing == []


def _base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_every_error_is_reported_at_once_with_key_value_and_what_is_allowed(tmp_path):
    data = _base()
    data["synth"]["n_clinical"] = -5
    data["synth"]["female_share"] = 0.6
    data["synth"]["colour"] = "blue"
    data["ingest"]["sources"] = [{"glob": "**/*", "shape": "sharegpt"}]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: 4 problems")
    assert "synth.n_clinical = -5: Input should be greater than or equal to 10" in msg
    assert "synth.female_share = 0.6: Input should be less than or equal to 0.3" in msg
    assert (
        "synth.colour: unknown key; allowed keys here: allcaps_share, defects, enabled, female_share"
        in msg
    )
    assert (
        "ingest.sources.0.shape = 'sharegpt': Input should be 'auto', 'alpaca', 'dolly' or 'messages'"
        in msg
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/data", "must be a path relative to the project folder, not absolute"),
        ("../outside", "must stay inside the project folder ('..' climbs out of it)"),
        ("data/../../x", "must stay inside the project folder ('..' climbs out of it)"),
    ],
)
def test_paths_cannot_escape_the_project(path, message):
    data = _base()
    data["ingest"]["input_dir"] = path
    with pytest.raises(ConfigError, match=None) as exc:
        parse_params(data)
    assert f"ingest.input_dir = {path!r}: {message}" in str(exc.value)


def test_paths_inside_the_project_are_fine():
    data = _base()
    data["ingest"]["input_dir"] = "data/raw/../raw/mine"
    assert parse_params(data).ingest.input_dir == "data/raw/../raw/mine"


def test_unknown_section_is_refused_with_the_sections_allowed():
    data = _base()
    data["scrub"] = {}
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    allowed = ", ".join(sorted(_base()))  # every section of params.yaml, as stages are added
    assert {"audit_data", "augment", "clean", "ingest", "scrub_pii", "split", "synth"} <= set(
        _base()
    )
    assert f"scrub: unknown key; allowed keys here: {allowed}" in str(exc.value)


def test_contradictory_source_rule_says_how_to_fix_it():
    data = _base()
    data["ingest"]["sources"] = [{"glob": "*.csv", "columns": {"instruction": "prompt"}}]
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    assert "columns need an explicit shape (alpaca, dolly or messages), not auto" in str(exc.value)


def test_source_columns_must_belong_to_the_shape():
    data = _base()
    data["ingest"]["sources"] = [{"glob": "*", "shape": "alpaca", "columns": {"response": "r"}}]
    with pytest.raises(ConfigError) as exc:
        parse_params(data)
    assert "unknown column key(s) ['response'] for shape alpaca" in str(exc.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("synth:\n  seed: 1\n  n_clinical: [1, 2\n")
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert "line 4" in str(exc.value) and "not valid YAML" in str(exc.value)


def test_missing_file_and_missing_section(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="synth: required key is missing"):
        parse_params({"ingest": {}})


def test_model_defaults_match_the_shipped_params():
    # `provena ingest` and `provena scrub` outside a project use the model defaults: they must
    # be the same as the shipped params.
    shipped = load_params(ROOT / "params.yaml")
    assert IngestConfig().model_dump() == shipped.ingest.model_dump()
    # ... but scrub_pii.profiles, which routes the bundled dataset's files (its notes and its
    # chats) to their profiles; a file of your own gets the default profile
    assert ScrubPiiConfig().model_dump(exclude={"profiles"}) == shipped.scrub_pii.model_dump(
        exclude={"profiles"}
    )
    assert ScrubPiiConfig().profiles == {}
    assert shipped.scrub_pii.profiles and all(
        glob.startswith("*default/") for glob in shipped.scrub_pii.profiles
    )
    assert CleanConfig().model_dump() == shipped.clean.model_dump()
    assert ValidateConfig().model_dump() == shipped.validate_.model_dump()
    assert AuditDataConfig().model_dump() == shipped.audit_data.model_dump()
    assert AugmentConfig().model_dump() == shipped.augment.model_dump()


def test_params_are_frozen():
    params: Params = load_params(ROOT / "params.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.synth.seed = 3  # type: ignore[misc]
