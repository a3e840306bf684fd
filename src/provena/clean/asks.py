"""What an instruction asks for, read from its wording: the clean filters judge an output
against it.

:func:`answer_kind` sorts an (English) instruction into one of three kinds:

- ``short``: the request can be met in a word or a few: a wh-question (who, when, where, which,
  what, how many, how much...), a yes/no question (it opens with an auxiliary: "Is ...?",
  "Did ...?"), a choice ("X or Y?", "whether", "true or false"), a request for a name, a
  date, a number, a label, a title, a word, a list ("Name three ...", "List ..."), or an
  explicit limit ("in one word", "answer yes or no");
- ``long``: the request needs running text or a structure: an explanation ("Explain",
  "Describe", "Why ...?", "How do I ...?"), a composition ("Write a letter", "Draft an email",
  "Reply to the customer"), code, a JSON object or a table, or an explicit length ("in
  detail", "step by step", "in three paragraphs");
- ``open``: nothing in the wording says (another language, a bare topic, "Answer the
  following question." with no question after it).

An explicit limit decides first; otherwise a request for running text outweighs a short cue
("Who was Napoleon? Explain his reforms." is ``long``). The cues are matched at the start of
a sentence (after "please", "can you" and the like), so the same words inside a quoted
passage or an answer choice do not count.

:func:`requested_language` finds a translation request or an answer language named in the
instruction ("Translate into French", "Answer in Spanish.", "the German version"), in
English; the names come from the CLDR data that Babel ships, for the languages py3langid can
report.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["short", "long", "open"]


@dataclass(frozen=True)
class Ask:
    """What an instruction asks for: its kind and, in words, the cue that decided it."""

    kind: Kind
    what: str  # "a who-question", "a letter", "JSON": for drop reasons and reports
    wh: bool = False  # a wh-question (who, when, where...): a bare yes/no does not answer it


OPEN = Ask("open", "no recognisable request")

# ----------------------------------------------------------------------------- the vocabulary

_NUMBERS = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few|several)"
_FEW = r"(?:one|a single|single|1|two|2|three|3|a few|few)"

#: explicit limits: these decide before anything else
_SHORT_LIMIT = re.compile(
    rf"\b(?:in|with|using|as|of)\s+(?:only\s+|just\s+|exactly\s+|at most\s+)?{_FEW}[\s-]+words?\b"
    rf"|\b(?:one|single|1)[\s-]word\b"
    r"|\byes\s*(?:or|/)\s*no\b|\btrue\s*(?:or|/)\s*false\b"
    r"|\b(?:answer|reply|respond)\s+(?:only\s+)?with\s+(?:a|an|one|the|only)?\s*"
    r"(?:yes|no|number|name|date|year|word|letter|digit|integer|label|category|option)\b"
    r"|\b(?:just|only)\s+(?:the|a|an)\s+(?:name|number|date|year|word|answer|label|letter)\b",
    re.I,
)
_LONG_LIMIT = re.compile(
    r"\bin\s+(?:great\s+|more\s+|full\s+)?detail\b|\bdetailed\b|\bstep[\s-]by[\s-]step\b"
    r"|\bin[\s-]depth\b|\bat length\b|\bthorough(?:ly)?\b|\bcomprehensive\b"
    rf"|\b(?:in|with|of|using)\s+(?:at least\s+|about\s+|around\s+)?{_NUMBERS}\s+"
    r"(?:paragraphs|sentences|pages|verses|stanzas|bullet points|points)\b"
    r"|\bat least\s+\d+\s+words\b|\b\d{2,}[\s-]words?\b"
    r"|\bJSON\b|\bYAML\b|\bXML\b|\bCSV\b|\bmarkdown\b|\bas a table\b|\bin a table\b",
    re.I,
)
#: output forms that take running text, code or a structure
_LONG_NOUNS = (
    r"essay|letter|e-?mail|story|stories|tale|fable|poem|poetry|haiku|limerick|sonnet|song|"
    r"lyrics|rap|verses?|script|screenplay|scene|dialogu?e|conversation|speech|toast|eulogy|"
    r"article|blog|post|paragraphs?|report|summary|synopsis|review|critique|description|"
    r"explanation|overview|introduction|conclusion|analysis|breakdown|comparison|argument|"
    r"proposal|plan|strategy|guide|tutorial|lesson|course|curriculum|outline|memo|"
    r"announcement|press release|newsletter|message|reply|response|note|cover letter|"
    r"resume|cv|bio|biography|profile|statement|pitch|ad|advert|advertisement|campaign|"
    r"recipe|itinerary|schedule|routine|workout|code|function|program|programme|class|"
    r"method|module|snippet|query|regex|algorithm|implementation|solution|app|application|"
    r"website|web ?page|page|template|table|chart|diagram|list of instructions|instructions|"
    r"directions|steps|procedure|tweet|caption|product description|job description|"
    r"agenda|contract|policy|questionnaire|questioner|survey|quiz|puzzle|riddle|joke|jokes|"
    r"sentence|interview|monologue|play|whitepaper|white paper|plot|ticket|chronology|"
    r"timeline|exercise|hook|advice|tips|hack|slides?|presentation|framework|syllabus|notes|"
    r"key points|data model|backstory|thread|invitation|apology|complaint|testimonial"
)
#: output forms that take a word or a few
_SHORT_NOUNS = (
    r"names?|title|titles|headline|word|words|term|terms|synonyms?|antonyms?|rhymes?|"
    r"acronyms?|abbreviations?|hashtags?|emojis?|nicknames?|username|slogan|tagline|motto|"
    r"number|numbers|figure|date|dates|year|years|day|time|age|amount|price|cost|value|"
    r"answer|result|score|rating|grade|rank|ranking|category|categories|class label|label|"
    r"labels|genre|type|kind|sentiment|verdict|option|choice|letter|capital|country|city|"
    r"color|colour|percentage|ratio|probability|total|sum|average|count|list|examples?|"
    r"ideas|suggestions|keywords|tags"
)
_PREAMBLE = (
    r"(?:(?:and|also|then|now|next|finally|so|ok|okay|hi|hello|hey|please|kindly|quickly|"
    r"briefly|simply|just)[,!]?\s+"
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+)?"
    r"|(?:i|we)\s+(?:want|need|would like)\s+(?:you\s+)?to\s+|i'd like\s+(?:you\s+)?to\s+"
    r"|help\s+me\s+(?:to\s+)?|let's\s+|let\s+us\s+"
    r"|you\s+(?:should|must|will|need\s+to|have\s+to|are\s+(?:required|asked)\s+to|"
    r"will\s+(?:need|be\s+required)\s+to)\s+"
    r"|(?:based on|according to|given|from|using|in|on|for|as|if|when|considering|after|"
    r"assuming|suppose)\b[^,?]{0,150},\s*)*"
)
_LONG_VERBS = (
    r"explain|describe|discuss|elaborate|summari[sz]e|outline|compare|contrast|analy[sz]e|"
    r"justify|argue|expand|critique|paraphrase|rewrite|rephrase|reword|restate|edit|revise|"
    r"proofread|improve|polish|shorten|simplify|continue|narrate|debate|persuade|convince|"
    r"teach|walk\s+me\s+through|show\s+me\s+how|tell\s+(?:me\s+|us\s+)?(?:about|more|how)|"
    r"talk\s+about|define|prove|introduce|guide|structure|plan|draw|"
    r"reply|respond|answer\s+(?:the|this|a|these|that)\s+(?:customer|email|e-mail|message|"
    r"letter|review|complaint|comment|post|tweet|inquiry|enquiry|ticket|user)|"
    r"role-?play|act\s+as|pretend|imagine|brainstorm\s+(?:a|an)\s+(?:plan|strategy)"
)
_MAKE_VERBS = (
    r"write|compose|draft|create|generate|produce|prepare|design|develop|implement|build|"
    r"make|craft|come\s+up\s+with|give|provide|suggest|recommend|propose|offer|share|"
    r"tell|show|return|output|invent|think\s+of|put\s+together|construct|code|program"
)
_SHORT_VERBS = (
    r"classify|categori[sz]e|label|tag|identify|determine|decide|choose|select|pick|name|"
    r"list|enumerate|extract|find|spell|translate|convert|solve|calculate|compute|count|"
    r"estimate|guess|predict|rate|rank|sort|order|match|indicate|detect|recogni[sz]e|"
    r"state|specify|mention|complete|fill\s+in|correct|fix\s+the\s+(?:spelling|grammar)|"
    r"evaluate|assess|check|verify|tell\s+(?:me\s+)?(?:who|what|when|where|which|whether|if|"
    r"how\s+many|how\s+much|the\s+(?:name|number|date|year|answer))|"
    r"give\s+(?:me\s+)?(?:the|a|an|one)\s+(?:one-word|single-word|short)"
)
_AUX = (
    r"is|are|was|were|am|do|does|did|can|could|will|would|should|shall|may|might|must|has|"
    r"have|had|isn't|aren't|wasn't|weren't|doesn't|don't|didn't|can't|cannot|couldn't|"
    r"won't|wouldn't|shouldn't|hasn't|haven't|hadn't"
)
_HOW_SHORT = (
    r"many|much|old|long|far|tall|big|often|fast|high|large|deep|wide|heavy|early|late|soon|"
    r"hot|cold|small|likely|do\s+you\s+(?:say|spell|pronounce|write|call)|"
    r"is\s+\S+\s+(?:spelled|spelt|pronounced|written|said)"
)
_WHY_NOUNS = (
    r"differences?|reasons?|advantages?|disadvantages?|benefits?|drawbacks?|pros|cons|"
    r"implications?|consequences?|impacts?|significance|importance|causes?|effects?|"
    r"ways|steps|process|best\s+way|best\s+practices|meaning\s+of\s+life|relationship"
)


def _start(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"^{_PREAMBLE}(?:{pattern})\b", re.I)


_LONG_VERB_RE = _start(_LONG_VERBS)
_MAKE_RE = _start(rf"(?:{_MAKE_VERBS})\b(?P<rest>[^.?!\n]*)")
_LONG_NOUN_RE = re.compile(rf"\b(?:{_LONG_NOUNS})\b", re.I)
_SHORT_NOUN_RE = re.compile(rf"\b(?:{_SHORT_NOUNS})\b", re.I)
_SHORT_VERB_RE = _start(_SHORT_VERBS)
_WHY_RE = _start(
    r"why|how\s+(?:do|does|did|can|could|should|would|will|is|are|was|were|to|"
    r"might|may|has|have)\b(?!\s+(?:you|i|one|we)\s+(?:say|spell|pronounce|"
    r"write|call)\b)|in\s+what\s+ways?|what\s+(?:do|would|should)\s+you\s+"
    r"(?:think|suggest|recommend|do)|what\s+(?:is|are|were|was)\s+(?:the\s+|some\s+"
    r"(?:of\s+the\s+)?|a\s+few\s+)?(?:main\s+|key\s+|major\s+|most\s+important\s+)?"
    rf"(?:{_WHY_NOUNS})"
)
_HOW_SHORT_RE = _start(rf"how\s+(?:{_HOW_SHORT})")
_WH_RE = _start(r"who|whom|whose|when|where|which|what|whats|what's|who's|where's|when's")
_AUX_RE = _start(rf"(?:{_AUX})\s+(?!you\s+(?:please\s+)?(?:{_LONG_VERBS}|{_MAKE_VERBS})\b)")
_CHOICE_RE = re.compile(r"\bwhether\b|\w[\w'-]*\s*,?\s+or\s+(?:not\b|[\w'\"-]+\s*\??\s*$)", re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.?!])\s+|\n+|(?<=:)\s+(?=[A-Z])")


def _sentences(text: str, limit: int = 6) -> list[str]:
    """The first sentences of ``text``: the request is at the start of an instruction; what
    follows is often the passage it is about."""
    out = [s.strip(" \t\"'*-#>") for s in _SENTENCE_SPLIT.split(text.strip())]
    return [s for s in out if s][:limit]


def _article(noun: str) -> str:
    if noun.endswith("s") and not noun.endswith(("ss", "us", "is")):
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _short_cue(s: str) -> Ask | None:
    if _HOW_SHORT_RE.search(s):
        return Ask("short", "a how-many/how-much question", wh=True)
    m = _WH_RE.search(s)
    if m:
        word = m.group(0).split()[-1].lower().rstrip("'s")
        return Ask("short", f"a {word}-question", wh=True)
    if _SHORT_VERB_RE.search(s):
        verb = _SHORT_VERB_RE.search(s).group(0).split()[-1].lower()  # type: ignore[union-attr]
        return Ask("short", f"a '{verb}' request")
    m = _MAKE_RE.search(s)
    if m and _SHORT_NOUN_RE.search(m.group("rest")):
        noun = _SHORT_NOUN_RE.search(m.group("rest")).group(0).lower()  # type: ignore[union-attr]
        return Ask("short", f"a request for {_article(noun)}")
    if s.endswith("?") and _AUX_RE.search(s):
        return Ask("short", "a yes/no question")
    if s.endswith("?") and _CHOICE_RE.search(s):
        return Ask("short", "a choice")
    return None


def _long_cue(s: str) -> Ask | None:
    m = _LONG_VERB_RE.search(s)
    if m:
        verb = re.sub(r"^.*?\b(" + _LONG_VERBS + r")", r"\1", m.group(0), flags=re.I)
        return Ask("long", f"a request to {verb.split()[0].lower()}")
    if _WHY_RE.search(s):
        return Ask("long", "a why/how question")
    m = _MAKE_RE.search(s)
    if m:
        long_noun = _LONG_NOUN_RE.search(m.group("rest"))
        short_noun = _SHORT_NOUN_RE.search(m.group("rest"))
        if long_noun and not (short_noun and short_noun.start() < long_noun.start()):
            return Ask("long", f"a request for {_article(long_noun.group(0).lower())}")
    return None


@functools.lru_cache(maxsize=4096)
def answer_kind(instruction: str) -> Ask:
    """What ``instruction`` asks for: ``short``, ``long`` or ``open`` (see the module)."""
    sentences = _sentences(instruction)
    head = " ".join(sentences[:4])
    m = _SHORT_LIMIT.search(head)
    if m:
        return Ask("short", f"an answer limited by '{m.group(0).strip()}'")
    m = _LONG_LIMIT.search(head)
    if m:
        return Ask("long", f"a request for '{m.group(0).strip()}'")
    for s in sentences:  # the first sentence that asks something decides
        ask = _long_cue(s) or _short_cue(s)
        if ask is not None:
            return ask
    return OPEN


_VERSE_RE = re.compile(
    r"\b(?:songs?|lyrics|poems?|poetry|raps?|chants?|anthems?|jingles?|chorus|verses?|ballads?|"
    r"hymns?|rhymes?|stanzas?|sonnets?|limericks?|haikus?)\b",
    re.I,
)


@functools.lru_cache(maxsize=4096)
def asks_for_verse(instruction: str) -> bool:
    """The instruction is about a song or a poem, whose chorus or refrain may repeat."""
    return _VERSE_RE.search(" ".join(_sentences(instruction, limit=4))) is not None


_ABOUT_YOU_RE = re.compile(
    r"^(?:(?:hi|hello|hey)\b[^.?!]{0,40}[,.!]\s*)?"
    r"(?:(?:are|were)\s+you\b"
    r"|(?:do|did|can|could|will|would|have|does)\s+you\s+(?:ever\s+|really\s+|actually\s+)?"
    r"(?:think|feel|know|speak|understand|remember|dream|like|love|hate|have|learn|see|hear|"
    r"believe|want|prefer|experience|sleep|get\s+(?:tired|bored|lonely))\b"
    r"|(?:what|who)\s+(?:are|were)\s+you\b|who\s+(?:made|created|built|trained|owns)\s+you\b"
    r"|what(?:\s+is|'s)\s+your\b|how\s+(?:do|are)\s+you\s+(?:feel|work|think|learn|doing)\b)",
    re.I,
)
_QUOTED_MARKUP_RE = re.compile(r"<[^<>]*>|\b(?:javascript|data|vbscript):\S*", re.I)
_MARKUP_TOPIC_RE = re.compile(
    r"\b(?:html|xhtml|xml|svg|markup|css|dom|jsx|tsx|php|jinja|web ?pages?|websites?|"
    r"javascript|typescript|react|vue|angular|tags?)\b",
    re.I,
)


@functools.lru_cache(maxsize=4096)
def about_assistant(instruction: str) -> bool:
    """A question about the assistant itself ("Are you conscious?", "Can you feel pain?",
    "What is your name?"): saying what it is answers it."""
    return any(_ABOUT_YOU_RE.search(s) for s in _sentences(instruction, limit=3))


@functools.lru_cache(maxsize=4096)
def about_markup(instruction: str) -> bool:
    """The instruction is about markup (HTML, XML, CSS, web pages): tags are its content. Only
    the instruction's own words count: a tag or a script URL quoted in it (a link to
    'javascript:...', an svg tag with an onload handler) does not make it one."""
    words = _QUOTED_MARKUP_RE.sub(" ", instruction)
    return _MARKUP_TOPIC_RE.search(" ".join(_sentences(words, limit=4))) is not None


# ------------------------------------------------------------------------------- languages


@functools.cache
def language_names() -> dict[str, str]:
    """English language name (lower case) -> ISO 639 code, for every language py3langid can
    report, from Babel's CLDR data (with the common other names CLDR lists elsewhere)."""
    from babel import Locale
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    codes = set(LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE).nb_classes)
    english = Locale("en")
    names: dict[str, str] = {}
    for code, name in english.languages.items():
        base = code.split("_")[0]
        if base in codes and name:
            names.setdefault(name.lower(), base)
    # CLDR's own variants and short forms (en's "Bangla" is also "Bengali", ...)
    for code, name in english.languages.items():
        base = code.split("_")[0]
        if base in codes and name:
            for variant in re.split(r"\s*[(),;]\s*", name.lower()):
                if len(variant) > 3:
                    names.setdefault(variant, base)
    for alias, code in _ALIASES.items():
        if code in codes:
            names.setdefault(alias, code)
    names.pop("english", None)
    names["english"] = "en"
    return names


#: names users write that CLDR's English display names do not use
_ALIASES = {
    "bengali": "bn",
    "farsi": "fa",
    "mandarin": "zh",
    "cantonese": "yue",
    "simplified chinese": "zh",
    "traditional chinese": "zh",
    "filipino": "tl",
    "flemish": "nl",
    "castilian": "es",
    "brazilian portuguese": "pt",
    "european portuguese": "pt",
    "mexican spanish": "es",
    "persian": "fa",
    "hebrew": "he",
    "norwegian": "no",
    "swiss german": "de",
    "austrian german": "de",
}


@functools.cache
def _language_re() -> re.Pattern[str]:
    names = sorted(language_names(), key=len, reverse=True)
    alt = "|".join(re.escape(n) for n in names)
    return re.compile(rf"\b(?P<lang>{alt})\b", re.I)


_TRANSLATE_RE = re.compile(r"\btranslat(?:e|es|ed|ing|ion|ions|or)\b", re.I)
_INTO_RE = re.compile(r"\b(?:in|into|to)\s+(?:the\s+)?$", re.I)
_VERSION_RE = re.compile(
    r"^\s+(?:translation|version|equivalent|language|word|words|phrase)\b", re.I
)
_END_RE = re.compile(
    r"^(?:\s+(?:language|only|please|too|as\s+well))?\s*(?:[.,:;!?\"')\]]|$"
    r"|\s+(?:and|or|using|with|without|for|so|but|then)\b)",
    re.I,
)


@dataclass(frozen=True)
class LanguageAsk:
    """A translation, or an answer language, that an instruction asks for."""

    translation: bool  # the instruction asks for a translation
    codes: tuple[str, ...]  # ISO 639 codes of the languages named as the target

    @property
    def any(self) -> bool:
        """A translation into a language the instruction does not name ("into another
        language"): the output's language is not judged."""
        return self.translation and not self.codes


@functools.lru_cache(maxsize=4096)
def requested_language(instruction: str) -> LanguageAsk | None:
    """The target language(s) ``instruction`` names: "translate ... into L", "in L" at the
    end of a clause ("Answer in French.", "Write a poem in Spanish"), "the L translation /
    version"; None when it asks for no translation and names no answer language."""
    head = " ".join(_sentences(instruction, limit=4))
    translation = bool(_TRANSLATE_RE.search(head))
    codes: list[str] = []
    for m in _language_re().finditer(head):
        before, after = head[: m.start()], head[m.end() :]
        into = _INTO_RE.search(before[-12:])
        if (into and (translation or _END_RE.match(after))) or _VERSION_RE.match(after):
            code = language_names()[m.group("lang").lower()]
            if code not in codes:
                codes.append(code)
    if not translation and not codes:
        return None
    return LanguageAsk(translation, tuple(codes))
