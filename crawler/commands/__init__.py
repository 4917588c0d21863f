"""Project commands: ``crawl`` (with exit codes), ``rebuild``, ``compact``, ``savefixture``, ``replay``.

The helpers below are how every command fails on a user's mistake: one line on
stderr naming the problem, the documented exit code, the traceback only with
``LOG_LEVEL=DEBUG`` (a scheduled job's log should say what to fix, not where
in Scrapy it was noticed).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from scrapy.exceptions import UsageError
from scrapy.settings import BaseSettings

from crawler.validation import validate_settings
from pipelines.summary import EXIT_USAGE  # argparse's and Scrapy's code: kept for every mistake in arguments or settings


def one_line_usage_errors(parser: argparse.ArgumentParser, command: str) -> None:
    """A usage error prints ``scrapy <command>: error: ...`` alone, without the usage block (``-h`` has it)."""

    def error(message: str) -> NoReturn:
        parser.exit(EXIT_USAGE, f"scrapy {command}: error: {message}\n")

    parser.error = error  # type: ignore[method-assign]


def check_settings(settings: BaseSettings) -> None:
    """Every setting's value, checked before anything starts (see :func:`crawler.validation.validate_settings`)."""
    try:
        validate_settings(settings)
    except ValueError as exc:
        raise UsageError(str(exc), print_help=False) from None


def debugging(settings: BaseSettings | None) -> bool:
    return settings is not None and str(settings.get("LOG_LEVEL")).upper() == "DEBUG"


def report(command: str, what: str, exc: BaseException, settings: BaseSettings | None) -> None:
    """One line ``scrapy <command>: <what>: <reason>`` on stderr; the traceback too at DEBUG."""
    if debugging(settings):
        traceback.print_exception(exc, file=sys.stderr)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in reason:
        reason = f"{reason}: {exc.filename}"
    print(f"scrapy {command}: {what}: {' '.join(reason.split())}", file=sys.stderr)


class Interrupted(KeyboardInterrupt):
    """A second SIGTERM/Ctrl-C: stop now. A KeyboardInterrupt, so that code below the command
    (:mod:`pipelines`) treats it like Ctrl-C."""


class StopRequest(threading.Event):
    """Set by the first SIGTERM or Ctrl-C; ``reason`` names the signal. The work stops at its next safe
    point (between pages) and writes its summary; a second signal raises :class:`Interrupted` at once."""

    reason = ""


@contextmanager
def signals_interrupt() -> Iterator[StopRequest]:
    """SIGTERM and SIGINT, for an offline command (no reactor to handle them): see :class:`StopRequest`."""
    stop = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise Interrupted(signal.Signals(signum).name)
        stop.reason = signal.Signals(signum).name
        stop.set()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
