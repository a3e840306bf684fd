"""Sign-offs: a reviewer's approval bound to the exact content of a report.

``provena signoff REPORT --reviewer NAME --note TEXT`` appends a sign-off (reviewer, note,
time, and the report's SHA-256) to ``audits/signoffs/<report file name>.json``, which is meant
to be committed. :func:`status` says whether a report, as it is now, carries a valid sign-off:
one whose hash equals the report's current hash. Any change to the report afterwards (a rerun
on other data, an edit) leaves its sign-offs standing in the file but no longer valid.

A report whose verdict is ``fail`` or ``inconclusive`` (an audit) can be signed off only by
naming each failing or inconclusive finding it accepts (``--accept CHECK``, the ``check`` of
the finding): a sign-off that leaves one out is refused with the list of those missing, and
one written without them (an older sign-off) is not valid for such a report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from provena.errors import UserError
from provena.io import display_path, write_json

#: where ``provena signoff`` writes by default; the train and card stages get the folder from
#: dvc.yaml (a dependency of both), so a new sign-off reruns them
SIGNOFF_DIR = Path("audits") / "signoffs"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def signoff_path(report: Path, folder: Path) -> Path:
    """The sign-off book of ``report`` in the sign-off ``folder``."""
    return folder / f"{report.name}.json"


#: verdicts of a report whose sign-off must name the findings it accepts
NEEDS_ACCEPT = ("fail", "inconclusive")


def findings_to_accept(report: Path) -> list[dict[str, Any]]:
    """The failing or inconclusive findings (``check``, ``verdict``, ``text``) a sign-off of
    ``report`` must name: none unless it is a JSON report whose verdict is fail or
    inconclusive. The summary finding ("all") is not one of them."""
    if report.suffix != ".json":
        return []
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except ValueError:
        return []
    if not isinstance(data, dict) or data.get("verdict") not in NEEDS_ACCEPT:
        return []
    out = []
    for f in data.get("findings") or []:
        if isinstance(f, dict) and f.get("verdict") in NEEDS_ACCEPT and f.get("check") != "all":
            out.append({k: f.get(k) for k in ("check", "verdict", "text")})
    return out


def sign(
    report: Path,
    reviewer: str,
    note: str,
    root: Path,
    now: dt.datetime | None = None,
    folder: Path | None = None,
    accept: list[str] | tuple[str, ...] = (),
):
    """Record a sign-off of ``report`` as it is now in ``folder`` (default
    ``root/audits/signoffs``); returns the entry written. For a failing or inconclusive
    report, ``accept`` must name the ``check`` of each of its failing or inconclusive findings
    (:func:`findings_to_accept`): else :class:`UserError` lists those missing."""
    if not report.is_file():
        raise UserError(f"{report}: no such report to sign off")
    if not reviewer.strip():
        raise UserError("--reviewer must name the person signing off")
    if not note.strip():
        raise UserError("--note must say what was reviewed and decided")
    shown = display_path(report, root)
    required = findings_to_accept(report)
    named = list(dict.fromkeys(a.strip() for a in accept if a.strip()))
    unknown = [a for a in named if a not in {f["check"] for f in required}]
    if unknown:
        raise UserError(
            f"{shown}: --accept names no failing or inconclusive finding of the report: "
            + ", ".join(unknown)
        )
    missing = [f for f in required if f["check"] not in named]
    if missing:
        lines = "\n".join(
            f"  --accept '{f['check']}'  ({f['verdict']}: {f['text']})" for f in missing
        )
        raise UserError(
            f"{shown} has {len(required)} failing or inconclusive findings; a sign-off must name "
            f"each one it accepts. Missing ({len(missing)}):\n{lines}"
        )
    path = signoff_path(report, folder or root / SIGNOFF_DIR)
    book = _load(path)
    entry = {
        "report": shown,
        "sha256": sha256_of(report),
        "reviewer": reviewer.strip(),
        "note": note.strip(),
        "signed_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
    }
    if required:
        entry["accepted"] = required
    book["signoffs"].append(entry)
    write_json(path, book)
    return entry


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"signoffs": []}
    try:
        book = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(book.get("signoffs"), list):
        raise UserError(f"{path}: expected an object with a 'signoffs' list")
    return book


def status(report: Path, root: Path, folder: Path | None = None) -> dict[str, Any]:
    """Whether ``report`` as it is now has a valid sign-off in ``folder`` (default
    ``root/audits/signoffs``), and why not if it has none."""
    shown = display_path(report, root)
    if not report.is_file():
        return {"valid": False, "reason": f"{shown} does not exist", "signoffs": []}
    current = sha256_of(report)
    book = _load(signoff_path(report, folder or root / SIGNOFF_DIR))
    required = {f["check"] for f in findings_to_accept(report)}
    same = [s for s in book["signoffs"] if s.get("sha256") == current]
    valid = [s for s in same if required <= {a.get("check") for a in s.get("accepted") or []}]
    if valid:
        return {"valid": True, "sha256": current, "signoffs": valid, "reason": None}
    if same:
        last = same[-1]
        left = sorted(required - {a.get("check") for a in last.get("accepted") or []})
        reason = (
            f"the sign-off of {shown} by {last['reviewer']} on {last['signed_at']} does not "
            f"name {len(left)} failing or inconclusive findings it would accept: " + ", ".join(left)
        )
        return {"valid": False, "sha256": current, "signoffs": [], "reason": reason}
    if book["signoffs"]:
        last = book["signoffs"][-1]
        reason = (
            f"{shown} changed after its last sign-off by {last['reviewer']} on "
            f"{last['signed_at']} (signed {last['sha256'][:12]}, now {current[:12]})"
        )
    else:
        reason = f"{shown} has no sign-off (provena signoff {shown} ...)"
    return {"valid": False, "sha256": current, "signoffs": [], "reason": reason}
