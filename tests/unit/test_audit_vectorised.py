"""audit_data's group means and bootstrap intervals, computed on arrays, equal the computation
they replace: a fairlearn MetricFrame over every record with its own bootstrap (``n_boot``),
one metric call per group and resample.

The arrays draw the very resamples fairlearn draws (same seeds, same row indices), so on whole
numbers (0/1 shares, lengths) every interval is fairlearn's exactly. The whole-audit comparison
still states a tolerance for the intervals: 1e-4, one unit in the fourth decimal the audit
rounds to, the most that another summation order (non-integer values) can move a bound. Point
estimates, verdicts, findings and every other number must be equal."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from provena import group_audit as audit
from provena.config import AuditDataConfig
from tests.conftest import load_tiny
from tests.factory import record

#: bootstrap bounds may differ by this much (see the module docstring); nothing else may
CI_TOLERANCE = 1e-4


def _per_record_metric_frame(
    columns: dict[str, np.ndarray], groups: np.ndarray, n_boot: int, cfg: AuditDataConfig
):
    """The computation before arrays, verbatim in effect: a MetricFrame whose ``y_true`` is the
    row index, each metric reading its column for the rows fairlearn hands it, fairlearn's own
    bootstrap for the intervals. Same return shape as :func:`audit._group_means`."""
    from fairlearn.metrics import MetricFrame

    def mean_of(col: np.ndarray):
        def metric(y_true, y_pred):
            return float(col[np.asarray(y_true, dtype=np.int64)].mean())

        return metric

    kwargs: dict[str, Any] = {}
    if n_boot:
        lo, hi = (1 - cfg.ci) / 2, 1 - (1 - cfg.ci) / 2
        kwargs = {"n_boot": n_boot, "ci_quantiles": [lo, hi], "random_state": cfg.seed}
    rows = np.arange(len(groups))
    mf = MetricFrame(
        metrics={name: mean_of(col) for name, col in columns.items()},
        y_true=rows,
        y_pred=rows,
        sensitive_features=np.asarray(groups),
        **kwargs,
    )
    order = [str(g) for g in mf.by_group.index]
    means = {name: mf.by_group[name].to_numpy(dtype=float) for name in columns}
    if not n_boot:
        return order, means, None
    lo_ci, hi_ci = mf.by_group_ci
    cis = {
        name: np.stack([lo_ci[name].to_numpy(dtype=float), hi_ci[name].to_numpy(dtype=float)], 1)
        for name in columns
    }
    return order, means, cis


def _arrays(seed: int = 5, n: int = 900):
    rng = np.random.default_rng(seed)
    groups = rng.choice(["a", "b", "c & d", "e"], size=n, p=[0.5, 0.3, 0.15, 0.05])
    label = rng.choice(["refund", "replace", "other"], size=n)
    return groups, {
        "refund": (label == "refund").astype(float),
        "replace": (label == "replace").astype(float),
        "length": rng.integers(20, 900, size=n).astype(float),
    }


@pytest.mark.parametrize("n_boot", [0, 1, 37])
def test_arrays_give_fairlearns_means_and_intervals_exactly(n_boot):
    groups, cols = _arrays()
    cfg = AuditDataConfig(seed=11, ci=0.9)
    order, means, cis = audit._group_means(cols, groups, n_boot, cfg)
    r_order, r_means, r_cis = _per_record_metric_frame(cols, groups, n_boot, cfg)
    assert order == r_order == sorted(set(groups))
    for name in cols:
        assert means[name].tolist() == r_means[name].tolist()
        if n_boot:
            assert cis is not None and r_cis is not None
            assert cis[name].tolist() == r_cis[name].tolist()  # whole numbers: bit for bit
        else:
            assert cis is None and r_cis is None


def test_non_integer_values_agree_to_rounding():
    groups, cols = _arrays(seed=8)
    cols = {"score": cols["length"] / 7.3}  # not whole numbers: sums may round differently
    cfg = AuditDataConfig(seed=3)
    _, means, cis = audit._group_means(cols, groups, 25, cfg)
    _, r_means, r_cis = _per_record_metric_frame(cols, groups, 25, cfg)
    np.testing.assert_allclose(means["score"], r_means["score"], rtol=1e-12)
    np.testing.assert_allclose(cis["score"], r_cis["score"], rtol=1e-12)


def test_another_seed_draws_other_resamples():
    groups, cols = _arrays()
    _, _, one = audit._group_means(cols, groups, 30, AuditDataConfig(seed=1))
    _, _, two = audit._group_means(cols, groups, 30, AuditDataConfig(seed=2))
    assert one["length"].tolist() != two["length"].tolist()


# ------------------------------------------------------------ the whole audit, synth data


def _synth_records(n_each: int = 700) -> list[dict]:
    """The default dataset's generator at ``n_each`` records per family: its groups, its
    missing and inferable attributes, its planted imbalance."""
    from provena.synth import generate

    cfg = load_tiny().synth.model_copy(update={"n_clinical": n_each, "n_support": n_each})
    out = []
    for i, d in enumerate(generate(cfg).drafts):
        out.append(
            record(
                id=f"r{i}",
                source=d.family,
                instruction=d.fields["instruction"],
                input=d.fields.get("input", ""),
                output=d.fields["output"],
                meta=dict(d.meta),
            )
        )
    return out


def _augmented(recs: list[dict]) -> list[dict]:
    """``recs`` plus children as augment makes them (``parent_id`` set): every male support
    record of band 65+ copied as female, and every third one as nonbinary."""
    kids = []
    for r in recs:
        m = r["meta"]
        if m.get("family") == "support_reply" and m.get("gender") == "male":
            for k, g in enumerate(("female", "nonbinary")):
                if g == "nonbinary" and len(kids) % 3:
                    continue
                kids.append(
                    record(
                        id=f"{r['id']}-{k}",
                        source=r["source"],
                        instruction=r["instruction"],
                        input=r["input"],
                        output=r["output"],
                        meta={**m, "gender": g},
                        parent_id=r["id"],
                        op=f"counterfactual:gender={g}",
                    )
                )
    return recs + kids


def _diff(new: Any, old: Any, path: str = "") -> list[str]:
    """Where two audits differ beyond what is allowed: bootstrap bounds (a by-group ``ci``)
    by more than CI_TOLERANCE, anything else at all."""
    if isinstance(old, dict):
        if not isinstance(new, dict) or list(new) != list(old):
            return [f"{path}: keys {list(new) if isinstance(new, dict) else new} != {list(old)}"]
        return [d for k in old for d in _diff(new[k], old[k], f"{path}/{k}")]
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{path}: {new} != {old}"]
        if path.endswith("/ci") and "/by_group/" in path:
            bad = [
                a
                for a, b in zip(new, old, strict=True)
                if not math.isclose(a, b, abs_tol=CI_TOLERANCE)
            ]
            return [f"{path}: {new} != {old}"] if bad else []
        return [
            d
            for i, (a, b) in enumerate(zip(new, old, strict=True))
            for d in _diff(a, b, f"{path}/{i}")
        ]
    return [] if new == old and type(new) is type(old) else [f"{path}: {new!r} != {old!r}"]


@pytest.fixture(scope="module")
def synth_frames():
    recs = _synth_records()
    cfg = AuditDataConfig(bootstrap=40)
    return cfg, audit.build_frame(recs, cfg), audit.build_frame(_augmented(recs), cfg)


@pytest.mark.parametrize("which", ["before", "after"])
def test_the_audit_is_todays_on_synth_data(synth_frames, which, monkeypatch):
    cfg, before, after = synth_frames
    df = before if which == "before" else after
    new = audit.audit(df, cfg)
    with monkeypatch.context() as m:
        m.setattr(audit, "_group_means", _per_record_metric_frame)
        old = audit.audit(df, cfg)
    assert _diff(new, old) == []
    # the comparison has something to compare: judged outcomes with bootstrap intervals, and
    # findings that the planted imbalance gives
    cis = [
        e["ci"]
        for o in new["outcomes"].values()
        for res in o["by_attribute"].values()
        for c in (
            [res.get("value")] if res.get("kind") == "mean" else (res.get("values") or {}).values()
        )
        if c
        for e in c["by_group"].values()
        if "ci" in e
    ]
    assert len(cis) >= 20
    assert any(f["verdict"] in ("fail", audit.INCONCLUSIVE) for f in new["findings"])
    if which == "after":
        assert new["original_records"]["records"] < new["records"]
    json.dumps(new)  # JSON-able, as the stage writes it


def test_intersections_are_named_as_before():
    df = pd.DataFrame(
        {"gender": ["female", "male", "(missing)"], "age_band": ["65+", "18-29", "65+"]}
    )
    assert audit._groups(df, ["gender", "age_band"]).tolist() == [
        " & ".join(r) for r in df[["gender", "age_band"]].astype(str).itertuples(index=False)
    ]
