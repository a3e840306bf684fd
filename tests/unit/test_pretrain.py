"""The tiny base learns before the adapter does: its tokenizer splits digits, its pretraining
corpus never pairs a prompt with its answer, pretraining lowers the loss on text it has not
seen and is repeatable, and no steps leave the weights as drawn."""

from __future__ import annotations

import pytest
import torch

from provena.config import TinyBaseConfig
from provena.modeling import model
from provena.modeling.attention import MASK, segment_attention_on
from provena.modeling.data import collate, pack
from provena.train import pretrain
from provena.train.loop import forward_loss
from tests.helpers.train import train_records

SEQ = 128


def _cfg(**kw) -> TinyBaseConfig:
    base = {
        "vocab_size": 400,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_layers": 1,
        "num_heads": 2,
        "num_kv_heads": 1,
        "pretrain_steps": 30,
        "pretrain_batch_size": 4,
        "pretrain_learning_rate": 1e-2,
    }
    return TinyBaseConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def tokenizer():
    texts = pretrain.documents(train_records(120))
    return model.tiny_tokenizer(texts, _cfg())


def _loss(lm, tok, texts) -> float:
    """Mean next-token loss over ``texts`` (every token a target)."""
    examples, _ = pretrain.tokenize_documents(texts, tok, SEQ)
    lm.eval()
    total, n = 0.0, 0
    with torch.no_grad(), segment_attention_on(lm) as plan:
        for row in pack(examples, SEQ):
            s, c = forward_loss(lm, collate([row], tok.pad_token_id, plan != MASK), plan)
            total, n = total + float(s), n + c
    return total / n


def test_the_tiny_tokenizer_gives_every_digit_a_token(tokenizer):
    text = 'a 63-year-old, DOB 1963-05-26 {"age": 63}'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = [tokenizer.decode([i]) for i in ids]
    digits = [p for p in pieces if any(ch.isdigit() for ch in p)]
    assert digits and all(len(p) == 1 for p in digits)  # never "63" or "1963" as one token
    assert "".join(digits) == "631963052663"
    assert tokenizer.decode(ids) == text  # byte-level: nothing lost


def test_documents_are_fields_never_a_prompt_with_its_answer():
    records = train_records(6)
    docs = pretrain.documents(records)
    for rec in records:
        answer = rec["output"]
        assert answer in docs
        for doc in docs:
            assert not (rec["instruction"] in doc and answer in doc and doc != answer)
    chat = {
        **records[0],
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Where is my parcel?"},
            {"role": "assistant", "content": "It ships today."},
        ],
    }
    assert pretrain.documents([chat]) == ["Be kind.", "Where is my parcel?", "It ships today."]
    # the records corpus: one document per record, prompt and answer together, no chat markers
    whole = pretrain.documents([records[1], chat], "records")
    assert whole == [
        f"{records[1]['instruction']}\n{records[1]['input']}\n{records[1]['output']}",
        "Be kind.\nWhere is my parcel?\nIt ships today.",
    ]
    with pytest.raises(ValueError, match="unknown pretraining corpus"):
        pretrain.documents(records, "web")


def test_pretraining_lowers_the_loss_on_text_it_has_not_seen(tokenizer):
    cfg = _cfg()
    seen = pretrain.documents(train_records(120))
    unseen = pretrain.documents(train_records(20, offset=5000))
    lm = model.tiny_model(tokenizer, cfg, SEQ)
    before = _loss(lm, tokenizer, unseen)
    result = pretrain.pretrain(lm, tokenizer, seen, cfg, max_seq_len=SEQ)
    after = _loss(lm, tokenizer, unseen)
    assert result.steps == 30 and result.documents == len(seen)
    assert result.final_loss < result.first_loss - 1.0
    assert after < before - 1.0, (before, after)
    assert [h["step"] for h in result.history][-1] == 30


def test_pretraining_is_repeatable_and_no_steps_leave_the_weights_as_drawn(tokenizer):
    texts = pretrain.documents(train_records(40))
    cfg = _cfg(pretrain_steps=4)
    a, b = model.tiny_model(tokenizer, cfg, SEQ), model.tiny_model(tokenizer, cfg, SEQ)
    pretrain.pretrain(a, tokenizer, texts, cfg, max_seq_len=SEQ, seed=3)
    pretrain.pretrain(b, tokenizer, texts, cfg, max_seq_len=SEQ, seed=3)
    drawn = model.tiny_model(tokenizer, cfg, SEQ)
    sa, sb, sd = a.state_dict(), b.state_dict(), drawn.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # same data, seed, steps: same weights
    assert any(not torch.equal(sa[k], sd[k]) for k in sa)
    none = model.tiny_model(tokenizer, cfg, SEQ)
    result = pretrain.pretrain(none, tokenizer, texts, _cfg(pretrain_steps=0), max_seq_len=SEQ)
    assert result.steps == 0 and result.first_loss is None
    assert all(torch.equal(none.state_dict()[k], sd[k]) for k in sd)


def test_bf16_autocast_computes_in_bf16_and_keeps_weights_and_loss_fp32(tokenizer):
    cfg = _cfg()
    texts = pretrain.documents(train_records(40))
    lm = model.tiny_model(tokenizer, cfg, SEQ)
    examples, _ = pretrain.tokenize_documents(texts, tokenizer, SEQ)
    with torch.no_grad(), segment_attention_on(lm) as plan:
        batch = collate(pack(examples, SEQ)[:2], tokenizer.pad_token_id, plan != MASK)
        fp32, n = forward_loss(lm, batch, plan)
        bf16, m = forward_loss(lm, batch, plan, torch.bfloat16)
    assert n == m and bf16.dtype == torch.float32
    # the same loss to bf16's precision, but not bit for bit: the products ran in bf16
    assert float(bf16) != float(fp32)
    assert abs(float(bf16) - float(fp32)) < 0.02 * float(fp32)
    result = pretrain.pretrain(
        lm, tokenizer, texts, cfg, max_seq_len=SEQ, compute_dtype=torch.bfloat16
    )
    assert result.final_loss < result.first_loss - 1.0
    assert all(p.dtype == torch.float32 for p in lm.parameters())
