"""Benchmark: the exports of ``provena export`` side by side, fp32 merged against torch INT8.

Speed and size on a Llama built from a config of about 100M parameters with random weights (no
download; random weights are fine for arithmetic): each format is written as its export writes
it, then a fresh process per format loads it and generates (batched, greedy, ``min_new_tokens``
= ``max_new_tokens`` so both sides make the same number of tokens) and reports its load time,
peak memory (the process's peak RSS) and generated tokens per second (best of ``--repeats``,
the CPU being shared). Quality on the default model: ``provena export`` of ``models/adapter``
(merged and int8) against the unmerged adapter on the test split, with bootstrap 95%
intervals, as the command judges it (run with ``force`` so that figures are kept either way).

Targets (the export issue, on CPU): INT8 file at most 0.5x the fp32 size, at least 1.5x its
tokens/s, task scores within the tolerance. GPU figures (bitsandbytes nf4) are not measured
here: no GPU was lent to this task.

    nice -n 10 python bench/bench_export.py [--project /work/main] [--batch 8]
        [--new-tokens 32] [--prompt-tokens 32] [--repeats 3] [--threads 1] [--max-examples 40]
        [--out bench/results/export.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the speed model: Llama shapes of a small real model, ~96M parameters
SPEED_CONFIG = {
    "vocab_size": 16384,
    "hidden_size": 768,
    "intermediate_size": 2048,
    "num_hidden_layers": 10,
    "num_attention_heads": 12,
    "num_key_value_heads": 12,
    "max_position_embeddings": 512,
    "tie_word_embeddings": False,
}


def targets(result: dict) -> list[dict]:
    """The export issue's CPU goals as ``{name, goal, measured, met}``."""
    fp32, q = result["formats"]["fp32"], result["formats"]["int8"]
    size = round(q["file_mb"] / fp32["file_mb"], 3)
    speed = round(q["tokens_per_s"] / fp32["tokens_per_s"], 2)
    out = [
        {
            "name": "int8 file size / fp32 (100M Llama)",
            "goal": "<= 0.5x",
            "measured": size,
            "met": size <= 0.5,
        },
        {
            "name": f"int8 tokens/s / fp32 (100M Llama, batches of {result['batch']})",
            "goal": ">= 1.5x",
            "measured": speed,
            "met": speed >= 1.5,
        },
    ]
    for kind in ("merged", "int8"):
        qual = (result.get("quality") or {}).get(kind)
        out.append(
            {
                "name": f"{kind} export: task scores within tolerance (default model, test split)",
                "goal": "no task score refused",
                "measured": None if qual is None else qual["verdict"],
                "met": None if qual is None else qual["verdict"] == "pass",
            }
        )
    return out


# ------------------------------------------------------------------------------ one format


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (ru_maxrss
    keeps the forking parent's peak across exec on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(
    kind: str, folder: Path, batch: int, prompt_tokens: int, new: int, repeats: int, threads: int
):
    """Load one format and generate; print its figures as JSON (a fresh process: its peak RSS
    is this format's)."""
    import torch

    from provena.export import int8

    torch.set_num_threads(threads)

    started = time.perf_counter()
    if kind == "int8":
        lm = int8.load(folder)
    else:
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
    lm.eval()
    load_s = time.perf_counter() - started
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, SPEED_CONFIG["vocab_size"], (batch, prompt_tokens), generator=gen)
    kw = {
        "attention_mask": torch.ones_like(ids),
        "max_new_tokens": new,
        "min_new_tokens": new,
        "do_sample": False,
        "pad_token_id": 0,
    }
    best = float("inf")
    with torch.no_grad():
        lm.generate(input_ids=ids[:, :4], **{**kw, "max_new_tokens": 2, "min_new_tokens": 2})
        for _ in range(repeats):
            t = time.perf_counter()
            lm.generate(input_ids=ids, **kw)
            best = min(best, time.perf_counter() - t)
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "load_s": round(load_s, 3),
                "peak_rss_mb": round(peak, 1),
                "generate_s": round(best, 3),
                "tokens_per_s": round(batch * new / best, 1),
                "threads": torch.get_num_threads(),
            }
        )
    )


def speed(args: argparse.Namespace, tmp: Path) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from provena.export import int8

    torch.manual_seed(0)
    lm = LlamaForCausalLM(LlamaConfig(**SPEED_CONFIG)).eval()
    params = sum(p.numel() for p in lm.parameters())
    folders = {"fp32": tmp / "fp32", "int8": tmp / "int8"}
    lm.save_pretrained(folders["fp32"])
    int8.save(lm, folders["int8"])
    del lm
    out = {}
    for kind, folder in folders.items():
        cmd = [sys.executable, __file__, "--worker", kind, "--folder", str(folder)]
        cmd += ["--batch", str(args.batch), "--prompt-tokens", str(args.prompt_tokens)]
        cmd += ["--new-tokens", str(args.new_tokens), "--repeats", str(args.repeats)]
        cmd += ["--threads", str(args.threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        out[kind] = {"file_mb": round(size / 1e6, 2), **figures}
        print(kind, out[kind], flush=True)
    return {"parameters": params, "formats": out}


def quality_of(args: argparse.Namespace, tmp: Path) -> dict:
    from provena.config import EvaluateConfig
    from provena.export import export_adapter

    adapter = args.project / "models" / "adapter"
    test = args.project / "data" / "processed" / "test.parquet"
    if not (adapter / "adapter_model.safetensors").is_file() or not test.is_file():
        return {"skipped": f"no adapter or test split under {args.project}"}
    cfg = EvaluateConfig(
        max_examples=args.max_examples, perplexity_max_examples=args.perplexity_examples
    )
    out = {}
    for kind, kw in (("merged", {"merge": True}), ("int8", {"quantize": "int8"})):
        started = time.perf_counter()
        res = export_adapter(
            adapter, tmp / f"q-{kind}", force=True, cfg=cfg, root=args.project, test=test, **kw
        )
        q = res.quality
        out[kind] = {
            "verdict": q["verdict"],
            "reasons": q["reasons"],
            "folder_mb": round(res.bytes / 1e6, 2),
            "seconds": round(time.perf_counter() - started, 1),
            "families": q["families"],
        }
        print(kind, q["verdict"], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, default=ROOT, help="holds models/ and data/")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per format (1: on a shared CPU, more threads wait on each other)",
    )
    ap.add_argument("--max-examples", type=int, default=40, help="answers per family")
    ap.add_argument("--perplexity-examples", type=int, default=400)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/export.json")
    ap.add_argument("--worker", choices=["fp32", "int8"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(
            args.worker,
            args.folder,
            args.batch,
            args.prompt_tokens,
            args.new_tokens,
            args.repeats,
            args.threads,
        )
        return
    import torch

    from provena.io import write_json

    torch.set_num_threads(args.threads)  # the quality runs too
    with tempfile.TemporaryDirectory() as tmp:
        sp = speed(args, Path(tmp))
        qual = quality_of(args, Path(tmp))
    result = {
        "speed_model": {"config": SPEED_CONFIG, "parameters": sp["parameters"]},
        "formats": sp["formats"],
        "batch": args.batch,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "threads": args.threads,
        "quality": qual,
        "quality_model": f"{args.project.name}/models/adapter on data/processed/test.parquet",
        "gpu": "not measured: no GPU was lent to this task (nf4 needs CUDA and bitsandbytes)",
        "timing": "tokens/s: best of the repeats (shared CPU); load: from a fresh process, "
        "weights only (no hash check); peak memory: the process's peak RSS after generating",
        "platform": platform.platform(),
    }
    result["targets"] = targets(result)
    write_json(args.out, result)
    for t in result["targets"]:
        print(f"{t['name']}: {t['measured']} (goal {t['goal']}, met {t['met']})")


if __name__ == "__main__":
    main()
