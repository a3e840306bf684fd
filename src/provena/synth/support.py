"""Customer-support examples: a customer's message in, a helpful agent reply out.

The planted outcome disparity lives here: the resolution an agent offers depends on the
customer's gender (refunds are offered less often to women), and replies to customers aged
65+ are shorter. Both are documented in the README's data card so the audits can be checked.
"""

from __future__ import annotations

import datetime as dt
import random

from provena.synth import vocab
from provena.synth.build import TextBuilder
from provena.synth.draft import Draft
from provena.synth.people import Person, fmt_date, luhn_card, person, pick_gender

SYSTEM_PROMPTS = (
    "You are a customer support agent for {company}. Write a helpful, polite reply to the "
    "customer's message.",
    "Reply to this customer email on behalf of {company}'s support team. Be concise and kind, "
    "and say exactly what happens next.",
    "As a support agent at {company}, answer the customer below. Resolve the issue if you can.",
)
CATEGORIES = (
    "late_delivery",
    "damaged_item",
    "wrong_item",
    "refund_request",
    "double_charge",
    "address_change",
    "cancel_order",
    "account_access",
)
RESOLUTIONS = ("refund", "replacement", "store_credit", "escalated", "declined")
#: Resolution weights by gender: the planted outcome disparity.
RESOLUTION_WEIGHTS = {
    "female": (0.22, 0.22, 0.18, 0.13, 0.25),
    "male": (0.45, 0.22, 0.12, 0.11, 0.10),
    "nonbinary": (0.35, 0.22, 0.15, 0.13, 0.15),
}

OPENINGS = (
    "Hi,",
    "Hello,",
    "Hi there,",
    "Good morning,",
    "Hello support team,",
    "To whom it may concern,",
    "Hey,",
    "Dear {company} team,",
)
PROBLEMS = {
    "late_delivery": (
        'My order {order} still hasn\'t arrived. Tracking has said "in transit" for {days} days.',
        "I ordered a {product} on {date} (order {order}) and it was supposed to be here by now.",
        "Where is my package? Order {order}, shipped with {carrier}, no movement since {date}.",
    ),
    "damaged_item": (
        "The {product} from order {order} arrived with a cracked housing.",
        "I just unboxed my {product} and it's damaged — the box was crushed and one corner is dented. Order {order}.",
        "Order {order}: the {product} doesn't power on and there are scratches all over it.",
    ),
    "wrong_item": (
        "I ordered a {product} but received something completely different. Order number {order}.",
        "Order {order} came today but it's the wrong size/color of the {product}.",
        "You sent me the wrong item for order {order}; I never ordered this.",
    ),
    "refund_request": (
        "I'd like to return the {product} from order {order} and get my money back.",
        "The {product} I bought on {date} isn't what I expected. Can I get a refund? Order {order}.",
        "Please refund order {order}. The {product} stopped working after a week.",
    ),
    "double_charge": (
        "I was charged twice for order {order}, ${amount} each time, on my card {card}.",
        "My statement shows two charges of ${amount} for the same order ({order}). Card ending {last4}.",
        "You billed my card {card} twice on {date}. Order {order}.",
    ),
    "address_change": (
        "I need to change the delivery address for order {order}. The new address is {address}.",
        "Can you ship order {order} to {address} instead? I moved last week.",
        "Please update my shipping address to {address} before order {order} ships.",
    ),
    "cancel_order": (
        "Please cancel order {order}, I ordered the {product} by mistake.",
        "I want to cancel my order {order} for the {product} — found it cheaper locally.",
        "Cancel order {order} please. It hasn't shipped yet as far as I can tell.",
    ),
    "account_access": (
        "I can't log into my account. The password reset email never arrives at {email}.",
        "My account is locked after too many attempts. My email is {email} and my last order was {order}.",
        "I changed my phone and can't get the 2FA code anymore. Account email: {email}.",
    ),
}
DETAILS = (
    "I've been a customer for {years} years and this has never happened before.",
    "I already contacted you on {date} but nobody got back to me.",
    "It was meant to be a birthday present, so I'm pretty disappointed.",
    "I paid ${amount} for express shipping.",
    "The tracking number is {tracking}.",
    "I attached photos of the box and the item.",
    "Honestly this is really frustrating.",
    "I need this sorted out before the weekend if possible.",
    "My neighbor said a driver came by but nothing was left at the door.",
    "I checked my spam folder and there's nothing there either.",
)
CLOSINGS = (
    "Thanks,",
    "Thank you,",
    "Regards,",
    "Best,",
    "Cheers,",
    "Sincerely,",
    "Thanks in advance,",
)
ACTIONS = {
    "refund": (
        "I’ve issued a full refund of ${amount} to your original payment method; you’ll see it within 3–5 business days.",
        "I’ve processed a refund of ${amount} for order {order}. Depending on your bank it can take up to a week to appear.",
    ),
    "replacement": (
        "I’ve sent a replacement {product} at no cost — it ships today and you’ll get tracking by email.",
        "A replacement for order {order} is on its way by express shipping, and there’s no need to return the original.",
    ),
    "store_credit": (
        "I’ve added ${amount} in store credit to your account, which you can use on any order.",
        "As an apology, there’s now ${amount} of store credit on your account for your next purchase.",
    ),
    "escalated": (
        "I’ve escalated this to our specialist team, who will contact you within 48 hours.",
        "I’ve passed order {order} to our logistics team for investigation; they’ll update you by Friday.",
    ),
    "declined": (
        "Unfortunately this order is outside our 30-day return window, so we can’t offer a refund.",
        "I’m sorry, but under our policy we’re unable to refund this item once it has been used.",
    ),
}
EMPATHY = (
    "I’m really sorry about this.",
    "I completely understand how frustrating that is.",
    "Thank you for your patience while we looked into it.",
    "Sorry for the trouble with your order.",
    "I appreciate you letting us know.",
)
EXTRAS = (
    "If anything else comes up, just reply to this email.",
    "You can track everything from the Orders page in your account.",
    "I’ve also added a note to your account so any colleague can pick this up.",
    "Please keep the original packaging until the case is closed.",
    "Our team is available 7 days a week if you need anything else.",
)
SIGNOFFS = ("Best regards,", "Kind regards,", "Warm wishes,", "All the best,", "Thanks again,")


def _order(rng: random.Random) -> str:
    return rng.choice(
        [
            f"#{rng.randint(100000, 999999)}",
            f"A-{rng.randint(1_000_000, 9_999_999)}",
            f"{rng.randint(1_000_000_000, 9_999_999_999)}",
            f"ORD-{rng.randint(10000, 99999)}-{rng.choice('ABCDEFGHJK')}",
        ]
    )


def _fill(b: TextBuilder, template: str, values: dict[str, tuple[str, str | None]]) -> None:
    """Append ``template``, turning each {key} into its value; values typed as PII become spans."""
    rest = template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        key, _, rest = tail.partition("}")
        b.t(head)
        text, entity = values[key]
        if entity:
            b.pii(text, entity)
        else:
            b.t(text)
    b.t(rest)


def _values(
    rng: random.Random, p: Person, company: str, today: dt.date
) -> dict[str, tuple[str, str | None]]:
    card = luhn_card(rng)
    addr = p.street + (f" {p.unit}" if p.unit else "")
    return {
        "company": (company, "ORGANIZATION"),
        "order": (_order(rng), "ORDER_NUMBER"),
        "product": (rng.choice(vocab.PRODUCTS), None),
        "carrier": (rng.choice(vocab.CARRIERS), None),
        "days": (str(rng.randint(4, 21)), None),
        "amount": (f"{rng.randint(12, 480)}.{rng.randint(0, 99):02d}", None),
        "date": (fmt_date(rng, today - dt.timedelta(days=rng.randint(3, 60))), "DATE_TIME"),
        "card": (card, "CREDIT_CARD"),
        "last4": (card.replace(" ", "").replace("-", "")[-4:], "CREDIT_CARD"),
        "address": (f"{addr}, {p.city}, {p.state} {p.zip}", "STREET_ADDRESS"),
        "email": (p.email, "EMAIL_ADDRESS"),
        "years": (str(rng.randint(2, 12)), None),
        "tracking": (f"1Z{rng.randint(10**15, 10**16 - 1)}", "TRACKING_NUMBER"),
    }


def support_draft(
    rng: random.Random, idx: int, *, female_share: float, nonbinary_share: float, today: dt.date
) -> Draft:
    p = person(rng, pick_gender(rng, female_share, nonbinary_share), today=today)
    company = rng.choice(vocab.COMPANY)
    category = rng.choice(CATEGORIES)
    resolution = rng.choices(RESOLUTIONS, weights=RESOLUTION_WEIGHTS[p.gender])[0]
    v = _values(rng, p, company, today)
    agent_first = rng.choice(vocab.FEMALE_FIRST + vocab.MALE_FIRST + vocab.NEUTRAL_FIRST)

    msg = TextBuilder()
    _fill(msg, rng.choice(OPENINGS), v)
    msg.t("\n\n")
    _fill(msg, rng.choice(PROBLEMS[category]), v)
    for d in rng.sample(DETAILS, k=rng.randint(1, 3)):
        msg.t(" ")
        _fill(msg, d, v)
    msg.t("\n\n" + rng.choice(CLOSINGS) + "\n")
    msg.pii(p.name if rng.random() < 0.7 else p.first, "PERSON")
    if rng.random() < 0.5:
        msg.t("\n").pii(p.phone, "PHONE_NUMBER")
    if rng.random() < 0.3:
        msg.t("\n").pii(p.email, "EMAIL_ADDRESS")
    if category != "address_change" and rng.random() < 0.25:
        msg.t("\n").pii(p.street + (f" {p.unit}" if p.unit else ""), "STREET_ADDRESS")
        msg.t("\n").pii(p.city, "LOCATION").t(", ").pii(p.state, "LOCATION").t(" ").pii(
            p.zip, "LOCATION"
        )

    rep = TextBuilder()
    rep.t(rng.choice(["Hi ", "Hello ", "Dear "])).pii(p.first, "PERSON").t(",\n\n")
    short = p.age_band == "65+"  # planted: older customers get shorter replies
    rep.t(rng.choice(EMPATHY) + " ")
    _fill(rep, rng.choice(ACTIONS[resolution]), v)
    if not short:
        for e in rng.sample(EXTRAS, k=rng.randint(1, 3)):
            rep.t(" " + e)
    rep.t("\n\n" + rng.choice(SIGNOFFS) + "\n").pii(agent_first, "PERSON").t("\n")
    rep.pii(company, "ORGANIZATION").t(" Support")

    user, uspans = msg.build()
    reply, rspans = rep.build()
    ins = TextBuilder()
    _fill(ins, rng.choice(SYSTEM_PROMPTS), {"company": (company, "ORGANIZATION")})
    instruction, ispans = ins.build()
    meta = {
        "family": "support_reply",
        "gender": p.gender,
        "age_band": p.age_band,
        "category": category,
        "resolution": resolution,
    }
    return Draft(
        family="support_reply",
        fields={
            "instruction": instruction,
            "input": user,
            "output": reply,
        },
        spans={"instruction": ispans, "input": uspans, "output": rspans},
        meta=meta,
    )


# Non-English examples are planted defects (the language filter should drop them).
FOREIGN = {
    "es": (
        "Hola,\n\nMi pedido {order} todavía no ha llegado y ya pasaron {days} días. ¿Pueden ayudarme?\n\nGracias,\n",
        "Hola {first},\n\nLamentamos mucho el retraso. Hemos enviado un reemplazo sin costo y recibirá el número de seguimiento por correo.\n\nSaludos,\n",
    ),
    "de": (
        "Hallo,\n\nmeine Bestellung {order} ist beschädigt angekommen. Ich möchte bitte mein Geld zurück.\n\nViele Grüße\n",
        "Hallo {first},\n\nes tut uns sehr leid. Wir haben die Rückerstattung veranlasst; sie erscheint in drei bis fünf Werktagen auf Ihrem Konto.\n\nMit freundlichen Grüßen\n",
    ),
    "fr": (
        "Bonjour,\n\nJ'ai été débité deux fois pour la commande {order}. Pouvez-vous vérifier s'il vous plaît ?\n\nCordialement,\n",
        "Bonjour {first},\n\nNous sommes désolés pour ce désagrément. Le double prélèvement a été annulé et le remboursement est en cours.\n\nBien à vous,\n",
    ),
}


def foreign_draft(rng: random.Random, base: Draft, today: dt.date) -> Draft:
    """A support example in Spanish, German or French, with the same kind of PII."""
    lang = rng.choice(sorted(FOREIGN))
    gender = base.meta["gender"] if base.meta.get("gender") != "nonbinary" else "female"
    p = person(rng, gender, today=today)
    order = _order(rng)
    tmpl_msg, tmpl_rep = FOREIGN[lang]
    msg = TextBuilder()
    _fill(
        msg, tmpl_msg, {"order": (order, "ORDER_NUMBER"), "days": (str(rng.randint(4, 20)), None)}
    )
    msg.pii(p.name, "PERSON")
    rep = TextBuilder()
    _fill(rep, tmpl_rep, {"first": (p.first, "PERSON")})
    rep.pii(rng.choice(vocab.FEMALE_FIRST + vocab.MALE_FIRST), "PERSON")
    user, uspans = msg.build()
    reply, rspans = rep.build()
    return Draft(
        family=base.family,
        fields={"instruction": base.fields["instruction"], "input": user, "output": reply},
        spans={"input": uspans, "output": rspans},
        meta=dict(base.meta),
    )
