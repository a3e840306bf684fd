"""The guardrail: every answer checked before it is returned, blocked ones replaced by a refusal.

Four checks, each optional through the policy file (:func:`load_policy`, YAML, versioned):

(a) **PII the prompt did not give.** The answer goes through the PII detector with the data's
    profile (scrub_pii's settings: :func:`provena.pii.settings.detector`); a detected span
    whose every word is a word of the prompt is the user's own (greeting a customer by the name
    the prompt gave is fine), and one the scrubbed training text holds is a surrogate or a value
    scrub_pii kept (the raw values are gone from that text; ``pii.allow_training_text``); any
    other gets its type's action from the policy (``pii.actions``, else ``pii.default``):
    ``block`` (structured identifiers: phone, e-mail, card and account numbers...), ``flag``
    (names, places, dates: a model makes them up; the answer is returned, the verdict and the
    log record the flag) or ``allow``. A made-up name is not a leak; a name that is a training
    value is caught by (b), which always blocks.
(b) **The training data's scrubbed values and the split's canaries.** Every candidate string
    of the answer (the detected spans and every 1..4-word window, as the privacy probe takes
    them) is hashed with scrub_pii's key (the salt from the environment variable named by
    ``scrub_pii.salt_env``) and looked up among the ledger's hashes of the raw values scrub_pii
    replaced. A string the prompt holds, or the scrubbed training text holds (the model may
    have learnt it there), proves nothing and is passed over, as in the privacy probe. An
    answer whose digits hold a canary's secret is blocked.
(c) **Rules**: blocked terms (whole words, any case), named regular expressions, a maximum
    length.
(d) **A classifier** the user names: a local transformers text-classification folder
    (safetensors, no remote code, no hub); the labels the policy lists block an answer when
    their probability reaches the threshold.

A blocked answer is replaced by the policy's refusal, naming the reasons (a check and an entity
type or rule name, never the value). Blocked and flagged answers are written to the log (JSONL):
the reasons and flags with the keyed hash of the value where there is one, the policy's name,
revision and SHA-256; never the prompt, the answer or a value.

:meth:`Guardrail.from_project` builds one from a project's files; :meth:`Guardrail.check` and
:meth:`Guardrail.check_many` are the library calls (``provena generate`` uses them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from provena.canary import canaries_in
from provena.config import Params, ScrubPiiConfig, load_params
from provena.errors import UserError
from provena.io import read_jsonl_lines, read_records
from provena.ledger_key import TrainingText, candidate_strings, lookup_hashes, matches
from provena.pii.operators import keyed_hash
from provena.pii.settings import detector, profile_for, secret_key

log = logging.getLogger(__name__)

#: the policy file format this code writes; it reads every one of POLICY_VERSIONS
POLICY_VERSION = 2
#: 1: pii.allow_types, every other type blocks; 2: pii.actions and pii.default per entity type
POLICY_VERSIONS = (1, 2)
#: what check (a) does with a span of a type (policy version 2's pii.actions, pii.default)
PII_ACTIONS = ("block", "flag", "allow")
PII_FIELDS = {
    1: ("enabled", "profile", "allow_types", "allow_training_text"),
    2: ("enabled", "profile", "allow_training_text", "actions", "default"),
}
_ENTITY_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")
DEFAULT_POLICY = "guardrail_policy.yaml"  # packaged next to this module
#: a project's own policy, used when present and none is named
PROJECT_POLICY = "guardrail.yaml"
#: where a project's files are (dvc.yaml's paths)
LEDGER = Path("data/ledger/scrub_pii.jsonl")
TRAIN = Path("data/processed/train.parquet")
PROFILES = ("general", "clinical", "strict")
POLICY_FIELDS = {
    "version",
    "name",
    "revision",
    "refusal",
    "pii",
    "training_values",
    "canaries",
    "blocked_terms",
    "blocked_patterns",
    "max_chars",
    "classifier",
}

_WORD = re.compile(r"\w+")
_NON_DIGIT = re.compile(r"\D+")


# ---------------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class ClassifierRule:
    path: Path
    block_labels: tuple[str, ...]
    threshold: float


@dataclass(frozen=True)
class Policy:
    """A parsed policy file; ``sha256`` is of the file's bytes."""

    name: str
    revision: str
    sha256: str
    source: str
    refusal: str
    version: int = POLICY_VERSION
    pii: bool = True
    pii_profile: str = "data"
    #: (entity type, block | flag | allow), sorted; types not listed get ``pii_default``
    pii_actions: tuple[tuple[str, str], ...] = ()
    pii_default: str = "block"
    pii_surrogates_ok: bool = True
    training_values: bool = True
    canaries: bool = True
    blocked_terms: tuple[str, ...] = ()
    blocked_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    max_chars: int | None = None
    classifier: ClassifierRule | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.revision}"

    def pii_action(self, entity_type: str) -> str | None:
        """The action the policy names for ``entity_type`` (None: not named, the default
        applies)."""
        return dict(self.pii_actions).get(entity_type)


def _policy_errors(data: Any, where: str) -> list[str]:
    if not isinstance(data, dict):
        return [f"{where}: must be a mapping"]
    errors = [f"{where}: unknown field {k!r}" for k in data if k not in POLICY_FIELDS]
    if data.get("version") not in POLICY_VERSIONS:
        errors.append(
            f"{where}: field 'version' = {data.get('version')!r}: this Provena reads policy "
            f"versions {', '.join(map(str, POLICY_VERSIONS))}"
        )
    for key in ("name", "revision", "refusal"):
        if not (isinstance(data.get(key), str) and data[key].strip()):
            errors.append(f"{where}: field {key!r} must be a non-empty string")
    errors += _pii_errors(data.get("pii", {}), data.get("version"), where)
    for key in ("training_values", "canaries"):
        if not isinstance(data.get(key, True), bool):
            errors.append(f"{where}: field {key!r} must be true or false")
    terms = data.get("blocked_terms") or []
    if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
        errors.append(f"{where}: field 'blocked_terms' must be a list of non-empty strings")
    pats = data.get("blocked_patterns") or []
    if not isinstance(pats, list):
        errors.append(f"{where}: field 'blocked_patterns' must be a list of {{name, regex}}")
        pats = []
    for i, p in enumerate(pats):
        if not isinstance(p, dict) or set(p) != {"name", "regex"}:
            errors.append(f"{where}: blocked_patterns[{i}] must have exactly name and regex")
            continue
        try:
            re.compile(str(p["regex"]))
        except re.error as err:
            errors.append(f"{where}: blocked_patterns[{i}] ({p['name']!r}): bad regex: {err}")
    mx = data.get("max_chars")
    if mx is not None and not (isinstance(mx, int) and not isinstance(mx, bool) and mx > 0):
        errors.append(f"{where}: field 'max_chars' must be a positive integer or null")
    clf = data.get("classifier")
    if clf is not None:
        if not isinstance(clf, dict) or not isinstance(clf.get("path"), str):
            errors.append(f"{where}: field 'classifier' must be null or have a 'path'")
        else:
            labels = clf.get("block_labels")
            if not isinstance(labels, list) or not labels:
                errors.append(f"{where}: field 'classifier.block_labels' must list label names")
            th = clf.get("threshold", 0.5)
            if not isinstance(th, int | float) or not 0 < th <= 1:
                errors.append(f"{where}: field 'classifier.threshold' must be in (0, 1]")
            errors += [
                f"{where}: unknown field 'classifier.{k}'"
                for k in clf
                if k not in ("path", "block_labels", "threshold")
            ]
    return errors


def _pii_errors(pii: Any, version: Any, where: str) -> list[str]:
    if version not in POLICY_VERSIONS:
        return []  # the version's own error says it
    fields = PII_FIELDS[version]
    if not isinstance(pii, dict):
        return [f"{where}: field 'pii' must be a mapping of {', '.join(fields)}"]
    errors = []
    for k in pii:
        if k in fields:
            continue
        if version == 2 and k == "allow_types":
            errors.append(
                f"{where}: field 'pii.allow_types' is policy version 1's; version 2 names each "
                "type's action under pii.actions (e.g. PERSON: allow)"
            )
        elif version == 1 and k in ("actions", "default"):
            errors.append(f"{where}: field 'pii.{k}' needs policy version 2 (version: 2)")
        else:
            errors.append(
                f"{where}: unknown field 'pii.{k}' (policy version {version} reads "
                f"{', '.join(fields)})"
            )
    if pii.get("profile", "data") not in ("data", *PROFILES):
        errors.append(f"{where}: field 'pii.profile' must be data or one of {list(PROFILES)}")
    if not isinstance(pii.get("enabled", True), bool):
        errors.append(f"{where}: field 'pii.enabled' must be true or false")
    if not isinstance(pii.get("allow_training_text", True), bool):
        errors.append(f"{where}: field 'pii.allow_training_text' must be true or false")
    if version == 1:
        types = pii.get("allow_types", [])
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            errors.append(f"{where}: field 'pii.allow_types' must be a list of entity types")
        return errors
    if pii.get("default", "block") not in PII_ACTIONS:
        errors.append(
            f"{where}: field 'pii.default' = {pii.get('default')!r}: must be one of "
            f"{', '.join(PII_ACTIONS)}"
        )
    actions = pii.get("actions") or {}
    if not isinstance(actions, dict):
        errors.append(f"{where}: field 'pii.actions' must map entity types to an action")
        return errors
    for etype, action in actions.items():
        if not (isinstance(etype, str) and _ENTITY_TYPE.fullmatch(etype)):
            errors.append(
                f"{where}: field 'pii.actions': {etype!r} is not an entity type "
                "(upper case, e.g. PERSON, PHONE_NUMBER)"
            )
        elif action not in PII_ACTIONS:
            errors.append(
                f"{where}: field 'pii.actions.{etype}' = {action!r}: must be one of "
                f"{', '.join(PII_ACTIONS)}"
            )
    return errors


def parse_policy(text: str, source: str, base: Path | None = None) -> Policy:
    """A policy from its YAML ``text``; every problem listed in one :class:`UserError`. A
    classifier path is relative to ``base`` (the policy file's folder) unless absolute."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise UserError(
            f"{source}{line}: not valid YAML ({getattr(err, 'problem', err)})"
        ) from None
    errors = _policy_errors(data, source)
    if errors:
        raise UserError("invalid guardrail policy:\n  " + "\n  ".join(errors))
    pii = data.get("pii") or {}
    if data["version"] == 1:  # every type blocks but the allowed ones, as version 1 did
        actions = {t: "allow" for t in pii.get("allow_types") or ()}
    else:
        actions = dict(pii.get("actions") or {})
    clf = data.get("classifier")
    rule = None
    if clf is not None:
        path = Path(clf["path"])
        if not path.is_absolute() and base is not None and not path.exists():
            path = base / path
        rule = ClassifierRule(path, tuple(clf["block_labels"]), float(clf.get("threshold", 0.5)))
    return Policy(
        name=data["name"],
        revision=str(data["revision"]),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=source,
        refusal=data["refusal"],
        version=data["version"],
        pii=bool(pii.get("enabled", True)),
        pii_profile=pii.get("profile", "data"),
        pii_actions=tuple(sorted(actions.items())),
        pii_default=pii.get("default", "block"),
        pii_surrogates_ok=bool(pii.get("allow_training_text", True)),
        training_values=data.get("training_values", True),
        canaries=data.get("canaries", True),
        blocked_terms=tuple(data.get("blocked_terms") or ()),
        blocked_patterns=tuple(
            (str(p["name"]), re.compile(str(p["regex"])))
            for p in data.get("blocked_patterns") or ()
        ),
        max_chars=data.get("max_chars"),
        classifier=rule,
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy file at ``path``, or the packaged default."""
    if path is None:
        text = resources.files("provena").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
        return parse_policy(text, f"(packaged) {DEFAULT_POLICY}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such guardrail policy file") from None
    return parse_policy(text, str(path), base=path.parent)


# ------------------------------------------------------------------------------ classifier


class Classifier(Protocol):
    """What the guardrail asks of a classifier: label probabilities per text."""

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]: ...


class LocalClassifier:
    """A transformers sequence-classification model from a local folder: safetensors only, no
    remote code, no hub. Probabilities by softmax (by sigmoid for a multi-label model)."""

    def __init__(self, path: Path, batch_size: int = 16, max_length: int = 512):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
            raise UserError(
                f"{path}: a guardrail classifier needs a local folder with config.json and "
                "*.safetensors weights (a transformers text-classification model)"
            )
        common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        self.tokenizer = AutoTokenizer.from_pretrained(path, **common)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, use_safetensors=True, **common
        ).eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.multi = self.model.config.problem_type == "multi_label_classification"
        self.batch_size, self.max_length = batch_size, max_length
        self._torch = torch

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        torch = self._torch
        out: list[dict[str, float]] = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    list(texts[i : i + self.batch_size]),
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                )
                logits = self.model(**enc).logits.float()
                probs = torch.sigmoid(logits) if self.multi else torch.softmax(logits, dim=-1)
                out += [dict(zip(self.labels, map(float, row), strict=True)) for row in probs]
        return out


def load_classifier(rule: ClassifierRule) -> LocalClassifier:
    clf = LocalClassifier(rule.path)
    unknown = [lab for lab in rule.block_labels if lab not in clf.labels]
    if unknown:
        raise UserError(
            f"{rule.path}: the policy's classifier.block_labels {unknown} are not labels of the "
            f"model (its labels: {clf.labels})"
        )
    return clf


# -------------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Reason:
    """Why an answer is blocked or flagged: the check, a text fit to show (never the value), and
    for a value the entity type and its keyed hash (for the log)."""

    check: str  # pii, training_value, canary, blocked_term, blocked_pattern, max_chars, classifier
    detail: str
    entity_type: str | None = None
    hash: str | None = None

    def as_log(self) -> dict[str, Any]:
        out = {"check": self.check, "detail": self.detail}
        if self.entity_type:
            out["entity_type"] = self.entity_type
        if self.hash:
            out["hash"] = self.hash
        return out


@dataclass(frozen=True)
class Verdict:
    """The guardrail's decision on one answer. ``answer``: what may be returned (the answer
    itself when allowed, else the refusal). ``reasons``: why it is blocked; ``flags``: what the
    policy flags (``pii.actions``: ``flag``) without blocking, on an allowed or a blocked
    answer."""

    allowed: bool
    reasons: tuple[Reason, ...]
    answer: str
    policy: str  # name@revision
    ms: float = 0.0
    flags: tuple[Reason, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def reason(self) -> str:
        return "; ".join(r.detail for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reasons": [r.as_log() for r in self.reasons],
            "flags": [r.as_log() for r in self.flags],
            "policy": self.policy,
        }


# ------------------------------------------------------------------------------- the checks


def words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def read_ledger(path: Path) -> dict[str, str]:
    """{keyed hash: entity type} of every raw value scrub_pii replaced, from its ledger; values
    it kept ("keep") stay in the training text and are left out."""
    out: dict[str, str] = {}
    for n, row in read_jsonl_lines(path):
        for j, ent in enumerate(row.get("entities") or []):
            if not isinstance(ent, dict) or ent.get("operator") == "keep":
                continue
            h, etype = ent.get("hash"), ent.get("entity_type")
            if not isinstance(h, str) or not isinstance(etype, str):
                raise UserError(f"{path}, line {n}: entities[{j}] has no 'hash' or 'entity_type'")
            out[h] = etype
    return out


@dataclass
class Guardrail:
    """The checks of ``policy`` with the project's data. ``key``: scrub_pii's key (ledger
    hashes, and the hashes the log holds); ``ledger``: {keyed hash: entity type} of the
    scrubbed values; ``training_text``: the scrubbed training texts; ``canary_secrets``: the
    split's; ``scrub_pii``: the detector's settings and the data's profiles."""

    policy: Policy
    key: bytes
    scrub_pii: ScrubPiiConfig = field(default_factory=ScrubPiiConfig)
    ledger: Mapping[str, str] = field(default_factory=dict)
    training_text: TrainingText | None = None
    canary_secrets: Sequence[str] = ()
    classifier: Classifier | None = None
    log_path: Path | None = None

    def __post_init__(self) -> None:
        self._detectors: dict[str, Any] = {}
        self._terms = [
            (i, re.compile(rf"(?<!\w){re.escape(t.strip())}(?!\w)", re.IGNORECASE))
            for i, t in enumerate(self.policy.blocked_terms, 1)
        ]
        self._lock = threading.Lock()
        # the types scrub_pii keeps in the training text (AGE, NRP by default) are no leak,
        # unless the policy names their action
        self._kept = frozenset(
            t for t, op in self.scrub_pii.operators.items() if op == "keep" and t != "default"
        )
        if self.policy.classifier is not None and self.classifier is None:
            self.classifier = load_classifier(self.policy.classifier)

    # --------------------------------------------------------------------------- building

    @classmethod
    def from_project(
        cls,
        root: str | Path = ".",
        *,
        params: str | Path | Params | None = None,
        policy: str | Path | Policy | None = None,
        ledger: str | Path | None = None,
        train: str | Path | None = None,
        classifier: str | Path | None = None,
        log: str | Path | None = None,
    ) -> Guardrail:
        """A guardrail with a project's files: its params (``root/params.yaml``: scrub_pii's
        detector settings, profiles and key), policy (``root/guardrail.yaml`` if present, else
        the packaged default), scrub_pii ledger and train split (its canaries and scrubbed
        text). ``classifier``: a local model folder, overriding the policy's path."""
        root = Path(root)
        params_path = root / "params.yaml"
        if isinstance(params, Params):
            scrub = params.scrub_pii
        elif params is not None or params_path.is_file():
            scrub = load_params(params if params is not None else params_path).scrub_pii
        else:
            scrub = ScrubPiiConfig()
        if not isinstance(policy, Policy):
            if policy is None and (root / PROJECT_POLICY).is_file():
                policy = root / PROJECT_POLICY
            policy = load_policy(policy)
        if classifier is not None:
            rule = policy.classifier
            if rule is None:
                raise UserError(
                    f"{classifier}: a classifier needs the labels that block: set "
                    f"classifier.block_labels in the policy ({policy.source})"
                )
            rule = ClassifierRule(Path(classifier), rule.block_labels, rule.threshold)
            policy = dataclasses.replace(policy, classifier=rule)
        ledger_path = Path(ledger) if ledger is not None else root / LEDGER
        train_path = Path(train) if train is not None else root / TRAIN
        hashes: dict[str, str] = {}
        text, secrets = None, []
        if policy.training_values:
            if not ledger_path.is_file():
                raise UserError(
                    f"{ledger_path}: no scrub_pii ledger; the guardrail checks answers against "
                    "the training data's scrubbed values (run the pipeline, name the ledger, or "
                    "set training_values: false in the policy)"
                )
            hashes = read_ledger(ledger_path)
        if policy.training_values or policy.canaries or policy.pii:
            if not train_path.is_file():
                raise UserError(
                    f"{train_path}: no train split; the guardrail needs its canaries and "
                    "scrubbed text (run the split stage, name the split, or set canaries: false "
                    "and training_values: false in the policy)"
                )
            records = [r for batch in read_records(train_path) for r in batch]
            secrets = [c.secret for c in canaries_in(records)] if policy.canaries else []
            if policy.training_values or policy.pii:
                text = TrainingText(
                    str(r.get(f) or "")
                    for r in records
                    if r.get("op") != "canary"
                    for f in ("instruction", "input", "output")
                )
        return cls(
            policy=policy,
            key=secret_key(scrub)[0],
            scrub_pii=scrub,
            ledger=hashes,
            training_text=text,
            canary_secrets=secrets,
            log_path=Path(log) if log is not None else None,
        )

    # ----------------------------------------------------------------------------- checks

    def pii_action(self, entity_type: str) -> str:
        """What check (a) does with a span of ``entity_type`` neither the prompt nor the
        training text holds: the policy's action for the type, else ``allow`` for a type
        scrub_pii keeps, else the policy's default."""
        named = self.policy.pii_action(entity_type)
        if named is not None:
            return named
        return "allow" if entity_type in self._kept else self.policy.pii_default

    def profile(self, source: str | None) -> str:
        if self.policy.pii_profile != "data":
            return self.policy.pii_profile
        return profile_for(self.scrub_pii, source)

    def _detector(self, profile: str) -> Any:
        if profile not in self._detectors:
            self._detectors[profile] = detector(self.scrub_pii, profile)
        return self._detectors[profile]

    def _detect(
        self, answers: Sequence[str], sources: Sequence[str | None]
    ) -> list[list[tuple[str, str]]]:
        """(entity type, value) of each PII span of each answer, each with its profile."""
        out: list[list[tuple[str, str]]] = [[] for _ in answers]
        by_profile: dict[str, list[int]] = {}
        for i, s in enumerate(sources):
            by_profile.setdefault(self.profile(s), []).append(i)
        for profile, idx in by_profile.items():
            found = self._detector(profile).detect([answers[i] for i in idx])
            for i, dets in zip(idx, found, strict=True):
                a = answers[i]
                out[i] = [(d.entity_type, a[d.start : d.end]) for d in dets]
        return out

    def _value_reasons(
        self, prompt: str, answer: str, detected: list[tuple[str, str]]
    ) -> tuple[list[Reason], list[Reason]]:
        """(reasons that block, flags) of checks (a) and (b)."""
        reasons: list[Reason] = []
        flags: list[Reason] = []
        given = words(prompt)
        seen: set[str] = set()
        if self.policy.pii:
            for etype, value in detected:
                action = self.pii_action(etype)
                if action == "allow" or (words(value) <= given and words(value)):
                    continue
                if (
                    self.policy.pii_surrogates_ok
                    and self.training_text is not None
                    and self.training_text.contains(value)
                ):
                    continue  # in the scrubbed training text: a surrogate or kept value
                h = keyed_hash(self.key, value)
                if h not in seen:
                    seen.add(h)
                    found = reasons if action == "block" else flags
                    found.append(Reason("pii", f"PII not in the prompt: {etype}", etype, h))
        if self.policy.training_values and self.ledger:
            for s in sorted(candidate_strings(answer, (v for _, v in detected))):
                # the ledger keys a normalised value (provena.ledger_key): both forms looked up
                lk = lookup_hashes(self.key, s)
                h = next(
                    (x for x in lk if x in self.ledger and matches(lk, x, self.ledger[x])), None
                )
                if h is None or words(s) <= given:
                    continue
                etype = self.ledger[h]
                if self.training_text is not None and self.training_text.contains(s):
                    continue  # in the scrubbed training text: learnt there, not leaked
                if h not in {r.hash for r in reasons if r.check == "training_value"}:
                    reasons.append(
                        Reason(
                            "training_value",
                            f"a value scrubbed from the training data: {etype}",
                            etype,
                            h,
                        )
                    )
        if self.policy.canaries and self.canary_secrets:
            digits = _NON_DIGIT.sub("", answer)
            for s in self.canary_secrets:
                if s in digits:
                    h = keyed_hash(self.key, s)
                    reasons.append(Reason("canary", "a canary secret of the train split", None, h))
        return reasons, flags

    def _rule_reasons(self, answer: str) -> list[Reason]:
        reasons = [
            Reason("blocked_term", f"blocked term #{i} of the policy")
            for i, pat in self._terms
            if pat.search(answer)
        ]
        reasons += [
            Reason("blocked_pattern", f"blocked pattern {name!r}")
            for name, pat in self.policy.blocked_patterns
            if pat.search(answer)
        ]
        mx = self.policy.max_chars
        if mx is not None and len(answer) > mx:
            reasons.append(Reason("max_chars", f"longer than {mx} characters ({len(answer)})"))
        return reasons

    def _classifier_reasons(self, answers: Sequence[str]) -> list[list[Reason]]:
        rule = self.policy.classifier
        if self.classifier is None or rule is None:
            return [[] for _ in answers]
        out = []
        for probs in self.classifier.scores(answers):
            hits = [
                (lab, p)
                for lab in rule.block_labels
                if (p := probs.get(lab, 0.0)) >= rule.threshold and math.isfinite(p)
            ]
            out.append([Reason("classifier", f"classifier: {lab} {p:.2f}") for lab, p in hits])
        return out

    def check_many(
        self,
        prompts: Sequence[str],
        answers: Sequence[str],
        sources: Sequence[str | None] | None = None,
    ) -> list[Verdict]:
        """A verdict per (prompt, answer), the detector and classifier run once per batch;
        blocked and flagged answers are logged. ``sources``: each record's source, for the
        data's profile."""
        if len(prompts) != len(answers):
            raise ValueError(f"{len(prompts)} prompts for {len(answers)} answers")
        started = time.perf_counter()
        sources = list(sources) if sources is not None else [None] * len(answers)
        detected = self._detect(answers, sources) if self.policy.pii or self.ledger else None
        classified = self._classifier_reasons(answers)
        verdicts = []
        each = (time.perf_counter() - started) * 1000 / max(1, len(answers))
        for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            t0 = time.perf_counter()
            value_reasons, flags = self._value_reasons(
                prompt, answer, detected[i] if detected else []
            )
            reasons = [*value_reasons, *self._rule_reasons(answer), *classified[i]]
            ms = each + (time.perf_counter() - t0) * 1000
            label = self.policy.label
            if reasons:
                text = self.policy.refusal.replace(
                    "{reasons}", "; ".join(dict.fromkeys(r.detail for r in reasons))
                )
                verdicts.append(Verdict(False, tuple(reasons), text, label, ms, tuple(flags)))
            else:
                verdicts.append(Verdict(True, (), answer, label, ms, tuple(flags)))
        self._log([v for v in verdicts if not v.allowed or v.flagged])
        return verdicts

    def check(self, prompt: str, answer: str, *, source: str | None = None) -> Verdict:
        """The verdict on one answer to ``prompt`` (the user's text, not the templated one)."""
        return self.check_many([prompt], [answer], [source])[0]

    def _log(self, verdicts: list[Verdict]) -> None:
        """One line per blocked or flagged verdict: reasons and flags, never a value."""
        if self.log_path is None or not verdicts:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lines = [
            json.dumps(
                {
                    "time": now,
                    "policy": self.policy.label,
                    "policy_sha256": self.policy.sha256,
                    "allowed": v.allowed,
                    "reasons": [r.as_log() for r in v.reasons],
                    "flags": [r.as_log() for r in v.flags],
                },
                sort_keys=True,
            )
            + "\n"
            for v in verdicts
        ]
        with self._lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.writelines(lines)


__all__ = [
    "PII_ACTIONS",
    "POLICY_VERSION",
    "POLICY_VERSIONS",
    "Classifier",
    "Guardrail",
    "LocalClassifier",
    "Policy",
    "Reason",
    "Verdict",
    "load_policy",
    "parse_policy",
]
