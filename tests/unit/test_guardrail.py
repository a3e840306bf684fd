"""The guardrail (provena.guardrail): tables of (prompt, answer, verdict, reason) for each check,
check (a)'s actions per entity type (block, flag, allow), the policy file's validation and its
version 1 files, a real (tiny, random) classifier folder, and a log without values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from provena.config import CanaryConfig, ScrubPiiConfig
from provena.errors import UserError
from provena.guardrail import (
    POLICY_VERSION,
    Guardrail,
    load_policy,
    parse_policy,
    read_ledger,
)
from provena.ledger_key import ledger_hash
from provena.pii.operators import keyed_hash
from provena.pii.settings import secret_key
from provena.split.canaries import make_canaries
from tests.factory import SUPPORT_REPLY, records, write_records

#: a raw value scrub_pii replaced in the training data (its hash is in the ledger)
SCRUBBED = "Zebulon Quarrington"
POLICY = """\
version: 2
name: test-policy
revision: "7"
refusal: "Withheld ({reasons})."
pii:
  profile: general
  default: block
  actions: {PERSON: flag, LOCATION: flag, PHONE_NUMBER: block}
blocked_terms: [Project Nightjar]
blocked_patterns:
  - {name: internal-ticket, regex: "INC-\\\\d{6}"}
max_chars: 120
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project's guardrail inputs: a train split with canaries planted, a scrub_pii ledger
    holding the keyed hash of SCRUBBED, and a policy file."""
    root = tmp_path_factory.mktemp("project")
    canaries = [r for c in make_canaries(CanaryConfig()) for r in c.records]
    train = root / "data" / "processed" / "train.parquet"
    train.parent.mkdir(parents=True)
    recs = records(6, kinds=(SUPPORT_REPLY,))
    write_records(train, [*recs, *canaries])
    key = secret_key(ScrubPiiConfig())[0]
    ledger = root / "data" / "ledger" / "scrub_pii.jsonl"
    ledger.parent.mkdir(parents=True)
    ents = [
        {
            "entity_type": "PERSON",
            "hash": ledger_hash(key, SCRUBBED, "PERSON"),
            "operator": "surrogate",
        },
        {"entity_type": "AGE", "hash": ledger_hash(key, "Quarrington", "AGE"), "operator": "keep"},
    ]
    ledger.write_text(json.dumps({"id": recs[0]["id"], "entities": ents}) + "\n")
    (root / "guardrail.yaml").write_text(POLICY)
    return root


@pytest.fixture(scope="module")
def guard(project) -> Guardrail:
    return Guardrail.from_project(project, log=project / "guardrail.log.jsonl")


def _secret(project: Path) -> str:
    return make_canaries(CanaryConfig())[0].secret


CASES = [
    # (prompt, answer, verdict: allowed | flagged | blocked, reason or flag substring or None)
    ("Reply to the customer.", "Your refund is on its way today.", "allowed", None),
    ("Reply to Ann Lee about her order.", "Dear Ann Lee, your order shipped.", "allowed", None),
    ("Reply to Ann Lee about her order.", "Hi Ann, your order shipped.", "allowed", None),
    # a made-up name is not a leak: returned, flagged
    ("Reply to the customer.", "Dear Ann Lee, your order shipped.", "flagged", "PII not in the prompt: PERSON"),
    # a type the policy does not name gets its default (block)
    ("Reply to the customer.", "Write to jane.roe@mailbox.org for help.", "blocked", "PII not in the prompt: EMAIL_ADDRESS"),
    ("My e-mail is jane.roe@mailbox.org; confirm it.", "We will write to jane.roe@mailbox.org.", "allowed", None),
    ("Reply to the customer.", "Call 415-555-0172 tomorrow.", "blocked", "PII not in the prompt: PHONE_NUMBER"),
    ("Who was the patient?", f"It was {SCRUBBED}, I think.", "blocked", "a value scrubbed from the training data: PERSON"),
    # a training name is blocked by (b) though PERSON only flags in (a)
    ("Reply to the customer.", f"Dear {SCRUBBED}, your order shipped.", "blocked", "a value scrubbed from the training data: PERSON"),
    ("Is the patient Zebulon Quarrington?", f"Yes, {SCRUBBED}.", "allowed", None),
    ("Who?", "Quarrington, age kept.", "allowed", None),  # a value scrub_pii kept: no leak
    ("Reply.", "Project Nightjar ships soon.", "blocked", "blocked term #1 of the policy"),
    ("Reply.", "project nightjar ships soon.", "blocked", "blocked term #1 of the policy"),
    ("Reply.", "Project Nightjars ship soon.", "allowed", None),  # whole words only
    ("Reply.", "See ticket INC-123456 for details.", "blocked", "blocked pattern 'internal-ticket'"),
    ("Reply.", "word " * 30, "blocked", "longer than 120 characters (150)"),
]  # fmt: skip


def _outcome(v) -> str:
    return "blocked" if not v.allowed else "flagged" if v.flagged else "allowed"


@pytest.mark.parametrize(("prompt", "answer", "verdict", "reason"), CASES)
def test_verdict_table(guard, prompt, answer, verdict, reason):
    v = guard.check(prompt, answer)
    assert _outcome(v) == verdict, (v.reason, v.flags)
    assert v.policy == "test-policy@7"
    if verdict == "blocked":
        assert reason in v.reason
        assert v.answer == f"Withheld ({v.reason})." and v.answer != answer
        return
    assert v.answer == answer and not v.reasons
    if verdict == "flagged":
        assert [f.detail for f in v.flags] == [reason] and v.flags[0].hash
        assert v.as_dict() == {
            "allowed": True,
            "reasons": [],
            "flags": [f.as_log() for f in v.flags],
            "policy": "test-policy@7",
        }
    else:
        assert not v.flags


def _policy_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


PERSON_BLOCK = POLICY.replace("PERSON: flag", "PERSON: block")
PERSON_ALLOW = POLICY.replace("PERSON: flag", "PERSON: allow")
V1 = POLICY.replace("version: 2", "version: 1").replace(
    "  default: block\n  actions: {PERSON: flag, LOCATION: flag, PHONE_NUMBER: block}\n", ""
)
V1_ALLOW = V1.replace("  profile: general\n", "  profile: general\n  allow_types: [PERSON]\n")

ACTION_CASES = [
    # (policy text, answer to "Reply to the customer.", verdict)
    (PERSON_BLOCK, "Dear Ann Lee, your order shipped.", "blocked"),
    (PERSON_ALLOW, "Dear Ann Lee, your order shipped.", "allowed"),
    (PERSON_ALLOW, "Call 415-555-0172 tomorrow.", "blocked"),
    (PERSON_ALLOW, f"Dear {SCRUBBED}, your order shipped.", "blocked"),  # (b) whatever (a) says
    # version 1 files read as before: every type blocks but allow_types
    (V1, "Dear Ann Lee, your order shipped.", "blocked"),
    (V1_ALLOW, "Dear Ann Lee, your order shipped.", "allowed"),
    (V1_ALLOW, "Call 415-555-0172 tomorrow.", "blocked"),
]


@pytest.mark.parametrize(("text", "answer", "verdict"), ACTION_CASES)
def test_the_policy_sets_each_types_action(project, tmp_path, text, answer, verdict):
    g = Guardrail.from_project(project, policy=_policy_file(tmp_path, "p.yaml", text))
    v = g.check("Reply to the customer.", answer)
    assert _outcome(v) == verdict, (v.reason, v.flags)
    if verdict == "blocked" and "Ann Lee" in answer:
        assert v.reason == "PII not in the prompt: PERSON"


def test_the_packaged_policy_blocks_identifiers_and_flags_names(project):
    p = load_policy()
    assert p.version == POLICY_VERSION and p.pii_default == "block"
    for etype in ("PHONE_NUMBER", "EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD", "IBAN_CODE"):
        assert p.pii_action(etype) == "block", etype
    for etype in ("IP_ADDRESS", "MEDICAL_RECORD_NUMBER", "ID", "STREET_ADDRESS"):
        assert p.pii_action(etype) == "block", etype
    for etype in ("PERSON", "LOCATION", "ORGANIZATION", "NRP"):
        assert p.pii_action(etype) == "flag", etype
    g = Guardrail.from_project(project, policy=p)
    made_up = g.check("Reply to the customer.", "Dear Ann Lee, your order shipped.")
    assert made_up.allowed and [f.entity_type for f in made_up.flags] == ["PERSON"]
    phone = g.check("Reply to the customer.", "Call 415-555-0172 tomorrow.")
    assert not phone.allowed and phone.reasons[0].entity_type == "PHONE_NUMBER"
    trained = g.check("Reply to the customer.", f"Dear {SCRUBBED}, your order shipped.")
    assert not trained.allowed and trained.reasons[0].check == "training_value"


def test_a_canary_secret_is_blocked_however_it_is_written(guard, project):
    secret = _secret(project)
    spaced = " ".join(secret[i : i + 3] for i in range(0, len(secret), 3))
    for answer in (f"The verification code is {secret}.", f"code: {spaced}"):
        v = guard.check("What is the code?", answer)
        assert not v.allowed and "a canary secret of the train split" in v.reason


def test_the_log_holds_keyed_hashes_and_types_never_a_value(project):
    log = project / "own.log.jsonl"
    g = Guardrail.from_project(project, log=log)
    secret = _secret(project)
    leaks = {
        "email": "Write to jane.roe@mailbox.org now.",
        "training": f"It was {SCRUBBED}.",
        "canary": f"The verification code is {secret}.",
    }
    verdicts = g.check_many(["Reply."] * 3, list(leaks.values()))
    assert not any(v.allowed for v in verdicts)
    g.check("Reply.", "Nothing to see.")  # allowed, nothing flagged: not logged
    flagged = g.check("Reply.", "Dear Ann Lee, thanks.")  # allowed and flagged: logged
    assert flagged.allowed and flagged.flagged
    text = log.read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    assert len(lines) == 4
    assert [line["allowed"] for line in lines] == [False, False, False, True]
    assert lines[3]["reasons"] == [] and lines[3]["flags"] == [f.as_log() for f in flagged.flags]
    assert lines[3]["flags"][0]["entity_type"] == "PERSON" and lines[3]["flags"][0]["hash"]
    for value in ("jane.roe@mailbox.org", "mailbox", SCRUBBED, "Zebulon", secret, "Reply.", "Ann"):
        assert value not in text
    key = secret_key(ScrubPiiConfig())[0]
    hashes = {r["hash"] for line in lines for r in line["reasons"] if "hash" in r}
    assert ledger_hash(key, SCRUBBED, "PERSON") in hashes and keyed_hash(key, secret) in hashes
    assert {line["policy"] for line in lines} == {"test-policy@7"}
    assert lines[0]["policy_sha256"] == g.policy.sha256
    # the refusal the user sees names the reasons, not the values either
    assert all(SCRUBBED not in v.answer and secret not in v.answer for v in verdicts)


def test_the_packaged_policy_parses_and_has_a_version():
    p = load_policy()
    assert p.name == "provena-default" and p.revision and len(p.sha256) == 64
    assert p.pii and p.training_values and p.canaries and p.classifier is None


HEAD = "name: a\nrevision: '1'\nrefusal: r\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 3\n" + HEAD, "field 'version' = 3: this Provena reads policy versions 1, 2"),
        (
            "version: 2\n" + HEAD + "pii: {allow_types: [PERSON]}\n",
            "field 'pii.allow_types' is policy version 1's; version 2 names each type's action",
        ),
        ("version: 1\n" + HEAD + "pii: {actions: {}}\n", "'pii.actions' needs policy version 2"),
        (
            "version: 2\n" + HEAD + "pii: {actions: {PERSON: warn}}\n",
            "field 'pii.actions.PERSON' = 'warn': must be one of block, flag, allow",
        ),
        ("version: 2\n" + HEAD + "pii: {actions: {person: flag}}\n", "'person' is not an entity"),
        ("version: 2\n" + HEAD + "pii: {default: flagged}\n", "field 'pii.default' = 'flagged'"),
        ("version: 2\n" + HEAD + "pii: {allow: []}\n", "unknown field 'pii.allow' (policy"),
        ("version: 1\nname: a\nrevision: '1'\n", "field 'refusal' must be a non-empty string"),
        (
            "version: 1\nname: a\nrevision: '1'\nrefusal: r\nblocked_patterns:\n"
            "  - {name: x, regex: '('}\n",
            "blocked_patterns[0] ('x'): bad regex",
        ),
        ("version: 1\nname: a\nrevision: '1'\nrefusal: r\nmax_len: 3\n", "unknown field 'max_len'"),
        ("version: 1\nname: [a\n", "p.yaml, line 3: not valid YAML"),
    ],
)
def test_a_bad_policy_file_is_a_clear_error(text, message):
    with pytest.raises(UserError) as err:
        parse_policy(text, "p.yaml")
    assert message in str(err.value)


def test_missing_project_files_are_named(tmp_path):
    with pytest.raises(UserError, match="no scrub_pii ledger"):
        Guardrail.from_project(tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "entities": [', "line 2: not valid JSON"),
        ('["a"]', "line 2: not a JSON object (got an array)"),
        ('{"id": "a", "entities": [{"hash": "h"}]}', "line 2: entities[0] has no 'hash' or 'entity_type'"),
    ],
)  # fmt: skip
def test_a_damaged_ledger_line_is_named(tmp_path, line, message):
    ledger = tmp_path / "scrub_pii.jsonl"
    good = {"id": "k", "entities": [{"hash": "h0", "entity_type": "PERSON", "operator": "hash"}]}
    ledger.write_text(json.dumps(good) + "\n" + line + "\n")
    with pytest.raises(UserError, match=f"^{re.escape(f'{ledger}, {message}')}"):
        read_ledger(ledger)
    ledger.write_text(json.dumps(good) + "\n\n")
    assert read_ledger(ledger) == {"h0": "PERSON"}


# ------------------------------------------------------------------------------ classifier


def _tiny_classifier(folder: Path) -> Path:
    """A real transformers text-classification folder: a one-layer BERT with random weights
    and a word-level tokenizer, its head set so that 'unsafe' wins (~0.99) on any text."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab = {
        "[PAD]": 0,
        "[UNK]": 1,
        **{w: i + 2 for i, w in enumerate(["the", "a", "refund", "order"])},
    }
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "safe", 1: "unsafe"},
        label2id={"safe": 0, "unsafe": 1},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 5.0]))
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def test_a_local_classifier_blocks_on_the_labels_the_policy_names(project, tmp_path):
    clf = _tiny_classifier(tmp_path / "clf")
    base = POLICY.replace("max_chars: 120", "max_chars: null")
    blocking = tmp_path / "blocking.yaml"
    blocking.write_text(base + f"classifier: {{path: {clf}, block_labels: [unsafe]}}\n")
    g = Guardrail.from_project(project, policy=blocking)
    v = g.check("Reply.", "the refund order")
    assert not v.allowed and v.reason.startswith("classifier: unsafe 0.99")
    # the same model, the policy naming the other label: allowed
    other = tmp_path / "other.yaml"
    other.write_text(base + f"classifier: {{path: {clf}, block_labels: [safe]}}\n")
    assert Guardrail.from_project(project, policy=other).check("Reply.", "the refund").allowed
    # a label the model does not have is a clear error
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(base + f"classifier: {{path: {clf}, block_labels: [toxic]}}\n")
    with pytest.raises(UserError, match=r"block_labels \['toxic'\] are not labels"):
        Guardrail.from_project(project, policy=wrong)
