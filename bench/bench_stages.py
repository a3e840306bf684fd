"""Benchmark: records/s and peak memory of each curation stage at 10k, 50k and 200k records.

For each size, a copy of the project (what git would ship, as tests/test_pipeline.py makes it)
gets a params.yaml whose synth section makes that many base records (``n_clinical`` +
``n_support`` = size; the generator adds its planted copies and malformed lines on top). The
stages synth, ingest, scrub_pii, clean, validate, audit_data@before, augment, audit_data@after
and split then run one at a time, each as a subprocess with the exact command of ``dvc.yaml``
(read from it and resolved against the scaled params, never copied here), with the copy's
``src/`` first on ``PYTHONPATH`` so the code measured is the code copied.

Memory, per stage, three ways:

- ``peak_rss_mb``: ``os.wait4`` on the stage process gives its ``ru_maxrss``, which on Linux is
  the largest resident set of that process and of every descendant it waited for (scrub_pii's
  worker pool is joined, so its workers count). Exact, but the largest *single* process.
- ``tree_peak_rss_mb``: the summed RSS of the process and all its live descendants, sampled
  with psutil every 0.1 s. Worker pools run side by side, so their sum is the real footprint;
  shared copy-on-write pages count once per process, so this is an upper bound.
- ``tree_peak_pss_mb``: the summed proportional set size of the same tree, sampled every 0.5 s
  (a page shared by k processes counts 1/k in each): the tree's real footprint. Forked
  workers share the modules their parent imported (scrub_pii's imports alone are ~460 MB), which
  the RSS sum counts once per worker.

A stage is flagged when its real footprint passes the budget (2 GB): the larger of the largest
single process and the summed PSS (the RSS sum where PSS could not be read).

    nice -n 10 python bench/bench_stages.py [--sizes 10000 50000 200000] [--stages ...] [--keep] \
        [--executor local|ray]

With ``--keep`` the copies stay in bench/.cache/stages_<size>/ and a later run reuses one
(fresh ``src/``, ``stages/`` and ``dvc.yaml``), so ``--stages validate augment`` reruns only
those stages on the outputs already there. Results merge into bench/results/stages.json by
(size, stage, executor).

``--executor ray`` sets the copy's ``executor`` to a local Ray with this machine's cores
(``provena[ray]`` installed): scrub_pii then runs on Ray Data actors and clean's filters as Ray
tasks. With ``--keep`` its copy (bench/.cache/stages_<size>-ray/) starts from the local copy's
outputs, so ``--executor ray --stages scrub_pii clean`` measures just those two on the same
input, and their outputs can be compared with the local ones (``cmp``).

Targets, at the largest size measured, on the local executor: every stage within the memory
budget; every curation stage but scrub_pii at >= 2,000 records per CPU second (records/s per
core used); scrub_pii within 25 minutes; the other curation stages together within 20.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
OUT = ROOT / "bench" / "results" / "stages.json"
STAGES = [
    "synth",
    "ingest",
    "scrub_pii",
    "clean",
    "validate",
    "audit_data@before",
    "augment",
    "audit_data@after",
    "split",
]
BUDGET_MB = 2048
#: where each stage's "records in" comes from: its metrics file's key, else its input's rows
RECORDS_KEYS = ("records_in", "records")


def resolve(text: str, ctx: dict) -> str:
    """Fill dvc.yaml's ``${a.b}`` references from a context of nested dicts."""

    def one(m: re.Match) -> str:
        value = ctx
        for part in m.group(1).strip().split("."):
            value = value[part]
        return str(value)

    return re.sub(r"\$\{([^}]+)\}", one, text)


def stage_commands(dvc_yaml: dict, params: dict) -> dict[str, str]:
    """Every stage's resolved command, foreach items expanded as ``name@key``."""
    cmds = {}
    for name, st in dvc_yaml["stages"].items():
        if "foreach" in st:
            for key, item in st["foreach"].items():
                ctx = {**params, "key": key, "item": item}
                cmds[f"{name}@{key}"] = " ".join(resolve(st["do"]["cmd"], ctx).split())
        else:
            cmds[name] = " ".join(resolve(st["cmd"], params).split())
    return cmds


def scaled_params(text: str, size: int) -> str:
    """params.yaml with synth's two counts summing to size, comments and all else kept."""
    counts = {"n_clinical": size // 2, "n_support": size - size // 2}
    for key, value in counts.items():
        text, n = re.subn(rf"(?m)^(  {key}:\s*)\d+", rf"\g<1>{value}", text)
        if n != 1:
            raise SystemExit(f"params.yaml: expected one synth.{key} line, found {n}")
    return text


def executor_params(text: str, executor: str) -> str:
    """params.yaml with its ``executor:`` line set: ``local`` as committed, ``ray`` a local Ray
    with every core of this machine (the stages that hand work to the executor then run it on
    Ray Data: scrub_pii on an actor pool, clean's filters as tasks)."""
    if executor == "local":
        return text
    text, n = re.subn(
        r"(?m)^executor:.*$", f"executor: {{kind: ray, num_cpus: {os.cpu_count()}}}", text
    )
    if n != 1:
        raise SystemExit(f"params.yaml: expected one top-level executor line, found {n}")
    return text


def copy_project(dest: Path, size: int, executor: str = "local") -> None:
    """Copy what git would ship into dest (code refreshed if dest is kept from a run before)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, files.split("\0")):
        src = ROOT / rel
        if src.is_file() and not rel.startswith("bench/"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    text = scaled_params((ROOT / "params.yaml").read_text(), size)
    (dest / "params.yaml").write_text(executor_params(text, executor))


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += p.memory_info().rss
    return total


def _tree_pss(proc: psutil.Process) -> int:
    """Summed proportional set size: a page shared by k processes counts 1/k in each, so the
    sum is the tree's real footprint (forked workers share the parent's imported modules,
    which a sum of RSS counts once per process)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error, AttributeError):  # no pss off Linux
            total += p.memory_full_info().pss
    return total


def run_stage(cmd: str, cwd: Path, env: dict) -> dict:
    """Run one command; its wall seconds, exit code and both peak memory figures."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, shell=True, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    tree_peak = pss_peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak, pss_peak
        try:
            ps = psutil.Process(proc.pid)
            n = 0
            while not done.is_set():
                tree_peak = max(tree_peak, _tree_rss(ps))
                if n % 5 == 0:  # reading smaps costs more: PSS every 0.5 s
                    pss_peak = max(pss_peak, _tree_pss(ps))
                n += 1
                done.wait(0.1)
        except psutil.Error:
            pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log = proc.stdout.read()
    # wait4, not Popen.wait: its rusage is this child's and its reaped descendants'
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    return {
        "seconds": round(seconds, 2),
        # user + system CPU of the process and its reaped descendants: records per CPU second
        # is records/s per core used, and other jobs on shared cores barely move it
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "rc": proc.returncode,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux
        "tree_peak_rss_mb": round(tree_peak / 2**20, 1),
        "tree_peak_pss_mb": round(pss_peak / 2**20, 1),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),  # other jobs on the cores
        "log_tail": log.decode(errors="replace")[-3000:],
    }


def records_in(repo: Path, cmd: str) -> int | None:
    """Records the stage read: its metrics' records_in (synth: records written)."""
    m = re.search(r"--metrics (\S+)", cmd)
    if m and (repo / m.group(1)).is_file():
        metrics = json.loads((repo / m.group(1)).read_text())
        for key in RECORDS_KEYS:
            if isinstance(metrics.get(key), int):
                return metrics[key]
    m = re.search(r"--input (\S+\.parquet)", cmd)
    if m and (repo / m.group(1)).is_file():
        import pyarrow.parquet as pq

        return pq.ParquetFile(repo / m.group(1)).metadata.num_rows
    return None


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def bench_size(
    size: int,
    stages: list[str],
    keep: bool,
    copy_through: set[str],
    save_row,
    tag: str = "",
    executor: str = "local",
) -> None:
    """Run the stages at one size; ``save_row(row)`` after each, so a failure loses nothing."""
    if executor != "local":
        tag = f"{tag}-{executor}"

    def save(row: dict) -> None:  # every row says what ran it
        save_row({**row, "executor": executor})

    if keep:
        repo = CACHE / f"stages_{size}{tag}"
        local = CACHE / f"stages_{size}{tag.removesuffix(f'-{executor}')}"
        if executor != "local" and local.is_dir() and not repo.exists():
            # the local copy's outputs seed this one: --stages scrub_pii clean then measures
            # those two under Ray on the same inputs (and their outputs can be compared)
            shutil.copytree(local, repo, symlinks=True)
        repo.mkdir(parents=True, exist_ok=True)
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix=f"provena_stages_{size}_")
        repo = Path(tmp.name)
    try:
        copy_project(repo, size, executor)
        params = yaml.safe_load((repo / "params.yaml").read_text())
        cmds = stage_commands(yaml.safe_load((repo / "dvc.yaml").read_text()), params)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(repo / "src"), env.get("PYTHONPATH")])
        )
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
        for stage in stages:
            cmd = cmds[stage]
            if stage in copy_through:
                # not measured: its input stands in for its output, so later stages have data
                inp, out = (re.search(rf"--{k} (\S+)", cmd).group(1) for k in ("input", "out"))
                (repo / out).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(repo / inp, repo / out)
                save({"size": size, "stage": stage, "not_run": f"{inp} copied to {out}"})
                continue
            for out in re.findall(r"--(?:out|metrics|ledger|quarantine|results) (\S+)", cmd):
                (repo / out).parent.mkdir(parents=True, exist_ok=True)
            r = run_stage(cmd, repo, env)
            log = r.pop("log_tail")
            if r["rc"] != 0:
                # recorded, and this size stops: the stages after it would read stale outputs
                save({"size": size, "stage": stage, "failed": log.strip().splitlines()[-1:]})
                print(f"{stage} at {size} failed (rc {r['rc']}):\n{cmd}\n{log}", file=sys.stderr)
                return
            n = records_in(repo, cmd)
            row = {
                "size": size,
                "stage": stage,
                "records_in": n,
                **r,
                "records_per_s": round(n / r["seconds"]) if n else None,
                "records_per_cpu_s": round(n / r["cpu_s"]) if n and r["cpu_s"] else None,
                "over_budget": footprint_mb(r) > BUDGET_MB,
            }
            save(row)
    finally:
        if tmp is not None:
            tmp.cleanup()


HEADER = (
    f"{'size':>7} {'stage':<18} {'records in':>10} {'seconds':>8} {'rec/s':>7} "
    f"{'rec/cpu-s':>9} {'peak MB':>8} {'tree MB':>8} {'PSS MB':>8}"
)


def fmt_row(r: dict) -> str:
    if "failed" in r:
        return f"{r['size']:>7} {stage_label(r):<18} (failed: {' '.join(r['failed'])[:120]})"
    if "partial" in r:
        return f"{r['size']:>7} {stage_label(r):<18} (partial: {r['observed'][:120]})"
    if "not_run" in r:
        return f"{r['size']:>7} {stage_label(r):<18} (not run: {r['not_run']})"
    flag = "  OVER 2 GB" if r.get("over_budget") else ""
    return (
        f"{r['size']:>7} {stage_label(r):<18} {r['records_in'] or '-':>10} {r['seconds']:>8.1f} "
        f"{r['records_per_s'] or '-':>7} {r.get('records_per_cpu_s') or '-':>9} "
        f"{r['peak_rss_mb']:>8.0f} {r['tree_peak_rss_mb']:>8.0f}"
        f" {r.get('tree_peak_pss_mb') or 0:>8.0f}{flag}"
    )


def run_key(r: dict) -> tuple[str, int, str]:
    """What a row measured: (executor, stage's place in the pipeline, stage); rows from before
    the executor option ran locally."""
    return (r.get("executor", "local"), STAGES.index(r["stage"]), r["stage"])


def merge_row(runs: list[dict], row: dict) -> list[dict]:
    """``runs`` with ``row`` in its place: it replaces the row of the same size and
    :func:`run_key` (a run at 50k replaces the 50k row, never the 10k one)."""
    kept = [r for r in runs if (r["size"], run_key(r)) != (row["size"], run_key(row))]
    return sorted([*kept, row], key=order_key)


def order_key(r: dict) -> tuple[int, int, bool]:
    """Rows by size, then pipeline order, the local row before its Ray row."""
    executor, place, _ = run_key(r)
    return (r["size"], place, executor != "local")


def stage_label(r: dict) -> str:
    ex = r.get("executor", "local")
    return r["stage"] if ex == "local" else f"{r['stage']} ({ex})"


def footprint_mb(run: dict) -> float | None:
    """A stage's real footprint: the larger of its largest process and its tree's summed PSS
    (the RSS sum where PSS could not be read); None when the stage did not finish."""
    if "peak_rss_mb" not in run or any(k in run for k in ("failed", "partial", "not_run")):
        return None
    return max(run["peak_rss_mb"], run.get("tree_peak_pss_mb") or run["tree_peak_rss_mb"])


#: the curation stages held to the records-per-core goal (scrub_pii has its own time goal;
#: synth makes the default data and is not a curation stage)
PER_CORE_STAGES = [s for s in STAGES if s not in ("synth", "scrub_pii")]
PER_CORE_GOAL = 2_000  # records/s per core used (records per CPU second)
SCRUB_GOAL_S = 25 * 60
OTHERS_GOAL_S = 20 * 60
TIME_GOAL_SIZE = 200_000


def targets(result: dict) -> list[dict]:
    """The goals of the scale issues, as ``{name, goal, measured, met}``, on the local
    executor: every curation stage under the budget (2 GB) at the largest size run; every
    curation stage but scrub_pii at >= 2,000 records per CPU second, at the largest size the
    current code was measured at (rows with a ``code`` note ran older code); at 200,000
    records, scrub_pii within 25 minutes and the other curation stages together within 20. A
    stage without such a row is "not measured"."""
    runs = [r for r in result.get("runs", []) if r.get("executor", "local") == "local"]
    if not runs:
        return []
    size = max(r["size"] for r in runs)
    by_stage = {r["stage"]: r for r in runs if r["size"] == size and "seconds" in r}
    out = []

    def add(name: str, goal: str, measured: float | None, met: bool | None) -> None:
        out.append({"name": name, "goal": goal, "measured": measured, "met": met})

    for stage in STAGES:
        mb = footprint_mb(by_stage[stage]) if stage in by_stage else None
        add(
            f"{stage}: peak memory at {size:,} records",
            f"<= {result['budget_mb']:,} MB",
            None if mb is None else round(mb, 1),
            None if mb is None else mb <= result["budget_mb"],
        )
    # speed: rows of the current code only (a row measured under older code carries a
    # ``code`` note); per core at the largest size measured so, time at the goals' 200,000
    current = [r for r in runs if "seconds" in r and not r.get("code")]
    at = max((r["size"] for r in current), default=size)
    rates = {r["stage"]: r.get("records_per_cpu_s") for r in current if r["size"] == at}
    for stage in PER_CORE_STAGES:
        rate = rates.get(stage)
        add(
            f"{stage}: records/s per core at {at:,} records",
            f">= {PER_CORE_GOAL:,}",
            rate,
            None if rate is None else rate >= PER_CORE_GOAL,
        )
    secs = {r["stage"]: r["seconds"] for r in current if r["size"] == TIME_GOAL_SIZE}
    scrub = secs.get("scrub_pii")
    add(
        f"scrub_pii: seconds at {TIME_GOAL_SIZE:,} records",
        f"<= {SCRUB_GOAL_S:,}",
        scrub,
        None if scrub is None else scrub <= SCRUB_GOAL_S,
    )
    others = [secs.get(s) for s in PER_CORE_STAGES]
    total = None if None in others else round(sum(others), 1)
    add(
        f"the other curation stages together: seconds at {TIME_GOAL_SIZE:,} records",
        f"<= {OTHERS_GOAL_S:,}",
        total,
        None if total is None else total <= OTHERS_GOAL_S,
    )
    return out


def write_results(path: Path, facts: dict, runs: list[dict]) -> None:
    result = {
        "budget_mb": BUDGET_MB,
        "memory": "peak_rss_mb: ru_maxrss from os.wait4 on the stage process (largest single "
        "process of its tree, reaped workers included); tree_peak_rss_mb: summed RSS of the "
        "process tree sampled every 0.1 s (worker pools side by side; an upper bound: shared "
        "pages count once per process); tree_peak_pss_mb: summed PSS of the tree sampled every "
        "0.5 s (shared pages split among their sharers: the real footprint)",
        "records_in": "the stage's metrics records_in (synth: records written), else its input "
        "rows",
        "seconds_include": "the whole stage process: interpreter start, imports, reading and "
        "writing",
        "cpu_s": "user + system CPU seconds of the stage process and its reaped descendants "
        "(os.wait4); records_per_cpu_s = records in / cpu_s: records/s per core used",
        "machine": facts,
        "runs": runs,
        "over_budget": [f"{r['stage']} at {r['size']}" for r in runs if r.get("over_budget")],
    }
    result = {"targets": targets(result), **result}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    ap.add_argument("--stages", nargs="+", default=STAGES, choices=STAGES, metavar="STAGE")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) bench/.cache copies")
    ap.add_argument(
        "--copy-through",
        nargs="+",
        default=[],
        choices=["scrub_pii", "clean"],
        metavar="STAGE",
        help="do not run these (too slow where the cores are shared): copy the stage's input "
        "to its output so the stages after it still run (copying clean leaves duplicates, which "
        "split refuses: it is recorded as failed)",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="ray: the copy's params.yaml sets executor {kind: ray, num_cpus: this machine's "
        "cores} (a local Ray; needs provena[ray]); rows say which executor ran them",
    )
    ap.add_argument(
        "--tag",
        default="",
        help="with --keep: a second copy per size (bench/.cache/stages_<size><tag>), so two runs "
        "can measure different stages of one size at once (give each its own --out)",
    )
    args = ap.parse_args()
    stages = [s for s in STAGES if s in args.stages]  # pipeline order, whatever was typed
    facts = machine()
    print(HEADER, flush=True)
    old = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    runs = old["runs"]

    def save(row: dict) -> None:
        nonlocal runs
        runs = merge_row(runs, row)
        print(fmt_row(row), flush=True)
        write_results(args.out, facts, runs)

    for size in args.sizes:
        bench_size(size, stages, args.keep, set(args.copy_through), save, args.tag, args.executor)
    print()
    print(HEADER)
    for r in runs:
        print(fmt_row(r))


if __name__ == "__main__":
    main()
