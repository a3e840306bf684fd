"""Clinical vocabularies for telling PHI from clinical text: drug names from an installed
package, and public word lists written here (clinical shorthand, eponymous devices and
signs, kinship and role words, facility words).

Nothing here comes from a dataset's PHI: the drug names are those of the
``drug-named-entity-recognition`` package (DrugBank, MeSH and MedlinePlus names and brands),
the rest is general clinical knowledge. A word in these lists is never taken for a name or a
place on its own ('FOLEY' is a catheter, 'COUMADIN' a drug, 'OSH' an outside hospital).
"""

from __future__ import annotations

import bz2
import functools
import importlib.util
import pickle  # the package's own data file, installed from the registry
from pathlib import Path

# Shorthand of clinical notes that a name or place test could misread (all lower case). Not
# meant to be complete: words that are common English already fail the rarity tests.
_ABBREVIATIONS = """
a&o aaa abd abg abx ac ace acs adl af afib aflutter aki alt amb amt ap ard ards as asa ast av
avr avss bal bid bipap bm bmp bnp bp bpm brbpr bs bun bx c/o ca cabg cad cath cbc cc ccu cd
chf chg ci cm cmo cmp cmv co co2 copd cpap cpk cpr cr crf crrt csf csru ct cta cv cva cvl cvp cxr
d/c dc dcd dm dnr dni doe dpl dt dvt dx ecg echo ed eeg ef egd ekg ent ep er esrd et ett ew ffp
fio2 fs fx g gcs gerd gi gjt gt gtt gtts gu hct hd hep hgb hh hob hpi hr hs htn hx i&o icd icu id
ij imv inr io iv ivf jp jvd k kcl kvo lad lcx ld ldh le lft lfts lll lle llq lue lul lv lvh lytes
ma map mds mg mgso4 mi micu mod mri mrsa mso4 mvr na nad nc ncat nephro neuro ng ngt nicu nkda
nmb npo nps nsg nsr nstemi nsvt ntg nv o2 ob ogt oob or osh ot pa pacu pca pcp pcv pe peep peg
ph picc pmh pmhx pna po poc ppd prbc prn ps psv pt ptca ptt pvc pvd q qd qhs qid qod rbc rca rll
rle rlq rn ro rr rrr rrt rsbi rt rue rul rx sa sbp sbt sc scds sicu simv sl sob spo2 sq ssi
stat svt sx tf tid tkvo tlc tmax tpn tx ua uo uop uri us uti vad vap vats vf vnp vq vs vss
vt wbc wnl spont sxn sxns sx'd suctioned dopa neo levo vanco cont mae perrl perla sb st tele
aline a-line trach ogt peg pej iabp cvvh cvvhd cvvhdf tte tee kub lopressor lasix pressors
pressor sats sat resp neuro cardiac pulm gyn ortho psych derm renal heme onc palliative
rsbi abd ext exts extremities bilat bil lle rle lue rue pedal dp pt's pts' hob ivp ivpb
ns lr d5w d5 d51/2 kvo tf tfs nepro promote impact jevity osmolite pulmocare replete
sputum secretions thick thin tan yellow rusty frothy bloody blood serous serosanguinous
creat coag coags fem prev poss approx eval reeval angio angiography fluoro endo ir cathlab
""".split()  # noqa: SIM905 (a word list reads best as text)

# Eponymous devices, signs, tests, scores and diseases: surnames that name things in notes.
_EPONYMS = """
foley swan ganz hickman groshong broviac quinton mahurkar dobhoff salem levin yankauer
cordis jackson pratt blakemore sengstaken minnesota miami philadelphia aspen bair hugger
pleurevac ambu morgan tegaderm duoderm kerlix kling ace jobst teds venodyne doppler holter
babinski romberg homans murphy kussmaul cheyne stokes korotkoff trendelenburg glasgow
apgar braden morse richmond ramsay allen wenckebach mobitz brugada wolff parkinson white
alzheimer crohn hodgkin cushing addison graves hashimoto guillain barre raynaud bell
huntington tourette down kawasaki kaposi wilson paget reye sjogren stevens johnson
whipple nissen roux billroth hartmann mallory weiss zenker barrett meckel hirschsprung
valsalva heimlich fowler sims
""".split()  # noqa: SIM905 (a word list reads best as text)

# Relatives and other people close to a patient: a name right after one is a person's.
KINSHIP_WORDS = frozenset(
    """
son sons daughter daughters dtr dtrs dau husband hus wife spouse sister sisters sis brother
brothers bro mother mom mum father dad niece nieces nephew nephews aunt uncle cousin grandson
granddaughter grandaughter grandchild grandchildren grandmother grandfather grandma grandpa
stepson stepdaughter stepmother stepfather friend friends proxy hcp partner boyfriend
girlfriend fiance fiancee neighbor neighbour guardian children child sibling siblings
in-law inlaw in-laws inlaws son-in-law daughter-in-law dtr-in-law sil dil widow widower
""".split()  # noqa: SIM905 (a word list reads best as text)
)

# Titles and roles that introduce a clinician or a patient by name.
PERSON_TITLES = frozenset(
    """
dr drs doctor mr mrs ms miss mister np pa rn nurse attending fellow resident intern
housestaff staff rrt sw pcp surgeon cardiologist intensivist hospitalist chaplain
""".split()  # noqa: SIM905 (a word list reads best as text)
)

# Credentials written after a clinician's name ('Emily Parker, RN'); 'PT' and 'OT' mean
# patient and occupational therapy too often to count.
CREDENTIALS = frozenset(
    """
rn rrt md np pa pa-c lpn cna crna licsw lcsw msw do phd pharmd rd bsn msn aprn fnp sn
""".split()  # noqa: SIM905 (a word list reads best as text)
)

# Words that head a facility's name: 'Calvert Hospital', 'Holy Cross Rehab'.
FACILITY_HEADS = frozenset(
    """
hospital hosp hospitals rehab rehabilitation clinic clinics infirmary sanatorium hospice
manor memorial adventist regional
""".split()  # noqa: SIM905 (a word list reads best as text)
)

# Hospital units after a facility or ward name: 'Lally MICU', 'Quartermain 5'.
UNIT_WORDS = frozenset(
    "micu sicu ccu csru cvicu nicu picu ticu pacu icu er ew ed floor unit ward".split()  # noqa: SIM905
)


@functools.lru_cache(maxsize=1)
def drug_words() -> frozenset[str]:
    """Single-word drug names and brands, lower case (about 35,000), from the data file of the
    ``drug-named-entity-recognition`` package. The file is read directly: importing that
    package's module would write a cache into the home folder."""
    spec = importlib.util.find_spec("drug_named_entity_recognition")  # found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the drug-named-entity-recognition package is not installed")
    data = Path(spec.submodule_search_locations[0]) / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(data, "rb") as fh:
        variants = pickle.load(fh)["drug_variant_to_canonical"]
    return frozenset(v for v in variants if " " not in v and len(v) > 2)


ABBREVIATIONS = frozenset(_ABBREVIATIONS)
EPONYMS = frozenset(_EPONYMS)


def is_clinical_word(word: str, eponyms: bool = True) -> bool:
    """A drug, a clinical abbreviation or (with ``eponyms``) an eponymous device or sign, in
    any case. After a title ('Dr. White') an eponym is a name, so callers there leave them
    out."""
    w = word.lower().strip(".'’")
    return w in ABBREVIATIONS or w in drug_words() or (eponyms and w in EPONYMS)
