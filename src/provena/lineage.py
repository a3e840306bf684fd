"""Lineage questions about a trained adapter: where did it come from, what did it see.

- :func:`trace` follows an adapter's manifest and ``dvc.lock`` back from the adapter to the
  raw data, stage by stage, and checks every recorded hash against the files present now.
- :func:`trained_on` finds the adapters whose training split held a record (by id, through
  an augmented child's ``parent_id``, by text, or by a raw value whose keyed hash the
  scrub_pii ledger holds: :func:`search_trained_on`), for erasure requests.
- :func:`bundle` writes the lock, params, metrics, reports, audits, card and manifest into a
  deterministic zip for an auditor; no ``data/`` file goes in, since those hold training text.

Hashes are computed the way DVC computes them (a file's MD5; a directory's MD5 of the JSON
list of its files' MD5s, suffixed ``.dir``), so no DVC install is needed to check a lock.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provena.errors import UserError
from provena.io import atomic_path, display_path, file_md5, read_jsonl_lines, read_records
from provena.ledger_key import (
    KEYED_BY_SALT,
    KEYED_BY_SEED,
    key_check,
    lookup_hashes,
    matches,
    secret_key,
)
from provena.manifest import METADATA_KEY, sha256_file
from provena.records import TEXT_FIELDS

OK, CHANGED, MISSING = "OK", "CHANGED", "MISSING"
ID_PATTERN = re.compile(r"[0-9a-f]{16}")
# README.md of the adapter folder is peft's blank template: the card stage writes the real one
ADAPTER_FILES = ("manifest.json", "train_config.json", "adapter_config.json")
CARD_FILES = ("README.md", "card.json")
DEFAULT_CARD_DIR = Path("models") / "card"
# directories DVC never hashes into a directory output
DVC_SKIPPED_DIRS = frozenset({".git", ".hg", ".dvc"})


# ---------------------------------------------------------------------------------------------
# hashing


def dir_md5(path: Path, ignore: Any = None, root: Path | None = None) -> str:
    """A directory's hash as DVC records it in dvc.lock (``<md5>.dir``)."""
    entries = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if any(part in DVC_SKIPPED_DIRS for part in rel.parts) or not p.is_file():
            continue
        if ignore is not None and root is not None and ignore.match_file(display_path(p, root)):
            continue
        entries.append({"md5": file_md5(p), "relpath": rel.as_posix()})
    entries.sort(key=lambda e: e["relpath"])
    body = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(body).hexdigest() + ".dir"


def _dvcignore(root: Path) -> Any:
    """The project's .dvcignore as a matcher, or None when it holds no pattern."""
    path = root / ".dvcignore"
    if not path.is_file():
        return None
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        return None
    import pathspec  # a DVC dependency; only needed when .dvcignore has patterns

    return pathspec.PathSpec.from_lines("gitwildmatch", lines)


class Hasher:
    """Hashes files and directories under ``root`` once each (a path recurs across stages)."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[tuple[str, str], str | None] = {}
        self._ignore = _dvcignore(root)

    def __call__(self, rel: str, algo: str) -> str | None:
        key = (rel, algo)
        if key not in self._cache:
            path = self.root / rel
            if path.is_dir() and algo == "md5":
                self._cache[key] = dir_md5(path, self._ignore, self.root)
            elif not path.is_file():
                self._cache[key] = None
            else:
                self._cache[key] = file_md5(path) if algo == "md5" else sha256_file(path)
        return self._cache[key]


# ---------------------------------------------------------------------------------------------
# trace


@dataclass
class TraceEntry:
    """One recorded hash compared with the file now."""

    section: str  # "adapter" or a dvc.lock stage name
    role: str  # in, out, code, params, split, gate, base, weights, lock, ...
    path: str
    algo: str
    recorded: str | None
    current: str | None
    note: str = ""

    @property
    def status(self) -> str:
        if self.current is None:
            return MISSING
        return OK if self.current == self.recorded else CHANGED


@dataclass
class Trace:
    adapter: str
    root: str
    manifest: dict[str, Any]
    stages: list[str] = field(default_factory=list)  # adapter -> raw data order
    entries: list[TraceEntry] = field(default_factory=list)
    skipped_code: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[TraceEntry]:
        return [e for e in self.entries if e.status != OK]

    @property
    def ok(self) -> bool:
        return not self.problems


def load_manifest(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / "manifest.json"
    if not path.is_file():
        what = "no such folder" if not adapter_dir.is_dir() else "no manifest.json in it"
        raise UserError(
            f"{path}: no adapter manifest ({what}); give the folder `train` wrote, "
            "e.g. models/adapter"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "provena.adapter_manifest":
        raise UserError(
            f"{path}: not a provena adapter manifest (kind is not provena.adapter_manifest)"
        )
    return manifest


def project_root(adapter_dir: Path) -> Path:
    """The nearest folder at or above the adapter holding dvc.lock, else the current one."""
    for d in [adapter_dir.resolve(), *adapter_dir.resolve().parents]:
        if (d / "dvc.lock").is_file():
            return d
    return Path.cwd()


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, read from its JSON header (no torch)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    return header.get("__metadata__") or {}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _is_code(path: str, produced: bool) -> bool:
    return not produced and (
        path.startswith(("src/", "stages/")) or path.endswith(".py") or path == "dvc.yaml"
    )


def _overlaps(a: str, b: str) -> bool:
    """One path is the other, or lies inside it (a dep folder holds a stage's output)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _git_head(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _manifest_entries(
    manifest: dict[str, Any], adapter_dir: Path, root: Path, hasher: Hasher
) -> Iterator[TraceEntry]:
    weights = adapter_dir / "adapter_model.safetensors"
    wpath = display_path(weights, root)
    if manifest.get("export"):  # an export folder (provena export): its files, then the adapter's
        yield from _export_entries(manifest["export"], adapter_dir, root, hasher)
    elif not weights.is_file():
        yield TraceEntry("adapter", "weights", wpath, "manifest", "embedded", None)
    else:
        raw = read_safetensors_metadata(weights).get(METADATA_KEY)
        same = raw is not None and _canonical(json.loads(raw)) == _canonical(manifest)
        note = (
            "the manifest embedded in the weights equals manifest.json"
            if same
            else "no manifest embedded in the weights"
            if raw is None
            else "the manifest embedded in the weights differs from manifest.json"
        )
        yield TraceEntry(
            "adapter", "weights", wpath, "manifest", "embedded", "embedded" if same else "", note
        )
    for name, entry in sorted((manifest.get("split") or {}).items()):
        path = entry["path"]
        yield TraceEntry(
            "adapter",
            f"split:{name}",
            path,
            "sha256",
            entry.get("sha256"),
            hasher(path, "sha256"),
            f"{entry.get('records', '?')} records",
        )
    for check in (manifest.get("gate") or {}).get("checks", []):
        if check.get("report") and check.get("sha256"):
            yield TraceEntry(
                "adapter",
                f"gate:{check['check']}",
                check["report"],
                "sha256",
                check["sha256"],
                hasher(check["report"], "sha256"),
                f"verdict {check.get('verdict')}",
            )
    for signoff in manifest.get("signoffs") or []:
        if signoff.get("report") and signoff.get("sha256"):
            yield TraceEntry(
                "adapter",
                "signoff",
                signoff["report"],
                "sha256",
                signoff["sha256"],
                hasher(signoff["report"], "sha256"),
                f"signed off by {signoff.get('reviewer')}",
            )
    params_file = manifest.get("params_file")
    if params_file:
        yield _params_entry(params_file, manifest.get("params") or {}, hasher)
    base = manifest.get("base_model") or {}
    for name, digest in sorted((base.get("files") or {}).items()):
        path = f"{base.get('path', '')}/{name}".lstrip("/")
        yield TraceEntry("adapter", "base", path, "sha256", digest, hasher(path, "sha256"))


def _export_entries(
    export: dict[str, Any], folder: Path, root: Path, hasher: Hasher
) -> Iterator[TraceEntry]:
    """An export folder's files against the SHA-256 its manifest recorded (a file it did not
    write counts as changed), and the adapter it was merged from."""
    recorded = export.get("files") or {}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {
        "manifest.json"
    }
    for name in sorted(set(recorded) | present):
        path = display_path(folder / name, root)
        now = sha256_file(folder / name) if (folder / name).is_file() else None
        note = "" if name in recorded else "not written by the export"
        yield TraceEntry("adapter", "export", path, "sha256", recorded.get(name), now, note)
    source = export.get("source_adapter") or {}
    if source.get("path") and source.get("weights_sha256"):
        path = f"{source['path']}/adapter_model.safetensors"
        yield TraceEntry(
            "adapter",
            "source",
            path,
            "sha256",
            source["weights_sha256"],
            hasher(path, "sha256"),
            "the adapter the export was merged from",
        )


def _params_entry(
    params_file: dict[str, Any], recorded: dict[str, Any], hasher: Hasher
) -> TraceEntry:
    """The params file against the manifest: its hash, else the values of the sections the
    manifest records (as validated), so an edited comment is not a changed parameter, the way
    DVC compares params by value."""
    path = params_file["path"]
    now = hasher(path, "sha256")
    if now is None or now == params_file.get("sha256") or not recorded:
        return TraceEntry("adapter", "params", path, "sha256", params_file.get("sha256"), now)
    from provena.config import ConfigError, load_params

    def digest(obj: Any) -> str:
        return hashlib.sha256(_canonical(obj).encode()).hexdigest()

    try:
        params = load_params(hasher.root / path)
    except (ConfigError, UserError) as err:
        return TraceEntry(
            "adapter",
            "params",
            path,
            "sha256",
            params_file.get("sha256"),
            now,
            f"no longer validates: {str(err).splitlines()[0]}",
        )
    current = {
        s: getattr(params, s).model_dump(mode="json") if hasattr(params, s) else None
        for s in recorded
    }
    changed = [s for s in recorded if _canonical(recorded[s]) != _canonical(current[s])]
    note = (
        f"sections {', '.join(changed)} differ"
        if changed
        else f"file text differs (sha256 {_short(params_file.get('sha256'))} -> {_short(now)}) "
        f"but the {', '.join(sorted(recorded))} values trained with are the same"
    )
    return TraceEntry("adapter", "params", path, "values", digest(recorded), digest(current), note)


def _params_now(root: Path) -> dict[str, Any]:
    path = root / "params.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _upstream(lock: dict[str, Any], seeds: Iterable[str]) -> list[str]:
    """The stages that produced ``seeds`` and everything they read, adapter -> raw data."""
    stages = lock.get("stages") or {}
    outs = {name: [o["path"] for o in st.get("outs", [])] for name, st in stages.items()}

    def producers(path: str) -> list[str]:
        return [n for n, ps in outs.items() if any(_overlaps(path, p) for p in ps)]

    wanted: set[str] = set()
    todo = [n for s in seeds for n in producers(s)]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        for dep in stages[name].get("deps", []):
            todo.extend(n for n in producers(dep["path"]) if n != name)
    # depth-first topological order (a stage before what it reads), ties in lock order
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in stages[name].get("deps", []):
            for n in producers(dep["path"]):
                if n in wanted and n != name:
                    visit(n)
        order.append(name)

    for name in stages:
        if name in wanted:
            visit(name)
    return order[::-1]


def _stage_entries(
    name: str,
    stage: dict[str, Any],
    produced: set[str],
    params_now: dict[str, Any],
    hasher: Hasher,
    code: bool,
    trace: Trace,
) -> Iterator[TraceEntry]:
    skipped = 0
    seen: set[tuple[str, str]] = set()  # a foreach stage may list one dep twice
    for role, items in (("in", stage.get("deps", [])), ("out", stage.get("outs", []))):
        for item in items:
            path = item["path"]
            if (role, path) in seen:
                continue
            seen.add((role, path))
            is_produced = any(_overlaps(path, p) for p in produced)
            if role == "in" and _is_code(path, is_produced):
                if not code:
                    skipped += 1
                    continue
                role_here = "code"
            else:
                role_here = role
            recorded = item.get("md5")
            note = f"{item['nfiles']} files" if "nfiles" in item else ""
            yield TraceEntry(name, role_here, path, "md5", recorded, hasher(path, "md5"), note)
    for file, sections in (stage.get("params") or {}).items():
        now = (
            _params_now(hasher.root)
            if file == "params.yaml"
            else (
                yaml.safe_load((hasher.root / file).read_text())
                if (hasher.root / file).is_file()
                else {}
            )
        )
        for section, value in sorted(sections.items()):
            current = _canonical(now[section]) if section in now else None
            recorded = _canonical(value)
            yield TraceEntry(
                name,
                "params",
                f"{file}:{section}",
                "value",
                hashlib.sha256(recorded.encode()).hexdigest(),
                hashlib.sha256(current.encode()).hexdigest() if current else None,
            )
    if skipped:
        trace.skipped_code[name] = skipped


def trace(adapter_dir: Path, *, root: Path | None = None, code: bool = False) -> Trace:
    """Check the adapter's lineage: its manifest, then every stage upstream of it in dvc.lock.

    ``code=False`` leaves out the source files a stage depends on (they are pinned by the git
    commit in the manifest); ``code=True`` checks them too.
    """
    manifest = load_manifest(adapter_dir)
    root = (root or project_root(adapter_dir)).resolve()
    hasher = Hasher(root)
    out = Trace(adapter=display_path(adapter_dir, root), root=str(root), manifest=manifest)
    out.entries.extend(_manifest_entries(manifest, adapter_dir, root, hasher))
    git = manifest.get("git") or {}
    head = _git_head(root)
    if git.get("commit") and head and head != git["commit"]:
        out.notes.append(
            f"trained at commit {git['commit'][:12]}"
            f"{' (with uncommitted changes)' if git.get('dirty') else ''}; HEAD is now "
            f"{head[:12]}: code may differ (`provena trace --code` checks the stage sources)"
        )
    lock_path = root / "dvc.lock"
    if not lock_path.is_file():
        out.entries.append(
            TraceEntry(
                "adapter",
                "lock",
                "dvc.lock",
                "file",
                "present",
                None,
                "the chain before the split files cannot be followed",
            )
        )
        return out
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    stages = lock.get("stages") or {}
    # the lock must describe the run the adapter came from: same split files, same md5
    recorded_outs = {o["path"]: o.get("md5") for st in stages.values() for o in st.get("outs", [])}
    for name, entry in sorted((manifest.get("split") or {}).items()):
        if entry.get("md5") and entry["path"] in recorded_outs:
            out.entries.append(
                TraceEntry(
                    "adapter",
                    "lock",
                    entry["path"],
                    "md5",
                    entry["md5"],
                    recorded_outs[entry["path"]],
                    f"dvc.lock records the {name} split the adapter was trained on",
                )
            )
    seeds = [e["path"] for e in (manifest.get("split") or {}).values()]
    seeds += [
        c["report"] for c in (manifest.get("gate") or {}).get("checks", []) if c.get("report")
    ]
    seeds.append(display_path(adapter_dir, root))
    out.stages = _upstream(lock, seeds)
    if not out.stages:
        out.notes.append("no stage in dvc.lock produced the adapter or its split files")
    produced = {o["path"] for st in stages.values() for o in st.get("outs", [])}
    for name in out.stages:
        out.entries.extend(
            _stage_entries(name, stages[name], produced, _params_now(root), hasher, code, out)
        )
    return out


def _short(value: str | None) -> str:
    if value is None:
        return "-"
    return value[:12] + (".dir" if value.endswith(".dir") else "")


def render_trace(t: Trace) -> str:
    git = t.manifest.get("git") or {}
    lines = [
        f"adapter {t.adapter}  (trained {t.manifest.get('created_at', '?')}, commit "
        f"{(git.get('commit') or '?')[:12]}{', dirty' if git.get('dirty') else ''})"
    ]
    width = max((len(e.path) for e in t.entries), default=20)

    def row(e: TraceEntry) -> str:
        if e.status == OK:
            state = f"OK       {e.algo} {_short(e.current)}"
        elif e.status == MISSING:
            state = f"MISSING  {e.algo} recorded {_short(e.recorded)}, no file now"
        else:
            state = f"CHANGED  {e.algo} recorded {_short(e.recorded)}, now {_short(e.current)}"
        note = f"  ({e.note})" if e.note else ""
        return f"  {e.role:<17} {e.path:<{width}}  {state}{note}"

    lines += [row(e) for e in t.entries if e.section == "adapter"]
    for name in t.stages:
        lines.append(f"stage {name}")
        lines += [row(e) for e in t.entries if e.section == name]
        if t.skipped_code.get(name):
            lines.append(f"  {'code':<17} {t.skipped_code[name]} source deps not checked (--code)")
    lines += [f"note: {n}" for n in t.notes]
    problems = t.problems
    if not problems:
        lines.append(f"trace: all {len(t.entries)} entries match the files present")
    else:
        named = dict.fromkeys(f"{e.path} {e.status}" for e in problems)
        lines.append(
            f"trace: {len(problems)} of {len(t.entries)} entries differ: {', '.join(named)}"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# trained-on


@dataclass
class TrainedOnHit:
    adapter: str
    split_file: str
    record_id: str
    matched: str  # "id", "parent_id <id>", "text in <field>" or "ledger: <type> in <field>"


@dataclass
class TrainedOnResult:
    query: str
    by_id: bool
    adapters: list[str] = field(default_factory=list)
    hits: list[TrainedOnHit] = field(default_factory=list)
    #: the scrub_pii ledger searched for the value's keyed hash (None: an id, or not searched)
    ledger: str | None = None
    #: records whose ledger entries hold the value (in any split, or none: quarantined, dropped)
    ledger_records: int = 0


def find_manifests(paths: Iterable[Path]) -> list[Path]:
    """Adapter folders: each path given that holds a manifest.json, else those found under it."""
    found: list[Path] = []
    for p in paths:
        if (p / "manifest.json").is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(m.parent for m in p.rglob("manifest.json"))
        else:
            raise UserError(f"{p}: no such folder")
    return list(dict.fromkeys(found))


def _record_text(rec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for f in TEXT_FIELDS:
        if rec.get(f):
            yield f, rec[f]
    for i, m in enumerate(rec.get("messages") or []):
        if m and m.get("content"):
            yield f"messages[{i}]", m["content"]


def match_records(
    records: list[dict[str, Any]],
    query: str,
    *,
    by_id: bool,
    ledger_ids: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """``(record id, how it matched)`` for each record holding the query, and for every
    augmented descendant of such a record (a child's ``parent_id`` chain leads to it).
    ``ledger_ids``: ``{record id: how}`` of the records whose scrub_pii ledger holds the
    query's keyed hash (:func:`ledger_matches`); they match too, text or not."""
    matched: dict[str, str] = {}
    if by_id:
        for rec in records:
            if rec["id"] == query:
                matched[rec["id"]] = "id"
        roots = {query}
    else:
        needle = query.casefold()
        for rec in records:
            for f, text in _record_text(rec):
                if needle in text.casefold():
                    matched[rec["id"]] = f"text in {f}"
                    break
        for rec in records:
            if ledger_ids and rec["id"] in ledger_ids:
                matched.setdefault(rec["id"], ledger_ids[rec["id"]])
        roots = set(matched) | set(ledger_ids or ())
    # children (and their children) of a matched record carry its data too
    grew = True
    ancestors = set(roots)
    while grew:
        grew = False
        for rec in records:
            pid = rec.get("parent_id")
            if pid in ancestors and rec["id"] not in ancestors:
                ancestors.add(rec["id"])
                matched.setdefault(rec["id"], f"parent_id {pid}")
                grew = True
    return sorted(matched.items())


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _read_split(path: Path, shown: str) -> list[dict[str, Any]]:
    """Every record of a split file; a file that cannot be read is a one-line UserError."""
    try:
        records = [r for batch in read_records(path) for r in batch]
    except UserError:
        raise
    except Exception as err:  # pyarrow, JSON, decoding: the file is damaged, say which
        raise UserError(f"{shown}: cannot read it as a record file ({_first_line(err)})") from None
    for i, rec in enumerate(records, 1):
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            raise UserError(f"{shown}: record {i} has no string 'id'; the file is damaged")
    return records


def ledger_matches(
    value: str, ledger: Path, key: bytes, *, shown: str | None = None
) -> dict[str, str]:
    """``{record id: how}`` of the records whose scrub_pii ledger lines hold ``value``: an
    entity whose hash is the value's keyed hash in the form of the entity's type
    (:mod:`provena.ledger_key`). Damaged lines are a one-line UserError naming file and line."""
    shown = shown or str(ledger)
    lookup = lookup_hashes(key, value)
    out: dict[str, str] = {}
    try:
        for n, line in read_jsonl_lines(ledger, name=shown):
            try:
                rid, entities = line.get("id"), line.get("entities") or []
                found = [
                    f"{e['entity_type']} in {e.get('field', '?')}"
                    for e in entities
                    if matches(lookup, e["hash"], e["entity_type"])
                ]
            except (ValueError, AttributeError, KeyError, TypeError) as err:
                raise UserError(
                    f"{shown}, line {n}: not a scrub_pii ledger line ({_first_line(err)})"
                ) from None
            if found and rid is not None:
                out[str(rid)] = "ledger: " + ", ".join(dict.fromkeys(found))
    except OSError as err:
        raise UserError(f"{shown}: cannot read the scrub_pii ledger ({_first_line(err)})") from None
    return out


def trained_on(
    query: str,
    adapters: Iterable[Path],
    *,
    root: Path,
    ledger_ids: Mapping[str, str] | None = None,
) -> TrainedOnResult:
    """Which adapters' train splits hold the record ``query`` (a 16-hex id, or text; with
    ``ledger_ids``, also the records whose scrub_pii ledger holds the value).

    A train split file that is missing, unreadable, or changed since the adapter was trained
    (its SHA-256 differs from the manifest's) is a one-line UserError naming it: an answer
    about other data than the adapter saw would be wrong for an erasure request."""
    query = query.strip()
    if not query:
        raise UserError("trained-on needs a record id or some text to look for")
    by_id = bool(ID_PATTERN.fullmatch(query.lower()))
    result = TrainedOnResult(query=query, by_id=by_id, ledger_records=len(ledger_ids or {}))
    hasher = Hasher(root)
    for adapter_dir in adapters:
        manifest = load_manifest(adapter_dir)
        name = display_path(adapter_dir, root)
        result.adapters.append(name)
        train = (manifest.get("split") or {}).get("train")
        if not train or not isinstance(train.get("path"), str):
            raise UserError(f"{adapter_dir / 'manifest.json'}: names no train split file")
        shown = train["path"]
        path = root / shown
        if not path.is_file():
            raise UserError(
                f"{shown}: missing (the train split of {name}); cannot answer: restore it "
                "(dvc checkout) or pass --root"
            )
        now = hasher(shown, "sha256")
        if now != train.get("sha256"):
            raise UserError(
                f"{shown}: changed since {name} was trained (sha256 recorded "
                f"{_short(train.get('sha256'))}, now {_short(now)}); cannot answer for the data "
                "it saw: restore the file (dvc checkout) or retrain"
            )
        records = _read_split(path, shown)
        q = query.lower() if by_id else query
        for rid, how in match_records(records, q, by_id=by_id, ledger_ids=ledger_ids):
            result.hits.append(TrainedOnHit(name, shown, rid, how))
    return result


#: where the scrub_pii stage writes its ledger and metrics (dvc.yaml), under the project root
DEFAULT_PII_LEDGER = Path("data") / "ledger" / "scrub_pii.jsonl"
DEFAULT_PII_METRICS = Path("metrics") / "scrub_pii.json"


def ledger_key(root: Path, metrics: Path | None = None) -> bytes:
    """The key scrub_pii keyed its ledger with: the salt from the environment variable that
    ``scrub_pii.salt_env`` names (params.yaml under ``root``, else the default), or, when the
    run's metrics say it was keyed by ``scrub_pii.surrogate_seed``, that seed's key. The
    metrics' ``ledger_key_check`` tells a wrong salt from the right one. UserError, naming the
    variable to set, when the salt is needed and not set, or not the run's."""
    from pydantic import ValidationError

    from provena.config import ScrubPiiConfig, read_params

    params = root / "params.yaml"
    section = (read_params(params).get("scrub_pii") if params.is_file() else None) or {}
    try:  # only this section: the variable's name and the seed
        cfg = ScrubPiiConfig.model_validate(section)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UserError(f"{params}: scrub_pii.{where}: {first['msg']}") from None
    metrics = metrics or root / DEFAULT_PII_METRICS
    recorded: dict[str, Any] = {}
    if metrics.is_file():
        try:
            recorded = json.loads(metrics.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise UserError(f"{metrics}: not valid JSON ({_first_line(err)})") from None
        if not isinstance(recorded, dict):
            raise UserError(f"{metrics}: not a JSON object")
    keyed_by, check = recorded.get("ledger_key"), recorded.get("ledger_key_check")
    key, salt = secret_key(cfg)
    if salt is None and keyed_by != KEYED_BY_SEED:
        why = (
            "the scrub_pii run was keyed by a salt"
            if keyed_by == KEYED_BY_SALT
            else f"{metrics} does not say the run went without one"
        )
        raise UserError(
            f"{cfg.salt_env} is not set: set it to the salt scrub_pii ran with to look a value "
            f"up in its ledger ({why})"
        )
    if check is not None and check != key_check(key):
        which = f"{cfg.salt_env}" if salt is not None else "scrub_pii.surrogate_seed"
        raise UserError(
            f"{which} is not the key scrub_pii ran with ({metrics}: ledger_key_check differs); "
            f"set {cfg.salt_env} to the salt of that run"
        )
    return key


def search_trained_on(
    query: str,
    models: Sequence[Path] = (),
    *,
    root: Path | None = None,
    pii_ledger: Path | None = None,
) -> TrainedOnResult:
    """:func:`trained_on` over every adapter in or under ``models`` (default: the project's
    ``models/``), with ``root`` (default: the current folder) the project the manifests' paths
    are under: what ``provena trained-on`` runs. A value that is not a record id is also keyed
    (:func:`ledger_key`) and looked up in the scrub_pii ledger (``pii_ledger``, default
    ``data/ledger/scrub_pii.jsonl`` under ``root``)."""
    root = (root or Path.cwd()).resolve()
    where = list(models) or [root / "models"]
    adapters = find_manifests(where)
    if not adapters:
        shown = ", ".join(str(m) for m in where)
        raise UserError(f"no adapter manifest.json under {shown}; name adapters with --models")
    stripped = query.strip()
    if not stripped or ID_PATTERN.fullmatch(stripped.lower()):
        return trained_on(query, adapters, root=root)
    ledger = pii_ledger or root / DEFAULT_PII_LEDGER
    shown = display_path(ledger, root)
    if not ledger.is_file():
        raise UserError(
            f"{shown}: no scrub_pii ledger, so a value cannot be looked up by its keyed hash "
            "(run the scrub_pii stage, or name the ledger with --pii-ledger)"
        )
    ids = ledger_matches(stripped, ledger, ledger_key(root), shown=shown)
    result = trained_on(query, adapters, root=root, ledger_ids=ids)
    result.ledger = shown
    return result


def render_trained_on(r: TrainedOnResult) -> str:
    what = f"record {r.query}" if r.by_id else f"value {r.query!r}"
    lines = [f"{hit.adapter}  {hit.split_file}  {hit.record_id}  ({hit.matched})" for hit in r.hits]
    if r.ledger is not None:
        lines.append(
            f"{r.ledger}: {r.ledger_records} records hold the value's keyed hash "
            "(normalised: case, accents, punctuation, name word order)"
        )
    n_adapters = len({h.adapter for h in r.hits})
    if r.hits:
        lines.append(
            f"{what}: in the training data of {n_adapters} of {len(r.adapters)} adapters "
            f"({len(r.hits)} records, augmented children included)"
        )
    else:
        lines.append(f"{what}: in no adapter's training data ({len(r.adapters)} checked)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# bundle

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time zip can store: same inputs, same bytes


def bundle_files(adapter_dir: Path, root: Path, card_dir: Path | None = None) -> dict[str, Path]:
    """``{name in the zip: file}`` for the auditor's bundle; never a file under data/. The
    model card comes from ``card_dir`` (default models/card, when the card stage has run)."""
    if not (root / "dvc.lock").is_file():
        raise UserError(f"{root / 'dvc.lock'}: no dvc.lock; run the pipeline (dvc repro) first")
    load_manifest(adapter_dir)
    files: dict[str, Path] = {}
    for name in ("dvc.lock", "dvc.yaml", "params.yaml"):
        if (root / name).is_file():
            files[name] = root / name
    for pattern in ("metrics/*.json", "reports/*.json", "reports/*.html", "audits/**/*"):
        for p in sorted(root.glob(pattern)):
            if p.is_file():
                files[display_path(p, root)] = p
    adapter_name = display_path(adapter_dir, root)
    prefix = adapter_name if not Path(adapter_name).is_absolute() else "adapter"
    for name in ADAPTER_FILES:
        if (adapter_dir / name).is_file():
            files[f"{prefix}/{name}"] = adapter_dir / name
    card_dir = card_dir or root / DEFAULT_CARD_DIR
    for name in CARD_FILES:
        if (card_dir / name).is_file():
            files[f"card/{name}"] = card_dir / name
    return {k: v for k, v in sorted(files.items()) if not k.startswith("data/")}


def _lock_without(lock: bytes, stages: tuple[str, ...]) -> bytes:
    """dvc.lock without the named stages' entries (the stage writing the bundle is not done)."""
    if not stages:
        return lock
    data = yaml.safe_load(lock) or {}
    data["stages"] = {k: v for k, v in (data.get("stages") or {}).items() if k not in stages}
    return yaml.safe_dump(data, sort_keys=False).encode()


def bundle(
    adapter_dir: Path,
    out: Path,
    *,
    root: Path | None = None,
    card_dir: Path | None = None,
    exclude_stages: tuple[str, ...] = (),
) -> dict[str, str]:
    """Write the auditor's zip; return ``{name: sha256}`` of the files in it.

    ``exclude_stages`` leaves those stages out of the bundled dvc.lock: the card stage builds
    the bundle before DVC records the card stage itself, so its old entry would be stale.
    """
    root = (root or project_root(adapter_dir)).resolve()
    files = bundle_files(adapter_dir, root, card_dir)
    contents = {name: p.read_bytes() for name, p in files.items()}
    if "dvc.lock" in contents:
        contents["dvc.lock"] = _lock_without(contents["dvc.lock"], exclude_stages)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    listing = "".join(f"{d}  {name}\n" for name, d in digests.items())  # sha256sum -c format
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for name, data in [*contents.items(), ("MANIFEST.txt", listing.encode())]:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever machine builds it
            zf.writestr(info, data, compresslevel=9)
    return digests
