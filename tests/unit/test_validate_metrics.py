"""validate's faster metric implementations answer row for row as Great Expectations' own do,
and the suite run through Great Expectations uses them."""

from __future__ import annotations

import inspect
import json

import jsonschema
import pandas as pd
import pytest
from great_expectations.expectations.metrics.column_map_metrics import (
    column_values_match_json_schema as gx_json,
)
from great_expectations.expectations.metrics.column_map_metrics import (
    column_values_not_match_regex_list as gx_regex,
)

from provena import validate
from provena.config import ValidateConfig
from provena.validate import metrics

SCHEMA = {
    "type": "object",
    "required": ["age", "sex"],
    "additionalProperties": False,
    "properties": {
        "age": {"type": "integer", "minimum": 0},
        "sex": {"enum": ["female", "male"]},
        "icd10": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z][0-9]"}},
    },
}
ROWS = [
    '{"age": 3, "sex": "male"}',
    '{"age": 3, "sex": "male"}',  # a repeat
    '{"age": -1, "sex": "male"}',
    '{"age": 40, "sex": "other"}',
    '{"age": 40, "sex": "female", "icd10": ["I10", "x1"]}',
    '{"age": 40, "sex": "female", "extra": 1}',
    "null",
    "[]",
]
# ASCII rows go to RE2, the others to re: \b and \d differ between the two on non-ASCII text
TEXTS = [
    "ssn 123-45-6789 here",
    "no number",
    "ip 10.0.0.1",
    "é123-45-6789",  # no word boundary before 1 in Python's re
    "١٢٣-٤٥-٦٧٨٩ arabic-indic digits",  # \d in Python's re, not in RE2
    "card 4111 1111 1111 1111 and ü",
    "IBAN DE89 3704 0044 0532 0130 00",
    "ok ü",
]
PATTERNS = list(ValidateConfig().residual_pii_patterns.values())


def _gx(provider, column, **kw):
    """Great Expectations' own pandas implementation of a map metric, called directly."""
    return inspect.unwrap(provider.__dict__["_pandas"])(provider, column, **kw)


def test_json_schema_metric_answers_as_great_expectations():
    col = pd.Series(ROWS, index=range(10, 10 + len(ROWS)), dtype="str")
    ours = metrics._matches_json_schema(col, SCHEMA)
    theirs = _gx(gx_json.ColumnValuesMatchJsonSchema, col, json_schema=SCHEMA)
    assert ours.tolist() == [bool(v) for v in theirs] == [1, 1, 0, 0, 0, 0, 0, 0]
    assert ours.index.equals(col.index)
    with pytest.raises(json.JSONDecodeError):  # not JSON: raises, as theirs does
        metrics._matches_json_schema(pd.Series(["{"]), SCHEMA)
    with pytest.raises(jsonschema.SchemaError):
        metrics._matches_json_schema(pd.Series(["1"]), {"type": 12})


def test_regex_list_metric_answers_as_great_expectations():
    for texts in (TEXTS, [t for t in TEXTS if t.isascii()], [t for t in TEXTS if not t.isascii()]):
        for dtype in ("str", object):
            col = pd.Series(texts, index=range(5, 5 + len(texts)), dtype=dtype)
            ours = metrics._not_match_regex_list(col, PATTERNS)
            theirs = _gx(gx_regex.ColumnValuesNotMatchRegexList, col, regex_list=PATTERNS)
            assert ours.tolist() == theirs.tolist()
            assert ours.index.equals(col.index)
    expected = [False, True, False, True, False, False, False, True]
    assert metrics._not_match_regex_list(pd.Series(TEXTS, dtype="str"), PATTERNS).tolist() == (
        expected
    )
    with pytest.raises(ValueError, match="No objects"):
        metrics._not_match_regex_list(pd.Series(TEXTS), [])


def test_the_suite_runs_on_the_faster_metrics(monkeypatch):
    calls = []
    for name in ("_matches_json_schema", "_not_match_regex_list"):
        real = getattr(metrics, name)
        monkeypatch.setattr(
            metrics, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k)
        )
    exps = [
        {
            "type": "expect_column_values_to_match_json_schema",
            "kwargs": {"column": "output_json", "json_schema": SCHEMA},
            "meta": {"name": "schema"},
        },
        {
            "type": "expect_column_values_to_not_match_regex_list",
            "kwargs": {"column": "text", "regex_list": PATTERNS},
            "meta": {"name": "pii"},
        },
    ]
    df = pd.DataFrame(
        {"id": [f"r{i}" for i in range(len(ROWS))], "output_json": ROWS, "text": TEXTS}
    )
    res = validate.run_suite(df, {"name": "t", "expectations": exps}, {}, None)
    assert sorted(calls) == ["_matches_json_schema", "_not_match_regex_list"]
    schema, pii = res
    assert schema["success"] is False and schema["observed"]["unexpected_count"] == 6
    assert pii["success"] is False and pii["observed"]["unexpected_count"] == 5
    assert pii["observed"]["unexpected_ids"] == ["r0", "r2", "r4", "r5", "r6"]
