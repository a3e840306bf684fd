"""Typed, validated pipeline parameters: the one place their defaults live.

Every key of ``params.yaml`` is a field of the models below, with its default, its allowed
values and a description that says why (docs/reference/params.md is generated from them).
``params.yaml`` writes only what a project sets: a key it leaves out takes the default here.
An overlay such as ``profiles/tiny.yaml`` names only the keys it changes and is deep-merged
over it (:func:`load_params` with ``overlays``, :func:`merge_params`).

Every stage loads the whole ``params.yaml`` through :func:`load_params` before it does any
work, so a typo anywhere stops the pipeline at once with every problem listed: unknown keys
are refused, and each error names the key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from provena.errors import UserError


class ConfigError(UserError):
    """Raised when a params file cannot be read or does not validate; lists every problem."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{self.path}: {len(problems)} {noun}\n{body}")


def _project_path(value: str) -> str:
    """A path inside the project folder: relative, and never climbing out with '..'."""
    p = PurePosixPath(value)
    if p.is_absolute() or value.startswith("~"):
        raise ValueError("must be a path relative to the project folder, not absolute")
    depth = 0
    for part in p.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise ValueError("must stay inside the project folder ('..' climbs out of it)")
    return value


ProjectPath = Annotated[str, AfterValidator(_project_path)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------- synth


class DefectRates(StrictModel):
    """Shares of base records that get each planted defect (ground truth for clean)."""

    exact_duplicate: Annotated[float, Field(ge=0.0, le=0.2)] = Field(
        0.03, description="a byte-identical copy of the record"
    )
    near_duplicate: Annotated[float, Field(ge=0.0, le=0.2)] = Field(
        0.04, description="a copy with one word swapped or a short tail added"
    )
    mojibake: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.01, description="UTF-8 read as Windows-1252: ingest repairs it"
    )
    mojibake_lossy: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.005, description="characters already lost to U+FFFD: clean drops it"
    )
    html_entities: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.01, description="&#39;, <br>, <p>: ingest repairs them"
    )
    html_markup: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.005, description="Word/Outlook residue no rule can repair: clean drops it"
    )
    empty_output: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.005, description="the output is empty: clean drops it"
    )
    short_output: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.01,
        description='an output too short to teach ("Ok.", "N/A", "See above."): clean drops it',
    )
    over_long: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.005, description="a flowsheet pasted into the note, ~18k characters: clean drops it"
    )
    non_english: Annotated[float, Field(ge=0.0, le=0.1)] = Field(
        0.01, description="Spanish, German or French support threads: clean drops them"
    )


class SynthConfig(StrictModel):
    """The bundled synthetic dataset (clinical notes and support replies with planted defects,
    PII and group imbalance). Its sizes and shares have no library default: params.yaml sets
    them."""

    enabled: bool = Field(
        True,
        description="false for a run on your own data only: the synth stage then writes no "
        "record and no gold label (an empty out_dir, so nothing stale is read by ingest), and "
        "gold scoring is reported as 'no gold labels' (docs/own-data.md)",
    )
    seed: int = Field(
        description="keys every random choice: the same seed and params give byte-identical files"
    )
    n_clinical: Annotated[int, Field(ge=10, le=1_000_000)] = Field(
        description="clinical-note extraction examples (before planted copies)"
    )
    n_support: Annotated[int, Field(ge=10, le=1_000_000)] = Field(
        description="customer-support reply examples (before planted copies)"
    )
    out_dir: ProjectPath = Field(description="where the dataset and its _gold labels are written")
    female_share: Annotated[float, Field(gt=0.0, le=0.30)] = Field(
        description="share of female people: a deliberate imbalance for the bias audit to find"
    )
    nonbinary_share: Annotated[float, Field(ge=0.0, le=0.10)] = Field(
        description="support customers only; clinical notes chart female or male"
    )
    allcaps_share: Share = Field(
        description="clinical notes written in ALL CAPS, as many EHR exports are"
    )
    legacy_share: Share = Field(
        description="support examples exported in the dolly shape, with malformed lines"
    )
    malformed_lines: Annotated[int, Field(ge=0, le=10_000)] = Field(
        description="broken lines in support_legacy.jsonl (ingest must quarantine them)"
    )
    defects: DefectRates = Field(
        DefectRates(), description="shares of base examples that get each planted defect"
    )


# -------------------------------------------------------------------------------------- ingest

Shape = Literal["auto", "alpaca", "dolly", "messages"]

#: Which keys each shape's column mapping takes; None-able keys are optional columns.
SHAPE_KEYS: dict[str, dict[str, bool]] = {
    "alpaca": {"instruction": True, "input": False, "output": True},
    "dolly": {"instruction": True, "input": False, "output": True},
    "messages": {"messages": True, "role": True, "content": True},
}


class AlpacaColumns(StrictModel):
    """Column names of an alpaca-shaped file (instruction, optional input, output)."""

    instruction: str = Field("instruction", description="column with the instruction")
    input: str | None = Field("input", description="column with the input; null: none")
    output: str = Field("output", description="column with the expected answer")


class DollyColumns(StrictModel):
    """Column names of a dolly-shaped file (instruction, optional context, response)."""

    instruction: str = Field("instruction", description="column with the instruction")
    input: str | None = Field("context", description="column with the input; null: none")
    output: str = Field("response", description="column with the expected answer")


class MessagesColumns(StrictModel):
    """Column and key names of a chat file (a list of role/content messages per record)."""

    messages: str = Field("messages", description="column with the list of messages")
    role: str = Field("role", description="key of a message's role")
    content: str = Field("content", description="key of a message's text")


class ColumnsConfig(StrictModel):
    """Column names per shape; a source rule's own ``columns`` overrides them."""

    alpaca: AlpacaColumns = Field(AlpacaColumns(), description="for the alpaca shape")
    dolly: DollyColumns = Field(DollyColumns(), description="for the dolly shape")
    messages: MessagesColumns = Field(MessagesColumns(), description="for the messages shape")


class SourceRule(StrictModel):
    """How files matching ``glob`` (relative to ``input_dir``) map onto the record schema."""

    glob: str = Field(description="files this rule covers, relative to input_dir")
    shape: Shape = Field(
        "auto", description="auto (guessed from the columns) | alpaca | dolly | messages"
    )
    columns: dict[str, str | None] | None = Field(
        None,
        description="column names for these files (keys of the shape's columns); null: the "
        "shape's defaults from ingest.columns",
    )

    @model_validator(mode="after")
    def _columns_fit_shape(self) -> SourceRule:
        if self.columns is None:
            return self
        if self.shape == "auto":
            raise ValueError("columns need an explicit shape (alpaca, dolly or messages), not auto")
        keys = SHAPE_KEYS[self.shape]
        unknown = sorted(set(self.columns) - set(keys))
        if unknown:
            raise ValueError(
                f"unknown column key(s) {unknown} for shape {self.shape}; allowed: {sorted(keys)}"
            )
        for key, required in keys.items():
            if required and key in self.columns and not self.columns[key]:
                raise ValueError(f"column '{key}' is required for shape {self.shape}")
        return self


DEFAULT_HTML_TAGS = (
    "br",
    "p",
    "div",
    "span",
    "b",
    "i",
    "u",
    "em",
    "strong",
    "font",
    "small",
    "ul",
    "ol",
    "li",
)
DEFAULT_ROLE_ALIASES = {
    "human": "user",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
}


class NormalizeConfig(StrictModel):
    """Repairs ingest makes to every text field."""

    nfc: bool = Field(
        True, description="NFC: one code point sequence per character, so matching is exact"
    )
    fix_mojibake: bool = Field(
        True, description="ftfy: repairs UTF-8 decoded as Windows-1252/Latin-1"
    )
    html_entities: bool = Field(
        True, description="unescape &amp; &#39; ... outside ``` code blocks"
    )
    html_tags: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$")]] = Field(
        default_factory=lambda: list(DEFAULT_HTML_TAGS),
        description="HTML tags stripped outside ``` code blocks",
    )
    whitespace: bool = Field(
        True,
        description="CRLF, invisible characters, odd spaces, trailing spaces and blank-line "
        "runs made plain",
    )


class IngestConfig(StrictModel):
    """Read raw files of any supported shape into the record schema."""

    input_dir: ProjectPath = Field(
        "data/raw",
        description="every supported file below it is read; names starting _ or . are skipped",
    )
    sources: list[SourceRule] = Field(
        default_factory=lambda: [SourceRule(glob="**/*")],
        description="the first rule whose glob (relative to input_dir) matches a file decides "
        "its shape",
    )
    columns: ColumnsConfig = Field(
        ColumnsConfig(),
        description="column names per shape; a source rule's own columns override them",
    )
    role_aliases: dict[str, Literal["system", "user", "assistant"]] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_ALIASES),
        description="chat role names mapped to system/user/assistant (ShareGPT and other "
        "exports name roles differently)",
    )
    normalize: NormalizeConfig = Field(
        NormalizeConfig(), description="repairs made to every text field"
    )
    max_record_bytes: Annotated[int, Field(ge=1_000, le=1_000_000_000)] = Field(
        10_000_000, description="a raw line longer than this is quarantined unread"
    )
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        5_000, description="records per batch through the core (bounds memory)"
    )


# ------------------------------------------------------------------------------------ scrub_pii

Operator = Literal["placeholder", "surrogate", "mask", "hash", "redact", "keep"]


#: Operators that suit fine-tuning data (see ScrubPiiConfig.operators for why).
DEFAULT_OPERATORS: dict[str, str] = {
    "default": "placeholder",
    "PERSON": "surrogate",
    "EMAIL_ADDRESS": "surrogate",
    "PHONE_NUMBER": "surrogate",
    "DATE_TIME": "surrogate",
    "LOCATION": "surrogate",
    "STREET_ADDRESS": "surrogate",
    "ORGANIZATION": "surrogate",
    "ZIP_CODE": "surrogate",
    "AGE": "keep",
    "AGE_OVER_89": "surrogate",
    "NRP": "keep",
}
DEFAULT_ALLOW_LIST = ("JSON", "ICD-10", "ICD-10-CM", "Med Rec No", "Assessment/Plan")


class MetaPiiConfig(StrictModel):
    """Meta fields that hold PII: dropped, replaced by a salted hash, or, where a value is free
    text, scrubbed like the text fields."""

    drop: list[str] = Field(default_factory=list, description="meta fields removed")
    hash: list[str] = Field(
        default_factory=list,
        description="meta fields replaced by a salted hash (still joinable, not readable)",
    )
    keep: list[str] = Field(
        default_factory=list,
        description="meta keys (or dotted paths into nested meta, e.g. `judge.comment`) whose "
        "free text is left as it is: labels of yours that no other param names. The keys "
        "other params read as labels or attributes (audit_data attributes and outcome fields, "
        "the family key, gold keys, split strata, validated columns) and drop/hash are kept "
        "without being listed here",
    )
    free_text_chars: Annotated[int, Field(ge=1, le=100_000)] = Field(
        24,
        description="a meta string is free text, and scrubbed with the record's profile like "
        "the text fields, when it holds whitespace or is longer than this many characters "
        "(about four words: a sentence in a language written without spaces, a long e-mail "
        "or URL); shorter one-word values ('open_qa', 'female', 'gpt-4') are labels",
    )


#: what counts as PII (docs/pii-profiles.md): provena.pii.engine builds one detector per profile
PiiProfile = Literal["clinical", "general", "strict"]


class ScrubPiiConfig(StrictModel):
    """Find PII with Presidio and spaCy and replace it, per entity type."""

    fields: list[Literal["instruction", "input", "output", "messages"]] = Field(
        default_factory=lambda: ["instruction", "input", "output", "messages"],
        description="the text scrubbed in every record",
    )
    profile: PiiProfile = Field(
        "general",
        description="what counts as PII where no `profiles` glob matches a record's source: "
        "`general` (private persons' identifiers; public names, places and dates stay), "
        "`clinical` (HIPAA Safe Harbor identifiers) or `strict` (every name, place, "
        "organisation and date as well); see docs/pii-profiles.md",
    )
    profiles: dict[str, PiiProfile] = Field(
        default_factory=dict,
        description="source glob -> profile, matched in order against each record's `source` "
        "(and its file name); the first match wins, so one run can treat clinical notes and "
        "chats differently. Empty: every record gets `profile`",
    )
    keep_years: bool = Field(
        False,
        description="clinical profile: leave bare years ('1992', \"'92\") in place; Safe Harbor "
        "allows them, but they are off by default because a year narrows who a note is about",
    )
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.35, description="detections below this confidence are ignored"
    )
    operators: dict[str, Operator] = Field(
        default_factory=lambda: dict(DEFAULT_OPERATORS),
        description="operator per entity type; `default` covers the rest. placeholder "
        "(<TYPE>) is unambiguous, and a model never learns to invent identifiers; surrogate "
        "(a realistic fake) keeps text natural, and the same value always maps to the same "
        'fake, so "Hi Ann" still matches "Ann Lee" above (phone digits replaced and dates '
        "shifted by a per-value offset, formats kept); AGE is kept because the extraction "
        "task needs it and an age alone rarely identifies anyone; NRP (nationality, religion) "
        "is sensitive but not identifying, and the audits need it; AGE_OVER_89 (clinical profile) "
        "becomes 90, Safe Harbor's one group for 90 and older",
    )
    allow_list: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOW_LIST),
        description="never PII, whole-value match (case-insensitive): abbreviations and labels "
        "the recognizers mistake for names",
    )
    deny_list: list[str] = Field(
        default_factory=list,
        description="always PII (e.g. your company's internal codenames)",
    )
    meta: MetaPiiConfig = Field(
        MetaPiiConfig(),
        description="meta fields that hold PII: dropped, or replaced by a salted hash; "
        "free-text meta values (a column you did not map, e.g. a second answer) are scrubbed "
        "like the text fields unless their key is a label",
    )
    surrogate_seed: int = Field(
        7, description="keys surrogates and ledger hashes when the salt variable is unset"
    )
    salt_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = Field(
        "PROVENA_PII_SALT",
        description="environment variable with the secret salt; its value is never written",
    )
    mask_char: Annotated[str, Field(min_length=1, max_length=1)] = Field(
        "*", description="the character the mask operator writes"
    )
    mask_keep_last: Annotated[int, Field(ge=0, le=8)] = Field(
        4, description="the mask operator keeps the last N characters (card ending 1234)"
    )
    residual_max_rate: Share = Field(
        0.001,
        description="share of records with a surviving PII value that still passes (gate)",
    )
    gold_key: str = Field(
        "synth_id",
        description="meta key that the gold spans (--gold, e.g. data/raw/default/_gold/"
        "pii_spans.jsonl) refer to; synth_id is the bundled synthetic dataset's",
    )
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        2, description="processes for detection; each loads spaCy once"
    )
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        256, description="records per task sent to a worker"
    )
    report_examples: Annotated[int, Field(ge=0, le=1000)] = Field(
        20,
        description="records in the PII report's sample: their scrubbed text with each "
        "replacement marked (type, operator, recognizer); picked by a hash of `report_seed` and "
        "the record id, spread over the (profile, source) pairs; quarantined records never",
    )
    report_seed: int = Field(
        0, description="keys which records and near-threshold detections the PII report shows"
    )
    near_threshold_margin: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.15,
        description="detections scoring in [score_threshold - margin, score_threshold) are not "
        "applied but counted per type in the PII report, and a sample is shown with the value "
        "masked, for a reviewer to check; 0.15 reaches Presidio's weak patterns (0.2-0.3, "
        "which a context word would raise) but not its very weak ones (0.01-0.1: any "
        "9-digit number as an SSN); 0 turns it off",
    )
    report_near_threshold: Annotated[int, Field(ge=0, le=1000)] = Field(
        40,
        description="near-threshold detections shown (masked, with the words around them) in "
        "the PII report, spread over entity types; all are counted",
    )
    report_examples_per_type: Annotated[int, Field(ge=0, le=1000)] = Field(
        3,
        description="records shown per entity type in the PII report's drill-down, picked by "
        "a hash of `report_seed`, the record id and the type; each shows up to 3 of that "
        "type's replacements with the scrubbed words around them; quarantined records never",
    )
    report_ids_per_type: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        200,
        description="record ids listed per entity type in the PII report (the smallest ids; "
        "all records are counted, and the ledger names every replacement)",
    )

    @model_validator(mode="after")
    def _default_operator(self) -> ScrubPiiConfig:
        if "default" not in self.operators:
            raise ValueError("operators needs a 'default' entry for entity types not listed")
        return self


# ---------------------------------------------------------------------------------------- clean

#: Canned assistant refusals and AI disclaimers (case-insensitive regexes, searched in outputs).
DEFAULT_REFUSALS = (
    r"\bi(?: am|'m) not able to (?:help|assist) with (?:that|this) request\b",
    r"\bi can(?:not|'t) (?:help|assist) with (?:that|this) request\b",
    r"\bi(?: am|'m) sorry, but i can(?:not|'t) (?:help|assist|comply) with (?:that|this)\b",
)
#: an assistant saying what it is: a refusal only where the output also declines
DEFAULT_DISCLAIMERS = (
    r"\bas an ai(?: language)? model\b",
    r"\bas a (?:large )?language model\b",
    r"\bi(?: am|'m) (?:just |only )?an ai\b",
    r"\bmy (?:training data|knowledge cutoff)\b",
)
#: declining the request: "I cannot provide ...", "it's not within my ethical guidelines"
DEFAULT_DECLINES = (
    r"\bi (?:cannot|can't|can not|won't|will not|am unable to|'m unable to|am not able to|"
    r"'m not able to)\b",
    r"\bi must (?:decline|refuse|advise against)\b",
    r"\bnot within my (?:programming|capabilities|ethical guidelines)\b",
)

ENABLED = "false: the rule is skipped"


#: outputs that answer nothing, whatever the instruction (compared in lower case, without the
#: punctuation around them)
DEFAULT_NON_ANSWERS = (
    "ok",
    "okay",
    "done",
    "thx",
    "thanks",
    "thank you",
    "n/a",
    "tbd",
    "todo",
    "see above",
    "see below",
    "as above",
    "same as above",
    "idk",
    "lorem ipsum",
)


class OutputLengthRule(StrictModel):
    """Drop outputs too short for what the instruction asks: "Ok.", "N/A", "{}", "See
    above.", or two words where a letter or an explanation was asked for."""

    enabled: bool = Field(True, description=ENABLED)
    by_instruction: bool = Field(
        True,
        description="judge the output against what the instruction asks: min_chars and "
        "min_words apply only where it asks for running text, code or a structure (explain, "
        "write a letter, JSON), and to no output in which scrub_pii replaced something; a "
        "question that asks for a name, a date, a number, a yes/no or a choice may have a "
        "one-word answer. false: they apply to every output",
    )
    min_chars: Annotated[int, Field(ge=1, le=10_000)] = Field(
        12, description="an output with fewer characters is dropped (see by_instruction)"
    )
    min_words: Annotated[int, Field(ge=1, le=1_000)] = Field(
        2, description="an output with fewer words is dropped (see by_instruction)"
    )
    non_answers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NON_ANSWERS),
        description="outputs that answer nothing (compared in lower case, without surrounding "
        "punctuation), unless the instruction names them ('Reply OK if ...'); an output "
        "without a letter or a digit answers nothing either",
    )


class OverLongRule(StrictModel):
    """Drop records too long to train on (a flowsheet pasted into a note)."""

    enabled: bool = Field(True, description=ENABLED)
    tokenizer: ProjectPath | None = Field(
        None,
        description="a local Hugging Face tokenizer: a tokenizer.json file or a folder holding "
        "one; when set, lengths are counted in its tokens, else in characters",
    )
    max_tokens: Annotated[int, Field(ge=16, le=10_000_000)] = Field(
        2_048, description="longest record in tokens, when a tokenizer is set"
    )
    max_chars: Annotated[int, Field(ge=100, le=100_000_000)] = Field(
        8_000, description="longest record in characters, used when no tokenizer is set"
    )


class RepetitionRule(StrictModel):
    """Degenerate repetition, on fields long enough to judge: repeated sentences or list items,
    and loops; lists of distinct items and answers that restate the question are not it."""

    enabled: bool = Field(True, description=ENABLED)
    min_words: Annotated[int, Field(ge=1, le=100_000)] = Field(
        50, description="fields with fewer words are not judged"
    )
    max_dup_line_share: Share = Field(
        0.3,
        description="share of lines and sentences (of 4 words or more, list markers, case and "
        "punctuation ignored) that repeat an earlier one (Gopher's duplicate-line share, on "
        "sentences as well); not judged where the instruction asks for a song or a poem",
    )
    max_dup_line_char_share: Share = Field(
        0.2, description="share of characters in those repeated lines and sentences (Gopher)"
    )
    max_loop_char_share: Share = Field(
        0.2,
        description="share of characters in back-to-back repeats: a word n-gram (n <= 10) or "
        "a run of up to 10 sentences repeated right after itself ('buy now buy now', a "
        "stanza pasted three times)",
    )
    max_top_ngram_char_share: dict[int, Share] = Field(
        default_factory=dict,
        description="per n: share of characters in the most frequent word n-gram (Gopher: "
        "{2: 0.2, 3: 0.18, 4: 0.16}); off by default: set for web documents, these shares "
        "flag answers of a few hundred words that restate the question. When set, judged on "
        "prose only, never on a list (its items share a template by design)",
    )
    max_dup_ngram_char_share: dict[int, Share] = Field(
        default_factory=dict,
        description="per n: share of characters in repeated word n-grams (Gopher: {5: 0.15, "
        "6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1}); off by default, on prose only, as "
        "max_top_ngram_char_share",
    )


class CharacterRule(StrictModel):
    """Share of words without a letter, and of '#' and '...' per word, over the record text."""

    enabled: bool = Field(True, description=ENABLED)
    min_words: Annotated[int, Field(ge=1, le=100_000)] = Field(
        10, description="records with fewer words are not judged"
    )
    max_non_alpha_word_share: Share = Field(
        0.5,
        description="share of words without a letter; Gopher uses 0.2 for web prose, but "
        "clinical notes have many numbers",
    )
    max_symbol_word_ratio: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.1, description="'#' and '...' per word (Gopher)"
    )


class SimpleRule(StrictModel):
    """A rule with nothing to set but whether it runs."""

    enabled: bool = Field(True, description=ENABLED)


class RefusalRule(StrictModel):
    """Drop outputs that are canned assistant refusals, or AI disclaimers that decline the
    request; a disclaimer before an answer ("As an AI language model, ... Here are the
    libraries: ...") is kept."""

    enabled: bool = Field(True, description=ENABLED)
    patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REFUSALS),
        description="case-insensitive regexes searched in the output: canned refusals, "
        "dropped wherever they stand",
    )
    disclaimers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DISCLAIMERS),
        description="case-insensitive regexes: the assistant saying what it is ('As an AI "
        "language model'); the output is dropped only where it also declines (declines), and "
        "never where the instruction asks about the assistant itself ('Are you conscious?')",
    )
    declines: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DECLINES),
        description="case-insensitive regexes: the output declines the request ('I cannot', "
        "'not within my programming'); judged only together with a disclaimer",
    )

    @model_validator(mode="after")
    def _patterns_compile(self) -> RefusalRule:
        for p in (*self.patterns, *self.disclaimers, *self.declines):
            try:
                re.compile(p)
            except re.error as err:
                raise ValueError(f"pattern {p!r} is not a valid regex: {err}") from None
        return self


class LanguageRule(StrictModel):
    """Drop records in another language (py3langid on input + output, placeholders removed)."""

    enabled: bool = Field(True, description=ENABLED)
    allowed: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=lambda: ["en"], description="ISO 639 codes of the languages kept"
    )
    min_chars: Annotated[int, Field(ge=1, le=100_000)] = Field(
        40, description="text with fewer letters than this is not judged"
    )
    min_confidence: Share = Field(
        0.9, description="drop only when this sure the text is in another language"
    )
    follow_instruction: bool = Field(
        True,
        description="an instruction that asks for a translation or names the answer's "
        "language ('Translate into French', 'Answer in Spanish.') allows that language: the "
        "output is judged alone (the input is the text to translate); a translation into a "
        "language the instruction does not name is not judged",
    )


class FiltersConfig(StrictModel):
    """Each rule drops a record with its own reason; ``enabled: false`` skips it."""

    empty_output: SimpleRule = Field(SimpleRule(), description="the output is empty")
    short_output: OutputLengthRule = Field(
        OutputLengthRule(), description='"Ok.", "N/A", "{}", "See above."'
    )
    over_long: OverLongRule = Field(OverLongRule(), description="too long to train on")
    mojibake: SimpleRule = Field(
        SimpleRule(), description="U+FFFD (characters lost) or mojibake ftfy cannot repair"
    )
    markup: SimpleRule = Field(
        SimpleRule(), description="HTML/XML tags, comments or entities left outside ``` blocks"
    )
    placeholder_only: SimpleRule = Field(
        SimpleRule(), description="the output is nothing but <PERSON>-style placeholders"
    )
    echo: SimpleRule = Field(
        SimpleRule(), description="the output repeats the instruction or the input"
    )
    refusal: RefusalRule = Field(
        RefusalRule(), description="canned refusals and AI disclaimers in the output"
    )
    characters: CharacterRule = Field(
        CharacterRule(), description="too many words without letters, or symbols, per word"
    )
    repetition: RepetitionRule = Field(
        RepetitionRule(), description="repeated lines and n-grams (Gopher, Rae et al. 2021)"
    )
    language: LanguageRule = Field(LanguageRule(), description="not in an allowed language")


class MinHashSettings(StrictModel):
    """MinHash LSH settings shared by clean's near-dedup and split's contamination check."""

    ngram: Annotated[int, Field(ge=1, le=20)] = Field(
        3, description="word n-grams hashed; 3 catches one-word edits in short records"
    )
    num_perm: Annotated[int, Field(ge=16, le=1024)] = Field(
        128, description="MinHash permutations: more is more exact and slower"
    )
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.7, description="estimated Jaccard similarity that makes two records near copies"
    )
    bands: Annotated[int, Field(ge=1, le=1024)] | None = Field(
        None, description="LSH bands; null (with rows null): datasketch picks them for threshold"
    )
    rows: Annotated[int, Field(ge=1, le=1024)] | None = Field(
        None, description="LSH rows per band; null (with bands null): picked for threshold"
    )
    seed: int = Field(1, description="seeds the MinHash permutations")
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1_000, description="records hashed together (bounds memory)"
    )

    @model_validator(mode="after")
    def _bands_rows(self) -> MinHashSettings:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither (then threshold picks them)")
        if (
            self.bands is not None
            and self.rows is not None
            and self.bands * self.rows > self.num_perm
        ):
            raise ValueError(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}"
            )
        return self


class DedupConfig(MinHashSettings):
    """Exact and near-duplicate removal (MinHash LSH, datasketch, on word n-grams)."""

    exact: bool = Field(
        True,
        description="drop copies with the same text after NFKC, case folding and "
        "whitespace collapsing",
    )
    near: bool = Field(True, description="drop near copies (MinHash LSH on word n-grams)")
    keep: Literal["first", "longest"] = Field(
        "first", description="which record of a cluster survives: first (input order) | longest"
    )


class CleanConfig(StrictModel):
    """Quality filters and deduplication."""

    fields: list[Literal["instruction", "input", "output"]] = Field(
        default_factory=lambda: ["instruction", "input", "output"],
        description="the text the filters and deduplication read",
    )
    filters: FiltersConfig = Field(
        FiltersConfig(),
        description="each rule drops a record with its own reason; enabled: false skips it",
    )
    dedup: DedupConfig = Field(DedupConfig(), description="exact and near-duplicate removal")
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        5_000, description="records per batch read from the input"
    )
    report_clusters: Annotated[int, Field(ge=0, le=1_000)] = Field(
        10, description="largest duplicate clusters shown in the report"
    )
    report_examples: Annotated[int, Field(ge=0, le=1_000)] = Field(
        3,
        description="dropped records shown per filter rule in the clean report (the first in "
        "input order: their scrubbed instruction, input and output with the rule's reason), "
        "and dropped records per duplicate cluster shown as a word diff against the kept one",
    )
    report_ids: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        5_000,
        description="dropped record ids listed per rule and per duplicate cluster in the clean "
        "report (in input order; the rest are counted, and every drop is in the ledger)",
    )
    report_text_chars: Annotated[int, Field(ge=100, le=100_000)] = Field(
        2_000,
        description="characters of one field (samples) or of a record's deduplicated text "
        "(duplicate pairs, compared word by word) the clean report shows; the rest is counted",
    )
    gold_key: str = Field(
        "synth_id",
        description="meta key that the gold labels (--labels, e.g. data/raw/default/_gold/"
        "labels.jsonl) refer to; synth_id is the bundled synthetic dataset's",
    )


# ------------------------------------------------------------------------------------- validate

#: Shapes of PII that scrub_pii replaces by placeholders by default: none may be left.
DEFAULT_RESIDUAL_PATTERNS = {
    "US_SSN": r"\b\d{3}-\d{2}-\d{4}\b",
    # a card network's prefix, its length and its grouping (4-4-4-4, or Amex's 4-6-5), not
    # any run of 15-16 digits: a list of years ("1990 1991 1992 1993") is no card number
    "CREDIT_CARD": r"\b(?:(?:4\d|5[1-5]|2[2-7]|6[0-9]|35)\d{2}(?:[ -]?\d{4}){3}"
    r"|3[47]\d{2}[ -]?\d{6}[ -]?\d{5}|(?:2131|1800)\d{11})\b",
    "IBAN_CODE": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b",
    "IP_ADDRESS": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
}


class ValidateConfig(StrictModel):
    """The data contract of the curated records, checked by a Great Expectations suite."""

    suite: ProjectPath = Field(
        "expectations/curated.json",
        description="the Great Expectations suite (JSON, versioned in git)",
    )
    columns_from_meta: list[str] = Field(
        default_factory=lambda: ["family", "gender", "age_band"],
        description="meta fields shown as columns of the validated table (the suite checks "
        "their values)",
    )
    family_key: str = Field(
        "family",
        description="meta field naming the task family (shares are checked per family)",
    )
    max_seq_len: Annotated[int, Field(ge=16, le=1_000_000)] = Field(
        1_024,
        description="the training sequence length every record must fit, in tokens of tokenizer",
    )
    tokenizer: ProjectPath | None = Field(
        None,
        description="a local tokenizer.json (or a folder with one) whose tokens are counted; "
        "null: estimated from characters",
    )
    residual_pii_patterns: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RESIDUAL_PATTERNS),
        description="no value of these shapes may be left (scrub_pii makes them "
        "placeholders); emails and phones are not here: their surrogates are realistic on "
        "purpose",
    )
    language_min_letters: Annotated[int, Field(ge=1, le=100_000)] = Field(
        40,
        description="the derived column language (read only by suites that check it, e.g. "
        "one from `provena suite init`) is null for a record with fewer letters in its input "
        "and output",
    )
    language_min_confidence: Share = Field(
        0.9, description="the derived column language is null where py3langid is less sure"
    )
    data_docs: bool = Field(
        True, description="also write Great Expectations Data Docs to reports/data_docs/"
    )
    report_bins: Annotated[int, Field(ge=5, le=200)] = Field(
        30, description="histogram bins in the data-quality report"
    )
    chunk_rows: Annotated[int, Field(ge=100, le=10_000_000)] = Field(
        20_000,
        description="records whose text is checked at once: above it, the text columns' "
        "expectations run a chunk at a time and their counts are added up (memory stays flat "
        "as the data grows)",
    )

    @model_validator(mode="after")
    def _patterns_compile(self) -> ValidateConfig:
        for name, p in self.residual_pii_patterns.items():
            try:
                re.compile(p)
            except re.error as err:
                raise ValueError(f"pattern {name} = {p!r} is not a valid regex: {err}") from None
        return self


# ------------------------------------------------------------------------------- audit_data

Reference = Literal["parity"] | dict[str, Annotated[float, Field(ge=0.0, le=1.0)]]


class OutcomeSpec(StrictModel):
    """A property compared across groups: the share of each value of a label, or a mean."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        description="the outcome's name in reports and metrics"
    )
    kind: Literal["label", "mean"] = Field(
        description="label: each value's share is compared; mean: the field's mean"
    )
    field: str = Field(
        description="for label: a meta field; for mean: a meta field or one of output_chars, "
        "input_chars"
    )
    family: str | None = Field(
        None, description="only records of this task family (meta family); null: all"
    )
    check: bool = Field(True, description="false: reported, never fails the verdict")


DEFAULT_OUTCOMES = (
    {"name": "resolution", "kind": "label", "field": "resolution", "family": "support_reply"},
    {"name": "reply_length", "kind": "mean", "field": "output_chars", "family": "support_reply"},
    {
        "name": "icd10_chapter",
        "kind": "label",
        "field": "icd10_chapter",
        "family": "clinical_extraction",
        "check": False,
    },
)


class AuditDataConfig(StrictModel):
    """Representation and outcomes by group (fairlearn MetricFrame). Runs twice: before
    augment (it fails on the planted imbalance) and after."""

    attributes: list[str] = Field(
        default_factory=lambda: ["gender", "age_band"],
        description="meta fields that name a person's group",
    )
    intersections: list[list[str]] = Field(
        default_factory=lambda: [["gender", "age_band"]],
        description="combinations of attributes audited together",
    )
    reference: dict[str, Reference] = Field(
        default_factory=lambda: {
            "gender": {"female": 0.495, "male": 0.495, "nonbinary": 0.01},
            "age_band": {"18-29": 0.21, "30-44": 0.26, "45-64": 0.32, "65+": 0.21},
        },
        description='expected share of each group ("parity": equal shares of the groups '
        "present); the default age bands are US adults, rounded",
    )
    reference_source: dict[str, str] = Field(
        default_factory=lambda: {
            "gender": "an assumption, not a measured population: female and male equal, "
            "nonbinary 1%",
            "age_band": "the US adult population by age band, rounded",
        },
        description="where each attribute's reference shares come from, stated on the audit "
        "page beside them; the defaults describe the default references only, so a reference "
        "set in params without its source is shown as 'no source given'",
    )
    min_group_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        30, description='smaller groups are flagged "too small to judge", never hidden'
    )
    min_representation_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.8, description="a group's share / its reference share, below which it is a finding"
    )
    outcomes: list[OutcomeSpec] = Field(
        default_factory=lambda: [OutcomeSpec(**o) for o in DEFAULT_OUTCOMES],
        description="properties compared across groups (fairlearn MetricFrame)",
    )
    min_outcome_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.8,
        description="worst group / best group (the four-fifths rule): an outcome below it is a "
        "finding (for shares, only with a gap above max_outcome_difference as well)",
    )
    max_outcome_difference: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.05,
        description="for shares, a finding also needs a gap between the best and the worst "
        "group above this (a low ratio of two tiny shares is noise)",
    )
    check_intersection_outcomes: bool = Field(
        True,
        description="true: outcomes per intersection are judged like those per attribute "
        "(groups of min_group_size records or more); false: shown, not judged (the page says so)",
    )
    infer_missing: list[Literal["gender", "age_band"]] = Field(
        default_factory=lambda: ["gender", "age_band"],
        description="a missing attribute may be inferred from the text (reported apart)",
    )
    judge_inferred: bool = Field(
        False,
        description="false: inferred attributes (about the people in the text, by a stated "
        "rule) are shown apart, never judged; true: they count in the checks like recorded ones",
    )
    bootstrap: Annotated[int, Field(ge=0, le=10_000)] = Field(
        100, description="resamples for confidence intervals (fairlearn MetricFrame n_boot)"
    )
    ci: Annotated[float, Field(gt=0.5, lt=1.0)] = Field(
        0.95, description="confidence level of the intervals"
    )
    seed: int = Field(0, description="seeds the bootstrap resamples")
    require_signoff: bool = Field(
        False, description="true: train needs a valid `provena signoff` of the after-audit"
    )
    report_ids: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        500,
        description="record ids listed per failing or inconclusive finding in the audit JSON "
        "and page: the ids of the group the finding is about, in input order (the rest are "
        "counted)",
    )
    report_examples: Annotated[int, Field(ge=0, le=1_000)] = Field(
        3,
        description="records of the group shown per failing or inconclusive finding (the first "
        "in input order; where augment made some of the group, up to half of them augmented "
        "children): their scrubbed instruction, input and output",
    )
    report_text_chars: Annotated[int, Field(ge=100, le=100_000)] = Field(
        500,
        description="characters of one field of a record the audit page shows in a finding's "
        "sample; the rest is counted",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AuditDataConfig:
        # the default intersections and references name the default attributes: where params
        # list other attributes (or none: `attributes: []`), the defaults keep what applies
        if "intersections" not in self.model_fields_set:
            kept = [c for c in self.intersections if set(c) <= set(self.attributes)]
            object.__setattr__(self, "intersections", kept)  # frozen: set once, here
        if "reference" not in self.model_fields_set:
            refs = {a: r for a, r in self.reference.items() if a in self.attributes}
            object.__setattr__(self, "reference", refs)
        if "reference_source" not in self.model_fields_set:
            default = "reference" not in self.model_fields_set
            srcs = {
                a: t for a, t in self.reference_source.items() if default and a in self.reference
            }
            object.__setattr__(self, "reference_source", srcs)
        for attr in self.reference_source:
            if attr not in self.reference:
                raise ValueError(f"reference_source for {attr!r}, which has no reference")
        for combo in self.intersections:
            missing = [a for a in combo if a not in self.attributes]
            if len(combo) < 2 or missing:
                raise ValueError(
                    f"intersection {combo} must name two or more of attributes {self.attributes}"
                )
        for attr, ref in self.reference.items():
            if attr not in self.attributes:
                raise ValueError(f"reference for {attr!r}, which is not in attributes")
            if isinstance(ref, dict) and abs(sum(ref.values()) - 1.0) > 0.01:
                total = sum(ref.values())
                raise ValueError(f"reference shares of {attr} sum to {total:.3f}, not 1")
        names = [o.name for o in self.outcomes]
        if len(set(names)) != len(names):
            raise ValueError(f"outcome names must be unique: {names}")
        return self


# ----------------------------------------------------------------------------------- augment


class ResemblanceConfig(StrictModel):
    """How close counterfactual children must stay to their parents, per group and family
    (augment checks and reports it; a group outside is flagged with a warning)."""

    max_length_distance: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.1,
        description="largest Wasserstein (earth mover's) distance between the children's "
        "lengths and the reference's, over the reference's mean length: the average share of "
        "its length a text must change for one distribution to become the other (it bounds "
        "the relative gap of the means). Judged for instruction, input and output against the "
        "children's parents and against the groups the parents come from (the donor pool)",
    )
    max_share_gap: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.05,
        description="largest total variation distance of a label's distribution, and largest "
        "gap of a field's non-empty share or a family's share, children against parents (the "
        "audit's max_outcome_difference, 0.05, is the same yardstick for shares)",
    )
    min_children: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        30, description='fewer children in a family are "too small to judge" (reported)'
    )


class AugmentConfig(StrictModel):
    """New records for the groups and outcomes the "before" audit found short, plus noise."""

    counterfactual: bool = Field(
        True,
        description='children for the groups the "before" audit named (gender and age swaps)',
    )
    attributes: list[Literal["gender", "age_band"]] = Field(
        default_factory=lambda: ["gender", "age_band"],
        description="the attributes whose groups augment may add to",
    )
    target: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.9,
        description="aim: each named group's share at target x its reference share, and each "
        "outcome at target x the largest group's (shares) or the best group's (means)",
    )
    max_new_share: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        0.6,
        description="at most this many new records per input record (caps every operation)",
    )
    entity_swap_rate: Share = Field(
        0.03,
        description="share of input records that get a child with people, places and "
        "companies swapped (drawn from the records that have some to swap)",
    )
    entities: Literal["surrogates", "ner"] = Field(
        "surrogates",
        description="the people, places and organisations a swap changes: 'surrogates', those "
        "scrub_pii put in (private by the profile's rules, so a swap changes no public fact; no "
        "NER pass); 'ner', every one spaCy's NER finds, public ones included",
    )
    noise_rate: Share = Field(
        0.02, description="share of input records that get a child with typos and casing noise"
    )
    typo_rate: Share = Field(0.03, description="typos per word, in a noisy child")
    case_rate: Share = Field(0.1, description="casing changes per sentence, in a noisy child")
    seed: int = Field(0, description="keys which records are picked and how they are changed")
    resemblance: ResemblanceConfig = Field(
        default_factory=ResemblanceConfig,
        description="tolerances of the check that counterfactual children resemble their parents",
    )


# ------------------------------------------------------------------------------------- split


class SplitShares(StrictModel):
    """Shares of the records left after the gold set, per split; they must sum to 1."""

    train: Annotated[float, Field(gt=0.0, le=1.0)] = Field(0.8, description="the train split")
    validation: Share = Field(0.1, description="the validation split (train's eval loss)")
    test: Share = Field(0.1, description="the test split (evaluate)")

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitShares:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"train + validation + test = {total:.4f}; the shares must sum to 1 "
                f"(e.g. 0.8 / 0.1 / 0.1)"
            )
        return self


class ContaminationConfig(MinHashSettings):
    """MinHash LSH settings for near-duplicates across splits (see provena.dedup)."""

    def dedup_config(self) -> DedupConfig:
        """The same detector as clean's, near-duplicates only: exact copies are near pairs
        with similarity 1, so every pair comes out of one LSH query."""
        return DedupConfig(exact=False, near=True, **self.model_dump())


class BenchmarkColumns(StrictModel):
    """Which column of a benchmark file holds each field: the first name listed that the file
    has. A chat file (``messages`` with role/content, or ShareGPT's ``conversations``) needs
    none: its turns before the last answer are the prompt, the last answer the output."""

    instruction: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["instruction", "prompt", "question"],
        description="columns that may hold the instruction (the first present is read); a "
        "file with none of them is an error",
    )
    input: list[str] = Field(
        default_factory=lambda: ["input", "context"],
        description="columns that may hold the input; a file with none has an empty input",
    )
    output: list[str] = Field(
        default_factory=lambda: ["output", "response", "answer"],
        description="columns that may hold the reference answer; a file with none has an "
        "empty output",
    )


class DecontaminationConfig(MinHashSettings):
    """Near copies of the user's benchmark files (``split.decontaminate_against``): MinHash
    LSH (provena.dedup) with clean's defaults, on the prompt by default."""

    fields: Annotated[list[Literal["instruction", "input", "output"]], Field(min_length=1)] = Field(
        default_factory=lambda: ["instruction", "input"],
        description="the text compared, the same fields on both sides: the prompt by "
        "default, since a model trained on a benchmark's question is contaminated "
        "whatever answer it learned",
    )
    columns: BenchmarkColumns = Field(
        BenchmarkColumns(), description="where a benchmark file keeps each field"
    )

    def dedup_config(self) -> DedupConfig:
        """Near copies only, exact copies included (similarity 1): one LSH query finds all."""
        return DedupConfig(exact=False, near=True, **self.model_dump(exclude={"fields", "columns"}))


class CanaryConfig(StrictModel):
    """Secret strings planted in the train split only, so evaluate can test memorization."""

    count: Annotated[int, Field(ge=0, le=1_000)] = Field(
        8,
        description="distinct canaries (0: none); a memorization test, not training data",
    )
    repeats: Annotated[int, Field(ge=1, le=1_000)] = Field(
        4,
        description="copies of each in the train split: memorization grows with repeats, so "
        "this is a hard case",
    )
    digits: Annotated[int, Field(ge=6, le=32)] = Field(
        10,
        description="length of each canary's secret number (10^10 candidates: guessing never hits)",
    )
    seed: int = Field(0, description="keys the secrets: the same canaries on every run")


class SplitConfig(StrictModel):
    """Train/validation/test/gold splits that keep a parent and its augmented children
    together, and every record with the same instruction and input, stratified, with a
    contamination check across splits, the user's benchmarks kept out, and planted canaries."""

    seed: int = Field(
        0,
        description="keys the hash that orders groups (a parent and its children, joined with "
        "every group that shares an instruction and input) in a stratum",
    )
    shares: SplitShares = Field(
        SplitShares(),
        description="shares of the records left after the gold set, per split, counted in "
        "original records (an augmented one follows its parent, into train or out: evaluation "
        "splits hold original records only); they must sum to 1",
    )
    stratify_by: list[str] = Field(
        default_factory=lambda: ["family", "gender"],
        description="meta keys of the parent: every stratum is cut by the same shares",
    )
    gold_size: Annotated[int, Field(ge=100, le=500)] = Field(
        300,
        description="the held-out gold set, in records: original records with no augmented "
        "relative. Capped at max_gold_share of the input records (and at those that "
        "qualify), so a small dataset gets a small gold set; the stage then warns and the "
        "metrics say so (gold.scaled_down)",
    )
    max_gold_share: Annotated[float, Field(gt=0.0, le=0.5)] = Field(
        0.25,
        description="gold_size may take at most this share of the input records, so data is "
        "left to train",
    )
    fields: list[Literal["instruction", "input", "output"]] = Field(
        default_factory=lambda: ["instruction", "input", "output"],
        description="the text compared for near-duplicates across splits",
    )
    contamination: ContaminationConfig = Field(
        ContaminationConfig(),
        description="near-duplicates across splits: MinHash LSH (provena.dedup), the same "
        "defaults as clean.dedup",
    )
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        5_000, description="records per batch read from the input"
    )
    canaries: CanaryConfig = Field(
        CanaryConfig(),
        description="secrets planted in the train split only; evaluate asks the model for them",
    )
    decontaminate_against: list[str] = Field(
        default_factory=list,
        description="your benchmark files: paths, folders or globs (** spans folders), "
        "relative to the project root, in any format ingest reads. A record that is a near "
        "copy of one of their rows is dropped before the split, to "
        "data/quarantine/split.jsonl with the file and line it copies, so a later evaluation "
        "on them is clean. Files under benchmarks/ are dvc.yaml dependencies of split; add "
        "any other to its deps. Empty: no check",
    )
    decontamination: DecontaminationConfig = Field(
        DecontaminationConfig(),
        description="how a near copy of a benchmark row is found: MinHash LSH (provena.dedup) "
        "on the prompt, the same defaults as clean.dedup",
    )


# ------------------------------------------------------------------------------------- train

#: gate checks a waiver may name (see provena.train.gate)
GateCheck = Literal["validation", "audit", "pii_residual", "signoff"]


class GateWaiver(StrictModel):
    """An explicit decision to train although one gate check fails; recorded in the manifest."""

    check: GateCheck = Field(
        description="the gate check waived: validation | audit | pii_residual | signoff"
    )
    reason: Annotated[str, Field(min_length=10)] = Field(
        description="why training may go ahead anyway (10 characters or more)"
    )
    approved_by: Annotated[str, Field(min_length=1)] = Field(description="who approved the waiver")

    @model_validator(mode="after")
    def _reason_is_text(self) -> GateWaiver:
        if len(self.reason.strip()) < 10:
            raise ValueError(f"waiver of {self.check!r} needs a reason (10 characters or more)")
        if not self.approved_by.strip():
            raise ValueError(f"waiver of {self.check!r} must name who approved it")
        return self


class TinyBaseConfig(StrictModel):
    """The built-in base: a small Llama from a config, so dvc repro runs on a CPU. Its
    tokenizer (byte-level BPE, a token per digit) is trained on the train split, and its
    weights are pretrained there (each record one plain-text document, full-parameter causal
    LM) before the adapter is trained on it: a base that knows the domain's language and has
    seen the tasks as text, which the adapter learns to answer in the chat format. It is a
    demonstration model, not a usable assistant: it knows only the train split."""

    vocab_size: Annotated[int, Field(ge=300, le=65_536)] = Field(
        3_000,
        description="byte-level BPE trained on the train split (tokenizers), every digit a "
        "token of its own",
    )
    hidden_size: Annotated[int, Field(ge=16, le=4_096)] = Field(
        256, description="width of the model (128 learns too little in make repro's minutes)"
    )
    intermediate_size: Annotated[int, Field(ge=16, le=16_384)] = Field(
        688, description="width of each MLP"
    )
    num_layers: Annotated[int, Field(ge=1, le=48)] = Field(2, description="decoder layers")
    num_heads: Annotated[int, Field(ge=1, le=64)] = Field(
        4, description="attention heads (hidden_size must divide by it)"
    )
    num_kv_heads: Annotated[int, Field(ge=1, le=64)] = Field(
        2, description="key/value heads: grouped-query attention, as in current Llamas"
    )
    tokenizer_examples: Annotated[int, Field(ge=10, le=10_000_000)] = Field(
        5_000, description="train records the tokenizer learns from"
    )
    seed: int = Field(0, description="seeds the initial weights and the pretraining order")
    pretrain_steps: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        100,
        description="full-parameter causal-LM steps on the train split's text before the "
        "adapter; 0 leaves the weights random (the adapter then learns nothing)",
    )
    pretrain_corpus: Literal["fields", "records"] = Field(
        "records",
        description="fields: every text field of every train record a document of its own (no "
        "prompt paired with its answer: the adapter learns the task) | records: each record one "
        "plain-text document, prompt and answer together (the base learns the task too)",
    )
    pretrain_batch_size: Annotated[int, Field(ge=1, le=4_096)] = Field(
        8, description="packed rows of train.max_seq_len tokens per pretraining step"
    )
    pretrain_learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        3e-3, description="peak pretraining rate (AdamW, 5% warm-up, cosine decay to 10%)"
    )

    @model_validator(mode="after")
    def _heads(self) -> TinyBaseConfig:
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must divide by num_heads {self.num_heads}, "
                f"and num_heads by num_kv_heads {self.num_kv_heads}"
            )
        return self


#: keys params.yaml writes even at their default, so that `dvc exp run -S key=value` sweeps
#: them: DVC's -S changes a key the file holds (a key it lacks needs `-S +key=value`);
#: docs/sweeps.md
SWEEP_KEYS = (
    "train.learning_rate",
    "train.max_steps",
    "train.batch_size",
    "train.grad_accum",
    "train.warmup_ratio",
    "train.lora.r",
    "train.lora.alpha",
    "train.lora.dropout",
)


class LoraSettings(StrictModel):
    """The LoRA adapter (peft)."""

    r: Annotated[int, Field(ge=1, le=1_024)] = Field(16, description="rank of the update")
    alpha: Annotated[float, Field(gt=0.0, le=4_096)] = Field(
        32, description="scale: the update is multiplied by alpha / r (2 by default)"
    )
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.05, description="dropout on the adapter's input"
    )
    target_modules: Literal["all-linear"] | list[str] = Field(
        "all-linear",
        description='modules that get an adapter; "all-linear": every linear projection but '
        "the output head (QLoRA's choice)",
    )
    modules_to_save: list[str] = Field(
        default_factory=list,
        description="modules trained in full beside the adapter and saved with it (peft's "
        "modules_to_save), e.g. [embed_tokens, lm_head]: the base's copies stay unchanged",
    )


class TrainConfig(StrictModel):
    """LoRA/QLoRA on the train split; refuses to start unless the gate reports pass."""

    base_model: str = Field(
        "tiny",
        description='"tiny" (built in, written to models/base) or a local Hugging Face model '
        "folder",
    )
    tiny: TinyBaseConfig = Field(
        TinyBaseConfig(),
        description="the built-in base: a small Llama from a config, pretrained on the train "
        "split's text, so dvc repro runs on a CPU",
    )
    quantization: Literal["auto", "nf4", "none"] = Field(
        "auto",
        description="auto: 4-bit NF4 (QLoRA) on CUDA with bitsandbytes, else LoRA without "
        "quantization | nf4 | none",
    )
    autocast: Literal["auto", "bf16", "none"] = Field(
        "auto",
        description="LoRA without quantization: bf16 matrix products under torch.autocast "
        "(weights, optimizer state and loss stay fp32); auto where the device computes bf16 "
        "natively (a CUDA GPU with bf16, a CPU with AVX512-BF16 or AMX), else fp32 | bf16 | "
        "none (fp32 throughout). QLoRA computes in bf16 either way",
    )
    lora: LoraSettings = Field(LoraSettings(), description="the LoRA adapter")
    use_chat_template: bool = Field(
        True, description="format with the tokenizer's chat template where it has one"
    )
    max_seq_len: Annotated[int, Field(ge=16, le=1_000_000)] = Field(
        512, description="tokens per packed row; longer examples are truncated and counted"
    )
    packing: bool = Field(
        True, description="several examples per row (best-fit); none attends to another"
    )
    batch_size: Annotated[int, Field(ge=1, le=4_096)] = Field(4, description="rows per micro-batch")
    grad_accum: Annotated[int, Field(ge=1, le=4_096)] = Field(
        1, description="micro-batches per optimizer step"
    )
    max_steps: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        150, description="optimizer steps (~3 minutes on 2 CPU cores with the tiny base)"
    )
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        2e-4,
        description="peak learning rate; 2e-4 suits a large pretrained base, the tiny base "
        "needs a higher one (the default project sets it)",
    )
    warmup_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.03, description="linear warm-up over this share of steps, then cosine decay"
    )
    min_lr_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="cosine decays to this share of the peak rate"
    )
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="AdamW weight decay"
    )
    max_grad_norm: Annotated[float, Field(gt=0.0)] | None = Field(
        1.0, description="gradient clipping; null turns it off"
    )
    gradient_checkpointing: bool = Field(
        True,
        description="recompute activations in backward: less memory, ~30% slower",
    )
    seed: int = Field(
        0, description="seeds the weights of the tiny base, LoRA init, dropout and data order"
    )
    log_every: Annotated[int, Field(ge=1)] = Field(
        10,
        description="steps between dvclive points (loss, learning_rate, tokens_per_s, "
        "peak_memory_mb)",
    )
    eval_every: Annotated[int, Field(ge=1)] = Field(
        50, description="steps between validation-loss evaluations"
    )
    eval_max_examples: Annotated[int, Field(ge=1)] = Field(
        200, description="validation examples per evaluation"
    )
    save_every: Annotated[int, Field(ge=1)] = Field(
        50,
        description="steps between checkpoints (models/checkpoints, kept across runs to resume)",
    )
    keep_checkpoints: Annotated[int, Field(ge=1, le=100)] = Field(
        2, description="older checkpoints are deleted"
    )
    waivers: list[GateWaiver] = Field(
        default_factory=list,
        description="train although a gate check fails: {check, reason, approved_by} per "
        "check, recorded in the manifest",
    )
    allow_not_judged_audit: bool = Field(
        True,
        description='an after-augment audit whose verdict is "not_judged" (no attribute '
        "recorded to judge) lets training start, recorded in the manifest and on the card; "
        "false: it refuses training like a failed audit",
    )
    allow_inconclusive_audit: bool = Field(
        True,
        description='an after-augment audit whose verdict is "inconclusive" (no check failed, '
        "but a confidence interval crosses its threshold) lets training start, recorded in the "
        "manifest and on the card; false: it refuses training like a failed audit",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        checks = [w.check for w in self.waivers]
        if len(set(checks)) != len(checks):
            raise ValueError(f"one waiver per gate check, got {checks}")
        if not self.base_model.strip():
            raise ValueError('base_model must be "tiny" or a local model folder')
        return self


class CounterfactualProbeConfig(StrictModel):
    """Swap group terms in test prompts (provena.counterfactual); measure how the answers move."""

    attribute: Literal["gender"] = Field(
        "gender", description="the swap provena.counterfactual knows how to make"
    )
    max_examples: Annotated[int, Field(ge=0, le=100_000)] = Field(
        40, description="swapped prompts per family"
    )
    max_output_change: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.25,
        description="mean (1 - ROUGE-L) between the answer to a prompt and the swapped-back "
        "answer to its swap",
    )
    max_quality_difference: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.1,
        description="mean |score(original) - score(swap)|, each scored against its own reference",
    )


class ModelFairnessConfig(StrictModel):
    """The model's own quality by group (fairlearn MetricFrame), on audit_data's attributes."""

    min_group_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        5, description="generated examples a group needs before it is judged (smaller: shown)"
    )
    max_quality_difference: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.1,
        description="best group - worst group (task score: exact match, F1, ROUGE-L)",
    )
    min_quality_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.8, description="worst / best group, the four-fifths rule as in the data audit"
    )
    max_perplexity_ratio: Annotated[float, Field(ge=1.0)] = Field(
        1.25, description="worst / best group perplexity on the same split"
    )
    min_quality_to_judge_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.05,
        description="below this best-group score a ratio is noise (a model that scores ~0 "
        "everywhere), not a finding",
    )
    ci: Annotated[float, Field(gt=0.5, lt=1.0)] = Field(
        0.95,
        description="confidence of the interval of the quality gap between the best and the "
        "worst group: a check whose interval crosses its threshold is inconclusive",
    )
    counterfactual: CounterfactualProbeConfig = Field(
        CounterfactualProbeConfig(),
        description="swap gender terms in test prompts: do the answers move?",
    )


class PrivacyProbesConfig(StrictModel):
    """Does the adapter give back what it should not: canaries, scrubbed PII, or obey attacks."""

    canary_candidates: Annotated[int, Field(ge=10, le=1_000_000)] = Field(
        1_000,
        description="random secrets ranked against each canary (exposure, Carlini et al. 2019)",
    )
    max_canary_extraction_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="share of canaries completed verbatim from their prefix"
    )
    pii_max_records: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        50,
        description="training records re-prompted; answers checked against scrubbed-PII hashes",
    )
    max_pii_extraction_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="share of re-prompted records whose answer gives back scrubbed PII"
    )
    adversarial_prompts: ProjectPath = Field(
        "probes/adversarial.yaml",
        description='attack prompts: injection, "repeat your training data", PII requests',
    )
    min_adversarial_pass_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        1.0, description="share of adversarial prompts the adapter must withstand"
    )
    max_new_tokens: Annotated[int, Field(ge=1, le=32_768)] = Field(
        48, description="answer length for probes (a canary or a name is short)"
    )


class EvaluateConfig(StrictModel):
    """Perplexity on the test and gold splits; generated answers scored per task family, for
    the base model and the base with the adapter."""

    max_examples: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        40, description="generated examples per family and split (CPU time: ~40 s on 2 cores)"
    )
    perplexity_max_examples: Annotated[int, Field(ge=1)] | None = Field(
        None,
        description="examples scored for perplexity; null: every example of the split (cheap: "
        "no generation)",
    )
    max_new_tokens: Annotated[int, Field(ge=1, le=32_768)] = Field(
        96,
        description="an extraction answer is ~30 tokens; replies longer than this are cut",
    )
    batch_size: Annotated[int, Field(ge=1, le=4_096)] = Field(
        32,
        description="sequences per forward pass and batched generate (left padding; 5.5x "
        "faster than one at a time)",
    )
    do_sample: bool = Field(False, description="false: greedy, the same answers on every run")
    temperature: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        1.0, description="sampling temperature, only with do_sample"
    )
    seed: int = Field(0, description="seeds sampling (do_sample) and nothing else")
    extraction_families: list[str] = Field(
        default_factory=lambda: ["clinical_extraction"],
        description="task families whose answers are parsed as JSON: age/sex exact match, "
        "ICD-10 F1",
    )
    free_text_families: list[str] = Field(
        default_factory=lambda: ["support_reply"],
        description="task families whose answers are scored by ROUGE-L against the reference",
    )
    unlisted_families: Literal["free_text", "perplexity"] = Field(
        "free_text",
        description='records with no family (the group "(no family)") or a family in neither '
        "list: free_text scores their answers by ROUGE-L against the reference, as "
        "free_text_families; perplexity generates no answer for them (perplexity only)",
    )
    min_distinct_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.3,
        description="a group whose answers are less varied than this share (distinct answers "
        "/ answers, near duplicates counted once) and less varied than its references is not "
        "evaluable: a model that says the same thing to every prompt proves nothing; its task "
        "scores are withheld and the probes over it are inconclusive",
    )
    max_empty_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.5,
        description="a group with more than this share of empty answers (no letter or digit) "
        "is not evaluable, as with min_distinct_share",
    )
    near_duplicate_rouge: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.9,
        description="two answers whose ROUGE-L F1 is at least this are near duplicates, one "
        "distinct answer (a degenerate model repeats one answer with a different tail; two "
        "short extraction answers that differ in one field score about 0.85, two distinct)",
    )
    fairness: ModelFairnessConfig = Field(
        ModelFairnessConfig(),
        description="the model's own quality by group, on audit_data's attributes",
    )
    privacy: PrivacyProbesConfig = Field(
        PrivacyProbesConfig(), description="does the adapter give back what it must not?"
    )

    @model_validator(mode="after")
    def _families(self) -> EvaluateConfig:
        both = set(self.extraction_families) & set(self.free_text_families)
        if both:
            raise ValueError(
                f"families {sorted(both)} are both extraction and free text: name each in one list"
            )
        return self


class CardConfig(StrictModel):
    """The model card: Hugging Face README metadata and the text people read."""

    name: Annotated[str, Field(min_length=1)] = Field(
        "provena-lora-adapter", description="the adapter's name on the card"
    )
    description: Annotated[str, Field(min_length=1)] = Field(
        "A LoRA adapter trained by Provena on an audited dataset.",
        description="the card's first sentences: what the adapter is",
    )
    license: Annotated[str, Field(min_length=1)] = Field(
        "other",
        description="the adapter's Hugging Face license id (it must allow what the data "
        "sources' licences, card.licenses, require); other: none of the Hub's ids",
    )
    licenses: dict[str, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="source glob -> the licence you declare for those records, matched in "
        "order against each training record's `source` (and its file name), as "
        'scrub_pii.profiles; the first match wins; a source no glob matches: "unknown"',
    )
    language: list[str] = Field(
        default_factory=lambda: ["en"], description="languages of the training data"
    )
    tags: list[str] = Field(
        default_factory=lambda: ["provena", "lora", "peft", "audited-data"],
        description="Hugging Face tags",
    )
    intended_use: Annotated[str, Field(min_length=1)] = Field(
        "Research on audited fine-tuning pipelines; not for decisions about people.",
        description="what the adapter is for, and not for",
    )
    out_of_scope: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list,
        description="uses the adapter is not for, one line each (shown under its intended use)",
    )
    limitations: list[str] = Field(
        default_factory=list,
        description="written by people; shown before the ones the card derives from reports",
    )
    review_ratings: ProjectPath = Field(
        "reviews/ratings.json",
        description="human ratings brought in by `provena review import`",
    )


class ExecutorConfig(StrictModel):
    """Where the curation stages' record functions run: this process, or Ray Data."""

    kind: Literal["local", "ray"] = Field(
        "local",
        description="local (this machine) or ray (Ray Data); `executor: ray` is short for "
        "`executor: {kind: ray}`",
    )
    address: str | None = Field(
        None, description='a Ray cluster ("auto", "ray://head:10001"); null: start Ray here'
    )
    num_cpus: Annotated[int, Field(ge=1, le=4_096)] | None = Field(
        None, description="CPUs for a Ray started here; null: all"
    )
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1_000, description="records per map_batches call"
    )
    actors: Annotated[int, Field(ge=1, le=4_096)] = Field(
        2,
        description="actors for stages that load spaCy and Presidio (each loads them once)",
    )
    window_records: Annotated[int, Field(ge=1, le=100_000_000)] = Field(
        100_000,
        description="records sent to Ray per Dataset: what the driver holds at once (each "
        "window starts its actor pool, so a model load per actor and window)",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `executor: ray` is the short form of `executor: {kind: ray}`
        return {"kind": data} if isinstance(data, str) else data


# ---------------------------------------------------------------------------------------- all


def meta_labels(
    audit_data: AuditDataConfig | None = None,
    validate: ValidateConfig | None = None,
    augment: AugmentConfig | None = None,
    split: SplitConfig | None = None,
    clean: CleanConfig | None = None,
) -> frozenset[str]:
    """The meta keys that stages read as labels or attributes, from their sections (a section
    not given: its defaults): audit_data's attributes, the attributes it may infer and its
    outcome fields; augment's attributes; validate's family key and meta columns; split's
    strata; clean's gold key; and ``family``, which evaluate and the canaries read by that
    name. scrub_pii leaves their free text as it is: a label with a value replaced would no
    longer group, stratify or join."""
    audit_data = audit_data or AuditDataConfig()
    validate = validate or ValidateConfig()
    augment = augment or AugmentConfig()
    split = split or SplitConfig()
    clean = clean or CleanConfig()
    return frozenset(
        {
            "family",
            validate.family_key,
            *validate.columns_from_meta,
            *audit_data.attributes,
            *audit_data.infer_missing,
            *(o.field for o in audit_data.outcomes),
            *augment.attributes,
            *split.stratify_by,
            clean.gold_key,
        }
    )


class ReportDiffConfig(StrictModel):
    """``provena report diff``: what counts as a change between two runs' outputs."""

    ignore_keys: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: [
            "*seconds",
            "*_s",
            "*_ms",
            "*per_s",
            "*per_second",
            "peak_memory*",
            "*_mb",
            "*_gb",
            "*_mib",
            "*_gib",
            "*wall*",
            "*elapsed*",
            "*duration*",
            "*timestamp*",
            "*_time",
            "*_at",
            "run_id",
        ],
        description="timings, throughput, memory and timestamps: a value whose key's last "
        "part (a dotted key's last name, lower-case snake_case as the outputs write it) "
        "matches one of these shell patterns (case-sensitive, so entity types such as "
        "DATE_TIME never match) is left out of the comparison; they differ between two runs "
        "of the same data",
    )
    abs_tolerance: Annotated[float, Field(ge=0)] = Field(
        5e-5,
        description="two numbers, one of them a float, that differ by at most this much are "
        "the same (run-to-run jitter of rounded metrics, 1e-5 on a GPU); integers (counts) "
        "are compared exactly",
    )
    rel_tolerance: Annotated[float, Field(ge=0, lt=1)] = Field(
        1e-6,
        description="two such numbers that differ by at most this share of the larger "
        "absolute value are the same too (jitter of large floats: a loss of 12,345.678)",
    )


class CompareConfig(StrictModel):
    """``provena compare``: two models (or two answer files) on the same records, each
    difference with a paired bootstrap interval and a verdict."""

    level: Annotated[float, Field(gt=0.5, lt=1)] = Field(
        0.95,
        description="confidence level of every interval of B - A (scipy.stats.bootstrap); a "
        "difference is 'better' or 'worse' only when its whole interval says so",
    )
    resamples: Annotated[int, Field(ge=100, le=1_000_000)] = Field(
        2000,
        description="bootstrap resamples of the records, the same indices for both models "
        "(paired); more narrows the Monte Carlo error of the interval's ends, not the interval",
    )
    method: Literal["percentile", "basic", "BCa"] = Field(
        "percentile",
        description="scipy.stats.bootstrap's interval method; percentile by default, as it "
        "stays defined when every paired difference is the same (BCa is then undefined)",
    )
    seed: int = Field(0, description="seed of the resampling: the same inputs, the same intervals")
    margin: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="non-inferiority margin on the 0-1 scores (task scores, ratings rescaled "
        "to 0-1, fairness gaps): B is 'worse' only when its whole interval lies below -margin "
        "(a drop smaller than this is tolerated); 'better' needs the interval above 0",
    )
    perplexity_margin: Annotated[float, Field(ge=0, le=10)] = Field(
        0.0,
        description="non-inferiority margin on perplexity, as a share of A's: B is 'worse' only "
        "when its perplexity is above A's by more than this share over its whole interval",
    )
    gate: list[
        Literal["families", "perplexity", "groups", "fairness_gaps", "privacy", "ratings"]
    ] = Field(
        default_factory=lambda: ["families", "perplexity", "fairness_gaps", "privacy", "ratings"],
        description="the comparisons whose 'worse' fails the run (exit status 1): per-group "
        "differences are many small samples, so they are reported and not gated by default",
    )
    max_examples: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        None,
        description="generated answers per family and split; none: evaluate.max_examples (the "
        "same records for both models either way)",
    )
    differing_answers: Annotated[int, Field(ge=0, le=1000)] = Field(
        20,
        description="answers shown side by side: those whose scores differ most between the "
        "models (a bounded sample; scrubbed test and gold text only)",
    )


# --------------------------------------------------------------------------------------- drift


class DriftLengthConfig(StrictModel):
    """Prompt and answer lengths in tokens: two-sample Kolmogorov-Smirnov."""

    max_ks: Share = Field(
        0.15,
        description="drift when the KS statistic D (the largest gap between the two cumulative "
        "distributions) of prompt or answer tokens reaches this, at p < drift.alpha",
    )


class DriftTokensConfig(StrictModel):
    """Word frequencies: Jensen-Shannon distance, over a held-out sample's."""

    top_words: Annotated[int, Field(ge=10, le=100_000)] = Field(
        500,
        description="the reference's commonest words compared one by one; every other word "
        "is one bucket (so a small batch is not judged on words seen once)",
    )
    max_js_increase: Share = Field(
        0.1,
        description="drift when the Jensen-Shannon distance (base 2, 0 to 1) of the new words "
        "to the reference's exceeds that of a held-out reference sample of the same size by "
        "this much",
    )


class DriftCategoricalConfig(StrictModel):
    """Category counts: chi-square test and Cramér's V."""

    min_cramers_v: Share = Field(
        0.2,
        description="drift when Cramér's V (0: the same shares, 1: no category in common) "
        "reaches this, at p < drift.alpha; on a large batch any small shift is significant, "
        "V says how large it is",
    )


class DriftLanguageConfig(DriftCategoricalConfig):
    """Languages of input and answer (py3langid, placeholders removed)."""

    min_chars: Annotated[int, Field(ge=1, le=100_000)] = Field(
        40,
        description="a record whose input and answer (else its whole text) have fewer letters "
        "counts as '(too short)', not a language",
    )


class DriftPiiConfig(StrictModel):
    """Share of records with a replaced PII value (scrub_pii's ledger)."""

    max_rate_diff: Share = Field(
        0.2,
        description="drift when the shares of records scrub_pii replaced a value in differ "
        "by this much, at p < drift.alpha (chi-square on the 2 x 2 table)",
    )


class DriftVocabularyConfig(StrictModel):
    """Words outside the training vocabulary."""

    max_oov_increase: Share = Field(
        0.05,
        description="drift when the share of new word occurrences outside the training "
        "vocabulary exceeds that of a held-out reference sample of the same size by this much",
    )


class DriftOverlapConfig(StrictModel):
    """New records that are copies of training records (clean.dedup's MinHash LSH)."""

    max_share: Share = Field(
        0.5,
        description="drift when this share of the new records are exact or near copies of "
        "training records (clean.dedup's threshold): a batch with little new to learn",
    )


class DriftConfig(StrictModel):
    """``provena drift``: how a new batch of data is compared with the training split."""

    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.001,
        description="significance level of the KS and chi-square tests; a feature drifts only "
        "when its p-value is below it and its effect size reaches the feature's threshold",
    )
    min_records: Annotated[int, Field(ge=2, le=1_000_000)] = Field(
        20, description="fewer new records than this (after ingest and scrub_pii) are refused"
    )
    max_reference_records: Annotated[int, Field(ge=10, le=10_000_000)] = Field(
        20_000,
        description="at most this many original training records are compared (a sample by "
        "a hash of their ids, the same every run)",
    )
    tokenizer: str | None = Field(
        None,
        description="a local tokenizer.json (or a folder with one) for the length test; null: "
        "estimated counts (provena.tokens)",
    )
    length: DriftLengthConfig = Field(DriftLengthConfig(), description="length in tokens")
    tokens: DriftTokensConfig = Field(DriftTokensConfig(), description="word frequencies")
    language: DriftLanguageConfig = Field(DriftLanguageConfig(), description="languages")
    family: DriftCategoricalConfig = Field(
        DriftCategoricalConfig(), description="task families (meta.family)"
    )
    pii: DriftPiiConfig = Field(DriftPiiConfig(), description="PII rate")
    groups: DriftCategoricalConfig = Field(
        DriftCategoricalConfig(),
        description="shares of each audited attribute's groups (audit_data.attributes)",
    )
    vocabulary: DriftVocabularyConfig = Field(
        DriftVocabularyConfig(), description="out-of-vocabulary share"
    )
    overlap: DriftOverlapConfig = Field(
        DriftOverlapConfig(), description="near-duplicate overlap with training data"
    )


class Params(StrictModel):
    """The whole ``params.yaml``: one section per stage, named like the stage."""

    synth: SynthConfig = Field(description="the bundled synthetic dataset")
    ingest: IngestConfig = Field(description="raw files of any shape into records")
    scrub_pii: ScrubPiiConfig = Field(description="PII found and replaced")
    clean: CleanConfig = Field(description="quality filters and deduplication")
    # 'validate' would shadow pydantic's BaseModel.validate: the attribute is validate_
    validate_: ValidateConfig = Field(
        alias="validate", description="the data contract (Great Expectations)"
    )
    audit_data: AuditDataConfig = Field(description="representation and outcomes by group")
    augment: AugmentConfig = Field(description="records added for the groups found short")
    split: SplitConfig = Field(description="train/validation/test/gold splits and canaries")
    train: TrainConfig = Field(description="the LoRA/QLoRA adapter")
    evaluate: EvaluateConfig = Field(
        EvaluateConfig(), description="quality, fairness and privacy of the adapter"
    )
    card: CardConfig = Field(CardConfig(), description="the model card")
    executor: ExecutorConfig = Field(
        ExecutorConfig(),
        description="where the curation stages run their record functions (shared)",
    )
    report_diff: ReportDiffConfig = Field(
        ReportDiffConfig(),
        description="`provena report diff`: timings left out, tolerance for numbers",
    )
    compare: CompareConfig = Field(
        CompareConfig(),
        description="`provena compare`: two models or answer files, paired intervals, verdicts",
    )
    drift: DriftConfig = Field(
        DriftConfig(), description="`provena drift`: new data compared with the training split"
    )

    def meta_labels(self) -> frozenset[str]:
        """:func:`meta_labels` of these params' sections."""
        return meta_labels(self.audit_data, self.validate_, self.augment, self.split, self.clean)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated/list/dict wrappers down to a model class, if there is one."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        elif origin in (list, tuple):
            annotation = typing.get_args(annotation)[0]
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return annotation


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key used in params files (the alias where there is one)."""
    return {f.alias or name: f for name, f in model.model_fields.items()}


def section_names(model: type[BaseModel] | None = None) -> list[str]:
    """The keys of ``params.yaml`` (or of any config model), in order."""
    return list(_fields_by_key(model or Params))


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = _fields_by_key(current).get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The pydantic field a validation error's location points at, if it is a model field."""
    parent = _model_at(model, tuple(p for p in loc[:-1] if not isinstance(p, int)))
    if parent is None or not loc or isinstance(loc[-1], int):
        return None
    return _fields_by_key(parent).get(str(loc[-1]))


def _allowed_range(field: Any) -> str | None:
    """'10 to 100000', '> 0 and <= 10': a numeric field's bounds, however they were declared."""
    if field is None:
        return None
    found: dict[str, Any] = {}
    stack = list(field.metadata)
    annotation = field.annotation
    for arg in (annotation, *typing.get_args(annotation)):  # Annotated[...] | None keeps them here
        if typing.get_origin(arg) is Annotated:
            stack += list(typing.get_args(arg)[1:])
    while stack:
        item = stack.pop()
        stack += list(getattr(item, "metadata", []) or [])
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(item, bound, None) is not None and not isinstance(item, type):
                found.setdefault(bound, getattr(item, bound))
    if not found:
        return None
    if "ge" in found and "le" in found:
        return f"{found['ge']} to {found['le']}"
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " and ".join(f"{signs[b]} {found[b]}" for b in ("ge", "gt", "le", "lt") if b in found)


def yaml_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line of every key and list item of a YAML document, by its path."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                lines[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                lines[(*path, str(i))] = value.start_mark.line + 1
                walk(value, (*path, str(i)))

    walk(root, ())
    return lines


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[str, ...], int | str]) -> int | str | None:
    # a missing key has no line of its own: take its nearest parent that has one
    path = tuple(str(p) for p in loc)
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def format_validation_error(
    err: ValidationError,
    model: type[BaseModel],
    lines: dict[tuple[str, ...], int | str] | None = None,
) -> list[str]:
    """Turn pydantic's errors into 'key = value: what is wrong (allowed: range)' lines.

    With ``lines`` (from :func:`yaml_key_lines`) each problem starts with its line in the file
    (``line 12``), or with the label ``lines`` holds for it (``profiles/tiny.yaml line 12``).
    """
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = ", ".join(sorted(_fields_by_key(parent))) if parent else "see params.yaml"
            problem = f"{key}: unknown key; allowed keys here: {allowed}"
        elif e["type"] == "missing":
            problem = f"{key}: required key is missing"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            problem = f"{key} = {_short(e.get('input'))}: {msg}"
            rng = _allowed_range(_field_at(model, loc))
            if rng:
                problem += f" (allowed: {rng})"
        line = _line_of(loc, lines) if lines else None
        if isinstance(line, int):
            problem = f"line {line}: {problem}"
        elif line:
            problem = f"{line}: {problem}"
        problems.append(problem)
    return problems


def parse_params(
    data: Any,
    source: str | Path = "params.yaml",
    *,
    lines: dict[tuple[str, ...], int | str] | None = None,
) -> Params:
    """Validate an already-loaded params mapping; ``lines`` puts file lines into errors."""
    if not isinstance(data, dict):
        raise ConfigError(source, [f"expected a mapping of sections, got {type(data).__name__}"])
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, format_validation_error(err, Params, lines)) from None


def merge_params(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` deep-merged over ``base``, as a new mapping (neither input is changed).

    Mappings merge key by key, so an overlay names only the keys it changes and keeps their
    siblings; anything else the overlay sets (a value, a list, null) replaces what ``base``
    has. Nothing is validated here: :func:`parse_params` refuses unknown keys in the result.
    """
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_params(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> tuple[Any, str]:
    """A YAML file's data and text; a missing file or bad YAML is a :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            path, [f"{where}not valid YAML ({getattr(err, 'problem', err)})"]
        ) from None


def _layers(path: str | Path, overlays: Sequence[str | Path]) -> list[tuple[Path, Any, str]]:
    layers = [(p, *_read_yaml(p)) for p in (Path(path), *map(Path, overlays))]
    for p, data, _ in layers[1:]:
        if not isinstance(data, dict):
            raise ConfigError(
                p, [f"an overlay must be a mapping of sections, got {type(data).__name__}"]
            )
    return layers


def _merge_layers(layers: list[tuple[Path, Any, str]]) -> Any:
    data = layers[0][1]
    for _, overlay, _ in layers[1:]:
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise ConfigError(layers[0][0], [f"expected a mapping of sections, got {kind}"])
        data = merge_params(data, overlay)
    return data


def read_params(
    path: str | Path = "params.yaml", overlays: Sequence[str | Path] = ()
) -> dict[str, Any]:
    """The raw mapping of a params file with each overlay file deep-merged over it in turn
    (see :func:`merge_params`), not validated: what a merged ``params.yaml`` would hold."""
    data = _merge_layers(_layers(path, overlays))
    if not isinstance(data, dict):
        raise ConfigError(path, [f"expected a mapping of sections, got {type(data).__name__}"])
    return data


def load_params(path: str | Path = "params.yaml", overlays: Sequence[str | Path] = ()) -> Params:
    """Read and validate a params file, with each of ``overlays`` (files that name only the
    keys they change, like ``profiles/tiny.yaml``) deep-merged over it in turn. Keys a file
    leaves out take the models' defaults. Raises :class:`ConfigError` listing every problem,
    each with the file and line that set it."""
    layers = _layers(path, overlays)
    data = _merge_layers(layers)
    source = " + ".join(str(p) for p, _, _ in layers)
    try:
        return parse_params(data, source)
    except ConfigError:
        # compose the files a second time only when there is an error to place
        lines: dict[tuple[str, ...], int | str] = {}
        for p, _, text in layers:
            named = {
                k: (n if len(layers) == 1 else f"{p} line {n}")
                for k, n in yaml_key_lines(text).items()
            }
            lines.update(named)
        raise ConfigError(source, _problems(data, lines)) from None


def _problems(data: Any, lines: dict[tuple[str, ...], int | str]) -> list[str]:
    try:
        parse_params(data, lines=lines)
    except ConfigError as err:
        return err.problems
    raise AssertionError("params failed once and passed the second time")
