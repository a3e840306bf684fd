"""augment's resemblance check: children against their parents and the donor pool."""

from __future__ import annotations

import pandas as pd
import pytest

from provena.augment import _fair_tail
from provena.augment.resemble import check
from provena.config import ResemblanceConfig

CFG = ResemblanceConfig()


def _parents(n: int = 200) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rows.append(
            {
                "family": "support_reply",
                "age_band": "65+" if i % 4 == 0 else ["18-29", "30-44", "45-64"][i % 3],
                "instruction_chars": 20,
                "input_chars": 100 + i % 50,
                "output_chars": 200 + i,  # 200..399
                "resolution": "refund" if i % 2 else "declined",
            }
        )
    return pd.DataFrame(rows)


def _kids(df: pd.DataFrame, parents: list[int], **change) -> pd.DataFrame:
    kids = df.loc[parents].reset_index(drop=True).copy()
    kids["parent"] = parents
    kids["attribute"] = "age_band"
    kids["group"] = "65+"
    kids["age_band"] = "65+"
    for col, f in change.items():
        kids[col] = f(kids[col])
    return kids


LABELS = {"support_reply": ["resolution"]}


def test_children_that_copy_a_fair_draw_of_their_parents_pass():
    df = _parents()
    donors = [i for i in df.index if df.at[i, "age_band"] != "65+"]
    rep = check(df, _kids(df, donors[::2]), LABELS, CFG)
    g = rep["groups"]["age_band=65+"]
    assert rep["verdict"] == g["verdict"] == "pass" and g["flags"] == []
    out = g["families"]["support_reply"]["lengths"]["output"]
    assert out["distance_parents"] == 0.0 and out["ks_parents"] == 0.0
    assert out["distance_pool"] < CFG.max_length_distance
    assert g["families"]["support_reply"]["labels"]["resolution"]["tv"] == 0.0


def test_a_rewrite_that_lengthens_the_output_is_flagged():
    df = _parents()
    donors = [i for i in df.index if df.at[i, "age_band"] != "65+"]
    kids = _kids(df, donors, output_chars=lambda s: (s * 1.3).round().astype(int))
    rep = check(df, kids, LABELS, CFG)
    g = rep["groups"]["age_band=65+"]
    out = g["families"]["support_reply"]["lengths"]["output"]
    assert out["mean_gap_parents"] == pytest.approx(0.3, abs=0.01)
    assert out["distance_parents"] == pytest.approx(0.3, abs=0.01)
    assert rep["verdict"] == g["verdict"] == g["families"]["support_reply"]["verdict"] == "warn"
    assert any("output: lengths 0.3" in f and "parents'" in f for f in g["flags"])


def test_children_drawn_from_the_pools_tail_are_flagged():
    df = _parents()
    donors = [i for i in df.index if df.at[i, "age_band"] != "65+"]
    longest = sorted(donors, key=lambda i: -df.at[i, "output_chars"])[:40]
    g = check(df, _kids(df, longest), LABELS, CFG)["groups"]["age_band=65+"]
    out = g["families"]["support_reply"]["lengths"]["output"]
    assert out["distance_parents"] == 0.0  # copies of their parents...
    assert out["mean_gap_pool"] > 0.2  # ...but the parents are the pool's longest
    assert g["verdict"] == "warn" and any("donor pool" in f for f in g["flags"])


def test_label_and_field_drift_is_flagged():
    df = _parents()
    donors = [i for i in df.index if df.at[i, "age_band"] != "65+"]
    kids = _kids(
        df,
        donors,
        resolution=lambda s: s.where(s.index % 5 != 0, "escalated"),
        input_chars=lambda s: s.where(s.index % 5 != 0, 0),
    )
    g = check(df, kids, LABELS, CFG)["groups"]["age_band=65+"]
    fam = g["families"]["support_reply"]
    assert fam["labels"]["resolution"]["tv"] == pytest.approx(0.2, abs=0.01)
    assert fam["non_empty"]["input"]["gap"] == pytest.approx(0.2, abs=0.01)
    assert any("resolution" in f for f in g["flags"])
    assert any("input: non-empty share" in f for f in g["flags"])


def test_a_small_family_is_reported_not_judged():
    df = _parents()
    kids = _kids(df, [1, 2, 3], output_chars=lambda s: s * 3)
    g = check(df, kids, LABELS, CFG)["groups"]["age_band=65+"]
    assert g["verdict"] == g["families"]["support_reply"]["verdict"] == "too_small"
    assert g["families"]["support_reply"]["children"] == 3


def test_the_fair_tail_lifts_the_mean_within_the_tolerance():
    values = pd.Series(range(200, 400), index=range(1000, 1200))  # mean 299.5
    rows = _fair_tail(values, 0.1, short=0.0, goal=250.0)
    picked = values.loc[sorted(rows)]
    assert picked.max() == 399 and set(values[values >= picked.min()].index) == rows  # a top slice
    assert values.mean() < picked.mean() <= values.mean() * 1.08
    assert len(rows) < len(values)
    assert len(_fair_tail(values, 0.02, short=0.0, goal=250.0)) > len(rows)  # tighter: more kept
    # a goal that needs more children than the tightest slice holds: a larger slice
    more = _fair_tail(values, 0.1, short=19_300.0, goal=200.0)
    assert len(more) > len(rows)
    assert len(more) >= 19_300.0 / (values.loc[sorted(more)].mean() - 200.0)
    assert len(more) < len(values)
    # a narrow pool (every donor within the bound): as many donors as the goal needs, not one
    narrow = pd.Series([100.0, 101.0, 102.0] * 20)
    rows = _fair_tail(narrow, 0.1, short=300.0, goal=95.0)
    assert 40 < len(rows) < len(narrow)
    assert len(rows) >= 300.0 / (narrow.loc[sorted(rows)].mean() - 95.0)
