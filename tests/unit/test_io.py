"""provena.io.read_jsonl_lines: the one JSONL reader that names the file and line of a bad line."""

from __future__ import annotations

import re

import pytest

from provena.errors import UserError
from provena.io import read_jsonl, read_jsonl_lines, read_rows

GOOD = '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n'


@pytest.mark.parametrize(
    ("content", "required", "expected"),
    [
        (GOOD, (), [(1, {"a": 1, "b": "x"}), (2, {"a": 2, "b": "y"})]),
        (GOOD, ("a", "b"), [(1, {"a": 1, "b": "x"}), (2, {"a": 2, "b": "y"})]),
        ('\n  \n{"a": 1}\n\n{"a": 2}', ("a",), [(3, {"a": 1}), (5, {"a": 2})]),
        ('{"a": 1}\r\n\r\n{"a": 2}\r\n', (), [(1, {"a": 1}), (3, {"a": 2})]),
        ('{"a": 1}\n{"a": \n', (), "line 2: not valid JSON (Expecting value at column 6)"),
        ('{"a": 1}\n\n[1, 2]\n', (), "line 3: not a JSON object (got an array)"),
        ('"text"\n', (), "line 1: not a JSON object (got a string)"),
        ("null\n", (), "line 1: not a JSON object (got null)"),
        ('{"a": 1}\n{"b": 2}\n', ("a",), "line 2: no key 'a'"),
        ('{"a": 1}\n', ("a", "b", "c"), "line 1: no keys 'b', 'c'"),
        (b'{"a": 1}\n{"a": "\xff"}\n', (), "line 2: not UTF-8 text (byte 8 is 0xff)"),
        (None, (), None),
    ],
)  # fmt: skip
def test_read_jsonl_lines(tmp_path, content, required, expected):
    path = tmp_path / "in.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_bytes(content.encode())
    if isinstance(expected, list):
        assert list(read_jsonl_lines(path, required=required)) == expected
        return
    message = f"{path}: no such file" if expected is None else f"{path}, {expected}"
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        list(read_jsonl_lines(path, required=required))


def test_name_is_how_errors_name_the_file(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1}\n3\n')
    with pytest.raises(
        UserError, match=r"^data/in\.jsonl, line 2: not a JSON object \(got a number\)$"
    ):
        list(read_jsonl_lines(path, name="data/in.jsonl"))
    with pytest.raises(UserError, match=r"^data/gone\.jsonl: no such file$"):
        list(read_jsonl_lines(tmp_path / "gone.jsonl", name="data/gone.jsonl"))


def test_lines_before_the_bad_one_are_yielded_first(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1}\n{oops\n')
    rows = read_jsonl_lines(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(UserError, match=r", line 2: not valid JSON"):
        next(rows)


def test_read_jsonl_and_read_rows_name_the_bad_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert list(read_jsonl(path)) == read_rows(path) == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\n[2]\n')
    for read in (read_jsonl, read_rows):
        with pytest.raises(UserError, match=rf"^{re.escape(str(path))}, line 2: not a JSON object"):
            list(read(path))
