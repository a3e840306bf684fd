import pytest

from provena.config import NormalizeConfig
from provena.normalize import TextNormalizer

NORM = TextNormalizer(NormalizeConfig())


@pytest.mark.parametrize(
    ("before", "after", "rules"),
    [
        ("plain text", "plain text", ()),
        ("Weâ€™re sorry â€” cafÃ©", "We’re sorry — café", ("fix_mojibake",)),
        ("Tom &amp; Jerry&#39;s &quot;show&quot;", 'Tom & Jerry\'s "show"', ("html_entities",)),
        ("<p>Hello<br>world</p>", "Hello\nworld", ("html_tags", "whitespace")),
        ("<B>bold</B> and <span style='x'>x</span>", "bold and x", ("html_tags",)),
        ("cafe\u0301", "café", ("nfc",)),
        ("a\r\nb\u200b\u00a0c  \n\n\n\nd\x00", "a\nb c\n\nd", ("whitespace",)),
        ("  keep   inner   spaces  ", "keep   inner   spaces", ("whitespace",)),
        # code is content: entities and tags inside ``` fences stay as written
        (
            "Use:\n```html\n<div>&amp;</div>\n```\n&amp;",
            "Use:\n```html\n<div>&amp;</div>\n```\n&",
            ("html_entities",),
        ),
        # tags not on the list (markup residue) are left for the clean stage to judge
        ("text<o:p></o:p>", "text<o:p></o:p>", ()),
        # lossy mojibake cannot be repaired and is left as is
        ("We\ufffdre sorry", "We\ufffdre sorry", ()),
        ("Ａｂｃ ﬁne “quoted”", "Ａｂｃ ﬁne “quoted”", ()),
    ],
)
def test_golden_before_after(before, after, rules):
    assert NORM(before) == (after, rules)


def test_rules_can_be_switched_off():
    off = TextNormalizer(
        NormalizeConfig(
            fix_mojibake=False, html_entities=False, html_tags=[], nfc=False, whitespace=False
        )
    )
    for text in ("Weâ€™re", "&amp;", "<br>", "cafe\u0301", " x "):
        assert off(text) == (text, ())


def test_normalization_is_idempotent():
    text = "<p>Weâ€™re &amp; cafe\u0301</p>\r\n\r\n\r\nok"
    once, _ = NORM(text)
    assert NORM(once) == (once, ())
