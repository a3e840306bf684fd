"""Clinical-note extraction examples: a realistic note in, the patient's age, sex and ICD-10
codes out as JSON. Notes carry the PII real notes carry, in the formats they carry it."""

from __future__ import annotations

import datetime as dt
import json
import random

from provena.synth import vocab
from provena.synth.build import TextBuilder, upper_keep_offsets
from provena.synth.draft import Draft
from provena.synth.icd10 import ICD10, Code, chapter
from provena.synth.people import Person, email, fmt_date, person

INSTRUCTIONS = (
    "Extract the patient's age, sex and ICD-10 codes from the clinical note. Answer with JSON "
    'only: {"age": <integer>, "sex": "female" or "male", "icd10": [<codes>]}.',
    "Read the note below and return a JSON object with the patient's age (integer), sex "
    '("female" or "male") and the ICD-10-CM codes for the documented diagnoses, as '
    '{"age": ..., "sex": ..., "icd10": [...]}.',
    "From this clinical note, code the diagnoses in ICD-10-CM and give the patient's age and "
    'sex. Output JSON with keys "age", "sex" and "icd10".',
    "You are a clinical coding assistant. Return the patient's demographics and ICD-10 codes "
    'for this encounter as JSON: {"age": int, "sex": "female"|"male", "icd10": [str]}.',
)
NOTE_KINDS = ("ed", "soap", "discharge", "letter")


def _codes(rng: random.Random, p: Person) -> list[Code]:
    fits = [c for c in ICD10 if (c.sex in (None, p.gender)) and c.min_age <= p.age <= c.max_age]
    return rng.sample(fits, k=rng.choices((1, 2, 3, 4), weights=(0.35, 0.35, 0.2, 0.1))[0])


def _age(b: TextBuilder, rng: random.Random, p: Person) -> None:
    """Append an age phrase ('54-year-old female'); the number is a gold AGE span."""
    sx = {"female": ("female", "woman", "F"), "male": ("male", "man", "M")}[p.gender]
    form = rng.choice(
        [
            ("", "-year-old " + sx[0]),
            ("", " y/o " + sx[1]),
            ("", "yo " + sx[2]),
            ("", " year old " + sx[1]),
            ("", sx[2]),
        ]
    )
    b.t(form[0]).pii(str(p.age), "AGE").t(form[1])


def _clinician(rng: random.Random) -> tuple[str, str, str]:
    """(prefix, name, suffix) such as ('Dr. ', 'Sarah Kim', '') or ('', 'Ana Ruiz', ', RN')."""
    first = rng.choice(vocab.FEMALE_FIRST + vocab.MALE_FIRST)
    last = rng.choice(vocab.LAST)
    form = rng.choice(["dr", "dr", "md", "rn", "np", "dr_last", "pa"])
    if form == "dr":
        return "Dr. ", f"{first} {last}", ""
    if form == "dr_last":
        return "Dr. ", last, ""
    if form == "md":
        return "", f"{first} {last}", ", MD"
    if form == "rn":
        return rng.choice([("RN ", f"{first} {last}", ""), ("", f"{first} {last}", ", RN")])
    if form == "np":
        return "", f"{first} {last}", ", NP"
    return "", f"{first} {last}", ", PA-C"


def _clin(b: TextBuilder, c: tuple[str, str, str]) -> None:
    b.t(c[0]).pii(c[1], "PERSON").t(c[2])


def _address(b: TextBuilder, rng: random.Random, p: Person, multiline: bool) -> None:
    sep = "\n" if multiline else ", "
    b.pii(p.street, "STREET_ADDRESS")
    if p.unit:
        b.t(sep if multiline and rng.random() < 0.5 else " ").pii(p.unit, "STREET_ADDRESS")
    b.t(sep).pii(p.city, "LOCATION").t(", ").pii(p.state, "LOCATION").t(" ").pii(p.zip, "LOCATION")


def _mrn(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(
        ["MRN", "MRN:", "MR#", "Medical Record #:", "Med Rec No.", "Acct #", "Patient ID:"]
    )
    value = rng.choice(
        [
            f"{rng.randint(0, 99_999_999):08d}",
            f"{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}-{rng.randint(0, 99):02d}",
            f"{rng.choice('ABCDEFGHJKLM')}{rng.randint(1_000_000, 9_999_999)}",
            f"MR{rng.randint(100_000, 999_999)}",
        ]
    )
    return label, value


def _vitals(rng: random.Random) -> str:
    return (
        f"BP {rng.randint(98, 178)}/{rng.randint(58, 104)}, HR {rng.randint(52, 118)}, "
        f"RR {rng.randint(12, 24)}, T {rng.choice(['97.', '98.', '99.', '100.', '101.'])}{rng.randint(0, 9)} F, "
        f"SpO2 {rng.randint(89, 100)}% on {rng.choice(['RA', 'room air', '2L NC'])}"
    )


def _dx_line(rng: random.Random, code: Code, with_code: bool) -> str:
    phrase = rng.choice(code.phrases)
    return f"{phrase} ({code.code})" if with_code else phrase


def clinical_draft(
    rng: random.Random, idx: int, *, female_share: float, allcaps: bool, today: dt.date
) -> Draft:
    gender = "female" if rng.random() < female_share else "male"  # sex as charted
    p = person(rng, gender, today=today)
    codes = _codes(rng, p)
    visit = today - dt.timedelta(days=rng.randint(0, 900))
    hospital = rng.choice(vocab.HOSPITALS)
    attending = _clinician(rng)
    kind = rng.choice(NOTE_KINDS)
    with_codes = rng.random() < 0.4
    mrn_label, mrn = _mrn(rng)
    she, _, her = p.pronouns
    b = TextBuilder()
    name_first = rng.random() < 0.7

    def name(bb: TextBuilder) -> None:
        if name_first:
            bb.pii(p.name, "PERSON")
        else:
            bb.pii(f"{p.last}, {p.first}", "PERSON")

    symptoms = rng.sample(vocab.SYMPTOMS, k=rng.randint(1, 3))
    meds = rng.sample(vocab.MEDS, k=rng.randint(0, 4))
    if kind == "ed":
        b.pii(hospital, "ORGANIZATION").t(" - Emergency Department\n")
        b.t("Patient: ")
        name(b)
        b.t(f"   {mrn_label} ").pii(mrn, "MEDICAL_RECORD_NUMBER")
        b.t("\nDOB: ").pii(fmt_date(rng, p.dob), "DATE_TIME").t("   Date of service: ").pii(
            fmt_date(rng, visit), "DATE_TIME"
        )
        b.t("\nPhone: ").pii(p.phone, "PHONE_NUMBER")
        if rng.random() < 0.5:
            b.t("\nAddress: ")
            _address(b, rng, p, multiline=False)
        b.t(f"\n\nCC: {symptoms[0]} x {rng.choice(vocab.DURATIONS)}\n")
        b.t("HPI: ")
        _age(b, rng, p)
        b.t(f" presenting with {', '.join(symptoms)}. ")
        b.t(
            f"{she.capitalize()} {'reports' if she != 'they' else 'report'} onset {rng.choice(vocab.DURATIONS)} ago. "
        )
        b.t(
            rng.choice(
                [
                    "Denies recent travel.",
                    "No sick contacts.",
                    "Symptoms worse at night.",
                    "Tried OTC analgesics without relief.",
                    "History obtained from patient and spouse.",
                ]
            )
        )
        b.t(f"\nVitals: {_vitals(rng)}\n")
        b.t("Assessment/Plan:\n")
        for i, c in enumerate(codes, 1):
            b.t(f"{i}. {_dx_line(rng, c, with_codes)}\n")
        b.t(
            rng.choice(
                [
                    "Discharged home with return precautions.",
                    "Admitted to medicine for further workup.",
                    "Follow up with PCP in 1 week.",
                    "Observation overnight, repeat labs in AM.",
                ]
            )
        )
        b.t("\nAttending: ")
        _clin(b, attending)
    elif kind == "soap":
        b.t("PROGRESS NOTE - ").pii(hospital, "ORGANIZATION").t("\n")
        b.t("Name: ")
        name(b)
        b.t("\nDOB: ").pii(fmt_date(rng, p.dob), "DATE_TIME")
        b.t(f"\n{mrn_label} ").pii(mrn, "MEDICAL_RECORD_NUMBER")
        b.t("\nVisit date: ").pii(fmt_date(rng, visit), "DATE_TIME")
        if rng.random() < 0.15:
            ssn = f"{rng.randint(100, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
            b.t("\nSSN: ").pii(ssn, "US_SSN")
        b.t("\n\nS: ")
        _age(b, rng, p)
        b.t(f" here for follow-up of {codes[0].phrases[0]}. ")
        b.t(
            f"Reports {', '.join(symptoms)}. Medications: {'; '.join(meds) or 'none'}. "
            f"Allergies: {rng.choice(vocab.ALLERGIES)}.\n"
        )
        b.t(
            f"O: {_vitals(rng)}. {rng.choice(['Lungs clear bilaterally.', 'Mild bibasilar crackles.', 'Abdomen soft, non-tender.', 'No pedal edema.', 'Regular rate and rhythm, no murmurs.'])}\n"
        )
        b.t("A: " + "; ".join(_dx_line(rng, c, with_codes) for c in codes) + ".\n")
        b.t(
            f"P: {rng.choice(['Continue current regimen.', 'Titrate medications as tolerated.', 'Order CBC, BMP and lipid panel.', 'Refer to specialist.'])} "
        )
        b.t("Patient can be reached at ").pii(p.phone, "PHONE_NUMBER")
        if rng.random() < 0.5:
            b.t(" or ").pii(p.email, "EMAIL_ADDRESS")
        b.t(".\n")
        _clin(b, attending)
    elif kind == "discharge":
        b.t("DISCHARGE SUMMARY\n").pii(hospital, "ORGANIZATION").t("\n\n")
        b.t("Patient name: ")
        name(b)
        b.t(f"\n{mrn_label} ").pii(mrn, "MEDICAL_RECORD_NUMBER")
        b.t("\nDate of birth: ").pii(fmt_date(rng, p.dob), "DATE_TIME")
        b.t("\nAdmitted: ").pii(fmt_date(rng, visit), "DATE_TIME")
        b.t("  Discharged: ").pii(
            fmt_date(rng, visit + dt.timedelta(days=rng.randint(1, 9))), "DATE_TIME"
        )
        b.t("\nHome address:\n")
        _address(b, rng, p, multiline=True)
        b.t("\n\nHospital course: The patient is a ")
        _age(b, rng, p)
        b.t(f" admitted with {symptoms[0]}. ")
        b.t(
            f"{her.capitalize()} course was {rng.choice(['uncomplicated', 'notable for transient hypotension', 'complicated by delirium on day 2', 'unremarkable'])}. "
        )
        b.t("Discharge diagnoses:\n")
        for c in codes:
            b.t(f"- {_dx_line(rng, c, with_codes)}\n")
        b.t(f"Discharge medications: {'; '.join(meds) or 'no changes'}.\n")
        contact = rng.choice(vocab.FEMALE_FIRST + vocab.MALE_FIRST) + " " + p.last
        b.t("Emergency contact: ").pii(contact, "PERSON").t(
            f" ({rng.choice(['spouse', 'daughter', 'son', 'sister', 'partner'])}) "
        )
        b.t(rng.choice(["", "tel. "])).pii(rng.choice([p.phone]), "PHONE_NUMBER")
        b.t("\nDictated by ")
        _clin(b, attending)
    else:  # referral letter
        referrer = _clinician(rng)
        b.pii(hospital, "ORGANIZATION").t("\n").pii(fmt_date(rng, visit), "DATE_TIME").t(
            "\n\nDear "
        )
        b.t("Dr. ").pii(rng.choice(vocab.LAST), "PERSON").t(",\n\n")
        b.t(f"Thank you for seeing {p.title} ").pii(p.last, "PERSON").t(" (DOB ").pii(
            fmt_date(rng, p.dob), "DATE_TIME"
        )
        b.t(f", {mrn_label} ").pii(mrn, "MEDICAL_RECORD_NUMBER").t("), a ")
        _age(b, rng, p)
        b.t(" with ")
        b.t(", ".join(_dx_line(rng, c, with_codes) for c in codes) + ". ")
        b.t(
            f"{she.capitalize()} {'has' if she != 'they' else 'have'} had {', '.join(symptoms)} for {rng.choice(vocab.DURATIONS)}. "
        )
        b.t(f"Current medications: {'; '.join(meds) or 'none'}.\n\n")
        b.t(f"{she.capitalize()} can be contacted at ").pii(p.phone, "PHONE_NUMBER")
        if rng.random() < 0.6:
            b.t(" or by email at ").pii(email(rng, p.first, p.last), "EMAIL_ADDRESS")
        b.t(".\n\nSincerely,\n")
        _clin(b, referrer)
        if rng.random() < 0.4:
            clinic_mail = email(rng, "clinic", "office", vocab.CLINIC_EMAIL_DOMAINS)
            b.t("\n").pii(clinic_mail, "EMAIL_ADDRESS")
    note, spans = b.build()
    caps = False
    if allcaps:
        up = upper_keep_offsets(note)
        if up is not None:
            note, caps = up, True
    answer = json.dumps({"age": p.age, "sex": p.gender, "icd10": [c.code for c in codes]})
    meta = {
        "family": "clinical_extraction",
        "gender": p.gender,
        "age_band": p.age_band,
        "icd10_chapter": chapter(codes[0].code),
        "note_kind": kind,
        "all_caps": caps,
    }
    return Draft(
        family="clinical_extraction",
        fields={"instruction": rng.choice(INSTRUCTIONS), "input": note, "output": answer},
        spans={"input": spans},
        meta=meta,
    )
