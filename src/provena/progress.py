"""Progress bars for long work: shown on a terminal, silent when output goes to a file or CI."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from tqdm.auto import tqdm


def progress(**kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; ``disable=None`` makes tqdm stay quiet when stderr is not a TTY."""
    kwargs.setdefault("disable", None if not os.environ.get("PROVENA_NO_PROGRESS") else True)
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(**kwargs)


def setup_logging(verbose: bool = False) -> None:
    """Stage scripts and the CLI log to stderr: one line per event, no timestamps in tests."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Presidio logs one INFO line per analyzed text; keep its warnings only.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    logging.getLogger("presidio-anonymizer").setLevel(logging.WARNING)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
