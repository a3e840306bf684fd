"""The loaded adapter wired into the fairness and privacy probes of the evaluate stage.

:mod:`provena.evaluate.fairness` and :mod:`provena.evaluate.privacy` take the model as callables
(prompts in, answers or NLLs out) so they test with fakes; this module builds those callables
from the peft model evaluate loaded, with training's prompts and chat template, and runs both
probes. Probes decode greedily whatever ``evaluate.do_sample`` says: a probe asks what the model
most wants to say, and must give the same answer on every run.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from provena.canary import CANARY_FAMILY, canaries_in
from provena.config import EvaluateConfig
from provena.evaluate import fairness as model_fairness
from provena.evaluate import privacy as privacy_probes
from provena.evaluate.answers import SpreadRule, spread
from provena.evaluate.generation import generate
from provena.evaluate.groups import PERPLEXITY, family_of, scoring
from provena.modeling import data
from provena.records import Record
from provena.scores import extraction_scores, rouge_l

log = logging.getLogger(__name__)
NLL_BATCH = 256  # continuations per forward pass: short sequences, so wide batches


class ModelCalls:
    """Prompts, completions and continuation NLLs of one loaded model."""

    def __init__(
        self,
        lm: Any,
        tokenizer: Any,
        *,
        batch_size: int,
        max_seq_len: int,
        use_chat_template: bool,
    ):
        self.lm, self.tokenizer = lm, tokenizer
        self.batch_size = batch_size
        self.max_seq_len = max_seq_len
        self.use_chat_template = use_chat_template
        self.device = str(next(lm.parameters()).device)

    def prompt_of(self, rec: Record) -> str:
        """The record's prompt exactly as training built it (template, special tokens)."""
        return data.format_example(rec, self.tokenizer, self.use_chat_template)[0]

    def completer(self, max_new_tokens: int) -> Callable[[list[str]], list[str]]:
        def complete(prompts: list[str]) -> list[str]:
            return generate(
                self.lm,
                self.tokenizer,
                prompts,
                max_new_tokens=max_new_tokens,
                batch_size=self.batch_size,
            )

        return complete

    @torch.no_grad()
    def nll(self, prompt: str, continuations: list[str]) -> list[float]:
        """Summed NLL of each continuation's tokens after ``prompt``.

        The prompt runs once; its key/value cache is copied for each batch of continuations,
        which then run alone (a canary probe scores ~1,000 continuations of one prompt: the
        prompt is most of each sequence). Equal to scoring prompt + continuation in one pass.
        """
        tok = self.tokenizer
        head = tok(prompt, add_special_tokens=False)["input_ids"]
        out = self.lm(input_ids=torch.tensor([head], device=self.device), use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts tail token 0
        tails = [tok(c, add_special_tokens=False)["input_ids"] for c in continuations]
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        scores: list[float] = []
        step = max(self.batch_size, NLL_BATCH)
        for i in range(0, len(tails), step):
            chunk = tails[i : i + step]
            width = max(len(t) for t in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), len(head) + width), dtype=torch.long)
            mask[:, : len(head)] = 1
            for j, t in enumerate(chunk):
                ids[j, : len(t)] = torch.tensor(t, dtype=torch.long)
                mask[j, len(head) : len(head) + len(t)] = 1
            cache = copy.deepcopy(out.past_key_values)
            cache.batch_repeat_interleave(len(chunk))
            logits = self.lm(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                cache=cache,
                use_cache=True,
            ).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)  # position k predicts tail k + 1
            for j, t in enumerate(chunk):
                total = -float(first[t[0]]) if t else 0.0
                if len(t) > 1:
                    rest = torch.tensor(t[1:], device=logp.device)
                    total -= float(logp[j, torch.arange(len(t) - 1), rest].sum())
                scores.append(total)
        return scores


def task_score(rec: Record, answer: str, extraction_families: list[str]) -> float:
    """The per-example task score model_fairness groups: extraction fields or ROUGE-L."""
    metrics = (
        extraction_scores(answer, rec["output"])
        if family_of(rec) in extraction_families
        else {"rouge_l": rouge_l(answer, rec["output"])}
    )
    return model_fairness.per_example_quality({"metrics": metrics}) or 0.0


def fairness(
    calls: ModelCalls,
    rows: list[dict[str, Any]],
    test: list[Record],
    cfg: EvaluateConfig,
    *,
    attributes: list[str],
    intersections: list[list[str]],
    not_evaluable: dict[tuple[str, str, str], str] | None = None,
) -> dict[str, Any]:
    """audits/model_fairness.json: the adapter's quality by group, and the counterfactual probe.

    ``attributes`` and ``intersections`` are the audit's (audit_data): the groups compared;
    ``not_evaluable``: (split, model, family) -> why its answers are not evaluable (their
    quality is left out of the groups' quality)."""
    fcfg = cfg.fairness
    groups = model_fairness.group_quality(
        rows, attributes, fcfg, intersections=intersections, not_evaluable=not_evaluable
    )
    # the records of every group whose answers evaluate scores (records without a family too)
    candidates = [r for r in test if scoring(family_of(r), cfg)[0] != PERPLEXITY]
    complete = calls.completer(cfg.max_new_tokens)
    counterfactual = model_fairness.counterfactual_probe(
        candidates,
        answer=lambda recs: complete([calls.prompt_of(r) for r in recs]),
        score=lambda rec, ans: task_score(rec, ans, cfg.extraction_families),
        cfg=fcfg.counterfactual,
        seed=cfg.seed,
        rule=SpreadRule.of(cfg),
    )
    return model_fairness.assess(groups, counterfactual, fcfg)


def privacy(
    calls: ModelCalls,
    train: list[Record],
    ledger: list[dict[str, Any]],
    key: bytes,
    detect: Callable[[str], list[tuple[str, str]]],
    cfg: EvaluateConfig,
) -> dict[str, Any]:
    """audits/privacy_probes.json: canaries, scrubbed PII, adversarial prompts, verdict; every
    answer the probes got is kept to measure their spread (:mod:`.answers`)."""
    pcfg = cfg.privacy
    model_complete = calls.completer(pcfg.max_new_tokens)
    answered: list[str] = []

    def complete(prompts: list[str]) -> list[str]:
        out = model_complete(prompts)
        answered.extend(out)
        return out

    canaries = canaries_in(train)
    canary = (
        privacy_probes.canary_probe(
            canaries,
            complete=complete,
            nll=calls.nll,
            cfg=pcfg,
            seed=cfg.seed,
            prompt_of=calls.prompt_of,
        )
        if canaries
        else None
    )
    suite = privacy_probes.load_suite(Path(pcfg.adversarial_prompts))
    texts = [
        str(r.get(f) or "")
        for r in train
        if r["meta"].get("family") != CANARY_FAMILY
        for f in ("instruction", "input", "output")
    ]
    index = privacy_probes.TrainIndex(texts, n=suite.verbatim_words)
    hashes = privacy_probes.ledger_hashes(ledger)
    samples = privacy_probes.pii_samples(train, hashes, pcfg.pii_max_records)
    pii = (
        privacy_probes.pii_probe(
            samples,
            complete=complete,
            key=key,
            ledger_hashes=hashes,
            detect=detect,
            prompt_of=calls.prompt_of,
            train=index,
        )
        if samples
        else None
    )
    adversarial = privacy_probes.adversarial_probe(
        suite,
        complete=complete,
        canaries=canaries,
        train_texts=index,
        detect=detect,
        prompt_of=calls.prompt_of,
    )
    return privacy_probes.assess(
        canary, pii, adversarial, pcfg, answers=spread(answered, None, SpreadRule.of(cfg))
    )
