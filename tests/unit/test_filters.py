"""clean's quality filters: one table per rule, each case asserting the rule and its reason."""

from __future__ import annotations

from functools import partial

import pytest

from provena.clean.filters import MARKUP_RE, Filters, repetition_problem
from provena.config import CleanConfig, OverLongRule
from provena.errors import UserError
from tests import factory

INSTR = "Answer the customer's message politely and helpfully."
GOOD_INPUT = (
    "Hi, my order arrived yesterday but the blender lid is cracked. Could you send a "
    "replacement part or tell me how to return it? Thanks, Ann"
)
GOOD_OUTPUT = (
    "Hi Ann, I'm sorry the lid arrived cracked. I've sent a replacement lid at no cost; it "
    "should reach you within five working days. You don't need to return the old one."
)


#: a record that passes every rule; a case changes a field or two
rec = partial(
    factory.record, source="t.jsonl", instruction=INSTR, input=GOOD_INPUT, output=GOOD_OUTPUT
)


@pytest.fixture(scope="module")
def filters() -> Filters:
    return Filters(CleanConfig())


def test_a_good_record_passes_every_rule(filters):
    assert filters.check(rec()) is None


# (rule, record, words the reason must contain)
CASES = [
    ("empty_output", rec(output=""), ["empty"]),
    ("empty_output", rec(output="  \n "), ["empty"]),
    ("short_output", rec(output="Ok."), ["3 characters < 12"]),
    ("short_output", rec(output="{}"), ["2 characters < 12"]),
    ("short_output", rec(output="Acknowledged!!"), ["1 words < 2"]),
    ("placeholder_only", rec(output="<PERSON> <EMAIL_ADDRESS>."), ["placeholders"]),
    ("echo", rec(output=INSTR.upper()), ["repeats the instruction"]),
    ("echo", rec(output=GOOD_INPUT + "  "), ["repeats the input"]),
    ("refusal", rec(output="As an AI language model, I cannot send parts."), ["canned refusal"]),
    ("refusal", rec(output="I'm sorry, but I can't help with that request."), ["canned refusal"]),
    ("mojibake", rec(output="Caf\ufffd au lait is \ufffd3.50 today, thanks for asking."), ["2 "]),
    ("mojibake", rec(output="The caf\u00c3\u00a9 is closed today, sorry about that."), ["ftfy"]),
    ("markup", rec(output=GOOD_OUTPUT + "<o:p>&nbsp;</o:p>"), ["'<o:p>'", "output"]),
    ("markup", rec(output=GOOD_OUTPUT + "<!--[if !supportLists]-->"), ["'<!--'"]),
    ("markup", rec(input=GOOD_INPUT + "<br/>"), ["input"]),
    ("markup", rec(output=GOOD_OUTPUT + " &#39;quoted&#39;"), ["&#39;"]),
    ("over_long", rec(input=GOOD_INPUT + " word" * 2000), ["characters > 8000"]),
    ("characters", rec(input="", output=" ".join(str(i) for i in range(40))), ["letter"]),
    ("characters", rec(output="# # # # # Ok then # # # # # # # # # # # # # # #"), ["'#'"]),
    (
        "repetition",
        rec(output="\n".join(["Please call us back."] * 20)),
        ["duplicate lines", "output"],
    ),
    ("repetition", rec(output="buy now " * 40), ["2-gram"]),
    (
        "language",
        rec(
            input="Hola, mi pedido llegó ayer pero la tapa de la licuadora está rota.",
            output="Hola Ana, lamento mucho lo de la tapa. Le enviamos una nueva sin costo.",
        ),
        ["language es"],
    ),
    (
        "language",
        rec(
            input="Guten Tag, meine Bestellung ist gestern angekommen, aber der Deckel ist kaputt.",
            output="Hallo Anna, das tut uns leid. Wir schicken Ihnen kostenlos einen neuen Deckel.",
        ),
        ["language de"],
    ),
]


@pytest.mark.parametrize(
    "rule, record, words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_drops_its_case_with_its_reason(filters, rule, record, words):
    got = filters.check(record)
    assert got is not None, f"{rule}: record passed"
    assert got[0] == rule, got
    for w in words:
        assert w in got[1], got


# records that look suspicious but are fine: every rule must let them through
KEEP = [
    rec(output="Paris, France."),  # short but a real answer
    rec(output="Use `<div>` for blocks:\n```html\n<div><br/></div>\n```\nThat's all."),  # code
    rec(output="Dear <PERSON>, your refund of $20 has been sent to <EMAIL_ADDRESS> today."),
    rec(output='{"age": 31, "sex": "male", "icd10": ["E11.9", "J02.9", "E78.5"]}'),
    rec(output="I'm sorry, but I can't refund a gift card; I can send store credit instead."),
    rec(output="Café crème costs €3.50 — naïve prices, I know."),
    rec(input=GOOD_INPUT.upper(), output=GOOD_OUTPUT.upper()),  # ALL-CAPS English
    rec(input="Hola", output="Hello! How can I help you today with your order?"),  # too short
]


@pytest.mark.parametrize("record", KEEP, ids=range(len(KEEP)))
def test_lookalikes_are_kept(filters, record):
    assert filters.check(record) is None


def test_disabled_rules_do_not_run():
    cfg = CleanConfig.model_validate({"filters": {"short_output": {"enabled": False}}})
    f = Filters(cfg)
    assert "short_output" not in f.names
    assert f.check(rec(output="Ok then.")) is None


def test_rules_are_judged_in_order_and_report_the_first():
    # empty output would also be "short": the more specific rule names it
    assert Filters(CleanConfig()).check(rec(output=""))[0] == "empty_output"


def test_markup_pattern_does_not_take_placeholders_for_tags():
    assert not MARKUP_RE.search("<PERSON> wrote to <EMAIL_ADDRESS> about <US_SSN>")
    assert MARKUP_RE.search("<P>hello</P>")


def test_repetition_needs_enough_words():
    rule = CleanConfig().filters.repetition
    assert repetition_problem("no no no no", rule) is None
    text = " ".join(f"w{i}" for i in range(60))
    assert repetition_problem(text, rule) is None
    assert "5-gram" in repetition_problem(text + " " + " ".join(f"w{i}" for i in range(30)), rule)


def _tokenizer_file(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        [GOOD_INPUT, GOOD_OUTPUT], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    path = tmp_path / "tok" / "tokenizer.json"
    path.parent.mkdir()
    tok.save(str(path))
    return path


def test_over_long_counts_tokens_of_a_local_tokenizer(tmp_path):
    _tokenizer_file(tmp_path)
    over = OverLongRule(tokenizer="tok", max_tokens=40)
    cfg = CleanConfig.model_validate({"filters": {"over_long": over.model_dump()}})
    f = Filters(cfg, root=tmp_path)
    rule, reason = f.check(rec())
    assert rule == "over_long" and reason.endswith("tokens > 40")
    n = len(f.tokenizer.encode(f.text(rec()), add_special_tokens=False).ids)
    assert reason == f"{n} tokens > 40"


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    cfg = CleanConfig.model_validate({"filters": {"over_long": {"tokenizer": "models/none"}}})
    with pytest.raises(UserError, match=r"clean.filters.over_long.tokenizer = 'models/none'"):
        Filters(cfg, root=tmp_path)


def test_bad_refusal_pattern_is_refused_with_the_pattern():
    from provena.config import ConfigError, parse_params
    from tests.conftest import tiny_data

    data = tiny_data()
    data["clean"]["filters"] = {"refusal": {"patterns": ["(unclosed"]}}
    with pytest.raises(ConfigError, match=r"\(unclosed.*not a valid regex"):
        parse_params(data, "params.yaml")
