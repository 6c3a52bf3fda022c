"""Formula text to a tree: the evaluator's parser (see :mod:`.evaluate`).

Formulas that differ only in their numbers (the rows of a table) share one *shape*: each run of digits
(``_DIGITS``) becomes an atom (``_ATOM``). :class:`_Parser` reads a shape, given the first cell's atoms and
the atoms that differ from cell to cell, into nested tuples: ``("const", value)``, ``("error", code)``,
``("atom", k)`` (a number that varies), ``("ref", sheet, c0, c1, r0, r1)`` (a cell or range, A1 style),
``("name", name)``, ``("neg", x)``, ``("bin", op, a, b)`` and ``("call", NAME, args)``. A number that varies
where the parser needs its digits (in text, a name or a decimal) raises ``_Split``, and anything it cannot
read :class:`.formula_values.Unsupported`. It knows nothing of workbooks or functions.
"""

from __future__ import annotations

import re
from typing import Any

from .formula_values import ERRORS, Unsupported

_DIGITS = re.compile(r"\d+")
_ATOM = "\x01"


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>"(?:[^"]|"")*")
    |(?P<sheet>(?:'(?:[^']|'')+'|[A-Za-z_][\w.\x01]*)!)
    |(?P<ref>\$?[A-Za-z]{1,3}\$?\x01)(?![\w\x01(.])
    |(?P<num>(?:\x01(?:\.\x01?)?|\.\x01)(?:[eE][+-]?\x01)?)
    |(?P<err>\#N/A|\#VALUE!|\#REF!|\#NAME\?|\#NUM!|\#NULL!)
    |(?P<ident>[A-Za-z_\\][\w.\x01]*)
    |(?P<op><>|<=|>=|[-+*/^&=<>(),:%])
    """,
    re.VERBOSE,
)
_BINARY = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4, "^": 5}


class _Split(Exception):
    """A number that differs between the cells of a group is not a row or a constant."""


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


class _Parser:
    """Excel formula text to a tree. Runs of digits are atoms (``\\x01``); ``atoms`` gives each atom's text
    in the first cell, and ``varying`` the atoms that differ from cell to cell (rows, or whole numbers)."""

    def __init__(self, shape: str, atoms: list[str], varying: dict[int, Any]) -> None:
        self.tokens: list[tuple[str, str, int]] = []  # kind, text, index of its first atom
        count = 0
        if not shape.startswith("="):
            raise Unsupported("not a formula")
        pos = 1
        while pos < len(shape):
            m = _TOKEN.match(shape, pos)
            if m is None:
                raise Unsupported(f"cannot read the formula at {shape[pos : pos + 20]!r}")
            kind = m.lastgroup
            text = m.group()
            if kind != "ws":
                self.tokens.append((kind, text, count))
            count += text.count(_ATOM)
            pos = m.end()
        self.atoms, self.varying, self.i = atoms, varying, 0

    def fill(self, text: str, first: int) -> str:
        """``text`` with its atoms' digits (the first cell's); an atom that varies between cells is refused."""
        parts = text.split(_ATOM)
        out = [parts[0]]
        for k, rest in enumerate(parts[1:]):
            if first + k in self.varying:
                raise _Split
            out.append(self.atoms[first + k] if self.atoms else "")
            out.append(rest)
        return "".join(out)

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise Unsupported("the formula ends too early")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok[1] != text:
            raise Unsupported(f"expected {text!r}, found {tok[1]!r}")

    def parse(self) -> tuple[Any, ...]:
        node = self.expr(0)
        if self.peek() is not None:
            raise Unsupported(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self, level: int) -> tuple[Any, ...]:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok[0] != "op" or tok[1] not in _BINARY or _BINARY[tok[1]] <= level:
                return left
            self.i += 1
            op = tok[1]
            # ^ is left-associative in Excel, like the others
            right = self.expr(_BINARY[op])
            left = ("bin", op, left, right)

    def unary(self) -> tuple[Any, ...]:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in "+-":
            self.i += 1
            operand = self.unary()
            return operand if tok[1] == "+" else ("neg", operand)
        node = self.primary()
        tok = self.peek()
        if tok is not None and tok[1] == "%":
            raise Unsupported("the % operator")
        return node

    def primary(self) -> tuple[Any, ...]:
        kind, text, first = self.next()
        if kind == "op" and text == "(":
            node = self.expr(0)
            self.expect(")")
            return node
        if kind == "str":
            return ("const", self.fill(text[1:-1], first).replace('""', '"'))
        if kind == "num":
            if any(first + k in self.varying for k in range(text.count(_ATOM))):
                if text != _ATOM:
                    raise _Split
                return ("atom", first)
            return ("const", float(self.fill(text, first)))
        if kind == "err":
            code = {v: k for k, v in ERRORS.items()}[text]
            return ("error", code)
        sheet = None
        if kind == "sheet":
            sheet = self.fill(text[:-1], first)
            if sheet.startswith("'"):
                sheet = sheet[1:-1].replace("''", "'")
            kind, text, first = self.next()
            if kind != "ref":
                raise Unsupported(f"a sheet name before {text!r}")
        if kind == "ref":
            node = self.cell(sheet, text, first)
            tok = self.peek()
            if tok is not None and tok[1] == ":":
                self.i += 1
                kind2, text2, first2 = self.next()
                if kind2 != "ref":
                    raise Unsupported("a range that does not end in a cell")
                end = self.cell(sheet, text2, first2)
                return ("ref", sheet, min(node[2], end[2]), max(node[2], end[2]), node[4], end[4])
            return node
        if kind == "ident":
            name = self.fill(text, first)
            tok = self.peek()
            if tok is not None and tok[1] == "(":
                self.i += 1
                args: list[tuple[Any, ...]] = []
                if self.peek() is not None and self.peek()[1] == ")":
                    self.i += 1
                    return ("call", name.upper(), args)
                while True:
                    args.append(self.expr(0))
                    tok = self.next()
                    if tok[1] == ")":
                        return ("call", name.upper(), args)
                    if tok[1] != ",":
                        raise Unsupported(f"expected , or ) in {name}, found {tok[1]!r}")
            if name.upper() in ("TRUE", "FALSE"):
                return ("const", name.upper() == "TRUE")
            return ("name", name)
        raise Unsupported(f"unexpected {text!r}")

    def cell(self, sheet: str | None, text: str, first: int) -> tuple[Any, ...]:
        letters = text.replace("$", "").replace(_ATOM, "")
        col = _col_number(letters)
        row: Any = ("atom", first) if first in self.varying else int(self.atoms[first]) if self.atoms else 0
        return ("ref", sheet, col, col, row, row)
