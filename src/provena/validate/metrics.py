r"""Faster pandas implementations of Great Expectations metrics the suite uses, registered under
the same metric names: the suite, its results and Data Docs are Great Expectations' own, only
the work behind two of them is done once, or by a faster engine where it answers the same.

- ``column_values.match_json_schema`` (``expect_column_values_to_match_json_schema``): Great
  Expectations calls ``jsonschema.validate`` on every row, which checks the *schema* against
  its meta-schema each time (nearly all of the suite's time). Here the schema is
  checked and its validator built once, on the first row, and each distinct value is
  validated once (the extraction outputs repeat). The answer per row is the same: the value
  parsed with ``json.loads`` (a value that does not parse raises, as there) and valid
  against the schema; an invalid schema raises ``SchemaError`` as there.
- ``column_values.not_match_regex_list`` (``expect_column_values_to_not_match_regex_list``,
  the residual-PII check): Great Expectations calls pandas' ``str.contains`` per regex on the
  whole column, and pandas runs Python's ``re`` on every row as soon as one row is not ASCII
  (RE2's ``\b`` and ``\d`` are ASCII-only). Here the same ``str.contains`` runs on the ASCII
  rows and on the others apart, so pandas' own rule sends the ASCII rows to pyarrow's RE2
  where it gives the same answer, and the rest to ``re``.

:func:`register` is called by :func:`provena.validate._context`, after Great Expectations is
imported; registering twice is harmless.
"""

from __future__ import annotations

import json
import logging
from typing import Any

_registered = False


def _matches_json_schema(column, json_schema: dict[str, Any]):
    """Per row of ``column``: its JSON valid against ``json_schema``."""
    import jsonschema
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    validator = None
    ok = np.empty(len(uniques), dtype=bool)
    for k, value in enumerate(uniques):
        instance = json.loads(value)  # not JSON: raises, as Great Expectations' own does
        if validator is None:  # what jsonschema.validate does, once instead of per row
            cls = jsonschema.validators.validator_for(json_schema)
            cls.check_schema(json_schema)
            validator = cls(json_schema)
        ok[k] = validator.is_valid(instance)
    return pd.Series(ok[codes], index=column.index)


def _not_match_regex_list(column, regex_list: list[str]):
    """Per row of ``column``: no regex of ``regex_list`` found in it (as text)."""
    import numpy as np
    import pandas as pd

    if not regex_list:  # Great Expectations' own fails so (pd.concat of no match)
        raise ValueError("No objects to concatenate")
    text = column.astype(str)
    try:
        ascii_rows = text.str.isascii().to_numpy(dtype=bool)
    except (AttributeError, TypeError):  # not a string column pandas can test: one part
        ascii_rows = np.ones(len(text), dtype=bool)
    parts = [m for m in (ascii_rows, ~ascii_rows) if m.any()]
    found = np.zeros(len(text), dtype=bool)
    for regex in regex_list:
        for rows in parts:
            part = text if len(parts) == 1 else text[rows]
            hit = part.str.contains(regex).to_numpy(dtype=bool)
            if len(parts) == 1:
                found |= hit
            else:
                found[rows] |= hit
    return pd.Series(~found, index=column.index)


def register() -> None:
    """Register the implementations above for the pandas engine (once per process)."""
    global _registered
    if _registered:
        return
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.metrics.map_metric_provider import (
        ColumnMapMetricProvider,
        column_condition_partial,
    )

    registry = logging.getLogger("great_expectations.expectations.registry")
    level = registry.level
    registry.setLevel(logging.ERROR)  # it warns that a provider is replaced: that is the point
    try:

        class ColumnValuesMatchJsonSchemaOnce(ColumnMapMetricProvider):
            condition_metric_name = "column_values.match_json_schema"
            condition_value_keys = ("json_schema",)

            @column_condition_partial(engine=PandasExecutionEngine)
            def _pandas(cls, column, json_schema, **kwargs):
                return _matches_json_schema(column, json_schema)

        class ColumnValuesNotMatchRegexListByPart(ColumnMapMetricProvider):
            condition_metric_name = "column_values.not_match_regex_list"
            condition_value_keys = ("regex_list",)

            @column_condition_partial(engine=PandasExecutionEngine)
            def _pandas(cls, column, regex_list, **kwargs):
                return _not_match_regex_list(column, regex_list)

    finally:
        registry.setLevel(level)
    _registered = True
