import pytest
import yaml

from provena.config import (
    AuditDataConfig,
    AugmentConfig,
    CleanConfig,
    ConfigError,
    IngestConfig,
    Params,
    ScrubPiiConfig,
    ValidateConfig,
    load_params,
    parse_params,
)
from tests.conftest import ROOT, TINY


def test_real_params_file_validates():
    params = load_params(ROOT / "params.yaml")
    assert params.synth.n_clinical + params.synth.n_support >= 10_000
    assert params.synth.female_share <= 0.30
    assert params.ingest.input_dir == "data/raw"


def test_tiny_profile_validates_and_has_the_same_keys_as_params():
    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + str(k))
            if isinstance(v, dict) and k not in ("columns", "role_aliases"):
                out |= keys(v, prefix + str(k) + ".")
        return out

    real = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = yaml.safe_load(TINY.read_text())
    parse_params(tiny, TINY)
    assert keys(real) == keys(tiny)


def _base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_every_error_is_reported_at_once_with_key_value_and_what_is_allowed(tmp_path):
    data = _base()
    data["synth"]["n_clinical"] = -5
    data["synth"]["female_share"] = 0.6
    data["synth"]["colour"] = "blue"
    data["ingest"]["sources"][0]["shape"] = "sharegpt"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: 4 problems")
    assert "synth.n_clinical = -5: Input should be greater than or equal to 10" in msg
    assert "synth.female_share = 0.6: Input should be less than or equal to 0.3" in msg
    assert (
        "synth.colour: unknown key; allowed keys here: allcaps_share, defects, female_share" in msg
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
    assert ScrubPiiConfig().model_dump() == shipped.scrub_pii.model_dump()
    assert CleanConfig().model_dump() == shipped.clean.model_dump()
    assert ValidateConfig().model_dump() == shipped.validate_.model_dump()
    assert AuditDataConfig().model_dump() == shipped.audit_data.model_dump()
    assert AugmentConfig().model_dump() == shipped.augment.model_dump()


def test_params_are_frozen():
    params: Params = load_params(ROOT / "params.yaml")
    with pytest.raises(Exception, match="frozen"):
        params.synth.seed = 3  # type: ignore[misc]
