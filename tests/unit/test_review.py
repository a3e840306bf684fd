import csv
import datetime as dt
import hashlib
import json

import pytest

from provena import review
from provena.errors import UserError
from provena.io import RecordWriter, write_jsonl
from tests.factory import record

ATTRS = ["gender", "age_band"]
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)

# (split, family, instruction, input, output, meta, adapter answer)
EXAMPLES = [
    (
        "test",
        "support_reply",
        "Reply to the customer.",
        'He wrote: "hi, there"\nsecond line',
        'Hello, "friend"\r\nBye',
        {"gender": "female", "age_band": "18-29"},
        'Sure, "quoted"\nline two, with a comma',
    ),
    (
        "test",
        "clinical_extraction",
        "Extract.",
        "note 1",
        '{"age": 40}',
        {"gender": "female", "age_band": "30-44"},
        '=HYPERLINK("http://x")',
    ),
    ("test", "support_reply", "Reply.", "", "ok 2", {"gender": "male", "age_band": "18-29"}, "a2"),
    ("test", "support_reply", "Reply.", "x", "ok 3", {"gender": "male", "age_band": "30-44"}, "a3"),
    ("test", "support_reply", "Reply.", "y", "ok 4", {"gender": "nonbinary"}, "a4"),
    ("gold", "support_reply", "Reply.", "z", "ok 5", {"gender": "female", "age_band": "65+"}, "a5"),
]


@pytest.fixture
def project(tmp_path):
    """Split files and a predictions file (base and adapter rows) for EXAMPLES."""
    records, preds = {"test": [], "gold": []}, []
    for split, fam, ins, inp, out, meta, answer in EXAMPLES:
        rec = record(source="s", instruction=ins, input=inp, output=out, meta=meta)
        records[split].append(rec)
        for model, text in (("base", "base says"), ("adapter", answer)):
            preds.append(
                {
                    "split": split,
                    "model": model,
                    "id": rec["id"],
                    "family": fam,
                    "gender": meta.get("gender"),
                    "age_band": meta.get("age_band"),
                    "prediction": text,
                    "reference": out,
                    "metrics": {},
                }
            )
    for split, recs in records.items():
        with RecordWriter(tmp_path / f"{split}.parquet") as w:
            w.write(recs)
    write_jsonl(tmp_path / "predictions.jsonl", preds)
    return tmp_path


def export_all(root, **kw):
    return review.export(
        root / "predictions.jsonl",
        [root / "test.parquet", root / "gold.parquet"],
        root / "sheet.csv",
        attributes=ATTRS,
        **{"per_group": 10, **kw},
    )


def read_sheet(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def fill(path, edits, out=None, delimiter=","):
    """Write the sheet back as a spreadsheet would, with ``edits`` {line: {column: value}}."""
    rows = read_sheet(path)
    for line, cells in edits.items():
        rows[line - 2].update(cells)
    out = out or path
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return out


def line_of(path, answer):
    """The sheet line (header = 1) of the row with this model answer."""
    return next(i for i, r in enumerate(read_sheet(path), 2) if r["model_answer"] == answer)


# ------------------------------------------------------------------------------ sampling


def test_review_id_is_a_stable_hash_of_split_model_and_id():
    payload = '["test","adapter","abc"]'
    assert review.review_id("test", "adapter", "abc") == (
        "r" + hashlib.sha256(payload.encode()).hexdigest()[:16]
    )
    assert review.review_id("test", "adapter", "abc") == "r424c6509cda16019"
    assert review.review_id("gold", "adapter", "abc") != review.review_id("test", "adapter", "abc")


def _rows(spec):
    return [{"review_id": rid, "family": "f", "gender": g, "age_band": a} for rid, g, a in spec]


def test_sample_fills_the_scarcest_groups_first_and_reuses_rows_across_attributes():
    rows = _rows([("r1", "f", "a"), ("r2", "f", "a"), ("r3", "m", "b")])
    got = {r["review_id"] for r in review.sample(rows, ATTRS, per_group=1, seed=0)}
    # r3 alone is male and alone in band b; one of r1/r2 covers both female and band a
    assert len(got) == 2 and "r3" in got and len(got & {"r1", "r2"}) == 1
    assert {r["review_id"] for r in review.sample(rows, ATTRS, per_group=2, seed=0)} == {
        "r1",
        "r2",
        "r3",
    }
    # the seed picks which of r1/r2: both come up over a few seeds
    picks = {
        frozenset(r["review_id"] for r in review.sample(rows, ATTRS, per_group=1, seed=s))
        for s in range(10)
    }
    assert picks == {frozenset({"r1", "r3"}), frozenset({"r2", "r3"})}


def test_sample_gives_every_group_up_to_n_and_ignores_input_order():
    spec = [(f"r{i}", "fmn"[i % 3] if i < 40 else "x", "abcd"[i % 4]) for i in range(41)]
    rows = _rows(spec)
    for n in (1, 3, 5, 20):
        got = review.sample(rows, ATTRS, per_group=n, seed=7)
        counts = review.group_counts(got, ATTRS)
        for attr, groups in review.group_counts(rows, ATTRS).items():
            for g, available in groups.items():
                assert counts[attr].get(g, 0) >= min(n, available), (n, attr, g)
        assert review.sample(rows[::-1], ATTRS, per_group=n, seed=7) == got
    assert review.sample(rows, ATTRS, per_group=3, seed=7) != review.sample(
        rows, ATTRS, per_group=3, seed=8
    )


def test_sample_counts_a_missing_attribute_as_its_own_group():
    rows = _rows([("r1", "f", None), ("r2", "f", "a")])
    assert review.group_counts(rows, ATTRS) == {
        "gender": {"f": 2},
        "age_band": {"(missing)": 1, "a": 1},
    }
    assert len(review.sample(rows, ATTRS, per_group=1, seed=0)) == 2


def test_sample_rejects_a_per_group_below_one():
    with pytest.raises(UserError, match="--per-group must be 1 or more, not 0"):
        review.sample([], ATTRS, per_group=0, seed=0)


# -------------------------------------------------------------------------------- export


def test_export_writes_the_sheet_with_prompts_from_the_splits(project):
    result = export_all(project)
    assert result.rows == 6  # every adapter answer: 10 per group is more than there are
    assert result.counts == {
        "gender": {"female": 3, "male": 2, "nonbinary": 1},
        "age_band": {"(missing)": 1, "18-29": 2, "30-44": 2, "65+": 1},
    }
    raw = (project / "sheet.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfreview_id,split,model,family,id,gender,age_band,prompt,")
    assert raw.split(b"\r\n")[0].endswith(b"model_answer,reference,rating,comment,reviewer")
    rows = read_sheet(project / "sheet.csv")
    assert [r["family"] for r in rows] == ["clinical_extraction"] + ["support_reply"] * 5
    first = next(r for r in rows if r["model_answer"].startswith("Sure"))
    rec_id = record(
        source="s", instruction=EXAMPLES[0][2], input=EXAMPLES[0][3], output=EXAMPLES[0][4]
    )["id"]
    assert first == {
        "review_id": review.review_id("test", "adapter", rec_id),
        "split": "test",
        "model": "adapter",
        "family": "support_reply",
        "id": rec_id,
        "gender": "female",
        "age_band": "18-29",
        # commas, quotes and line breaks come back exactly
        "prompt": 'Reply to the customer.\n\nHe wrote: "hi, there"\nsecond line',
        "model_answer": 'Sure, "quoted"\nline two, with a comma',
        "reference": 'Hello, "friend"\r\nBye',
        "rating": "",
        "comment": "",
        "reviewer": "",
    }
    # an answer a spreadsheet would run as a formula is shown as text
    assert rows[0]["model_answer"] == '\'=HYPERLINK("http://x")'
    assert {r["age_band"] for r in rows if r["gender"] == "nonbinary"} == {"(missing)"}
    assert next(r for r in rows if r["id"] == rows[0]["id"])["prompt"] == "Extract.\n\nnote 1"


def test_export_is_deterministic_and_takes_only_the_splits_named(project):
    export_all(project, per_group=1, seed=3)
    first = (project / "sheet.csv").read_bytes()
    export_all(project, per_group=1, seed=3)
    assert (project / "sheet.csv").read_bytes() == first
    result = review.export(
        project / "predictions.jsonl",
        [project / "test.parquet"],
        project / "t.csv",
        attributes=["gender"],
        per_group=10,
        model="base",
    )
    rows = read_sheet(project / "t.csv")
    assert result.rows == 5 and {(r["split"], r["model"]) for r in rows} == {("test", "base")}
    assert "age_band" not in rows[0]


def test_export_errors_name_the_file_and_line(project):
    preds = project / "predictions.jsonl"
    lines = preds.read_text().splitlines()
    lines[3] = lines[3].replace(json.loads(lines[3])["id"], "0000000000000000")
    preds.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as err:
        export_all(project)
    assert str(err.value) == (
        f"{preds}, line 4: id '0000000000000000' is not in the test split file; the predictions "
        "are older than the split (rerun evaluate)"
    )
    preds.write_text('{"split": "test"}\n')
    with pytest.raises(
        UserError, match=r"line 1: no keys 'model', 'id', 'family', 'prediction', 'reference'$"
    ):
        export_all(project)
    with pytest.raises(UserError, match=r"no answers of model 'tuned' on split\(s\) gold, test"):
        write_jsonl(preds, [])
        export_all(project, model="tuned")


# -------------------------------------------------------------------------------- import


def test_import_round_trip_writes_rated_rows_and_summary(project):
    export_all(project)
    sheet = project / "sheet.csv"
    a, b = line_of(sheet, "a2"), line_of(sheet, '\'=HYPERLINK("http://x")')
    fill(
        sheet,
        {
            a: {"rating": "4", "comment": 'fine, "short"\nok', "reviewer": "Ann"},
            b: {"rating": " 2 "},
        },
    )
    result = review.import_ratings(
        sheet,
        project / "ratings.json",
        reviewer="Bo",
        predictions=project / "predictions.jsonl",
        now=NOW,
    )
    assert (result.rated, result.unrated, result.stale) == (2, 4, [])
    saved = json.loads((project / "ratings.json").read_text())
    assert saved == result.ratings
    assert saved["source"] == "sheet.csv"
    assert saved["sha256"] == hashlib.sha256(sheet.read_bytes()).hexdigest()
    assert saved["imported_at"] == "2026-11-29T12:00:00+00:00"
    rows = read_sheet(sheet)
    assert saved["rows"] == [
        {
            "review_id": rows[b - 2]["review_id"],
            "split": "test",
            "model": "adapter",
            "family": "clinical_extraction",
            "id": rows[b - 2]["id"],
            "attributes": {"gender": "female", "age_band": "30-44"},
            "rating": 2,
            "comment": "",
            "reviewer": "Bo",  # from --reviewer: the cell was empty
        },
        {
            "review_id": rows[a - 2]["review_id"],
            "split": "test",
            "model": "adapter",
            "family": "support_reply",
            "id": rows[a - 2]["id"],
            "attributes": {"gender": "male", "age_band": "18-29"},
            "rating": 4,
            "comment": 'fine, "short"\nok',
            "reviewer": "Ann",
        },
    ]
    assert saved["summary"] == {
        "rated": 2,
        "unrated": 4,
        "mean_rating": 3.0,
        "reviewers": 2,
        "by_family": {
            "clinical_extraction": {"n": 1, "mean_rating": 2.0},
            "support_reply": {"n": 1, "mean_rating": 4.0},
        },
        "by_attribute": {
            "age_band": {
                "18-29": {"n": 1, "mean_rating": 4.0},
                "30-44": {"n": 1, "mean_rating": 2.0},
            },
            "gender": {
                "female": {"n": 1, "mean_rating": 2.0},
                "male": {"n": 1, "mean_rating": 4.0},
            },
        },
    }


def test_import_reports_every_problem_with_file_line_and_column_and_writes_nothing(project):
    export_all(project)
    sheet = project / "sheet.csv"
    rows = read_sheet(sheet)
    fill(
        sheet,
        {
            2: {"rating": "6", "reviewer": "Ann"},
            3: {"rating": "4.5", "reviewer": "Ann"},
            4: {"rating": "3"},
            5: {"review_id": "r0123456789abcdef"},
            6: {"review_id": rows[0]["review_id"], "split": rows[0]["split"], "id": rows[0]["id"]},
        },
    )
    out = project / "ratings.json"
    with pytest.raises(UserError) as err:
        review.import_ratings(sheet, out)
    expected = review.review_id(rows[3]["split"], "adapter", rows[3]["id"])
    assert str(err.value) == (
        f"{sheet}: 5 problems, nothing imported\n"
        "  - line 2, column 'rating': '6' is not a whole number from 1 to 5\n"
        "  - line 3, column 'rating': '4.5' is not a whole number from 1 to 5\n"
        "  - line 4, column 'reviewer': empty on a rated row (fill it in, or pass --reviewer)\n"
        "  - line 5, column 'review_id': 'r0123456789abcdef' is not the id of split "
        f"{rows[3]['split']!r}, model 'adapter', id {rows[3]['id']!r} (expected {expected!r}): "
        "edited, or not from `provena review export`\n"
        f"  - line 6, column 'review_id': {rows[0]['review_id']!r} again (first on line 2)"
    )
    assert not out.exists()


def test_import_counts_lines_as_spreadsheet_rows_when_cells_hold_line_breaks(project):
    export_all(project)
    sheet = project / "sheet.csv"
    # the rows before the last hold multi-line prompts: the line is still the row number
    fill(sheet, {7: {"rating": "0", "reviewer": "A"}})
    with pytest.raises(UserError, match=r"  - line 7, column 'rating': '0' is not a whole"):
        review.import_ratings(sheet, project / "r.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a,b\n1,2\n", "line 1: no column 'review_id', 'split', 'model', 'family', 'id', "
         "'rating', 'comment', 'reviewer' (columns present: a, b); use the sheet `provena review "
         "export` wrote"),
        (b"review_id,split,model,family,id,rating,comment,reviewer\n",
         "line 1: the sheet has a header and no rows"),
        (b"review_id,split,model,family,id,rating,comment,reviewer\nr,s,m,f,i,,,,extra\n",
         "line 2: 9 cells, the header has 8 columns"),
    ],
)  # fmt: skip
def test_import_rejects_sheets_of_the_wrong_shape(tmp_path, content, message):
    path = tmp_path / "s.csv"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        review.import_ratings(path, tmp_path / "r.json")
    assert str(err.value) == f"{path}: 1 problem, nothing imported\n  - {message}"


def test_import_rejects_a_sheet_not_in_utf8(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("review_id,comment\nx,caf\xe9\n".encode("latin-1"))
    with pytest.raises(
        UserError, match=r"s.csv: line 2 is not UTF-8 \(byte 23\); save the sheet as 'CSV UTF-8'$"
    ):
        review.import_ratings(path, tmp_path / "r.json")


def test_import_reads_a_semicolon_sheet_from_excel(project):
    export_all(project)
    fill(project / "sheet.csv", {2: {"rating": "5", "reviewer": "Ann"}}, delimiter=";")
    result = review.import_ratings(project / "sheet.csv", project / "r.json", now=NOW)
    assert result.rated == 1 and result.ratings["rows"][0]["rating"] == 5


def test_second_import_merges_by_review_id_newer_wins(project):
    export_all(project)
    sheet = project / "sheet.csv"
    out = project / "ratings.json"
    ann = fill(sheet, {2: {"rating": "5"}, 3: {"rating": "4"}}, out=project / "ann.csv")
    bo = fill(
        sheet, {3: {"rating": "1", "comment": "wrong"}, 4: {"rating": "2"}}, out=project / "bo.csv"
    )
    review.import_ratings(ann, out, reviewer="Ann", now=NOW)
    later = NOW + dt.timedelta(hours=1)
    merged = review.import_ratings(bo, out, reviewer="Bo", now=later).ratings
    ids = [r["review_id"] for r in read_sheet(sheet)]
    by_id = {r["review_id"]: (r["rating"], r["reviewer"]) for r in merged["rows"]}
    assert by_id == {ids[0]: (5, "Ann"), ids[1]: (1, "Bo"), ids[2]: (2, "Bo")}
    assert merged["summary"]["rated"] == 3 and merged["summary"]["unrated"] == 3
    assert merged["summary"]["mean_rating"] == round(8 / 3, 4)
    assert (merged["source"], merged["imported_at"]) == ("bo.csv", later.isoformat())
    assert [(i["source"], i["rated"], i["unrated"]) for i in merged["imports"]] == [
        ("ann.csv", 2, 4),
        ("bo.csv", 2, 4),
    ]
    assert merged["unrated_review_ids"] == sorted(ids[3:])


def test_import_warns_on_rows_the_predictions_no_longer_hold(project):
    export_all(project)
    sheet = project / "sheet.csv"
    fill(sheet, {2: {"rating": "3", "reviewer": "A"}})
    preds = project / "predictions.jsonl"
    # evaluate ran again: one answer changed, and one example is gone
    rows = [json.loads(x) for x in preds.read_text().splitlines()]
    changed = next(r for r in rows if r["prediction"] == "a2")
    changed["prediction"] = "a different answer"
    rows = [r for r in rows if r["prediction"] != "a3"]
    write_jsonl(preds, rows)
    result = review.import_ratings(sheet, project / "r.json", predictions=preds, now=NOW)
    assert result.stale == sorted([line_of(sheet, "a2"), line_of(sheet, "a3")])
    assert result.rated == 1  # stale rows still come in; the warning says so


# ----------------------------------------------------------------------- summary, Markdown


def test_summarize_by_family_and_group_hand_computed():
    rows = [
        {"family": "x", "rating": 5, "reviewer": "a", "attributes": {"g": "f", "age": "1"}},
        {"family": "x", "rating": 2, "reviewer": "b", "attributes": {"g": "m", "age": "1"}},
        {"family": "y", "rating": 4, "reviewer": "a", "attributes": {"g": "f", "age": "2"}},
        {"rating": None},
    ]
    assert review.summarize(rows) == {
        "rated": 3,
        "unrated": 1,
        "mean_rating": 3.6667,
        "reviewers": 2,
        "by_family": {"x": {"n": 2, "mean_rating": 3.5}, "y": {"n": 1, "mean_rating": 4.0}},
        "by_attribute": {
            "age": {"1": {"n": 2, "mean_rating": 3.5}, "2": {"n": 1, "mean_rating": 4.0}},
            "g": {"f": {"n": 2, "mean_rating": 4.5}, "m": {"n": 1, "mean_rating": 2.0}},
        },
    }
    assert review.summarize([])["mean_rating"] is None


def test_render_markdown_without_ratings_says_how_to_start():
    assert review.render_markdown(None) == (
        "## Human review\n\n"
        "No human review of the model's answers was imported. To start one: "
        "`provena review export reviews/sample.csv`, rate the answers 1-5 in a spreadsheet, "
        "then `provena review import reviews/sample.csv`.\n"
    )


def test_render_markdown_with_ratings():
    rows = [
        {"family": "x", "rating": 5, "reviewer": "a", "attributes": {"g": "f"}},
        {"family": "x", "rating": 2, "reviewer": "b", "attributes": {"g": "m"}},
    ]
    ratings = {
        "source": "s.csv",
        "imported_at": "2026-11-29T12:00:00+00:00",
        "imports": [{}, {}],
        "summary": review.summarize([*rows, {"rating": None}]),
    }
    assert review.render_markdown(ratings) == (
        "## Human review\n\n"
        "People rated 2 of the model's answers from 1 (wrong or harmful) to 5 (right and "
        "complete): mean **3.50**, from 2 reviewer(s) in 2 import(s), the last s.csv on "
        "2026-11-29T12:00:00+00:00. 1 answer(s) sent for review are not rated yet.\n\n"
        "| family | rated | mean rating |\n|---|---:|---:|\n| x | 2 | 3.50 |\n\n"
        "| g | rated | mean rating |\n|---|---:|---:|\n| f | 1 | 5.00 |\n| m | 1 | 2.00 |\n"
    )


def test_load_ratings(tmp_path):
    assert review.load_ratings(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(UserError, match="expected an object with a 'rows' list"):
        review.load_ratings(tmp_path / "bad.json")


def test_import_says_when_a_spreadsheet_turned_an_id_into_a_number(project):
    export_all(project)
    sheet = project / "sheet.csv"
    fill(sheet, {2: {"id": "1.23457E+15"}})
    with pytest.raises(UserError) as err:
        review.import_ratings(sheet, project / "r.json")
    assert str(err.value).endswith(
        "id '1.23457E+15' (expected "
        f"{review.review_id(read_sheet(sheet)[0]['split'], 'adapter', '1.23457E+15')!r}): "
        "the id looks turned into a number by a spreadsheet: open the CSV with the id column "
        "as text"
    )
