"""Shared fixtures, and the test tiers, one folder each (`make test` runs them all):

- tests/unit: what plain `pytest` runs (`make test-unit`), the inner loop;
- tests/pipeline: end to end, minutes: `dvc repro` on the tiny profile in a temporary copy of
  the repo, the curation chain in one process, stage scripts with the network cut, the
  executor on a local Ray, training under torchrun (`make test-pipeline`; marker `pipeline`);
- tests/browser: the HTML reports in headless chromium, skipped without it
  (`make test-browser`; marker `browser`);
- tests/gpu: needs CUDA, skipped without it with the reason (marker `gpu`).

Each test gets its tier's marker from its folder, so `-m` selects tiers too. Records come from
tests/factory.py, small input files from tests/assets/, shared helpers from tests/helpers/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from provena.config import Params, load_params, read_params

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
#: the tiny profile: an overlay naming only the keys it changes, merged over params.yaml
TINY = ROOT / "profiles" / "tiny.yaml"


def tiny_data() -> dict:
    """params.yaml with the tiny overlay deep-merged over it (a raw mapping, not validated)."""
    return read_params(PARAMS, overlays=[TINY])


def tiny_yaml() -> str:
    """:func:`tiny_data` as YAML text: the params.yaml of a temporary tiny repo."""
    return yaml.safe_dump(tiny_data(), sort_keys=False)


def write_tiny_params(path: Path) -> Path:
    """Write params.yaml merged with the tiny overlay to ``path`` (a params.yaml), so that
    `dvc exp run -S key=value` there sets the key a user names."""
    path.write_text(tiny_yaml(), encoding="utf-8")
    return path


def load_tiny() -> Params:
    return load_params(PARAMS, overlays=[TINY])


@pytest.fixture(scope="session")
def tiny_params() -> Params:
    return load_tiny()


def tiny_ingested(tmp: Path) -> Path:
    """The tiny default dataset written under ``tmp/raw/default`` and ingested into
    ``tmp/ingest.parquet`` (returned), with the tiny profile's params."""
    from provena import ingest
    from provena.synth import generate, write_dataset

    params = load_tiny()
    write_dataset(generate(params.synth), tmp / "raw" / "default")
    out = tmp / "ingest.parquet"
    ingest.run(
        [tmp / "raw"],
        params.ingest,
        out=out,
        ledger=tmp / "ingest.ledger.jsonl",
        quarantine=tmp / "ingest.quarantine.jsonl",
        metrics=None,
        base=tmp,
    )
    return out


def write_jsonl(path: Path, rows: list, raw_lines: dict[int, bytes] | None = None) -> Path:
    """Write rows as JSON lines; ``raw_lines`` puts exact bytes at given 1-based line numbers."""
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in rows]
    for lineno, raw in sorted((raw_lines or {}).items()):
        lines.insert(lineno - 1, raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


#: tiny input files the tests read (tests/assets/)
ASSETS = Path(__file__).resolve().parent / "assets"
#: the tiers that have a marker (tests/unit has none: it is what runs by default)
TIER_MARKERS = ("pipeline", "browser", "gpu")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier's marker (tests/<tier>/...)."""
    tests = Path(__file__).resolve().parent
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if len(parts) > 1 and parts[0] in TIER_MARKERS:
            item.add_marker(parts[0])
