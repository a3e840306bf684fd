"""Import the NLP libraries without the deep-learning stack they pull in when it is installed.

spaCy's thinc imports ``torch``, and Presidio's analyzer imports ``transformers`` (for its
Hugging Face recognizers), whenever they are installed; Provena installs both for training.
The curation stages use neither (spaCy's small English pipeline runs on numpy), but each
process paid ~390 MB for them: with scrub_pii's driver and two workers, about 1.1 GB of a
200,000-record run. :func:`without` makes those imports fail inside its block, which both
libraries handle as "not installed", and then lets them be imported normally again.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: what the curation stages never use but the NLP libraries import when they can
HEAVY = ("torch", "transformers")


@contextlib.contextmanager
def without(*modules: str) -> Iterator[None]:
    """``import m`` raises ImportError inside the block for each of ``modules`` not imported
    yet (a process that already holds one, e.g. evaluate's, keeps it)."""
    blocked = [m for m in modules if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment]  # the import system's "not found"
    try:
        yield
    finally:
        for m in blocked:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]
