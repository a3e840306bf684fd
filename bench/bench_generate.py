"""Benchmark: batched generation (left padding) against generating one example at a time.

The same model (the tiny Llama built from the train split's text, or ``--base`` a local model
folder), the same prompts (the test split's, formatted as the evaluate stage formats them) and
the same number of new tokens per prompt on both sides (``min_new_tokens`` = ``max_new_tokens``,
so an early end-of-sequence does not favour either side); greedy decoding. Reported: generated
tokens per second of each side and their ratio (target: at least 5x). Both sides must produce
the same answers: left padding changes no greedy output (tests/test_evaluate.py checks it).

The figures go to ``bench/results/generate.json`` (with its ``targets``), which the docs render.
The tiny model's per-step cost is mostly fixed overhead, so the gain grows with the batch (which
is why the default batch is 32, not 16).

    python bench/bench_generate.py [--base DIR] [--prompts 128] [--batch-size 32]
        [--new-tokens 48] [--out bench/results/generate.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def targets(result: dict) -> list[dict]:
    """The goals of the evaluate issue, as ``{name, goal, measured, met}``: batched generation
    at least 5x faster than one prompt at a time, with the same answers."""
    return [
        {
            "name": f"tokens/s, batches of {result['batch_size']} / one prompt at a time",
            "goal": ">= 5x",
            "measured": result["speedup"],
            "met": result["speedup"] >= 5.0,
        },
        {
            "name": "answers identical to one prompt at a time",
            "goal": "all prompts",
            "measured": f"{result['same_answers']} of {result['prompts']}",
            "met": result["same_answers"] == result["prompts"],
        },
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="a local model folder (default: the tiny base)")
    ap.add_argument("--test", type=Path, default=ROOT / "data/processed/test.parquet")
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/generate.json")
    args = ap.parse_args()
    # imported here so that targets() can be imported without torch
    import torch

    from provena import evaluate as ev
    from provena.config import load_params
    from provena.io import read_records, write_json
    from provena.modeling import data, model

    torch.manual_seed(0)
    params = load_params(ROOT / "params.yaml")
    records = sorted((r for b in read_records(args.test) for r in b), key=lambda r: r["id"])
    precision = model.resolve_precision("none")
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = args.base
        if base_dir is None:
            texts = ["\n".join((r["instruction"], r["input"], r["output"])) for r in records]
            base_dir = model.build_tiny_base(
                texts[:2000], params.train.tiny, params.train.max_seq_len, Path(tmp) / "base"
            )
        lm, tok = model.load_base(base_dir, precision)
    lm.eval()
    lm.config.use_cache = True
    prompts = [data.format_example(r, tok, True)[0] for r in records[: args.prompts]]
    kw = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    ev.generate(lm, tok, prompts[:2], batch_size=2, **kw)  # warm-up
    t0 = time.perf_counter()
    batched = ev.generate(lm, tok, prompts, batch_size=args.batch_size, **kw)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = [ev.generate(lm, tok, [p], batch_size=1, **kw)[0] for p in prompts]
    t_single = time.perf_counter() - t0
    tokens = len(prompts) * args.new_tokens
    result = {
        "base": "tiny" if args.base is None else str(args.base),
        "device": precision.device,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "prompts": len(prompts),
        "batch_size": args.batch_size,
        "new_tokens_per_prompt": args.new_tokens,
        "batched": {"seconds": round(t_batched, 3), "tokens_per_s": round(tokens / t_batched, 1)},
        "one_at_a_time": {
            "seconds": round(t_single, 3),
            "tokens_per_s": round(tokens / t_single, 1),
        },
        "speedup": round(t_single / t_batched, 2),
        "same_answers": sum(a == b for a, b in zip(batched, single, strict=True)),
    }
    result = {"targets": targets(result), **result}
    write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
