"""What every stage script shares: logging, params loading, clean exits on known errors, and
the headline metrics (``--headline``: :mod:`provena.headline`) written from the stage's
``--metrics`` once it has run."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from provena.config import Params, load_params
from provena.errors import UserError
from provena.headline import write_headline
from provena.progress import setup_logging


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument(
        "--headline",
        type=Path,
        help="write the headline numbers of --metrics here (the DVC metric; provena.headline)",
    )
    parser.add_argument(
        "--headline-plot", type=Path, help="evaluate: its task scores as rows for dvc plots"
    )
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def run_stage(
    name: str, body: Callable[[argparse.Namespace, Params], None], parser: argparse.ArgumentParser
) -> None:
    args = parser.parse_args()
    setup_logging(args.verbose)
    # a terminated stage (dvc on SIGTERM, a CI timeout) unwinds like an error: the atomic
    # writers' finally blocks remove their temporary files, and nothing partial is left
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log = logging.getLogger(f"provena.{name}")
    try:
        params = load_params(args.params)
        if args.headline and getattr(args, "metrics", None) is None:
            raise UserError(f"stage {name}: --headline needs --metrics (its detail)")
        body(args, params)
        if args.headline:
            write_headline(name, args.metrics, args.headline, args.headline_plot)
    except UserError as err:
        log.error("%s", err)
        sys.exit(2)
