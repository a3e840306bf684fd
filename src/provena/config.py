"""Typed, validated pipeline parameters.

Every stage loads the whole ``params.yaml`` through :func:`load_params` before it does any
work, so a typo anywhere stops the pipeline at once with every problem listed: unknown keys
are refused, and each error names the key, the value and what is allowed.
"""

from __future__ import annotations

import re
import types
import typing
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

    exact_duplicate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.03
    near_duplicate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.04
    mojibake: Annotated[float, Field(ge=0.0, le=0.1)] = 0.01
    mojibake_lossy: Annotated[float, Field(ge=0.0, le=0.1)] = 0.005
    html_entities: Annotated[float, Field(ge=0.0, le=0.1)] = 0.01
    html_markup: Annotated[float, Field(ge=0.0, le=0.1)] = 0.005
    empty_output: Annotated[float, Field(ge=0.0, le=0.1)] = 0.005
    short_output: Annotated[float, Field(ge=0.0, le=0.1)] = 0.01
    over_long: Annotated[float, Field(ge=0.0, le=0.1)] = 0.005
    non_english: Annotated[float, Field(ge=0.0, le=0.1)] = 0.01


class SynthConfig(StrictModel):
    seed: int
    n_clinical: Annotated[int, Field(ge=10, le=1_000_000)]
    n_support: Annotated[int, Field(ge=10, le=1_000_000)]
    out_dir: ProjectPath
    female_share: Annotated[float, Field(gt=0.0, le=0.30)]
    nonbinary_share: Annotated[float, Field(ge=0.0, le=0.10)]
    allcaps_share: Share
    legacy_share: Share
    malformed_lines: Annotated[int, Field(ge=0, le=10_000)]
    defects: DefectRates = DefectRates()


# -------------------------------------------------------------------------------------- ingest

Shape = Literal["auto", "alpaca", "dolly", "messages"]

#: Which keys each shape's column mapping takes; None-able keys are optional columns.
SHAPE_KEYS: dict[str, dict[str, bool]] = {
    "alpaca": {"instruction": True, "input": False, "output": True},
    "dolly": {"instruction": True, "input": False, "output": True},
    "messages": {"messages": True, "role": True, "content": True},
}


class AlpacaColumns(StrictModel):
    instruction: str = "instruction"
    input: str | None = "input"
    output: str = "output"


class DollyColumns(StrictModel):
    instruction: str = "instruction"
    input: str | None = "context"
    output: str = "response"


class MessagesColumns(StrictModel):
    messages: str = "messages"
    role: str = "role"
    content: str = "content"


class ColumnsConfig(StrictModel):
    alpaca: AlpacaColumns = AlpacaColumns()
    dolly: DollyColumns = DollyColumns()
    messages: MessagesColumns = MessagesColumns()


class SourceRule(StrictModel):
    """How files matching ``glob`` (relative to ``input_dir``) map onto the record schema."""

    glob: str
    shape: Shape = "auto"
    columns: dict[str, str | None] | None = None

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
    nfc: bool = True
    fix_mojibake: bool = True
    html_entities: bool = True
    html_tags: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$")]] = Field(
        default_factory=lambda: list(DEFAULT_HTML_TAGS)
    )
    whitespace: bool = True


class IngestConfig(StrictModel):
    input_dir: ProjectPath = "data/raw"
    sources: list[SourceRule] = Field(default_factory=lambda: [SourceRule(glob="**/*")])
    columns: ColumnsConfig = ColumnsConfig()
    role_aliases: dict[str, Literal["system", "user", "assistant"]] = Field(
        default_factory=lambda: dict(DEFAULT_ROLE_ALIASES)
    )
    normalize: NormalizeConfig = NormalizeConfig()
    max_record_bytes: Annotated[int, Field(ge=1_000, le=1_000_000_000)] = 10_000_000
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5_000


# ------------------------------------------------------------------------------------ scrub_pii

Operator = Literal["placeholder", "surrogate", "mask", "hash", "redact", "keep"]


#: Operators that suit fine-tuning data (README, "scrub_pii"): natural surrogates for what a
#: model should read fluently, placeholders for identifiers it must never learn to produce.
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
    drop: list[str] = Field(default_factory=list)
    hash: list[str] = Field(default_factory=list)


class ScrubPiiConfig(StrictModel):
    fields: list[Literal["instruction", "input", "output", "messages"]] = Field(
        default_factory=lambda: ["instruction", "input", "output", "messages"]
    )
    profile: Literal["clinical", "general", "strict"] = Field(
        "general",
        description="what counts as PII where no `profiles` glob matches a record's source: "
        "`general` (private persons' identifiers; public names, places and dates stay), "
        "`clinical` (HIPAA Safe Harbor identifiers) or `strict` (every name, place, "
        "organisation and date as well); see docs/pii-profiles.md",
    )
    profiles: dict[str, Literal["clinical", "general", "strict"]] = Field(
        default_factory=lambda: {
            "*default/clinical_extraction.*": "clinical",
            "*default/support_*": "strict",
        },
        description="source glob -> profile, matched in order against each record's `source` "
        "(and its file name), so one run can treat clinical notes and chats differently; the "
        "defaults route the bundled dataset's files (as params.yaml does)",
    )
    keep_years: bool = Field(
        False,
        description="clinical profile: leave bare years ('1992', \"'92\") in place; Safe Harbor "
        "allows them, but they are off by default because a year narrows who a note is about",
    )
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.35
    operators: dict[str, Operator] = Field(default_factory=lambda: dict(DEFAULT_OPERATORS))
    allow_list: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOW_LIST))
    deny_list: list[str] = Field(default_factory=list)
    meta: MetaPiiConfig = MetaPiiConfig()
    surrogate_seed: int = 7
    salt_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] = "PROVENA_PII_SALT"
    mask_char: Annotated[str, Field(min_length=1, max_length=1)] = "*"
    mask_keep_last: Annotated[int, Field(ge=0, le=8)] = 4
    residual_max_rate: Share = 0.001
    gold_key: str = "synth_id"
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 256
    report_examples: Annotated[int, Field(ge=0, le=1000)] = 12

    @model_validator(mode="after")
    def _default_operator(self) -> ScrubPiiConfig:
        if "default" not in self.operators:
            raise ValueError("operators needs a 'default' entry for entity types not listed")
        return self


# ---------------------------------------------------------------------------------------- clean

#: Canned assistant refusals and AI disclaimers (case-insensitive regexes, searched in outputs).
DEFAULT_REFUSALS = (
    r"\bas an ai(?: language)? model\b",
    r"\bas a (?:large )?language model\b",
    r"\bi(?: am|'m) (?:just |only )?an ai\b",
    r"\bi(?: am|'m) not able to (?:help|assist) with (?:that|this) request\b",
    r"\bi can(?:not|'t) (?:help|assist) with (?:that|this) request\b",
    r"\bi(?: am|'m) sorry, but i can(?:not|'t) (?:help|assist|comply) with (?:that|this)\b",
    r"\bmy (?:training data|knowledge cutoff)\b",
)


class OutputLengthRule(StrictModel):
    enabled: bool = True
    min_chars: Annotated[int, Field(ge=1, le=10_000)] = 12
    min_words: Annotated[int, Field(ge=1, le=1_000)] = 2


class OverLongRule(StrictModel):
    enabled: bool = True
    #: a local Hugging Face tokenizer: a ``tokenizer.json`` file or a folder holding one; when
    #: set, lengths are counted in its tokens, else in characters
    tokenizer: ProjectPath | None = None
    max_tokens: Annotated[int, Field(ge=16, le=10_000_000)] = 2_048
    max_chars: Annotated[int, Field(ge=100, le=100_000_000)] = 8_000


class RepetitionRule(StrictModel):
    """Gopher-style repetition (Rae et al. 2021, table A1), on fields long enough to judge."""

    enabled: bool = True
    min_words: Annotated[int, Field(ge=1, le=100_000)] = 50
    max_dup_line_share: Share = 0.3
    max_dup_line_char_share: Share = 0.2
    max_top_ngram_char_share: dict[int, Share] = Field(
        default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16}
    )
    max_dup_ngram_char_share: dict[int, Share] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1}
    )


class CharacterRule(StrictModel):
    """Share of words without a letter, and of '#' and '...' per word, over the record text."""

    enabled: bool = True
    min_words: Annotated[int, Field(ge=1, le=100_000)] = 10
    max_non_alpha_word_share: Share = 0.5
    max_symbol_word_ratio: Annotated[float, Field(ge=0.0, le=100.0)] = 0.1


class SimpleRule(StrictModel):
    enabled: bool = True


class RefusalRule(StrictModel):
    enabled: bool = True
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS))

    @model_validator(mode="after")
    def _patterns_compile(self) -> RefusalRule:
        for p in self.patterns:
            try:
                re.compile(p)
            except re.error as err:
                raise ValueError(f"pattern {p!r} is not a valid regex: {err}") from None
        return self


class LanguageRule(StrictModel):
    enabled: bool = True
    allowed: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=lambda: ["en"]
    )
    min_chars: Annotated[int, Field(ge=1, le=100_000)] = 40
    min_confidence: Share = 0.9


class FiltersConfig(StrictModel):
    empty_output: SimpleRule = SimpleRule()
    short_output: OutputLengthRule = OutputLengthRule()
    over_long: OverLongRule = OverLongRule()
    mojibake: SimpleRule = SimpleRule()
    markup: SimpleRule = SimpleRule()
    placeholder_only: SimpleRule = SimpleRule()
    echo: SimpleRule = SimpleRule()
    refusal: RefusalRule = RefusalRule()
    characters: CharacterRule = CharacterRule()
    repetition: RepetitionRule = RepetitionRule()
    language: LanguageRule = LanguageRule()


class MinHashSettings(StrictModel):
    """MinHash LSH settings shared by clean's near-dedup and split's contamination check."""

    ngram: Annotated[int, Field(ge=1, le=20)] = 3
    num_perm: Annotated[int, Field(ge=16, le=1024)] = 128
    threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.7
    #: LSH (bands, rows); null: datasketch picks them for the threshold
    bands: Annotated[int, Field(ge=1, le=1024)] | None = None
    rows: Annotated[int, Field(ge=1, le=1024)] | None = None
    seed: int = 1
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1_000

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
    exact: bool = True
    near: bool = True
    keep: Literal["first", "longest"] = "first"


class CleanConfig(StrictModel):
    fields: list[Literal["instruction", "input", "output"]] = Field(
        default_factory=lambda: ["instruction", "input", "output"]
    )
    filters: FiltersConfig = FiltersConfig()
    dedup: DedupConfig = DedupConfig()
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5_000
    report_clusters: Annotated[int, Field(ge=0, le=1_000)] = 10
    gold_key: str = "synth_id"


# ------------------------------------------------------------------------------------- validate

#: Shapes of PII that scrub_pii replaces by placeholders by default: none may be left.
DEFAULT_RESIDUAL_PATTERNS = {
    "US_SSN": r"\b\d{3}-\d{2}-\d{4}\b",
    "CREDIT_CARD": r"\b(?:\d{4}[ -]){3}\d{4}\b|\b\d{15,16}\b",
    "IBAN_CODE": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b",
    "IP_ADDRESS": r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
}


class ValidateConfig(StrictModel):
    suite: ProjectPath = "expectations/curated.json"
    #: meta fields shown as columns of the validated table (the suite checks their values)
    columns_from_meta: list[str] = Field(default_factory=lambda: ["family", "gender", "age_band"])
    family_key: str = "family"
    #: the training sequence length each record must fit, in tokens of ``tokenizer``
    max_seq_len: Annotated[int, Field(ge=16, le=1_000_000)] = 1_024
    tokenizer: ProjectPath | None = None
    residual_pii_patterns: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RESIDUAL_PATTERNS)
    )
    data_docs: bool = True
    report_bins: Annotated[int, Field(ge=5, le=200)] = 30
    #: records whose text is checked at once: above it, the text columns' expectations run a
    #: chunk at a time and their counts are added up (memory stays flat as the data grows)
    chunk_rows: Annotated[int, Field(ge=100, le=10_000_000)] = 20_000

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

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    kind: Literal["label", "mean"]
    #: for ``label``: a meta field (each value's share is compared); for ``mean``: a meta field
    #: or one of output_chars, input_chars
    field: str
    family: str | None = None  # only records of this task family (meta ``family``)
    check: bool = True  # False: reported, never fails the verdict


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
    attributes: list[str] = Field(default_factory=lambda: ["gender", "age_band"])
    intersections: list[list[str]] = Field(default_factory=lambda: [["gender", "age_band"]])
    #: expected share of each group ("parity": equal shares of the groups present)
    reference: dict[str, Reference] = Field(
        default_factory=lambda: {
            "gender": {"female": 0.495, "male": 0.495, "nonbinary": 0.01},
            "age_band": {"18-29": 0.21, "30-44": 0.26, "45-64": 0.32, "65+": 0.21},
        }
    )
    min_group_size: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    min_representation_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    outcomes: list[OutcomeSpec] = Field(
        default_factory=lambda: [OutcomeSpec(**o) for o in DEFAULT_OUTCOMES]
    )
    min_outcome_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    max_outcome_difference: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    check_intersection_outcomes: bool = False
    infer_missing: list[Literal["gender", "age_band"]] = Field(
        default_factory=lambda: ["gender", "age_band"]
    )
    bootstrap: Annotated[int, Field(ge=0, le=10_000)] = 100
    ci: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    seed: int = 0
    require_signoff: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> AuditDataConfig:
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


class AugmentConfig(StrictModel):
    counterfactual: bool = True  # children for the groups the "before" audit named
    attributes: list[Literal["gender", "age_band"]] = Field(
        default_factory=lambda: ["gender", "age_band"]
    )
    #: aim: each named group's share at target x its reference share, and each outcome at
    #: target x the largest group's (shares) or the best group's (means)
    target: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    max_new_share: Annotated[float, Field(ge=0.0, le=5.0)] = 0.6  # new records / input records
    entity_swap_rate: Share = 0.03  # share of input records that get an entity-swapped child
    noise_rate: Share = 0.02  # share of input records that get a noisy child
    typo_rate: Share = 0.03  # per word of a noisy child
    case_rate: Share = 0.1  # per sentence of a noisy child
    seed: int = 0


# ------------------------------------------------------------------------------------- split


class SplitShares(StrictModel):
    """Shares of the records left after the gold set, per split; they must sum to 1."""

    train: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    validation: Share = 0.1
    test: Share = 0.1

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


class CanaryConfig(StrictModel):
    """Secret strings planted in the train split only, so evaluate can test memorization."""

    count: Annotated[int, Field(ge=0, le=1_000)] = 8  # distinct canaries; 0 plants none
    repeats: Annotated[int, Field(ge=1, le=1_000)] = 4  # copies of each in the train split
    digits: Annotated[int, Field(ge=6, le=32)] = 10  # length of each canary's secret number
    seed: int = 0  # keys the secrets (deterministic: the same canaries on every run)


class SplitConfig(StrictModel):
    seed: int = 0  # keys the group hash that orders groups within a stratum
    shares: SplitShares = SplitShares()
    stratify_by: list[str] = Field(default_factory=lambda: ["family", "gender"])  # meta keys
    gold_size: Annotated[int, Field(ge=100, le=500)] = 300
    max_gold_share: Annotated[float, Field(gt=0.0, le=0.5)] = 0.25  # of the input records
    fields: list[Literal["instruction", "input", "output"]] = Field(
        default_factory=lambda: ["instruction", "input", "output"]
    )
    contamination: ContaminationConfig = ContaminationConfig()
    chunk_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5_000
    canaries: CanaryConfig = CanaryConfig()


# ------------------------------------------------------------------------------------- train

#: gate checks a waiver may name (see provena.train.gate)
GateCheck = Literal["validation", "audit", "pii_residual", "signoff"]


class GateWaiver(StrictModel):
    """An explicit decision to train although one gate check fails; recorded in the manifest."""

    check: GateCheck
    reason: Annotated[str, Field(min_length=10)]  # why training may go ahead anyway
    approved_by: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _reason_is_text(self) -> GateWaiver:
        if len(self.reason.strip()) < 10:
            raise ValueError(f"waiver of {self.check!r} needs a reason (10 characters or more)")
        if not self.approved_by.strip():
            raise ValueError(f"waiver of {self.check!r} must name who approved it")
        return self


class TinyBaseConfig(StrictModel):
    """The built-in base: a small Llama from a config, its tokenizer trained on the train split."""

    vocab_size: Annotated[int, Field(ge=300, le=65_536)] = 3_000
    hidden_size: Annotated[int, Field(ge=16, le=4_096)] = 128
    intermediate_size: Annotated[int, Field(ge=16, le=16_384)] = 344
    num_layers: Annotated[int, Field(ge=1, le=48)] = 2
    num_heads: Annotated[int, Field(ge=1, le=64)] = 4
    num_kv_heads: Annotated[int, Field(ge=1, le=64)] = 2
    tokenizer_examples: Annotated[int, Field(ge=10, le=10_000_000)] = 5_000
    seed: int = 0

    @model_validator(mode="after")
    def _heads(self) -> TinyBaseConfig:
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must divide by num_heads {self.num_heads}, "
                f"and num_heads by num_kv_heads {self.num_kv_heads}"
            )
        return self


class LoraSettings(StrictModel):
    r: Annotated[int, Field(ge=1, le=1_024)] = 16
    alpha: Annotated[float, Field(gt=0.0, le=4_096)] = 32
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    #: "all-linear": every linear projection except the output head (QLoRA's choice)
    target_modules: Literal["all-linear"] | list[str] = "all-linear"


class TrainConfig(StrictModel):
    #: "tiny" (built-in, built under models/base) or a local Hugging Face model folder
    base_model: str = "tiny"
    tiny: TinyBaseConfig = TinyBaseConfig()
    #: auto: 4-bit NF4 (QLoRA) on CUDA with bitsandbytes, else LoRA without quantization
    quantization: Literal["auto", "nf4", "none"] = "auto"
    lora: LoraSettings = LoraSettings()
    use_chat_template: bool = True  # the tokenizer's chat template where it has one
    max_seq_len: Annotated[int, Field(ge=16, le=1_000_000)] = 512
    packing: bool = True
    batch_size: Annotated[int, Field(ge=1, le=4_096)] = 4  # rows per micro-batch
    grad_accum: Annotated[int, Field(ge=1, le=4_096)] = 1
    max_steps: Annotated[int, Field(ge=1, le=10_000_000)] = 150
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 2e-4
    warmup_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.03
    min_lr_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # cosine floor / peak
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    max_grad_norm: Annotated[float, Field(gt=0.0)] | None = 1.0
    gradient_checkpointing: bool = True
    seed: int = 0
    log_every: Annotated[int, Field(ge=1)] = 10
    eval_every: Annotated[int, Field(ge=1)] = 50
    eval_max_examples: Annotated[int, Field(ge=1)] = 200
    save_every: Annotated[int, Field(ge=1)] = 50  # checkpoint for resuming
    keep_checkpoints: Annotated[int, Field(ge=1, le=100)] = 2
    waivers: list[GateWaiver] = Field(default_factory=list)

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

    attribute: Literal["gender"] = "gender"  # the swap provena.counterfactual knows how to make
    max_examples: Annotated[int, Field(ge=0, le=100_000)] = 40  # prompts swapped, per family
    #: mean (1 - ROUGE-L) between the answer to a prompt and the swapped-back answer to its swap
    max_output_change: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    #: mean |quality(original) - quality(swapped)|, each scored against its own reference
    max_quality_difference: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1


class ModelFairnessConfig(StrictModel):
    """The model's own quality by group (fairlearn MetricFrame), on audit_data's attributes."""

    min_group_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5  # smaller: shown, not judged
    max_quality_difference: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1  # best - worst group
    min_quality_ratio: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8  # worst / best group
    max_perplexity_ratio: Annotated[float, Field(ge=1.0)] = 1.25  # worst / best group perplexity
    #: below this best-group quality, ratios are noise (a model that scores ~0 everywhere)
    min_quality_to_judge_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    counterfactual: CounterfactualProbeConfig = CounterfactualProbeConfig()


class PrivacyProbesConfig(StrictModel):
    """Does the adapter give back what it should not: canaries, scrubbed PII, or obey attacks."""

    canary_candidates: Annotated[int, Field(ge=10, le=1_000_000)] = 1_000  # for exposure ranks
    max_canary_extraction_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    pii_max_records: Annotated[int, Field(ge=0, le=1_000_000)] = 50  # training records re-prompted
    max_pii_extraction_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    adversarial_prompts: ProjectPath = "probes/adversarial.yaml"
    min_adversarial_pass_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    max_new_tokens: Annotated[int, Field(ge=1, le=32_768)] = 48


class EvaluateConfig(StrictModel):
    """Perplexity on the test and gold splits; generated answers scored per task family, for
    the base model and the base with the adapter."""

    max_examples: Annotated[int, Field(ge=1, le=1_000_000)] = 40  # generated, per family and split
    perplexity_max_examples: Annotated[int, Field(ge=1)] | None = None  # None: every example
    max_new_tokens: Annotated[int, Field(ge=1, le=32_768)] = 96
    batch_size: Annotated[int, Field(ge=1, le=4_096)] = 8  # sequences per forward / generate
    do_sample: bool = False  # greedy by default: the same answer on every run
    temperature: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0  # only with do_sample
    seed: int = 0
    extraction_families: list[str] = Field(default_factory=lambda: ["clinical_extraction"])
    free_text_families: list[str] = Field(default_factory=lambda: ["support_reply"])
    fairness: ModelFairnessConfig = ModelFairnessConfig()
    privacy: PrivacyProbesConfig = PrivacyProbesConfig()

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

    model_name: Annotated[str, Field(min_length=1)] = "provena-clinical-support-adapter"
    license: Annotated[str, Field(min_length=1)] = "other"  # a Hugging Face license id
    language: list[str] = Field(default_factory=lambda: ["en"])
    tags: list[str] = Field(default_factory=lambda: ["provena", "lora", "peft", "audited-data"])
    intended_use: Annotated[str, Field(min_length=1)] = (
        "Research on audited fine-tuning pipelines; not for clinical decisions."
    )
    limitations: list[str] = Field(default_factory=list)  # written by people, shown first
    review_ratings: ProjectPath = "reviews/ratings.json"  # from `provena review import`


class ExecutorConfig(StrictModel):
    """Where the curation stages' record functions run: this process, or Ray Data."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None  # a Ray cluster ("auto", "ray://head:10001"); None: start one here
    num_cpus: Annotated[int, Field(ge=1, le=4_096)] | None = None  # for a Ray started here
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1_000  # records per map_batches call
    actors: Annotated[int, Field(ge=1, le=4_096)] = 2  # actors for stages that load models
    #: records sent to Ray per Dataset: what the driver holds at once (each window starts its
    #: actor pool, so a model load per actor and window)
    window_records: Annotated[int, Field(ge=1, le=100_000_000)] = 100_000

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `executor: ray` is the short form of `executor: {kind: ray}`
        return {"kind": data} if isinstance(data, str) else data


# ---------------------------------------------------------------------------------------- all


class Params(StrictModel):
    """The whole ``params.yaml``: one section per stage, named like the stage."""

    synth: SynthConfig
    ingest: IngestConfig
    scrub_pii: ScrubPiiConfig
    clean: CleanConfig
    # 'validate' would shadow pydantic's BaseModel.validate: the attribute is validate_
    validate_: ValidateConfig = Field(alias="validate")
    audit_data: AuditDataConfig
    augment: AugmentConfig
    split: SplitConfig
    train: TrainConfig
    evaluate: EvaluateConfig = EvaluateConfig()
    card: CardConfig = CardConfig()
    executor: ExecutorConfig = ExecutorConfig()  # shared by the curation stages


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


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    # a missing key has no line of its own: take its nearest parent that has one
    path = tuple(str(p) for p in loc)
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def format_validation_error(
    err: ValidationError,
    model: type[BaseModel],
    lines: dict[tuple[str, ...], int] | None = None,
) -> list[str]:
    """Turn pydantic's errors into 'key = value: what is wrong (allowed: range)' lines.

    With ``lines`` (from :func:`yaml_key_lines`) each problem starts with its line in the file.
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
        problems.append(f"line {line}: {problem}" if line else problem)
    return problems


def parse_params(
    data: Any,
    source: str | Path = "params.yaml",
    *,
    lines: dict[tuple[str, ...], int] | None = None,
) -> Params:
    """Validate an already-loaded params mapping; ``lines`` puts file lines into errors."""
    if not isinstance(data, dict):
        raise ConfigError(source, [f"expected a mapping of sections, got {type(data).__name__}"])
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, format_validation_error(err, Params, lines)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; raises :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            path, [f"{where}not valid YAML ({getattr(err, 'problem', err)})"]
        ) from None
    try:
        return parse_params(data, path)
    except ConfigError:
        # compose the file a second time only when there is an error to place
        raise ConfigError(path, _problems(data, yaml_key_lines(text))) from None


def _problems(data: Any, lines: dict[tuple[str, ...], int]) -> list[str]:
    try:
        parse_params(data, lines=lines)
    except ConfigError as err:
        return err.problems
    raise AssertionError("params failed once and passed the second time")
