"""What an instruction asks for (provena.clean.asks): the tables clean's filters rely on."""

from __future__ import annotations

import pytest

from provena.clean.asks import (
    about_assistant,
    about_markup,
    answer_kind,
    asks_for_verse,
    language_names,
    requested_language,
)

# (instruction, kind, words the cue must contain)
KINDS = [
    # a name, a date, a place, a number: a word or a few answer them
    ("Who founded SpaceX?", "short", "who-question"),
    ("When was the Eiffel Tower completed?", "short", "when-question"),
    ("Where is Amazon headquartered?", "short", "where-question"),
    ("Which is a species of fish? Tope or Rope", "short", "which-question"),
    ("What is the capital of Australia?", "short", "what-question"),
    ("How many legs does a spider have?", "short", "how-many"),
    ("How much does the Moon weigh?", "short", "how-many"),
    ("Based on the passage, when did Virgin Australia start operating?", "short", "when"),
    ("Given this paragraph about Kobe Bryant, who drafted him?", "short", "who-question"),
    ("how do you say 'good evening' in French?", "short", "how-many"),
    # yes/no and choices
    ("Is a tomato a fruit?", "short", "yes/no"),
    ("Did the Beatles ever play in Seattle?", "short", "yes/no"),
    ("Tea or coffee?", "short", "choice"),
    ("Decide whether the email is spam.", "short", "decide"),
    ("Is this review positive or negative? Answer yes or no.", "short", "yes or no"),
    ("Reply with the category of the product below.", "short", "Reply with the category"),
    # requests for a label, a name, a word, a list
    ("Classify each of the following as a bird or a fish: eagle, tope, shark", "short", "classify"),
    ("Identify the programming language of this code.", "short", "identify"),
    ("Name three primary colours.", "short", "name"),
    ("List the planets of the solar system.", "short", "list"),
    ("Extract the founding date from the text.", "short", "extract"),
    ("Give me a title for this article.", "short", "title"),
    ("Suggest a name for my bakery.", "short", "name"),
    ("Describe the painting in one word.", "short", "one word"),
    # running text, code or a structure
    ("Explain how vaccines train the immune system.", "long", "explain"),
    ("Why is the sky blue?", "long", "why/how"),
    ("How do I bake sourdough bread at home?", "long", "why/how"),
    ("What are the differences between a virus and a bacterium?", "long", "why/how"),
    ("Write a cover letter for a nursing job.", "long", "letter"),
    ("Draft an email to my landlord about the broken heater.", "long", "email"),
    ("Please describe the water cycle.", "long", "describe"),
    ("Can you explain quantum entanglement to a child?", "long", "explain"),
    ("Reply to this customer email on behalf of the support team.", "long", "reply"),
    ("As a support agent at Acme, answer the customer below.", "long", "answer"),
    ("Write a Python function that reverses a string.", "long", "function"),
    ("Return the patient's age, sex and ICD-10 codes as JSON.", "long", "JSON"),
    ("Extract the patient's age and sex. Answer with JSON only.", "long", "JSON"),
    ("Who was Napoleon? Tell me about his reforms in detail.", "long", "in detail"),
    ("Summarise the book in two paragraphs.", "long", "two paragraphs"),
    # nothing says
    ("", "open", "no recognisable"),
    ("Photosynthesis", "open", "no recognisable"),
    ("Answer the following question.", "open", "no recognisable"),
    ("Réponds à la question suivante.", "open", "no recognisable"),
]


@pytest.mark.parametrize("instruction, kind, cue", KINDS, ids=[k[0][:40] for k in KINDS])
def test_answer_kind(instruction, kind, cue):
    ask = answer_kind(instruction)
    assert ask.kind == kind, ask
    assert cue in ask.what, ask


def test_a_later_description_does_not_override_the_request():
    # the tweet to classify says "analyze": the request is the first sentence
    ask = answer_kind(
        "Classify the tweet into one of: event, demo, or news.\n\n"
        "Using this tutorial, you can analyze reviews in an existing app."
    )
    assert ask.kind == "short" and "classify" in ask.what


def test_wh_questions_are_marked_and_yes_no_questions_are_not():
    assert answer_kind("Who wrote Hamlet?").wh
    assert not answer_kind("Is Hamlet a tragedy?").wh


# (instruction, translation asked, codes named; None: no language asked)
LANGUAGES = [
    ("Translate to French: Good morning, everyone.", (True, ("fr",))),
    ("Translate the following sentence into Spanish.", (True, ("es",))),
    ("Translate this from German into English.", (True, ("en",))),
    ("Answer in German.", (False, ("de",))),
    ("Write a short poem in Italian", (False, ("it",))),
    ("What is the Japanese word for cat?", (False, ("ja",))),
    ("Give me the Brazilian Portuguese version of this slogan.", (False, ("pt",))),
    ("Make the article available in a second language by translating it.", (True, ())),
    ("Tell me about French history.", None),
    ("Who painted the Mona Lisa?", None),
]


@pytest.mark.parametrize("instruction, expected", LANGUAGES, ids=[x[0][:40] for x in LANGUAGES])
def test_requested_language(instruction, expected):
    got = requested_language(instruction)
    if expected is None:
        assert got is None
    else:
        assert (got.translation, got.codes) == expected


def test_an_unnamed_target_language_means_any():
    assert requested_language("Translate it into another language.").any
    assert not requested_language("Translate it into Dutch.").any


def test_language_names_come_from_cldr_for_the_detectors_languages():
    names = language_names()
    assert names["french"] == "fr" and names["german"] == "de" and names["english"] == "en"
    assert names["bengali"] == names["bangla"] == "bn"  # CLDR's name and the common one
    assert "klingon" not in names


@pytest.mark.parametrize(
    "fn, yes, no",
    [
        (about_assistant, "Are you conscious?", "Are volcanoes dangerous?"),
        (about_assistant, "Hi! What is your name?", "What is the name of the river?"),
        (about_assistant, "Can you feel pain?", "Can you explain how pain works?"),
        (about_markup, "Write the HTML for an image link.", "Write a letter to my aunt."),
        # a tag or script URL quoted in the instruction is no topic of its own
        (
            about_markup,
            'Which tags does <a href="javascript:go()">this</a> use?',
            'Reply to this customer. <a href="javascript:window.x=3">click</a>',
        ),
        (about_markup, "Fix the svg icon.", 'Reply to them. "><svg onload="f()">'),
        (asks_for_verse, "Write a song about the sea.", "Write an essay about the sea."),
    ],
)
def test_topic_cues(fn, yes, no):
    assert fn(yes) and not fn(no)
