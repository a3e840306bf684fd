"""clean's quality filters: one table per rule, each case asserting the rule and its reason."""

from __future__ import annotations

import json
import random
import re
from functools import partial

import pytest

from provena.clean.filters import (
    _LAYOUT_WORD_RE,
    _NO_LETTER_WORD_RE,
    LOOP_MAX_PERIOD,
    MARKUP_RE,
    Filters,
    _looped,
    _looped_chars,
    _looped_many,
    repetition_problem,
)
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
    ("short_output", rec(output="Ok."), ["'Ok.' answers nothing"]),
    ("short_output", rec(output="{}"), ["no letter or digit"]),
    ("short_output", rec(output="Acknowledged!!"), ["1 words < 2"]),
    ("placeholder_only", rec(output="<PERSON> <EMAIL_ADDRESS>."), ["placeholders"]),
    ("echo", rec(output=INSTR.upper()), ["repeats the instruction"]),
    ("echo", rec(output=GOOD_INPUT + "  "), ["repeats the input"]),
    (
        "refusal",
        rec(output="As an AI language model, I cannot send parts."),
        ["AI disclaimer 'As an AI language model'", "'I cannot'"],
    ),
    ("refusal", rec(output="I'm sorry, but I can't help with that request."), ["canned refusal"]),
    ("mojibake", rec(output="Caf\ufffd au lait is \ufffd3.50 today, thanks for asking."), ["2 "]),
    ("mojibake", rec(output="The caf\u00c3\u00a9 is closed today, sorry about that."), ["ftfy"]),
    ("markup", rec(output=GOOD_OUTPUT + "<o:p>&nbsp;</o:p>"), ["'<o:p>'", "output"]),
    ("markup", rec(output=GOOD_OUTPUT + "<!--[if !supportLists]-->"), ["'<!--'"]),
    ("markup", rec(input=GOOD_INPUT + "<br/>"), ["input"]),
    ("markup", rec(output=GOOD_OUTPUT + " &#39;quoted&#39;"), ["&#39;"]),
    ("over_long", rec(input=GOOD_INPUT + " word" * 2000), ["characters > 8000"]),
    ("characters", rec(input="", output=" ".join(str(i) for i in range(40))), ["letter"]),
    (
        "characters",
        rec(output="Big sale!! #deal #sale #promo #shopping #discount #love #instagood #style"),
        ["hashtags"],
    ),
    (
        "repetition",
        rec(output="\n".join(["Please call us back."] * 20)),
        ["repeated sentences or lines", "output"],
    ),
    ("repetition", rec(output="buy now " * 40), ["back-to-back repeats"]),
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
    assert repetition_problem("buy now " * 20, rule) is None  # 40 words < min_words 50
    assert repetition_problem("buy now " * 30, rule) is not None


def test_gopher_ngram_shares_apply_where_params_set_them():
    gopher = {"max_dup_ngram_char_share": {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1}}
    rule = CleanConfig.model_validate({"filters": {"repetition": gopher}}).filters.repetition
    text = " ".join(f"w{i}" for i in range(60))
    assert repetition_problem(text, rule) is None
    longer = text + " " + " ".join(f"w{i}" for i in range(30))
    assert repetition_problem(longer, CleanConfig().filters.repetition) is None  # off by default
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


# ------------------------------------------------------------------ short answers (issue 17)

QA = partial(factory.record, source="qa.jsonl", input="")

#: (instruction, output): right answers of a word or a few, from general-knowledge QA data
SHORT_ANSWERS = [
    ("Which is a species of fish? Tope or Rope", "Tope"),
    ("Where is Amazon headquartered?", "Seattle"),
    ("Who founded SpaceX?", "Elon Musk"),
    ("When did Virgin Australia start operating?", "April 6, 2003"),
    ("How many legs does a spider have?", "8"),
    ("Is a tomato a fruit?", "Yes."),
    ("Classify each as a mammal or a bird: whale, eagle", "whale: mammal\neagle: bird"),
    ("Extract the year the company was founded from the text.", "1998"),
    ("Answer with one word: what colour is the sky on a clear day?", "Blue"),
]


@pytest.mark.parametrize("instruction, output", SHORT_ANSWERS, ids=[x[1] for x in SHORT_ANSWERS])
def test_a_short_answer_to_a_short_question_is_kept(filters, instruction, output):
    assert filters.check(QA(instruction=instruction, output=output)) is None


@pytest.mark.parametrize(
    "instruction, output, words",
    [
        # running text was asked for: a word does not do
        ("Explain how vaccines train the immune system.", "Antibodies.", ["< 12", "explain"]),
        ("Write a cover letter for a nursing job.", "Hire me.", ["8 characters < 12", "letter"]),
        # whatever was asked, these answer nothing
        ("Who founded SpaceX?", "N/A", ["answers nothing"]),
        ("Where is Amazon headquartered?", "See above.", ["answers nothing"]),
        ("When was the Eiffel Tower completed?", ".", ["no letter or digit"]),
        # a wh-question is not answered by a bare yes or no
        ("Who founded SpaceX?", "Yes", ["bare 'Yes'", "who-question"]),
    ],
)
def test_a_short_output_that_does_not_answer_is_dropped(filters, instruction, output, words):
    got = filters.check(QA(instruction=instruction, output=output))
    assert got is not None and got[0] == "short_output", got
    for w in words:
        assert w in got[1], got


def test_a_non_answer_the_instruction_names_is_an_answer(filters):
    rec_ = QA(instruction="Reply OK if the order number below is valid: 12-4471.", output="OK")
    assert filters.check(rec_) is None


def test_length_is_not_judged_where_scrubbing_changed_the_output(filters):
    # "Contact Jean-Baptiste Dupont-Moreau today." became "<PERSON>." under a long request
    scrubbed = QA(instruction="Write a note telling staff whom to contact.", output="Ask <PERSON>.")
    assert filters.check(scrubbed) is None  # a placeholder in the output says so
    # the ledger says so where the placeholder is gone (an operator that masks or redacts)
    masked = QA(instruction="Write a note telling staff whom to contact.", output="Ask J.")
    assert filters.check(masked)[0] == "short_output"
    assert filters.check(masked, scrubbed=True) is None


def test_instruction_blind_length_rule_is_a_param():
    cfg = CleanConfig.model_validate({"filters": {"short_output": {"by_instruction": False}}})
    got = Filters(cfg).check(QA(instruction="Who founded SpaceX?", output="Elon Musk"))
    assert got[0] == "short_output" and "characters < 12" in got[1]


def test_placeholder_only_stands_for_the_name_asked(filters):
    assert filters.check(QA(instruction="Who wrote the letter?", output="<PERSON>")) is None
    got = filters.check(QA(instruction="Write a thank-you letter.", output="<PERSON>"))
    assert got[0] == "placeholder_only"


def test_scrubbed_outputs_come_from_the_pii_ledger(tmp_path):
    from provena.clean import scrubbed_outputs

    ledger = tmp_path / "scrub_pii.jsonl"
    lines = [
        {"id": "a", "entities": [{"field": "output", "operator": "replace"}]},
        {"id": "b", "entities": [{"field": "input", "operator": "replace"}]},
        {"id": "c", "entities": [{"field": "output", "operator": "keep"}]},
        {"id": "d", "entities": []},
    ]
    ledger.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert scrubbed_outputs(ledger) == {"a"}
    assert scrubbed_outputs(None) == frozenset()
    with pytest.raises(UserError, match="no scrub_pii ledger"):
        scrubbed_outputs(tmp_path / "missing.jsonl")


# ------------------------------------------------------------------------------ language

FRENCH = "Bonjour à tous, merci d'être venus si nombreux ce soir pour fêter notre anniversaire."


def test_a_translation_into_the_language_asked_is_kept(filters):
    r = QA(
        instruction="Translate to French:",
        input="Hello everyone, thank you for coming tonight to celebrate our anniversary.",
        output=FRENCH,
    )
    assert filters.check(r) is None
    assert (
        filters.check(QA(instruction="Answer in French: where is the Louvre?", output=FRENCH))
        is None
    )


def test_a_language_the_instruction_does_not_ask_for_is_dropped(filters):
    got = filters.check(QA(instruction="Translate to German:", input="Hello", output=FRENCH))
    assert got[0] == "language" and "named by the instruction" in got[1], got
    got = filters.check(QA(instruction="Tell me about the history of Paris.", output=FRENCH))
    assert got[0] == "language", got


# ---------------------------------------------------------------------------- repetition

ITINERARY = "\n".join(
    f"Day {i}: Visit the {place} in the morning, then have lunch at a local restaurant nearby."
    for i, place in enumerate(
        ["Louvre", "Eiffel Tower", "Musée d'Orsay", "Montmartre", "Latin Quarter", "Versailles"],
        start=1,
    )
)
STEPS = "\n".join(
    f"{i}. {step}"
    for i, step in enumerate(
        [
            "Preheat the oven to 180 degrees and grease a round cake tin with butter.",
            "Whisk the eggs and the sugar together until the mixture is pale and fluffy.",
            "Fold in the flour and the baking powder gently with a large metal spoon.",
            "Pour the batter into the tin and bake it for thirty-five minutes or so.",
            "Leave the cake to cool in the tin for ten minutes before turning it out.",
        ],
        start=1,
    )
)


@pytest.mark.parametrize("text", [ITINERARY, STEPS], ids=["itinerary", "recipe-steps"])
def test_a_list_of_distinct_items_is_not_repetition(filters, text):
    assert repetition_problem(text, CleanConfig().filters.repetition) is None
    assert filters.check(QA(instruction="Plan it for me.", output=text)) is None


def test_a_list_whose_items_repeat_is_repetition():
    items = ["Drink plenty of water every day to stay healthy."] * 6
    text = "\n".join(f"{i}. {it}" for i, it in enumerate(items, start=1)) + "\n" + STEPS
    got = repetition_problem(text, CleanConfig().filters.repetition)
    assert got is not None and "repeated sentences" in got


def test_a_chorus_repeats_in_a_song_only():
    chorus = "Oh the sea, the sea, it calls me home tonight\nAnd I will follow where it goes\n"
    verses = [
        "I walked along the harbour where the fishing boats come in\n",
        "The gulls were crying overhead, the tide was running thin\n",
        "My father sailed these waters and his father did before\n",
    ]
    song = "".join(v + chorus for v in verses)
    rule = CleanConfig().filters.repetition
    assert repetition_problem(song, rule) is not None
    assert repetition_problem(song, rule, verse=True) is None


# ------------------------------------------------------------ refusal, markup, characters


def test_saying_what_the_assistant_is_answers_a_question_about_it(filters):
    out = "As an AI language model, I cannot have feelings, but I can help you with questions."
    assert filters.check(QA(instruction="Do you have feelings?", output=out)) is None
    assert filters.check(QA(instruction="Who founded SpaceX?", output=out))[0] == "refusal"


@pytest.mark.parametrize(
    "instruction, output",
    [
        (
            "which libraries are the best for developing deep learning scripts in python?",
            "As an AI language model, I'm glad you're interested! The most popular ones are:\n\n"
            "1. TensorFlow: Google's library for large models.\n2. PyTorch: dynamic graphs.",
        ),
        (
            "Who is the president of France?",
            "As of my knowledge cutoff in 2023, the president of France is Emmanuel Macron.",
        ),
        # no disclaimer: declining one thing is advice
        ("Can I give my dog grapes?", "No. I cannot stress this enough: grapes are toxic."),
    ],
)
def test_a_disclaimer_before_an_answer_is_kept(filters, instruction, output):
    assert filters.check(QA(instruction=instruction, output=output)) is None


@pytest.mark.parametrize(
    "output, declined",
    [
        (
            "I cannot fulfill your request. I'm just an AI, it's not within my programming or "
            "ethical guidelines to provide content that promotes violence.",
            "'I cannot'",
        ),
        (
            "I'm just an AI, I don't have access to real-time information, so I can't provide "
            "the current date.",
            "can't",
        ),
        (
            "I'm just an AI and my purpose is to be respectful. I must advise against using "
            "harmful language such as 'markdown formatted text'.",
            "advise against",
        ),
    ],
)
def test_a_disclaimer_that_declines_is_a_refusal(filters, output, declined):
    got = filters.check(
        QA(instruction="Write a C++ function that converts Markdown.", output=output)
    )
    assert got[0] == "refusal" and declined in got[1], got


def test_tags_are_content_where_the_instruction_is_about_markup(filters):
    out = 'Use this: <a href="https://example.com"><img src="logo.png" alt="Logo"></a>'
    assert filters.check(QA(instruction="Write the HTML for an image link.", output=out)) is None
    got = filters.check(QA(instruction="Write a note.", output=GOOD_OUTPUT + "<o:p>&nbsp;</o:p>"))
    assert got[0] == "markup"


def test_table_rules_and_headings_are_layout_not_symbols(filters):
    table = (
        "| Planet | Moons |\n|---|---|\n| Earth | 1 |\n| Mars | 2 |\n| Jupiter | 95 |\n"
        "| Saturn | 146 |\n\n## Notes\n\n# Counts as of 2023, from NASA."
    )
    assert filters.check(QA(instruction="Make a table of planets and moons.", output=table)) is None


def test_hashtags_asked_for_are_kept(filters):
    out = "Sunny days ahead! #summer #beach #vacation #sun #travel #fun"
    assert filters.check(QA(instruction="Write a tweet with hashtags.", output=out)) is None
    assert filters.check(QA(instruction="Write a tweet.", output=out))[0] == "characters"


def _looped_reference(items: list[str]) -> list[bool]:
    """Back-to-back repeats by their definition: a run of >= k items each equal to the item
    k before it (k <= LOOP_MAX_PERIOD) makes those items repeats."""
    covered = [False] * len(items)
    for k in range(1, LOOP_MAX_PERIOD + 1):
        m = 0
        while m + k < len(items):
            end = m
            while end + k < len(items) and items[end + k] == items[end]:
                end += 1
            if end - m >= k:
                for i in range(m + k, end + k):
                    covered[i] = True
            m = max(end, m + 1)
    return covered


def test_back_to_back_repeats_of_a_batch_are_each_lists_own():
    rng = random.Random(7)
    lists = [[], ["a"], ["a", "a"], ["buy", "now", "buy", "now", "buy"], list("abcabcabcx")]
    for _ in range(300):
        items = [rng.choice("abcd") for _ in range(rng.randint(0, 40))]
        at, k = rng.randint(0, len(items)), rng.randint(1, 12)
        lists.append(items[:at] + items[at : at + k] * rng.randint(1, 4) + items[at + k :])
    want = [_looped_reference(items) for items in lists]
    assert _looped_many(lists) == want
    assert [_looped(items) for items in lists] == want
    assert _looped_chars(lists) == [
        sum(len(x) + 1 for x, c in zip(items, w, strict=True) if c)
        for items, w in zip(lists, want, strict=True)
    ]
    assert any(any(w) for w in want) and not all(any(w) for w in want)


def test_word_counts_of_the_characters_rule_are_per_word():
    """The characters rule counts words with two regexes; the counts are those of str.split's
    words, judged one by one (layout: only table rules, bullets and dashes; no letter)."""
    layout = re.compile(r"^[|:=+*•·\-–—_~]+$")
    letter = re.compile(r"[^\W\d_]")
    alphabet = list("aZé9²_-|=*•·–—~:+.#!?,\t\n\r\x0b\x0c\u00a0\u2003\u3000\u200b\x1c\u0663Σ😀<>")
    rng = random.Random(11)
    texts = ["", " ", "- | --- ==", "12 3.5 a1 _ __x", "word — word"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for text in texts:
        words = text.split()
        assert len(_LAYOUT_WORD_RE.findall(text)) == sum(1 for w in words if layout.match(w))
        assert len(_NO_LETTER_WORD_RE.findall(text)) == sum(
            1 for w in words if not letter.search(w)
        ), repr(text)
