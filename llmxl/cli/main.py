"""The ``llmxl`` command: its parser (one subcommand per module of this package) and the error policy.

Every error prints one line on stderr and exits with code 2; llmxl's own warnings print one line
each. Heavy modules (openpyxl for workbooks) load only for the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import LlmxlError, LlmxlWarning
from . import calibrate, catalog, estimate, plan, report, simulate, workbook
from .output import printable

EXIT_ERROR = 2
#: subcommand -> its module (each has add_parser(sub) and run(args)), in the order --help lists them
COMMANDS = {
    "estimate": estimate,
    "catalog": catalog,
    "workbook": workbook,
    "report": report,
    "plan": plan,
    "simulate": simulate,
    "calibrate": calibrate,
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(show):
    """A warnings.showwarning that prints llmxl's own warnings as one line and hands others to ``show``."""

    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LlmxlWarning):
            print(f"llmxl: warning: {printable(str(message))}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return show_warning


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="llmxl", description="What it costs to serve a large language model.")
    parser.add_argument("--version", action="version", version=f"llmxl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    run = COMMANDS[args.command].run
    import signal

    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A terminated run unwinds like an interrupted one, so half-written temporary files are removed.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line(warnings.showwarning)
            return run(args)
    except LlmxlError as exc:
        print(f"llmxl: error: {printable(exc.message)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # e.g. `llmxl catalog models | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f": {printable(str(exc.filename))}" if exc.filename else ""
        print(f"llmxl: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("llmxl: interrupted", file=sys.stderr)
        return 130
