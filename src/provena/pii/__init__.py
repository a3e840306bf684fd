"""PII detection (engine, recognizers), operators, gold scoring and the detector settings.

Presidio and spaCy are imported here first, without torch and transformers (see
:mod:`provena.lean`): every module of this package uses them, none needs the other two.
"""

from provena.lean import HEAVY, without

with without(*HEAVY):
    import presidio_analyzer  # noqa: F401
    import presidio_anonymizer  # noqa: F401
    import spacy  # noqa: F401
