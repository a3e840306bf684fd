"""The train gate: no adapter is trained on data whose reports did not clear it.

Four checks, each on one report: the validation verdict, the after-augmentation audit verdict,
the PII residual rate of scrub_pii, and (where ``audit_data.require_signoff`` is true) a valid
sign-off of the audit as it is now. A failing check refuses training with a message naming the
report and the check, unless ``train.waivers`` holds a waiver for that check with a reason; a
waiver used (or given for a check that passed) is recorded, so the model card can show it.

An audit whose verdict is ``not_judged`` (no attribute recorded to judge) is allowed when
``train.allow_not_judged_audit`` is true (the default) and recorded as such (the check's
verdict and detail, and the result's ``not_judged`` list, which the card shows); with the
switch false it refuses training like a failed audit.

The audit check reads the verdict on the training distribution (the after-audit's ``verdict``;
its detail also gives the verdict on the original records alone). An ``inconclusive`` audit
(no check failed, but some interval crosses its threshold) is allowed when
``train.allow_inconclusive_audit`` is true (the default), naming the inconclusive findings,
and recorded (``inconclusive``) for the card; false: it refuses training like a failed audit.

:func:`evaluate` is pure (report contents in, decisions out); :func:`check` reads the files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from provena import signoff
from provena.config import GateWaiver
from provena.errors import UserError

log = logging.getLogger(__name__)

CHECKS = ("validation", "audit", "pii_residual", "signoff")


class GateError(UserError):
    """Training refused: one or more gate checks failed without a waiver."""


@dataclass(frozen=True)
class GateReports:
    """Where the gate's reports are (paths come from dvc.yaml)."""

    validation: Path
    audit: Path
    pii_metrics: Path
    signoffs: Path | None = None  # the sign-off folder (audits/signoffs in dvc.yaml)


@dataclass
class CheckResult:
    check: str
    report: str
    passed: bool
    detail: str
    verdict: str | None = None
    sha256: str | None = None
    waived: bool = False
    waiver: dict[str, Any] | None = None


@dataclass
class GateResult:
    checks: list[CheckResult] = field(default_factory=list)
    #: waivers given for checks that passed anyway (recorded, not needed)
    unused_waivers: list[dict[str, Any]] = field(default_factory=list)
    #: valid sign-offs of the audit report (when params require one)
    signoffs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def not_judged(self) -> list[str]:
        """Checks let through on a report that judged nothing (recorded for the card)."""
        return [c.check for c in self.checks if c.passed and c.verdict == "not_judged"]

    @property
    def inconclusive(self) -> list[str]:
        """Checks let through on an inconclusive report (recorded for the card)."""
        return [c.check for c in self.checks if c.passed and c.verdict == "inconclusive"]

    @property
    def passed(self) -> bool:
        return all(c.passed or c.waived for c in self.checks)

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and not c.waived]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "waivers_applied": [c.waiver for c in self.checks if c.waived],
            "unused_waivers": self.unused_waivers,
            "signoffs": self.signoffs,
            "not_judged": self.not_judged,
            "inconclusive": self.inconclusive,
        }


def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    if not path.is_file():
        return None, "the report does not exist (run the stage that writes it first)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        return None, f"not valid JSON ({err})"
    if not isinstance(data, dict):
        return None, "does not hold a JSON object"
    return data, None


def check_validation(report: dict[str, Any]) -> tuple[bool, str, str | None]:
    verdict = report.get("verdict")
    if verdict == "pass":
        return True, "verdict pass", verdict
    failed = report.get("failed_critical") or []
    names = ", ".join(str(f.get("name", f) if isinstance(f, dict) else f) for f in failed)
    return False, f"verdict {verdict!r}; failed critical expectations: {names or 'none'}", verdict


def check_audit(
    report: dict[str, Any], allow_not_judged: bool = True, allow_inconclusive: bool = True
) -> tuple[bool, str, str | None]:
    verdict = report.get("verdict")
    original = (report.get("original_records") or {}).get("verdict")
    scope = f" on the {report['verdict_scope']}" if report.get("verdict_scope") else ""
    also = f" (on the original records alone: {original})" if original else ""
    if verdict == "pass":
        return True, f"verdict pass{scope}{also}", verdict
    if verdict == "inconclusive":
        found = [
            str(f.get("text"))
            for f in report.get("findings") or []
            if f.get("verdict") == "inconclusive" and f.get("check") != "all"
        ]
        why = "; ".join(found[:5]) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")
        if allow_inconclusive:
            return (
                True,
                f"verdict 'inconclusive'{scope}{also}, allowed by "
                f"train.allow_inconclusive_audit: {len(found)} checks whose interval crosses "
                f"its threshold: {why}",
                verdict,
            )
        return (
            False,
            f"verdict 'inconclusive'{scope}{also} and train.allow_inconclusive_audit is false: "
            f"{why}",
            verdict,
        )
    if verdict == "not_judged":
        why = "; ".join(
            str(f.get("text"))
            for f in report.get("findings") or []
            if f.get("verdict") == "not_judged"
        )
        if allow_not_judged:
            return (
                True,
                f"verdict 'not_judged', allowed by train.allow_not_judged_audit: {why}",
                verdict,
            )
        return (
            False,
            f"verdict 'not_judged' and train.allow_not_judged_audit is false: {why}",
            verdict,
        )
    findings = [f for f in report.get("findings") or [] if f.get("verdict") == "fail"]
    text = "; ".join(str(f.get("text") or f.get("check")) for f in findings[:5])
    more = f" (+{len(findings) - 5} more)" if len(findings) > 5 else ""
    return (
        False,
        f"verdict {verdict!r}{scope}{also}; findings: {text or 'none listed'}{more}",
        verdict,
    )


def check_pii_residual(metrics: dict[str, Any]) -> tuple[bool, str, str | None]:
    rate, limit = metrics.get("residual_rate"), metrics.get("residual_max_rate")
    if not isinstance(rate, int | float) or not isinstance(limit, int | float):
        return False, "residual_rate or residual_max_rate missing", None
    verdict = metrics.get("residual_verdict")
    ok = rate <= limit and verdict in (None, "pass")
    sign = "<=" if rate <= limit else ">"
    return ok, f"residual_rate {rate:g} {sign} residual_max_rate {limit:g}", verdict


def evaluate(
    contents: dict[str, tuple[str, dict[str, Any] | None, str | None]],
    waivers: list[GateWaiver],
    signoff_status: dict[str, Any] | None,
    *,
    allow_not_judged: bool = True,
    allow_inconclusive: bool = True,
) -> GateResult:
    """Decide each check. ``contents`` maps check -> (report path, parsed JSON or None, error);
    ``signoff_status`` is :func:`provena.signoff.status` of the audit, or None when not required.
    """
    rules = {
        "validation": check_validation,
        "audit": lambda report: check_audit(report, allow_not_judged, allow_inconclusive),
        "pii_residual": check_pii_residual,
    }
    by_check = {w.check: w for w in waivers}
    result = GateResult()
    for name, rule in rules.items():
        path, data, error = contents[name]
        if data is None:
            result.checks.append(CheckResult(name, path, False, error or "unreadable"))
        else:
            ok, detail, verdict = rule(data)
            result.checks.append(CheckResult(name, path, ok, detail, verdict))
    if signoff_status is not None:
        path = contents["audit"][0]
        ok = bool(signoff_status.get("valid"))
        result.signoffs = list(signoff_status.get("signoffs") or [])
        who = ", ".join(s.get("reviewer", "?") for s in signoff_status.get("signoffs", []))
        detail = f"signed off by {who}" if ok else str(signoff_status.get("reason"))
        result.checks.append(CheckResult("signoff", path, ok, detail, "valid" if ok else "missing"))
    for c in result.checks:
        w = by_check.pop(c.check, None)
        if w is None:
            continue
        if c.passed:
            result.unused_waivers.append(w.model_dump())
        else:
            c.waived, c.waiver = True, w.model_dump()
    result.unused_waivers += [w.model_dump() for w in by_check.values()]  # e.g. signoff off
    return result


def check(
    reports: GateReports,
    waivers: list[GateWaiver],
    *,
    require_signoff: bool,
    root: Path,
    allow_not_judged: bool = True,
    allow_inconclusive: bool = True,
) -> GateResult:
    """Read the reports, decide, log; raise :class:`GateError` naming every failing check."""
    contents = {}
    for name, path in (
        ("validation", reports.validation),
        ("audit", reports.audit),
        ("pii_residual", reports.pii_metrics),
    ):
        data, error = _load(path)
        contents[name] = (str(path), data, error)
    status = signoff.status(reports.audit, root, reports.signoffs) if require_signoff else None
    result = evaluate(
        contents,
        waivers,
        status,
        allow_not_judged=allow_not_judged,
        allow_inconclusive=allow_inconclusive,
    )
    for name, path in (
        ("validation", reports.validation),
        ("audit", reports.audit),
        ("pii_residual", reports.pii_metrics),
    ):
        for c in result.checks:
            if c.check == name and path.is_file():
                c.sha256 = signoff.sha256_of(path)
    for c in result.checks:
        if c.waived:
            log.warning(
                "gate: %s check of %s fails (%s) but is WAIVED by %s: %s",
                c.check,
                c.report,
                c.detail,
                c.waiver["approved_by"],
                c.waiver["reason"],
            )
        else:
            log.info("gate: %s check of %s: %s", c.check, c.report, c.detail)
    failures = result.failures()
    if failures:
        lines = "\n".join(f"  - {c.report}: {c.check} check failed: {c.detail}" for c in failures)
        noun = "check" if len(failures) == 1 else "checks"
        raise GateError(
            f"train refused: {len(failures)} gate {noun} failed\n{lines}\n"
            "Fix the data and rerun the stage that wrote the report, or add a waiver with a "
            "reason under train.waivers in params.yaml (check: "
            + " | ".join(CHECKS)
            + ", reason, approved_by)."
        )
    return result
