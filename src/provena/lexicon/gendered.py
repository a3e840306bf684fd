"""Word lists for :mod:`provena.counterfactual`: gendered words, neutral names, ICD-10-CM codes
that apply to one sex only."""

from __future__ import annotations

# (male, female) pairs, lower case. A binary swap mirrors them: male -> female and female ->
# male ("his wife" -> "her husband"). 'her', 'his' and 'hers' are resolved by part of speech
# in the code; 'mr'/'ms' and 'sir'/'madam' too need context and are handled there.
GENDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("he", "she"),
    ("him", "her"),  # 'her' itself is resolved by part of speech
    ("himself", "herself"),
    ("man", "woman"),
    ("men", "women"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("male", "female"),
    ("males", "females"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("husband", "wife"),
    ("husbands", "wives"),
    ("son", "daughter"),
    ("sons", "daughters"),
    ("brother", "sister"),
    ("brothers", "sisters"),
    ("father", "mother"),
    ("fathers", "mothers"),
    ("dad", "mom"),
    ("dads", "moms"),
    ("daddy", "mommy"),
    ("papa", "mama"),
    ("boyfriend", "girlfriend"),
    ("boyfriends", "girlfriends"),
    ("grandson", "granddaughter"),
    ("grandsons", "granddaughters"),
    ("grandfather", "grandmother"),
    ("grandfathers", "grandmothers"),
    ("grandpa", "grandma"),
    ("stepson", "stepdaughter"),
    ("stepfather", "stepmother"),
    ("stepbrother", "stepsister"),
    ("nephew", "niece"),
    ("nephews", "nieces"),
    ("uncle", "aunt"),
    ("uncles", "aunts"),
    ("king", "queen"),
    ("prince", "princess"),
    ("widower", "widow"),
    ("fiance", "fiancee"),
    ("fiancé", "fiancée"),
    ("groom", "bride"),
    ("businessman", "businesswoman"),
    ("salesman", "saleswoman"),
    ("spokesman", "spokeswoman"),
    ("chairman", "chairwoman"),
    ("policeman", "policewoman"),
    ("waiter", "waitress"),
)
# one-way: these become the male word in a swap to male ('mum' -> 'dad', 'madam' -> 'sir')
EXTRA_FEMALE: dict[str, str] = {"mum": "dad", "mums": "dads", "ma'am": "sir", "madam": "sir"}

# the neutral word for a nonbinary target; pronouns, titles and 'male'/'female' are handled in
# the code (they need a part of speech)
NEUTRAL: dict[str, str] = {
    "him": "them",
    "himself": "themself",
    "herself": "themself",
    "man": "person",
    "woman": "person",
    "men": "people",
    "women": "people",
    "boy": "child",
    "girl": "child",
    "boys": "children",
    "girls": "children",
    "males": "people",
    "females": "people",
    "gentleman": "person",
    "lady": "person",
    "gentlemen": "people",
    "ladies": "people",
    "husband": "spouse",
    "wife": "spouse",
    "husbands": "spouses",
    "wives": "spouses",
    "son": "child",
    "daughter": "child",
    "sons": "children",
    "daughters": "children",
    "brother": "sibling",
    "sister": "sibling",
    "brothers": "siblings",
    "sisters": "siblings",
    "father": "parent",
    "mother": "parent",
    "fathers": "parents",
    "mothers": "parents",
    "dad": "parent",
    "mom": "parent",
    "mum": "parent",
    "dads": "parents",
    "moms": "parents",
    "mums": "parents",
    "daddy": "parent",
    "mommy": "parent",
    "papa": "parent",
    "mama": "parent",
    "boyfriend": "partner",
    "girlfriend": "partner",
    "boyfriends": "partners",
    "girlfriends": "partners",
    "grandson": "grandchild",
    "granddaughter": "grandchild",
    "grandsons": "grandchildren",
    "granddaughters": "grandchildren",
    "grandfather": "grandparent",
    "grandmother": "grandparent",
    "grandfathers": "grandparents",
    "grandmothers": "grandparents",
    "grandpa": "grandparent",
    "grandma": "grandparent",
    "stepson": "stepchild",
    "stepdaughter": "stepchild",
    "stepfather": "stepparent",
    "stepmother": "stepparent",
    "stepbrother": "stepsibling",
    "stepsister": "stepsibling",
    "nephew": "nibling",
    "niece": "nibling",
    "nephews": "niblings",
    "nieces": "niblings",
    "uncle": "relative",
    "aunt": "relative",
    "uncles": "relatives",
    "aunts": "relatives",
    "king": "monarch",
    "queen": "monarch",
    "prince": "royal",
    "princess": "royal",
    "widower": "widowed spouse",
    "widow": "widowed spouse",
    "fiance": "partner",
    "fiancee": "partner",
    "fiancé": "partner",
    "fiancée": "partner",
    "groom": "newlywed",
    "bride": "newlywed",
    "businessman": "businessperson",
    "businesswoman": "businessperson",
    "salesman": "salesperson",
    "saleswoman": "salesperson",
    "spokesman": "spokesperson",
    "spokeswoman": "spokesperson",
    "chairman": "chair",
    "chairwoman": "chair",
    "policeman": "police officer",
    "policewoman": "police officer",
    "waiter": "server",
    "waitress": "server",
}

# Names for a nonbinary target: used for either gender in the US, none of them a common word.
NEUTRAL_NAMES: tuple[str, ...] = (
    "Alex",
    "Avery",
    "Casey",
    "Charlie",
    "Dakota",
    "Emerson",
    "Finley",
    "Jamie",
    "Jesse",
    "Jordan",
    "Kai",
    "Kendall",
    "Quinn",
    "Riley",
    "Rowan",
    "Sam",
    "Skyler",
    "Taylor",
    "Morgan",
    "Peyton",
    "Reese",
    "Elliot",
    "Hayden",
    "Jules",
    "Remy",
    "Sasha",
    "Marley",
    "Ari",
    "Noel",
    "Shay",
)

# First names that are also ordinary words, months or places ('Grace', 'April', 'Hunter',
# 'Austin'): swapped only where the context makes them a name (after 'Dear', before a
# surname, alone on a signature line), and never given as a replacement.
WORDLIKE_NAMES: frozenset[str] = frozenset(
    {
        # female
        "Amber",
        "April",
        "Autumn",
        "Bailey",
        "Brandy",
        "Brooke",
        "Carol",
        "Charlotte",
        "Chelsea",
        "Crystal",
        "Daisy",
        "Dawn",
        "Destiny",
        "Diamond",
        "Ebony",
        "Faith",
        "Georgia",
        "Grace",
        "Heather",
        "Holly",
        "Ivy",
        "Jade",
        "Jasmine",
        "Jean",
        "Joy",
        "Kim",
        "Madison",
        "Melody",
        "Mercedes",
        "Misty",
        "Olive",
        "Paige",
        "Patty",
        "Penny",
        "Raven",
        "Robin",
        "Rose",
        "Ruby",
        "Sandy",
        "Savannah",
        "Shelby",
        "Sierra",
        "Summer",
        "Sydney",
        "Victoria",
        "Virginia",
        # male
        "Austin",
        "Bill",
        "Billy",
        "Bob",
        "Bobby",
        "Chase",
        "Christian",
        "Clinton",
        "Cole",
        "Dale",
        "Dean",
        "Don",
        "Drew",
        "Earl",
        "Frank",
        "Gene",
        "Grant",
        "Guy",
        "Hunter",
        "Jack",
        "Jackson",
        "Jay",
        "Jesus",
        "Kent",
        "Lance",
        "Lee",
        "Mark",
        "Mason",
        "Max",
        "Miles",
        "Parker",
        "Ray",
        "Rich",
        "Rick",
        "Ross",
        "Tanner",
        "Troy",
        "Wade",
        "Warren",
        "Wayne",
        "Will",
        "Francisco",
        "Eugene",
        "Tyler",
        "Logan",
    }
)

# ICD-10-CM code prefixes (dots removed) that apply to one sex only, from the ICD-10-CM
# "Diagnoses for females/males only" edits, with every category the dataset uses. Breast
# cancer (C50) is coded by sex: C50.x1x female, C50.x2x male.
FEMALE_ICD10_PREFIXES: tuple[str, ...] = (
    "O",  # O00-O9A pregnancy, childbirth and the puerperium
    *(f"N{n}" for n in range(70, 99)),  # N70-N98 female pelvic and genital organs
    *(f"C{n}" for n in range(51, 59)),  # C51-C58 malignant neoplasms of female genital organs
    *(f"C50{s}1" for s in "012345689"),  # C50.x1x malignant neoplasm of female breast
    "D06",  # carcinoma in situ of cervix uteri
    "D070",
    "D071",
    "D072",
    "D073",  # carcinoma in situ of other female genital organs
    *(f"D{n}" for n in range(25, 29)),  # D25-D28 benign neoplasms of female genital organs
    "D39",  # neoplasm of uncertain behavior of female genital organs
    "E28",  # ovarian dysfunction
    "M800",  # postmenopausal osteoporosis with fracture
    "Q50",
    "Q51",
    "Q52",  # congenital malformations of female genital organs
    "R87",  # abnormal findings in specimens from female genital organs
    "B373",  # candidiasis of vulva and vagina
    "Z0141",  # gynecological examination
    "Z124",  # screening for cervical cancer
    "Z320",  # pregnancy test
    "Z33",
    "Z34",
    "Z35",
    "Z36",  # pregnant state, supervision of pregnancy, antenatal screening
    "Z37",  # outcome of delivery
    "Z39",  # postpartum care
    "Z3A",  # weeks of gestation
    "Z8742",  # personal history of diseases of the female genital tract
    "Z875",  # personal history of complications of pregnancy
)
MALE_ICD10_PREFIXES: tuple[str, ...] = (
    *(f"N{n}" for n in range(40, 54)),  # N40-N53 male genital organs
    *(f"C{n}" for n in range(60, 64)),  # C60-C63 malignant neoplasms of male genital organs
    *(f"C50{s}2" for s in "012345689"),  # C50.x2x malignant neoplasm of male breast
    "D074",
    "D075",
    "D076",  # carcinoma in situ of penis, prostate, other male genital organs
    "D29",  # benign neoplasm of male genital organs
    "D40",  # neoplasm of uncertain behavior of male genital organs
    "E29",  # testicular dysfunction
    "Q53",
    "Q54",
    "Q55",  # congenital malformations of male genital organs
    "B3742",  # candidal balanitis
    "R972",  # elevated prostate specific antigen
    "Z125",  # screening for prostate cancer
    "Z8743",  # personal history of diseases of male genital organs
)
