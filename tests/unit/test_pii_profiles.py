"""PII profiles: the clinical and general recognizers on tables of (text, expected spans), in
lower case, ALL CAPS and mixed case; profile routing by source (in scrub_batch too); one
operator per value; scrub_file's spans file and `provena scrub --profile --spans`."""

from __future__ import annotations

import json

import pytest

from provena import scrub_pii
from provena.cli import main
from provena.config import ScrubPiiConfig
from provena.io import read_jsonl
from provena.pii.engine import PHONE_REGIONS, Detection, FastPhoneRecognizer, PiiDetector
from provena.pii.recognizers import StreetAddressRecognizer, TitledNameRecognizer
from provena.pii.settings import profile_for
from tests.factory import record


@pytest.fixture(scope="module")
def clinical() -> PiiDetector:
    return PiiDetector(profile="clinical")


@pytest.fixture(scope="module")
def general() -> PiiDetector:
    return PiiDetector(profile="general", allow_list=ScrubPiiConfig().allow_list)


def _found(det: PiiDetector, text: str) -> list[tuple[str, str]]:
    return [(text[d.start : d.end], d.entity_type) for d in det.detect([text])[0]]


def _cases(text: str, values: list[tuple[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The text as written, in lower case and in capitals, with its expected values."""
    return [
        (text, values),
        (text.lower(), [(v.lower(), t) for v, t in values]),
        (text.upper(), [(v.upper(), t) for v, t in values]),
    ]


# (text, [(value, entity type)]): exactly these values, nothing else
CLINICAL = [
    # relatives by kinship word, clinicians by title, initial or credential
    *_cases("Social: son Bill called for an update.", [("Bill", "PERSON")]),
    *_cases("Hypotension overnight. Dr. Marder aware, bolus given.", [("Marder", "PERSON")]),
    *_cases("Milrinone off as per W. Marotta. Urine output good.", [("W. Marotta", "PERSON")]),
    *_cases("Extubated without event.\nEmily Parker, RN", [("Emily Parker", "PERSON")]),
    *_cases("Family: Hank Przybylo (son) will call tonight.", [("Hank Przybylo", "PERSON")]),
    # facilities without their head word, hospital abbreviations, wards
    *_cases(
        "Admitted in transfer from Calvert Hospital for hypotension.", [("Calvert", "LOCATION")]
    ),
    *_cases("Referred to GH for cath.", [("GH", "LOCATION")]),
    *_cases("Plan: transfer to Quartermain 2 in am.", [("Quartermain", "LOCATION")]),
    # dates without a year and years, not vitals, vent settings, fractions or times
    *_cases("Extubated 7/22, reintubated on 7/24.", [("7/22", "DATE_TIME"), ("7/24", "DATE_TIME")]),
    *_cases("PMH: CAD, s/p MI 1992, CABG '95.", [("1992", "DATE_TIME"), ("95", "DATE_TIME")]),
    *_cases("BP 120/80, on PS 10/5, given 1/2 NS at 2000.", []),
    *_cases("Vitals 63-70/27-30, gases 7.43/41/76/28.", []),
    # phones and pagers; ages over 89 only
    *_cases(
        "Daughter cell 301-944-5032. Pager #54321.",
        [("301-944-5032", "PHONE_NUMBER"), ("54321", "PHONE_NUMBER")],
    ),
    *_cases("98 yo gentleman s/p NSTEMI.", [("98", "AGE_OVER_89")]),
    # drugs, devices and shorthand are not names
    *_cases("Dopamine weaned off, Coumadin held, Foley draining clear urine.", []),
    # words, however rare or misspelled, are not names: the end of 'u/o.' or 'A&O.' is no
    # initial, a sentence end stops a name, an ambiguous title needs a name after it
    *_cases("Neuro: A&O. Pleasant and cooperative. Good u/o. Hematuria resolved.", []),
    *_cases("Large right sided pleural effusion. MD will talk with the team.", []),
    *_cases("Monitor for changes in MS. Aspiration precautions. Lungs coarse.", []),
    *_cases("Gentle diuresis per Dr. Petraitis.", [("Petraitis", "PERSON")]),
    *_cases("Expiratory wheezes. Jon Ferris RRT", [("Jon Ferris", "PERSON")]),
    # numbers before 'st', 'dr' or 'place' with function words between are no addresses
    *_cases("ETT advanced 3 in by Dr. Okafor, 3 way catheter in place.", [("Okafor", "PERSON")]),
    # a university hospital by its place, a ward before a number ending a sentence, a relative
    # after dashes, a date after 'on' whatever reading word stands before it
    *_cases("Insulin per U Maryland scale.", [("U Maryland", "LOCATION")])[::2],
    ("insulin per u maryland scale, 8u given.", []),  # in lower case, 'u' is a unit
    *_cases("Plan: transfer to Bramwell 2.", [("Bramwell", "LOCATION")]),
    *_cases("Coping--son Hank phoned twice.", [("Hank", "PERSON")]),
    *_cases("Developed CP on 10/23, cath next day.", [("10/23", "DATE_TIME")]),
    # a place a transfer verb points at, in mixed case only (in one case 'TO LINWOOD' reads
    # like 'TO ANGIO'); departments, procedures and shorthand are no places
    (
        "Pt sent to Linwood for dialysis on 3/6.",
        [("Linwood", "LOCATION"), ("3/6", "DATE_TIME")],
    ),
    ("pt sent to linwood for dialysis on 3/6.", [("3/6", "DATE_TIME")]),
    ("PT SENT TO LINWOOD FOR DIALYSIS ON 3/6.", [("3/6", "DATE_TIME")]),
    *_cases("Went to Angio, then transferred to CT and back to MICU.", []),
    *_cases("Will go to Dialysis today, then to Radiology for a KUB.", []),
    # a facility needs a name: 'awaiting rehab' is a plan
    *_cases("Pt awaiting rehab placement, will need rehab.", []),
    # ventilator settings with their FiO2 are no dates, whatever word stands before them
    *_cases("Currently on CPAP/PSV 12/10/40% drawing good volumes.", []),
    *_cases("Placed back on 10/5/50%, tolerating well.", []),
    # a clinician's name ends at its full stop; in mixed case it does not run on into a word
    *_cases("ETT pulled back 2cm per Dr. Martyn. Lungs coarse.", [("Martyn", "PERSON")]),
    ("Hct stable, Dr Marder paged to bedside.", [("Marder", "PERSON")]),
    ("Seen by Dr. Ana Lopez today.", [("Ana Lopez", "PERSON")]),
    # a relative joined to a kinship word by a hyphen, on either side; not an in-law's
    # compound, and not a short kinship word ending a compound
    *_cases(
        "Social:Daughter-Marnie---cell 301-944-5032.",
        [("Marnie", "PERSON"), ("301-944-5032", "PHONE_NUMBER")],
    ),
    *_cases("Coping-sister , Odile has phoned today.", [("Odile", "PERSON")]),
    *_cases("Son-in-law at bedside, daughter-in-law Odile called.", [("Odile", "PERSON")]),
    # a first name that a name rule found stands for the person wherever else it is written
    # the same way; written otherwise it is a word ('son Bill', then 'the bill')
    *_cases(
        "Coping--son Peter phoned. Per Peter, he makes decisions. Peter will call.",
        [("Peter", "PERSON")] * 3,
    )[::2],
    ("Social: son Bill called. Sent the bill to the office.", [("Bill", "PERSON")]),
    # a misspelt facility word still makes a facility of the name before it
    *_cases("Admitted to Calvert Hospiatal after a fall.", [("Calvert", "LOCATION")]),
    # a first name and surname after a cue, however common the first name; an apostrophe's
    # surname after an initial
    *_cases("Contact was made with Martin Hughes, ethics.", [("Martin Hughes", "PERSON")]),
    *_cases("Martin Hughes syndrome ruled out.", []),
    *_cases("Cash counted by nsg (j. o'brien).", [("j. o'brien", "PERSON")])[:2],
    # an ambiguous title before a capitalized word, in text written in lower case
    *_cases("Son-inlaw in to visit.", []),
    # a name before a phone's label or 'family', a first name and a name word before a cue
    # ('aware', 'called'), a clinician's name after an ambiguous title before such a cue
    *_cases(
        "Very devoted. Odile Hughes cell# 410-555-0199.",
        [("Odile Hughes", "PERSON"), ("410-555-0199", "PHONE_NUMBER")],
    ),
    *_cases("Keep Okafor family aware of plan of care.", [("Okafor", "PERSON")]),
    *_cases("Keep family aware of plan of care.", []),
    *_cases("Run of bigeminy, Bea Hughes aware, Mg given.", [("Bea Hughes", "PERSON")]),
    *_cases("Febrile, NP Jen aware. Cultures sent.", [("Jen", "PERSON")]),
    # a note signed with a first name on its last line; not a word on it
    *_cases("Heparin at 850 u/hr.\nSusan", [("Susan", "PERSON")]),
    *_cases("Heparin at 850 u/hr.\nPlan: recheck PTT", []),
    # where the patient lives, however common the word in lower case; a facility's name with
    # a word's ending when a name word follows ('Sacred Heart')
    *_cases("Pt lives nearby in Rockport with wife.", [("Rockport", "LOCATION")]),
    *_cases("Pt lives alone in apartment, wife deceased.", []),
    ("Pt is prepared to go to Sacred Heart today.", [("Sacred Heart", "LOCATION")]),
    ("Pt improved. Went to Improved ambulation.", []),
    # places below a state by their head word, with it; a sentence end stops the name
    *_cases("Pt lives in Harford County with wife.", [("Harford County", "LOCATION")]),
    *_cases("Family arrived from the Eastern Shore at 2 am.", [("Eastern Shore", "LOCATION")]),
    ("Walked to the Shore. Left shore line.", []),
    *_cases("Out of county. Walked along the shore.", []),
    # a note signed after its last sentence; a whole date run on to the word before it
    *_cases("Heparin not 1400u/hr. Susan", [("Susan", "PERSON")]),
    *_cases("Labs on10/14/82 reviewed.", [("10/14/82", "DATE_TIME")]),
    *_cases("Vent PSV10/5/50% tolerated.", []),
    # in mixed case, a capital after a cue makes a common first name a person's
    ("Arrived at 1400. Accompanied by Edward and a relative.", [("Edward", "PERSON")]),
    # a place's name found once is found again, if not quite rare
    (
        "Admitted to Calvert Hospital. 7/23 at Calvert - 2 FFP given.",
        [("Calvert", "LOCATION"), ("Calvert", "LOCATION"), ("7/23", "DATE_TIME")],
    ),
    (
        "pa pressures in the low 20s per md Okonjo. plan: wean the dopamine drip to off, "
        "repeat the lytes in the morning and keep the foley in place overnight.",
        [("Okonjo", "PERSON")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), CLINICAL)
def test_clinical_profile_finds_exactly_the_phi(clinical, text, expected):
    found = [(v, t) for v, t in _found(clinical, text) if t != "AGE"]
    assert sorted(found) == sorted(expected)


def test_keep_years_leaves_bare_years_but_not_dates():
    det = PiiDetector(profile="clinical", keep_years=True)
    text = "PMH: MI 1992, CABG '95. Extubated 7/22."
    assert _found(det, text) == [("7/22", "DATE_TIME")]


SECRET = "AKIA" + "ABCDEFGHIJKLMNOP"  # the published shape of an AWS access key id
GENERAL = [
    # public people, places, organisations and dates stay
    *_cases("Mozart was born in Salzburg in 1756 and worked for the Archbishop.", []),
    *_cases("The Atlantic Ocean and the Arctic Ocean border Canada.", []),
    *_cases("1. Preheat the oven to 350 degrees.\n2. Place the dough in a bowl.", []),
    # private persons' identifiers go
    (
        "My name is Ann Lee and my email is ann.lee@mailbox.org",
        [("Ann Lee", "PERSON"), ("ann.lee@mailbox.org", "EMAIL_ADDRESS")],
    ),
    (
        "MY NAME IS ANN LEE AND MY EMAIL IS ANN.LEE@MAILBOX.ORG",
        [("ANN LEE", "PERSON"), ("ANN.LEE@MAILBOX.ORG", "EMAIL_ADDRESS")],
    ),
    (
        "my name is ann lee and my email is ann.lee@mailbox.org",
        [("ann lee", "PERSON"), ("ann.lee@mailbox.org", "EMAIL_ADDRESS")],
    ),
    (f"Use the key {SECRET} for the bucket.", [(SECRET, "SECRET")]),
    (f"USE THE KEY {SECRET} FOR THE BUCKET.", [(SECRET, "SECRET")]),
    *_cases("Login: admin, password: Hunter42!", [("Hunter42!", "SECRET")]),
    *_cases("Set password: ******** in the form.", []),
    *_cases("Call me at +1 415 555 0134 tonight.", [("+1 415 555 0134", "PHONE_NUMBER")]),
    # a name asked for or given stays a name whatever its words ('My name is' + rare words)
    *_cases("My name is Aantje Mourik, nice to meet you.", [("Aantje Mourik", "PERSON")]),
    # a question about a third person: only verbs of meeting or contacting make it personal
    *_cases("Did you know that Waikiki Beach is famous?", []),
    # colours, ships without a fleet post office, a list's next number: no addresses
    *_cases("Set the background to #f2f2f2 and the button to #4CAF50.", []),
    *_cases("Visit the USS Arizona Memorial at Pearl Harbor.", []),
    *_cases("Fibers improve the efficiency of a building.\n3. Roofing: light roofs.", []),
    # reference text: citation markers, life spans and glosses mark public people and dates
    *_cases("The war ended in Afghanistan.[160] In May 1988, the troops began to withdraw.", []),
    *_cases(
        "Norman Burges (5 August 1911 – 4 October 2002) was a botanist. He was born 5 August "
        "1911, in East Maitland.",
        [],
    ),
    *_cases("Michał Rozenfeld (born 1916,[1] died September 2, 1943) was a partisan.", []),
    *_cases("Nike (/ˈnaɪki/; Ancient Greek: Νίκη) was a goddess. Nike was loved by Zeus.", []),
    # 'born' in a third person's sentence is public; one's own family's birth date is not
    *_cases("Scarlett Johansson was born November 22, 1984.", []),
    *_cases("My son was born on March 3, 2019.", [("March 3, 2019", "DATE_TIME")]),
    # numbers that are no house numbers: steps, table ranks, road numbers, measures, years
    *_cases("Step 3: Place the Small Sticks in the Circular Space.", []),
    *_cases("#\tCountry\tPopulation\n1\tChina\t1,439,323,776\n2\tIndia\t1,380,004,385", []),
    *_cases("It is located 11 miles south of Kirby on Montana Highway 314.", []),
    *_cases("She was launched in January 1918 as SS West Gate instead.", []),
    *_cases("Current standards include RFC 2945, RFC 5054 and RFC 5931.", []),
    ("I live at 4923 Parmova 109 with my wife.", [("4923 Parmova 109", "STREET_ADDRESS")]),
    *_cases(
        "We would love to rent the house at 2225 Brittan Ave.",
        [("2225 Brittan Ave.", "STREET_ADDRESS")],
    ),
    # a numbered list of figures with decimals is no phone number
    *_cases("Value:\n1. 2007 - 110 Billion Euros\n2. 2012 - 6.28 Billion Euros", []),
    # a name cue ('this is', 'hey') needs a name: capitalized in mixed case, unknown or listed
    # in one case
    *_cases("This is exemplified by his team's focus on processes.", []),
    ('"Hey ho buddy. How are you?" the bartender asked.', []),
    *_cases("Hello, this is Aantje calling about the fence.", [("Aantje", "PERSON")]),
    # a name used as a term, with an epithet, or listed in full is public
    *_cases("It is used for amino acid sequencing in the Edman degradation.", []),
    *_cases("Harlon the Hunter built the castle with his brother.", []),
    *_cases("Gallo, Morgan and Frank Ruscetti coauthored a paper in Science.", []),
    ("My kids are Ann, Bo and Cy.", [("Ann", "PERSON"), ("Bo", "PERSON")]),
    # a message signed after a closing line and a blank line
    *_cases("Please fix the fence.\n\nThank you,\n\nKevin", [("Kevin", "PERSON")]),
    # digit groups that count by one are a sequence (a grid's line), not a phone number
    *_cases("Fill in the grid:\n89 90 91 92\n93 94 95 96\n97 98 99 100", []),
    *_cases("Count down: 10 9 8 7 6 5 4 3 2 1 and lift off.", []),
    *_cases("Call me at 555 123 4567 tonight.", [("555 123 4567", "PHONE_NUMBER")]),
    # an address core crosses no colon or parenthesis, a comma only next to its house number
    # or after its street word, and its street has a name besides the street word
    *_cases("5. The Colorado Trail: Spanning 486 miles from Denver to Durango.", []),
    *_cases("* Drive from Big Sur to Monterey (approximately 60 miles, 1.5 hours)", []),
    *_cases("Shape dough into 1 inch (2.5 cm) balls, and place them 2 inches (5 cm) apart.", []),
    # a comma after the street word only when the core starts with its house number: a list
    # whose item is a street word ('Green') is no address
    ("The bands are: Bee Gees, Coldplay, Green Day, Lamb of God, Maroon 5, Pink Floyd", []),
    ("It blends scratching with calls from square dancing, and, in 1983, the EP.", []),
    *_cases(
        "Send it to 221b Baker Street, London", [("221b Baker Street, London", "STREET_ADDRESS")]
    )[::2],
    # an appositive is no vocative, a ship no person, a proper noun after 'the name on the'
    # no personal context, a decimal number no phone
    (
        'Charles de Gaulle, a famous French president, once asked - "How can you govern a '
        'country which has 246 varieties of cheese?"',
        [],
    ),
    ("Ann, the kids are asking for you!", [("Ann", "PERSON")]),
    ("She was laid down as SS War Agate, but launched in 1918 as SS West Gate.", []),
    ("Nokia is listed under the same name on the Helsinki Stock Exchange.", []),
    ("Please put the name on the card: Ann Lee.", [("Ann Lee", "PERSON")]),
    ("The number Pi is 3.14159265 and so on.", []),
    # a template's slot for a name is none; a city with its possessive is no unknown name
    ("Subject: Review\n\nDear [Recipient's Name],\n\nI hope this finds you well.", []),
    ("Spend the afternoon exploring Basel's historic city center.", []),
    *_cases("| Team | St. Louis Cardinals (2001-2011), Los Angeles Angels (2012) |", []),
    *_cases("Place 2 cups of flour in a bowl.", []),
    *_cases(
        "Send the parcel to 221B Baker Street, London.",
        [("221B Baker Street, London.", "STREET_ADDRESS")],
    ),
    *_cases("She lives at 10 Park Lane, London.", [("10 Park Lane, London.", "STREET_ADDRESS")]),
    *_cases("My office is at Calle de Alcalá, 45.", [("Calle de Alcalá, 45.", "STREET_ADDRESS")]),
    *_cases("Write to me at 12 Rue de la Paix (2e).", [("12 Rue de la Paix", "STREET_ADDRESS")]),
    # a person's name holds no digit: 'Mario Kart 8' is a game
    *_cases("3. Mario Kart 8 Deluxe - If your nephew enjoys racing games, it is a hit.", []),
]


@pytest.mark.parametrize(("text", "expected"), GENERAL)
def test_general_profile_removes_private_identifiers_only(general, text, expected):
    found = [(v, t) for v, t in _found(general, text) if t not in ("AGE", "ZIP_CODE")]
    assert sorted(found) == sorted(expected)


def _cased_only(
    text: str, values: list[tuple[str, str]]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """A rule that reads capitals (mixed case only): in one case nothing of it is found."""
    return [(text, values), (text.lower(), []), (text.upper(), [])]


# names in a personal context and address shapes of the general profile, each rule in mixed
# case, lower case and capitals
GENERAL_CONTEXT = [
    # a name given for oneself, or asked for and given
    *_cases(
        "I'm Ilse Vandermeer, originally from Ghent, and I'm 34.",
        [("Ilse Vandermeer", "PERSON"), ("34", "AGE")],
    ),
    *_cases("What's your name? Ilse Vandermeer", [("Ilse Vandermeer", "PERSON")]),
    *_cases("What is your last name? Kesselring", [("Kesselring", "PERSON")]),
    *_cases("everyone calls me Borna", [("Borna", "PERSON")]),
    # a field label: a name found across the line break is cut at it
    *_cases(
        "Name: Tovah Kesselring\nPhone: 0491 570 156",
        [("Tovah Kesselring", "PERSON"), ("0491 570 156", "PHONE_NUMBER")],
    ),
    # a name alone on a line heading a contact card, a letterhead, an address label
    *_cases(
        "Tovah Kesselring\n\nLandscape gardener\n\nPhone:\n0491 570 156\n\nE-mail:\n"
        "tovah.k@mailbox.org",
        [
            ("Tovah Kesselring", "PERSON"),
            ("0491 570 156", "PHONE_NUMBER"),
            ("tovah.k@mailbox.org", "EMAIL_ADDRESS"),
        ],
    ),
    *_cases(
        ">Ilse Vandermeer\n>Brightwater Analytics\n>Ilse Vandermeer\n>1180 Kastanjelaan 14\n"
        ">Apt. 3\n>Utrecht\n>Netherlands 3512",
        [
            ("Ilse Vandermeer", "PERSON"),
            ("Ilse Vandermeer", "PERSON"),
            ("1180 Kastanjelaan 14\n>Apt. 3\n>Utrecht\n>Netherlands 3512", "STREET_ADDRESS"),
        ],
    ),
    # a short label of a name, its town and its country; a place alone heads nothing
    *_cases("Tovah Kesselring\n\nWellington\nNew Zealand", [("Tovah Kesselring", "PERSON")]),
    *_cases("Wellington\nNew Zealand", []),
    # an address block runs down to its postal code, over place lines the recognizer stops at
    *_cases(
        "Ilse Vandermeer\n12 Rue des Lilas\nBâtiment B\nLyon\nFrance 69003",
        [
            ("Ilse Vandermeer", "PERSON"),
            ("12 Rue des Lilas\nBâtiment B\nLyon\nFrance 69003", "STREET_ADDRESS"),
        ],
    ),
    # a relative named after the kinship word, though the name is a place's too
    *_cases("I want to add my daughter Florence to the lease.", [("Florence", "PERSON")]),
    # the speakers of a conversation; a list of labels and values is none
    *_cases(
        "Ubbo: Where were you last night?\nIlse: At home with my sister, as always.\n"
        "Ubbo: I do not believe you at all.",
        [("Ubbo", "PERSON"), ("Ilse", "PERSON"), ("Ubbo", "PERSON")],
    ),
    *_cases("Beer: alcoholic\nMilk: non-alcoholic\nCider: alcoholic", []),
    *_cases(
        "Monday: 30-minute brisk walk and some stretching today\n"
        "Sunday: rest day with a long walk in the park",
        [],
    ),
    # the address, not the sentence around it
    *_cases("The bus stops on Lindenstrasse 42", [("Lindenstrasse 42", "STREET_ADDRESS")]),
    *_cases(
        "Pedestrians enter on 137 Avenue Kessel St. the first three months.",
        [("137 Avenue Kessel St.", "STREET_ADDRESS")],
    ),
    # a phone number under its label, though its groups are short
    *_cases("Mobile: 06.12.34.56.78", [("06.12.34.56.78", "PHONE_NUMBER")]),
    *_cases("Scores by round: 21-18-25-23", []),
    # no house number, a page, a measure: no address
    *_cases("Meet me at the corner of Fifth Avenue and 42nd Street.", []),
    *_cases("The answer is on page 12.", []),
    ("A window of 1 square foot (0.09 square meters) loses more heat.", []),
    # in mixed case only: a name in a sentence that gives an address, a street named after a
    # place cue, a street corner with a house number, a surname with a capital inside
    (
        "Marek lives on 42 Heathfield Road.",
        [("Marek", "PERSON"), ("42 Heathfield Road.", "STREET_ADDRESS")],
    ),
    (
        "marek lives on 42 heathfield road.",
        [("marek", "PERSON"), ("42 heathfield road.", "STREET_ADDRESS")],
    ),
    ("MAREK LIVES ON 42 HEATHFIELD ROAD.", [("42 HEATHFIELD ROAD.", "STREET_ADDRESS")]),
    *_cased_only(
        "He lives on the north side of Joaquin Ortega 2906.",
        [("Joaquin Ortega 2906", "STREET_ADDRESS")],
    ),
    ("Please update my name to Mr. Rory McAllister today.", [("Rory McAllister", "PERSON")]),
]


@pytest.mark.parametrize(("text", "expected"), GENERAL_CONTEXT)
def test_general_profile_finds_names_in_personal_context_and_address_shapes(
    general, text, expected
):
    found = [(v, t) for v, t in _found(general, text) if t != "ZIP_CODE"]
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "Send it to the corner of Kastanjelaan 14 and Molenweg.",
        "send it to the corner of kastanjelaan 14 and molenweg.",
        "SEND IT TO THE CORNER OF KASTANJELAAN 14 AND MOLENWEG.",
    ],
)
def test_a_street_corner_with_a_house_number_is_an_address(general, text):
    spans = [d for d in general.detect([text])[0] if d.entity_type == "STREET_ADDRESS"]
    at = text.lower()
    covered = {k for d in spans for k in range(d.start, d.end)}
    assert all(k in covered for k in range(at.index("kastanjelaan"), at.index("molenweg") + 8))


@pytest.mark.parametrize(
    "text",
    [
        "Ship it to 1234 Oak St, Springfield, IL 62704 please.",
        "SHIP IT TO 1234 OAK ST, SPRINGFIELD, IL 62704 PLEASE.",
        "ship it to 1234 oak st, springfield, il 62704 please.",
    ],
)
def test_general_profile_finds_addresses_in_any_case(general, text):
    spans = [d for d in general.detect([text])[0] if d.entity_type == "STREET_ADDRESS"]
    start = text.index("1234")
    assert any(d.start <= start and d.end >= text.index("62704") + 5 for d in spans)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        # the place line ends with its postal code, then the sentence goes on
        (
            "Please send it to 84 Willow Lane Unit 1, St. Louis, MO 63177 before Friday.",
            "84 Willow Lane Unit 1, St. Louis, MO 63177",
        ),
        ("It is 7443 Martin Luther King Jr Lane, Atlanta, GA 30300 now.", "GA 30300"),
        ("My address is 4880 Aspen Drive, Sacramento, CA 95837. It was", "CA 95837"),
    ],
)
def test_an_address_grows_to_its_postal_code_before_the_sentence_goes_on(text, address):
    spans = StreetAddressRecognizer().analyze(text, ["STREET_ADDRESS"])
    assert [text[r.start : r.end].rstrip(".").endswith(address) for r in spans] == [True]


def test_profile_of_a_record_follows_the_first_matching_source_glob():
    cfg = ScrubPiiConfig(
        profile="general",
        profiles={"*clinical_extraction*": "clinical", "support_*.jsonl": "strict"},
    )
    assert profile_for(cfg, "data/raw/default/clinical_extraction.jsonl") == "clinical"
    assert profile_for(cfg, "data/raw/default/support_legacy.jsonl") == "strict"  # file name
    assert profile_for(cfg, "data/raw/other/answers.jsonl") == "general"
    assert profile_for(cfg, None) == "general"


def test_an_unknown_profile_is_a_config_error():
    with pytest.raises(ValueError, match="profile"):
        ScrubPiiConfig(profile="medical")


def test_one_value_with_two_operators_takes_the_one_that_removes_more():
    operators = {"default": "placeholder", "NRP": "keep", "ORGANIZATION": "surrogate"}
    op = lambda t: operators.get(t, operators["default"])  # noqa: E731
    text = "American flew on American today"
    first = [Detection(0, 8, "NRP", 0.85, "spacy")]
    second = [Detection(17, 25, "ORGANIZATION", 0.6, "spacy")]
    fields = [
        scrub_pii.merge_spans(first, operator_for=op),
        scrub_pii.merge_spans(second, operator_for=op),
    ]
    fixed = scrub_pii.one_operator_per_value(fields, [text, text], op)
    assert [s[2] for spans in fixed for s in spans] == ["ORGANIZATION", "ORGANIZATION"]
    # overlapping detections: the operator that removes more wins over a higher score
    merged = scrub_pii.merge_spans(
        [Detection(0, 8, "ORGANIZATION", 0.9, "a"), Detection(0, 8, "US_SSN", 0.5, "b")],
        operator_for=op,
    )
    assert merged == [(0, 8, "US_SSN", 0.5, "b")]


def test_scrub_file_writes_a_spans_file_without_values(tmp_path):
    rows = [
        {
            "id": "a1",
            "source": "notes/icu.jsonl",
            "text": "Social: son Bill called. Extubated 7/22.",
        },
        {"source": "chat.jsonl", "text": "Mozart was born in Salzburg. Mail me at ann@mailbox.org"},
    ]
    inp, out, spans = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "spans.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = ScrubPiiConfig(profiles={"*icu*": "clinical"})  # the rest: general (the default)
    counts = scrub_pii.scrub_file(inp, out, cfg, fields=["text"], spans=spans)
    lines = [json.loads(x) for x in spans.read_text().splitlines()]
    assert counts.spans == len(lines) == 3
    assert all(tuple(d) == scrub_pii.SPAN_KEYS for d in lines)
    got = [
        (d["row"], d["id"], rows[d["row"]]["text"][d["start"] : d["end"]], d["entity_type"])
        for d in lines
    ]
    assert got == [
        (0, "a1", "Bill", "PERSON"),
        (0, "a1", "7/22", "DATE_TIME"),
        (1, None, "ann@mailbox.org", "EMAIL_ADDRESS"),
    ]
    written = spans.read_text()
    assert "Bill" not in written and "ann@mailbox.org" not in written
    scrubbed = [json.loads(x)["text"] for x in out.read_text().splitlines()]
    assert "Bill" not in scrubbed[0] and "7/22" not in scrubbed[0]
    assert scrubbed[1].startswith("Mozart was born in Salzburg.")  # public knowledge stays
    # a profile given forces itself on every row: strict takes public names too
    scrub_pii.scrub_file(inp, out, cfg, profile="strict", fields=["text"], spans=spans)
    strict = [json.loads(x) for x in spans.read_text().splitlines()]
    assert {"PERSON", "LOCATION"} <= {d["entity_type"] for d in strict if d["row"] == 1}


def test_scrub_batch_gives_each_record_the_profile_of_its_source():
    note = "Social: son Bill called. Mozart on the radio."
    cfg = ScrubPiiConfig(profiles={"*notes*": "clinical", "*chats*": "strict"})
    recs = [
        record(source="data/raw/notes.jsonl", input=note),
        record(source="data/raw/chats.jsonl", input=note),
        record(source="data/raw/answers.jsonl", input=note),  # no glob: general
    ]
    result = scrub_pii.scrub_batch(recs, scrub_pii.Scrubber(cfg))
    clinical, strict, general = (r["input"] for r in result.kept)
    assert "Bill" not in clinical and "Mozart" in clinical  # a relative, not a composer
    assert "Bill" not in strict and "Mozart" not in strict  # every name
    assert general == note  # kinship alone is no personal context in general text
    assert result.stats.records_kept == 3 and not result.rejected
    assert isinstance(result.detail, scrub_pii.PiiStats)
    assert result.detail.records_with_pii == 2


@pytest.mark.parametrize(
    ("question", "kept"),
    [
        ("Given a reference text about Michał Rozenfeld, tell me what he did.", True),
        ("GIVEN A REFERENCE TEXT ABOUT MICHAŁ ROZENFELD, TELL ME WHAT HE DID.", True),
        ("given a reference text about michał rozenfeld, tell me what he did.", True),
        # a name the passage does not hold stays a question's unknown name
        ("Given a reference text, tell me if my landlord Irenke Sörös may do that.", False),
    ],
)
def test_a_name_public_in_the_records_reference_passage_is_public_in_its_question(question, kept):
    passage = (
        "Michał Rozenfeld (born 1916,[1] died September 2, 1943) was a partisan. "
        "Michał Rozenfeld studied psychology."
    )
    if question.isupper():
        passage = passage.upper()
    elif question.islower():
        passage = passage.lower()
    rec = record(source="data/raw/answers.jsonl", instruction=question, input=passage)
    result = scrub_pii.scrub_batch([rec], scrub_pii.Scrubber(ScrubPiiConfig()))
    assert result.kept[0]["input"] == passage
    assert (result.kept[0]["instruction"] == question) is kept


def test_scrub_cli_takes_a_profile_and_writes_spans(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: library defaults (general)
    text = "Extubated 7/22. Son Bill called."
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "n1", "text": text}) + "\n")
    assert main(["scrub", "in.jsonl", "out.jsonl", "--fields", "text"]) == 0
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert row["text"] == text  # general: a date without a year and a first name stay
    argv = ["scrub", "in.jsonl", "out.jsonl", "--profile", "clinical", "--spans", "s.jsonl"]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip()
    assert out.endswith("1 values changed -> out.jsonl; 2 spans -> s.jsonl")
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert "7/22" not in row["text"] and "Bill" not in row["text"]
    spans = list(read_jsonl(tmp_path / "s.jsonl"))
    assert [(d["row"], d["id"], text[d["start"] : d["end"]]) for d in spans] == [
        (0, "n1", "7/22"),
        (0, "n1", "Bill"),
    ]
    assert all(list(d) == list(scrub_pii.SPAN_KEYS) for d in spans)
    assert main(["scrub", "in.jsonl", "out.jsonl", "--profile", "medical"]) == 2


@pytest.mark.parametrize(
    ("value", "text", "survives"),
    [
        ("92", "HR 92  SpO2 92% on 2L; icd L03.92", False),  # the same digits, not an age
        ("92", "The patient is a 92 y/o man", True),
        ("92", "92-YEAR-OLD MALE", True),
        ("90", '{"age": 90, "sex": "male"}', True),
        ("91", "aged 91, lives alone", True),
        ("91", "room 91, bed 2", False),
    ],
)
def test_an_age_over_89_survives_only_where_it_is_still_an_age(value, text, survives):
    from provena.scrub_pii import _survives

    assert _survives("AGE_OVER_89", value, text) is survives
    # every other type: any bounded occurrence survives
    assert _survives("PERSON", "Lee", "seen by Dr Lee today") is True


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello, this is Dr. Kyle Kuefer. Who are you?", 2),
        ("hello, this is dr. kyle kuefer. who are you?", 2),
        ("HELLO, THIS IS MR. J. DOE. WHO ARE YOU?", 2),
    ],
)
def test_a_title_or_an_initial_does_not_end_a_sentence(text, sentences):
    from provena.pii.general import _SENTENCE

    found = [m.group() for m in _SENTENCE.finditer(text)]
    assert len(found) == sentences
    assert "Kuefer" in found[0] or "kuefer" in found[0] or "DOE" in found[0]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I want to add Irenke Sörös as a beneficiary to my account.", "Irenke Sörös"),
        ("Have you met Tomasz Wójcik yet?", "Tomasz Wójcik"),
        ("My great great grandfather was called Djevad Šušulić.", "Djevad Šušulić"),
    ],
)
def test_a_name_no_list_holds_counts_in_a_personal_context(general, text, name):
    assert (name, "PERSON") in _found(general, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I met Mr. Kyle Kuefer. Who was there?", ["Kyle Kuefer"]),
        ("I MET MR. KYLE KUEFER. WHO WAS THERE?", ["KYLE KUEFER"]),
        ("Seen by Dr. J. Okafor today.", ["J. Okafor"]),
        ("Note signed by Anna Lee Brown, MD.", ["Anna Lee Brown"]),
    ],
)
def test_a_titled_name_stops_at_a_full_stop_but_runs_on_after_an_initial(text, expected):
    found = TitledNameRecognizer().analyze(text, ["PERSON"])
    assert [text[r.start : r.end] for r in found] == expected


# the street-word recognizer alone (both profiles use it): (text, the cores it finds)
STREET_CORES = [
    *_cases("Colorado Trail: Spanning 486 miles", []),
    *_cases("Drive from Big Sur to Monterey (approximately 60 miles)", []),
    *_cases("balls, and place them 2 inches apart", []),
    *_cases("Place 2 cups of flour", []),
    *_cases(
        "Address: 221B Baker Street, London", [("221B Baker Street, London", "STREET_ADDRESS")]
    ),
    *_cases("Calle de Alcalá, 45", [("Calle de Alcalá, 45", "STREET_ADDRESS")]),
    *_cases("12 Rue de la Paix (2e), Paris", [("12 Rue de la Paix", "STREET_ADDRESS")]),
    *_cases("Ringvej 12", [("Ringvej 12", "STREET_ADDRESS")]),
    *_cases("10 Park Lane", [("10 Park Lane", "STREET_ADDRESS")]),
    *_cases(
        "4900 Knolls Dr, Capitola, CA 95010\nBedrooms: 2",
        [("4900 Knolls Dr, Capitola, CA 95010", "STREET_ADDRESS")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), STREET_CORES)
def test_an_address_core_stops_at_colons_and_parentheses_and_names_its_street(text, expected):
    found = StreetAddressRecognizer().analyze(text, ["STREET_ADDRESS"])
    assert [(text[r.start : r.end], r.entity_type) for r in found] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("81 82 83 84\n85 86 87 88\n97 98 99 100", []),
        ("T-minus 12 11 10 9 8 7 6", []),
        ("Call 555 123 4567 or +44 20 7946 0958.", ["555 123 4567", "+44 20 7946 0958"]),
        ("Extension 415 555 0134 x 12", ["415 555 0134 x 12"]),
    ],
)
def test_a_counting_sequence_is_no_phone_number(text, expected):
    found = FastPhoneRecognizer(supported_regions=PHONE_REGIONS).analyze(text, ["PHONE_NUMBER"])
    assert sorted(text[r.start : r.end] for r in found) == sorted(expected)
