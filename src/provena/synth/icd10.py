"""Real ICD-10-CM codes with their official descriptions and the plain words a clinician
writes for them. ``sex`` and the age bounds keep combinations clinically plausible."""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    code: str
    description: str
    phrases: tuple[str, ...]
    sex: str | None = None  # "female" or "male" where the code is sex-specific
    min_age: int = 18
    max_age: int = 110


ICD10: tuple[Code, ...] = (
    Code(
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        ("type 2 diabetes", "T2DM", "diabetes mellitus type 2"),
    ),
    Code(
        "E11.65",
        "Type 2 diabetes mellitus with hyperglycemia",
        ("uncontrolled type 2 diabetes with hyperglycemia", "T2DM with hyperglycemia"),
    ),
    Code(
        "E10.9",
        "Type 1 diabetes mellitus without complications",
        ("type 1 diabetes", "T1DM"),
        max_age=70,
    ),
    Code(
        "I10", "Essential (primary) hypertension", ("hypertension", "HTN", "essential hypertension")
    ),
    Code(
        "I25.10",
        "Atherosclerotic heart disease of native coronary artery without angina pectoris",
        ("coronary artery disease", "CAD"),
        min_age=40,
    ),
    Code(
        "I48.91",
        "Unspecified atrial fibrillation",
        ("atrial fibrillation", "AFib", "a-fib"),
        min_age=40,
    ),
    Code(
        "I50.9",
        "Heart failure, unspecified",
        ("heart failure", "CHF", "congestive heart failure"),
        min_age=40,
    ),
    Code(
        "I21.9",
        "Acute myocardial infarction, unspecified",
        ("acute myocardial infarction", "acute MI", "heart attack"),
        min_age=35,
    ),
    Code(
        "I63.9",
        "Cerebral infarction, unspecified",
        ("ischemic stroke", "acute CVA", "cerebral infarction"),
        min_age=40,
    ),
    Code(
        "I26.99",
        "Other pulmonary embolism without acute cor pulmonale",
        ("pulmonary embolism", "PE"),
    ),
    Code(
        "I82.401",
        "Acute embolism and thrombosis of unspecified deep veins of right lower extremity",
        ("right leg DVT", "acute DVT of the right lower extremity"),
    ),
    Code("E78.5", "Hyperlipidemia, unspecified", ("hyperlipidemia", "HLD", "high cholesterol")),
    Code("E78.00", "Pure hypercholesterolemia, unspecified", ("hypercholesterolemia",)),
    Code("E66.9", "Obesity, unspecified", ("obesity",)),
    Code("E03.9", "Hypothyroidism, unspecified", ("hypothyroidism",)),
    Code(
        "E05.90",
        "Thyrotoxicosis, unspecified without thyrotoxic crisis or storm",
        ("hyperthyroidism", "thyrotoxicosis"),
    ),
    Code("E55.9", "Vitamin D deficiency, unspecified", ("vitamin D deficiency",)),
    Code("E87.1", "Hypo-osmolality and hyponatremia", ("hyponatremia",)),
    Code("E86.0", "Dehydration", ("dehydration",)),
    Code("D64.9", "Anemia, unspecified", ("anemia",)),
    Code("D50.9", "Iron deficiency anemia, unspecified", ("iron deficiency anemia", "IDA")),
    Code("J45.909", "Unspecified asthma, uncomplicated", ("asthma",)),
    Code(
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
        ("COPD", "chronic obstructive pulmonary disease"),
        min_age=40,
    ),
    Code(
        "J44.1",
        "Chronic obstructive pulmonary disease with (acute) exacerbation",
        ("COPD exacerbation", "acute exacerbation of COPD"),
        min_age=40,
    ),
    Code("J18.9", "Pneumonia, unspecified organism", ("pneumonia", "community-acquired pneumonia")),
    Code(
        "J06.9",
        "Acute upper respiratory infection, unspecified",
        ("upper respiratory infection", "URI"),
    ),
    Code("J02.9", "Acute pharyngitis, unspecified", ("pharyngitis", "sore throat")),
    Code("J01.90", "Acute sinusitis, unspecified", ("acute sinusitis",)),
    Code("J20.9", "Acute bronchitis, unspecified", ("acute bronchitis",)),
    Code("U07.1", "COVID-19", ("COVID-19", "SARS-CoV-2 infection")),
    Code(
        "N39.0", "Urinary tract infection, site not specified", ("urinary tract infection", "UTI")
    ),
    Code(
        "N18.9",
        "Chronic kidney disease, unspecified",
        ("chronic kidney disease", "CKD"),
        min_age=35,
    ),
    Code("N17.9", "Acute kidney failure, unspecified", ("acute kidney injury", "AKI")),
    Code(
        "N40.0",
        "Benign prostatic hyperplasia without lower urinary tract symptoms",
        ("BPH", "benign prostatic hyperplasia"),
        sex="male",
        min_age=45,
    ),
    Code(
        "N95.1",
        "Menopausal and female climacteric states",
        ("menopausal symptoms", "perimenopause"),
        sex="female",
        min_age=42,
        max_age=65,
    ),
    Code("K21.9", "Gastro-esophageal reflux disease without esophagitis", ("GERD", "acid reflux")),
    Code("K35.80", "Unspecified acute appendicitis", ("acute appendicitis",), max_age=60),
    Code(
        "K57.30",
        "Diverticulosis of large intestine without perforation or abscess without bleeding",
        ("diverticulosis",),
        min_age=40,
    ),
    Code("K59.00", "Constipation, unspecified", ("constipation",)),
    Code("K29.70", "Gastritis, unspecified, without bleeding", ("gastritis",)),
    Code(
        "K80.20",
        "Calculus of gallbladder without cholecystitis without obstruction",
        ("cholelithiasis", "gallstones"),
    ),
    Code(
        "A09",
        "Infectious gastroenteritis and colitis, unspecified",
        ("gastroenteritis", "infectious colitis"),
    ),
    Code("A41.9", "Sepsis, unspecified organism", ("sepsis",)),
    Code("B34.9", "Viral infection, unspecified", ("viral syndrome", "viral infection")),
    Code("R10.9", "Unspecified abdominal pain", ("abdominal pain",)),
    Code("R07.9", "Chest pain, unspecified", ("chest pain",)),
    Code("R51.9", "Headache, unspecified", ("headache",)),
    Code("R50.9", "Fever, unspecified", ("fever",)),
    Code("R11.2", "Nausea with vomiting, unspecified", ("nausea and vomiting", "N/V")),
    Code("R42", "Dizziness and giddiness", ("dizziness", "lightheadedness")),
    Code("R55", "Syncope and collapse", ("syncope", "syncopal episode")),
    Code("R06.02", "Shortness of breath", ("shortness of breath", "dyspnea")),
    Code("M54.50", "Low back pain, unspecified", ("low back pain", "lumbago")),
    Code(
        "M17.11",
        "Unilateral primary osteoarthritis, right knee",
        ("right knee osteoarthritis", "OA of the right knee"),
        min_age=40,
    ),
    Code(
        "M19.90",
        "Unspecified osteoarthritis, unspecified site",
        ("osteoarthritis", "degenerative joint disease"),
        min_age=40,
    ),
    Code(
        "M81.0",
        "Age-related osteoporosis without current pathological fracture",
        ("osteoporosis",),
        min_age=50,
    ),
    Code("M10.9", "Gout, unspecified", ("gout",)),
    Code(
        "G43.909",
        "Migraine, unspecified, not intractable, without status migrainosus",
        ("migraine", "migraine headaches"),
    ),
    Code(
        "G40.909",
        "Epilepsy, unspecified, not intractable, without status epilepticus",
        ("epilepsy", "seizure disorder"),
    ),
    Code(
        "G47.33", "Obstructive sleep apnea (adult) (pediatric)", ("obstructive sleep apnea", "OSA")
    ),
    Code(
        "G30.9",
        "Alzheimer's disease, unspecified",
        ("Alzheimer's disease", "Alzheimer dementia"),
        min_age=60,
    ),
    Code(
        "F32.9",
        "Major depressive disorder, single episode, unspecified",
        ("depression", "major depressive disorder", "MDD"),
    ),
    Code("F41.1", "Generalized anxiety disorder", ("generalized anxiety disorder", "GAD")),
    Code(
        "F10.20",
        "Alcohol dependence, uncomplicated",
        ("alcohol use disorder", "alcohol dependence"),
    ),
    Code(
        "F17.210",
        "Nicotine dependence, cigarettes, uncomplicated",
        ("tobacco use", "cigarette smoking", "nicotine dependence"),
    ),
    Code(
        "F43.10",
        "Post-traumatic stress disorder, unspecified",
        ("PTSD", "post-traumatic stress disorder"),
    ),
    Code("L03.90", "Cellulitis, unspecified", ("cellulitis",)),
    Code("L20.9", "Atopic dermatitis, unspecified", ("eczema", "atopic dermatitis")),
    Code("H10.9", "Unspecified conjunctivitis", ("conjunctivitis", "pink eye")),
    Code("H66.90", "Otitis media, unspecified, unspecified ear", ("otitis media", "ear infection")),
    Code(
        "S52.501A",
        "Unspecified fracture of the lower end of right radius, initial encounter for closed fracture",
        ("closed fracture of the right distal radius", "right wrist fracture"),
    ),
    Code(
        "S93.401A",
        "Sprain of unspecified ligament of right ankle, initial encounter",
        ("right ankle sprain",),
    ),
    Code(
        "S06.0X0A",
        "Concussion without loss of consciousness, initial encounter",
        ("concussion without loss of consciousness", "concussion"),
    ),
    Code(
        "C50.911",
        "Malignant neoplasm of unspecified site of right female breast",
        ("right breast cancer", "malignant neoplasm of the right breast"),
        sex="female",
        min_age=30,
    ),
    Code("C61", "Malignant neoplasm of prostate", ("prostate cancer",), sex="male", min_age=45),
    Code(
        "C34.90",
        "Malignant neoplasm of unspecified part of unspecified bronchus or lung",
        ("lung cancer", "non-small cell lung cancer"),
        min_age=40,
    ),
    Code("C18.9", "Malignant neoplasm of colon, unspecified", ("colon cancer",), min_age=40),
    Code(
        "Z34.90",
        "Encounter for supervision of normal pregnancy, unspecified, unspecified trimester",
        ("routine prenatal visit", "normal pregnancy"),
        sex="female",
        max_age=44,
    ),
    Code(
        "Z00.00",
        "Encounter for general adult medical examination without abnormal findings",
        ("annual physical", "routine adult exam"),
    ),
    Code("Z23", "Encounter for immunization", ("vaccination", "immunization visit")),
    Code("Z79.4", "Long term (current) use of insulin", ("long-term insulin use",)),
)

#: ICD-10 chapters by first letter, for audits that group outcomes by chapter.
CHAPTERS = {
    "A": "Infectious and parasitic diseases",
    "B": "Infectious and parasitic diseases",
    "C": "Neoplasms",
    "D": "Blood and immune disorders",
    "E": "Endocrine and metabolic diseases",
    "F": "Mental and behavioural disorders",
    "G": "Diseases of the nervous system",
    "H": "Eye and ear diseases",
    "I": "Diseases of the circulatory system",
    "J": "Diseases of the respiratory system",
    "K": "Diseases of the digestive system",
    "L": "Diseases of the skin",
    "M": "Musculoskeletal diseases",
    "N": "Genitourinary diseases",
    "O": "Pregnancy and childbirth",
    "R": "Symptoms and abnormal findings",
    "S": "Injury",
    "U": "Codes for special purposes",
    "Z": "Factors influencing health status",
}


def chapter(code: str) -> str:
    return CHAPTERS[code[0]]
