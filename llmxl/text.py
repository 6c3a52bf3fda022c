"""Text that reaches a terminal or names an entry: which characters are unsafe, and which names look alike.

Two concerns every face shares. *Unsafe characters* are those a terminal interprets or cannot show:
C0 and C1 controls (an escape sequence starts with one), Unicode format characters (the bidi
overrides and isolates U+202A–U+202E and U+2066–U+2069, zero-width characters), line and paragraph
separators, lone surrogates and noncharacters (U+FFFF), which no encoding can write. A name may not
hold one (:func:`has_unsafe`); text printed on a terminal shows them escaped (:func:`escape_unsafe`).
*Confusable names* are names that read the same but are spelled with other characters: a Cyrillic
"а" for a Latin "a", a fullwidth digit, a combining accent. :func:`skeleton` maps a name to what it
looks like, so the catalog can refuse "а100-sxm-80gb" beside "a100-sxm-80gb" and suggest the real one.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["UNSAFE", "escape_unsafe", "first_unsafe", "has_unsafe", "skeleton", "spelled_with"]

# Format characters (Unicode category Cf) as of Unicode 15; tests check the list against unicodedata.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Noncharacters: U+FDD0–U+FDEF and the last two code points of every plane.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
#: Characters that never reach a terminal unescaped, nor a name: controls (tab and newline aside),
#: format characters, line/paragraph separators, surrogates and noncharacters.
UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_FORMAT}\ud800-\udfff{_NONCHARACTERS}]")
_UNSAFE_IN_NAMES = re.compile(f"[\t\n{UNSAFE.pattern[1:-1]}]")


def has_unsafe(text: str) -> bool:
    """Whether ``text`` holds a character no name may hold (tab and newline included)."""
    return _UNSAFE_IN_NAMES.search(text) is not None


def first_unsafe(text: str) -> str | None:
    """The first character of ``text`` no name may hold, as U+XXXX and its name, or None."""
    m = _UNSAFE_IN_NAMES.search(text)
    return None if m is None else describe(m.group())


def describe(ch: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE', 'U+D800 (a lone surrogate)'."""
    name = unicodedata.name(ch, "")
    if not name:
        name = "(a lone surrogate)" if 0xD800 <= ord(ch) <= 0xDFFF else "(a control or noncharacter)"
    return f"U+{ord(ch):04X} {name}"


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_unsafe(text: str) -> str:
    """``text`` with every unsafe character shown as \\xNN, \\uNNNN or \\UNNNNNNNN (tab and newline kept)."""
    return UNSAFE.sub(_escape, text)


# Letters of other scripts that look like a Latin letter or digit (after case folding), from Unicode's
# confusables (UTS #39), limited to those that render the same in common fonts.
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i",
        "ј": "j", "к": "k", "ӏ": "l", "м": "m", "п": "n", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s",
        "т": "t", "ц": "u", "у": "y", "ў": "y", "х": "x", "ԝ": "w", "ѡ": "w", "з": "3", "б": "6",
        # Greek
        "α": "a", "β": "b", "ϲ": "c", "ε": "e", "η": "n", "ι": "i", "ϳ": "j", "κ": "k", "μ": "u", "ν": "v",
        "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "γ": "y",
        # Armenian and Latin variants
        "ո": "n", "ս": "u", "ց": "g", "օ": "o", "ɡ": "g", "ı": "i", "ȷ": "j", "ɑ": "a", "ℓ": "l",
        # dashes and separators
        "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "⁃": "-", "﹣": "-", "_": "-",
    }
)  # fmt: skip
_SPACES = re.compile(r"[\s\-]+")


def skeleton(name: str) -> str:
    """What a name looks like: NFKC, case-folded, accents dropped, look-alike letters as Latin ones.

    Two names with the same skeleton read the same on screen.

    Examples
    --------
    >>> skeleton("а100-SXM-80GB") == skeleton("a100-sxm-80gb")   # a Cyrillic "а"
    True
    >>> skeleton("llama-2-7b") == skeleton("llama-2-70b")
    False
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = text.translate(_LOOKALIKES)
    text = UNSAFE.sub("", text)
    return _SPACES.sub("-", text.strip())


def spelled_with(name: str) -> str | None:
    """The first character of ``name`` outside printable ASCII, described, or None when there is none."""
    for ch in name:
        if not " " <= ch <= "~":
            return describe(ch)
    return None
