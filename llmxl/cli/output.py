"""How the command line shows things: terminal-safe text, numbers, money, sizes, tables and progress.

Every subcommand prints through these, so a figure reads the same way in every command's output.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any


def printable(text: Any) -> str:
    """Text safe for a terminal, the one sanitiser every command prints through (:mod:`llmxl.text`).

    C0 and C1 controls (escape sequences), bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
    other format characters, lone surrogates and noncharacters (U+FFFF) are shown as \\xNN, \\uNNNN or
    \\UNNNNNNNN, never interpreted; tab and newline are kept.
    """
    from ..text import escape_unsafe

    return escape_unsafe(text if isinstance(text, str) else str(text))


def short_text(text: str, width: int = 48) -> str:
    """One line of at most ``width`` characters (the full text is in --json)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def significant(value: Any, digits: int = 4) -> str:
    """A number to ``digits`` significant digits with thousands separators; n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        mag = math.floor(math.log10(abs(value)))
        decimals = max(0, digits - 1 - mag)
        return f"{value:,.{decimals}f}"
    return str(value)


def size(nbytes: float) -> str:
    """A byte count in GiB, MiB or KiB."""
    if nbytes >= 1024**3:
        return f"{nbytes / 1024**3:.2f} GiB"
    if nbytes >= 1024**2:
        return f"{nbytes / 1024**2:.1f} MiB"
    return f"{nbytes / 1024:.1f} KiB"


def usd(value: float | None) -> str:
    """A price to three significant digits, e.g. $0.00891; n/a for None."""
    return "n/a" if value is None else f"${significant(value, 3)}"


def plain(value: float | None) -> str:
    """A catalog figure as given (``:g``); n/a for None."""
    return "n/a" if value is None else f"{value:g}"


def money(x: float | None, digits: int = 2) -> str:
    """Dollars with thousands separators and ``digits`` decimals; - for None."""
    return "-" if x is None else f"${x:,.{digits}f}"


def rate(x: float) -> str:
    """A price per 1M tokens as price lists show it: cents always, more digits when it has them ($1.10, $0.039)."""
    text = f"{x:,.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def number(x: float | None, fmt: str) -> str:
    """``format(x, fmt)``; - for None."""
    return "-" if x is None else format(x, fmt)


def columns(rows: Sequence[Sequence[str]], *, right: frozenset[int] = frozenset(), indent: str = "") -> list[str]:
    """Rows of text as aligned columns (the first row is the header); ``right`` columns align right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def jsonable(value: Any) -> Any:
    """Plain Python values for json.dumps: arrays as lists, numpy scalars as numbers, NaN as null."""
    import numpy as np

    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plural(n: int, word: str) -> str:
    """'1 row', '2 rows', '10,000 scenarios'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class Progress:
    """A one-line progress bar on stderr, for large sweeps."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled = total, label, enabled and total >= 2000
        self.last = 0.0

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done != self.total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / self.total)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()
