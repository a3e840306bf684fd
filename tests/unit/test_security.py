"""Security: the network is cut for the pipeline's processes (and the tests say how), models
load from safetensors only and never with remote code, the PII salt is written nowhere, and
paths in params cannot leave the project folder.

The pipeline-scale checks (script payloads in the raw data through every HTML report in a
browser, and the salt through every file of a whole run) are in tests/pipeline/test_pipeline.py.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import pickle
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from provena import config
from provena.errors import UserError
from tests.conftest import ROOT, load_tiny, tiny_data
from tests.helpers.offline import NAMESPACE, SOCKET_GUARD, offline_mode, run_offline
from tests.helpers.salt import salt_hits

# ------------------------------------------------------------------------------ network

IFACES = "import socket; print(sorted(n for _, n in socket.if_nameindex()))"
RESOLVE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.getaddrinfo('pypi.org', 443)\n"
    "except OSError as e:\n"
    "    print('no name', type(e).__name__); sys.exit(0)\n"
    "sys.exit(1)\n"
)


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


def test_the_network_is_cut_in_a_namespace_where_one_can_be_made_and_the_mode_is_reported():
    proc = run_offline([sys.executable, "-c", IFACES])
    assert proc.returncode == 0, proc.stderr
    assert proc.offline_mode == (NAMESPACE if _unshare_works() else SOCKET_GUARD)
    assert proc.offline_probe.startswith("blocked ")  # the probe's connect really failed
    if proc.offline_mode == NAMESPACE:
        assert proc.stdout.strip() == "['lo']"  # no interface but loopback (and that one down)
    assert run_offline([sys.executable, "-c", RESOLVE]).returncode == 0


def test_the_socket_guard_blocks_connections_and_name_lookups(monkeypatch):
    monkeypatch.setenv("PROVENA_TEST_NO_UNSHARE", "1")
    assert offline_mode() == SOCKET_GUARD
    proc = run_offline([sys.executable, "-c", RESOLVE])
    assert (proc.offline_mode, proc.returncode) == (SOCKET_GUARD, 0), proc.stderr
    assert proc.offline_probe == "blocked 101" and proc.stdout.strip() == "no name OSError"


# --------------------------------------------------------------- safetensors, remote code


def _src_files() -> list[Path]:
    return sorted((ROOT / "src").rglob("*.py"))


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in _src_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                if called == name:
                    found.append((path, node))
    return found


def test_no_model_is_loaded_with_remote_code_or_from_a_pickle():
    """Every from_pretrained call in src/, and every mapping it may be given, keeps
    trust_remote_code off; every torch.load is weights_only."""
    calls = _calls("from_pretrained")
    assert len(calls) >= 3  # the tokenizer, the base model, the adapter: the check looks
    for path, call in calls:
        for kw in call.keywords:
            if kw.arg == "trust_remote_code":
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                assert isinstance(kw.value, ast.Constant) and kw.value.value is False, where
    for path in _src_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "trust_remote_code":
                        assert isinstance(v, ast.Constant) and v.value is False, path
    for path, call in _calls("load"):
        if ast.unparse(call.func) == "torch.load":
            kw = {k.arg: k.value for k in call.keywords}
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            assert "weights_only" in kw and ast.literal_eval(kw["weights_only"]) is True, where


class _Trap:
    """Unpickling this creates the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from provena.modeling.model import build_tiny_base

    params = load_tiny()
    texts = [f"record {i}: the patient was seen on day {i} and sent home" for i in range(60)]
    return build_tiny_base(texts, params.train.tiny, 64, tmp_path_factory.mktemp("m") / "base")


def _copy_model(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def test_a_model_folder_with_pickled_weights_only_is_refused(tiny_model, tmp_path):
    from provena.modeling.model import check_model_folder

    folder = _copy_model(tiny_model, tmp_path / "bin_only")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Trap(tmp_path / "ran")))
    with pytest.raises(UserError) as err:
        check_model_folder(folder, "models/bin_only")
    assert str(err.value) == (
        "train.base_model = 'models/bin_only': the folder needs config.json and *.safetensors "
        "weights (pickled .bin weights are not loaded)"
    )
    assert not (tmp_path / "ran").exists()


def test_the_loader_reads_safetensors_and_runs_neither_a_pickle_nor_the_models_own_code(
    tiny_model, tmp_path
):
    """A folder that also holds a booby-trapped pickle and Python named by ``auto_map`` loads
    from its safetensors; neither trap fires."""
    from provena.modeling.model import load_base, resolve_precision

    folder = _copy_model(tiny_model, tmp_path / "trapped")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Trap(tmp_path / "pickle_ran")))
    (folder / "evil.py").write_text(
        f"open({str(tmp_path / 'code_ran')!r}, 'w').close()\n"
        "from transformers import LlamaForCausalLM as EvilModel\n"
        "from transformers import PreTrainedTokenizerFast as EvilTokenizer\n"
    )
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "evil.EvilModel", "AutoConfig": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text())
    tok_cfg["auto_map"] = {"AutoTokenizer": [None, "evil.EvilTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    model, tokenizer = load_base(folder, resolve_precision("none"))
    assert type(model).__name__ == "LlamaForCausalLM" and tokenizer.pad_token == "<|pad|>"
    assert not (tmp_path / "pickle_ran").exists() and not (tmp_path / "code_ran").exists()


# ---------------------------------------------------------------------------- the salt

SALT = "Pr0vena-s4lt-7c1d9e-never-written"


def test_the_salt_keys_the_hashes_and_is_written_nowhere(tmp_path, monkeypatch, caplog):
    from provena import scrub_pii
    from provena.io import RecordWriter, read_records
    from provena.pii.operators import keyed_hash
    from tests.conftest import tiny_ingested

    params = load_tiny()
    cfg = params.scrub_pii.model_copy(
        update={
            "operators": {**params.scrub_pii.operators, "EMAIL_ADDRESS": "hash"},
            "meta": params.scrub_pii.meta.model_copy(update={"hash": ["note_kind"]}),
        }
    )
    monkeypatch.setenv(cfg.salt_env, SALT)
    # a slice of the tiny data keeps it fast: the support e-mails with their addresses
    records = [r for b in read_records(tiny_ingested(tmp_path)) for r in b]
    with_email = [r for r in records if "@" in r["input"]][:20]
    with RecordWriter(tmp_path / "in.parquet") as w:
        w.write(with_email + [r for r in records if "@" not in r["input"]][:20])
    caplog.set_level(logging.DEBUG, logger="provena")
    report = scrub_pii.run(
        tmp_path / "in.parquet",
        cfg,
        out=tmp_path / "out" / "scrub_pii.jsonl",
        ledger=tmp_path / "out" / "ledger.jsonl",
        quarantine=tmp_path / "out" / "quarantine.jsonl",
        metrics=tmp_path / "out" / "metrics.json",
        report_json=tmp_path / "out" / "pii_report.json",
        report_html=tmp_path / "out" / "pii_report.html",
    )
    # the salt was used: the e-mails of the input come out as their keyed hashes
    inputs = " ".join(str(r[f]) for r in with_email for f in r)
    emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", inputs))
    text = (tmp_path / "out" / "scrub_pii.jsonl").read_text()
    hashed = {e for e in emails if f"<EMAIL_ADDRESS:{keyed_hash(SALT.encode(), e, 12)}>" in text}
    assert hashed and report["meta"]["hashed"] > 0
    assert report["books"]["records_in"] == 40 and len(with_email) == 20
    assert salt_hits(tmp_path, SALT, {"log": caplog.text}) == []


# ------------------------------------------------------------------------ params paths


def _is_project_path(annotation: typing.Any, metadata: list) -> bool:
    def marks(meta) -> bool:
        return any(getattr(m, "func", None) is config._project_path for m in meta)

    if marks(metadata) or marks(getattr(annotation, "__metadata__", ())):
        return True
    return any(_is_project_path(a, []) for a in typing.get_args(annotation))


def _submodels(annotation: typing.Any) -> list[tuple[type[BaseModel], bool]]:
    """(model, inside a list) for each config model an annotation holds."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    found = []
    for arg in typing.get_args(annotation):
        in_list = typing.get_origin(annotation) in (list, tuple)
        found += [(m, in_list or inner) for m, inner in _submodels(arg)]
    return found


def _str_leaves(model: type[BaseModel], prefix: tuple = ()) -> dict[tuple, bool]:
    """{key path: is ProjectPath} for every string field of the params tree (a list's
    items at index 0)."""
    out: dict[tuple, bool] = {}
    for name, f in model.model_fields.items():
        key = (*prefix, f.alias or name)
        if _is_project_path(f.annotation, f.metadata):
            out[key] = True
        elif str in (f.annotation, *typing.get_args(f.annotation)):
            out[key] = False
        for sub, in_list in _submodels(f.annotation):
            out.update(_str_leaves(sub, (*key, 0) if in_list else key))
    return out


PROJECT_PATHS = sorted(k for k, is_pp in _str_leaves(config.Params).items() if is_pp)
PATH_WORDS = ("path", "dir", "file", "suite", "tokenizer", "glob", "base_model", "prompts",
              "ratings", "template", "root", "folder")  # fmt: skip
#: path-like params that are not ProjectPath, each for a reason (see the report of issue 9)
NOT_PROJECT_PATHS = {
    ("ingest", "sources", 0, "glob"): "a glob under ingest.input_dir (not checked for '..')",
    ("train", "base_model"): '"tiny" or a local model folder, which may live anywhere',
    ("scrub_pii", "profiles"): "globs matched against each record's source; no file is opened",
    ("drift", "tokenizer"): "a local tokenizer (file or folder) for `provena drift`, a command "
    "outside the pipeline; like train.base_model it may live anywhere",
}


def _set(data: dict, key: tuple, value: str) -> dict:
    data = copy.deepcopy(data)
    node = data
    for part in key[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[key[-1]] = value
    return data


def test_every_project_path_param_is_found():
    names = {".".join(map(str, k)) for k in PROJECT_PATHS}
    assert {"synth.out_dir", "ingest.input_dir", "validate.suite"} <= names


def test_path_like_params_are_project_paths_or_known_exceptions():
    """A new path param must use ProjectPath (or be added above with its reason)."""
    others = {
        k
        for k, is_pp in _str_leaves(config.Params).items()
        if not is_pp and any(w in str(k[-1]) for w in PATH_WORDS)
    }
    assert others == set(NOT_PROJECT_PATHS)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("../x", "must stay inside the project folder ('..' climbs out of it)"),
        ("data/../../x", "must stay inside the project folder ('..' climbs out of it)"),
        ("/etc/passwd", "must be a path relative to the project folder, not absolute"),
        ("~/x", "must be a path relative to the project folder, not absolute"),
    ],
)
@pytest.mark.parametrize("key", PROJECT_PATHS, ids=lambda k: ".".join(map(str, k)))
def test_a_project_path_param_outside_the_project_is_refused_naming_its_key(key, value, why):
    data = tiny_data()
    with pytest.raises(config.ConfigError) as err:
        config.parse_params(_set(data, key, value), "params.yaml")
    dotted = ".".join(map(str, key))
    assert err.value.problems == [f"{dotted} = {value!r}: {why}"]


def test_a_path_inside_the_project_is_accepted():
    data = tiny_data()
    for key in PROJECT_PATHS:
        data = _set(data, key, "data/./sub/../x")  # climbs, but stays inside
    config.parse_params(data)
