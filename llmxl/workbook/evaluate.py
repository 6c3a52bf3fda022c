"""Cached values for the formulas llmxl writes: a small spreadsheet evaluator.

A workbook opened without recalculation (a file preview, pandas, Protected View, a mail
attachment) shows each formula cell's *cached* value. openpyxl writes none, so llmxl computes
them here, over the very formulas and catalog figures the file holds, and :mod:`.sheetxml` puts
them into the file as it is written. Excel and LibreOffice still recalculate on load.

The evaluator covers what llmxl's workbooks use, with Excel's semantics:

* values: numbers, text, booleans, empty cells and the errors #DIV/0!, #VALUE!, #REF!, #NUM!,
  #N/A; arithmetic on text that is not a number gives #VALUE!, on an error gives that error;
  a division by zero gives #DIV/0!, an overflow #NUM!; ``=`` and ``<>`` on numbers compare
  to 15 significant digits and on text ignore case; numbers joined with ``&`` read as in
  the General format;
* INDEX (row 0 means the formula's own row, as in a cell formula), MATCH (exact, with the
  ``* ? ~`` wildcards), IF and IFERROR (lazy, as in Excel), AND, OR, NOT, MAX, MIN, SUM,
  COUNT, SUMPRODUCT (its argument evaluated as an array), ROUND and ROUNDUP (half away from
  zero), POWER, LN, LOG10, INT, ABS, SUBSTITUTE, ISNUMBER, NA and defined names.

Anything else raises :class:`Unsupported`; the workbook is then written without cached values
(its formulas recalculate on load as before), so a value is never guessed.

Speed: formulas that differ only in their numbers (the rows of a table) form one *group*,
evaluated at once over numpy arrays: a 10,000-scenario report's 300,000 formulas take well under
a second.

This module is the entry and the evaluator proper: the workbook's cells (``Book``), the groups, the compiling
of a formula's tree into a function over numpy arrays, and the values it writes (:class:`Cache`). Its parts:
:mod:`.formula_values` (values, coercions and operators), :mod:`.formula_parser` (formula text to a tree) and
:mod:`.formula_functions` (the functions above, in a registry this module compiles calls with).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .formula_functions import _FUNCTIONS
from .formula_parser import _ATOM, _DIGITS, _Parser, _Split
from .formula_values import (
    BOOL,
    E_VALUE,
    EMPTY,
    ERR,
    ERRORS,
    NUM,
    TEXT,
    Ref,
    Unsupported,
    V,
    _concat,
    _mask_error,
    _merge_err,
    _Ragged,
    _text_result,
    arithmetic,
    compare,
    to_text,
)
from .formula_values import number_text as number_text  # public here too, as before the split

# --- the workbook ------------------------------------------------------------------------------


class _Column:
    """The cells of one column of one sheet: values (constants, and formula results once computed)."""

    __slots__ = ("group", "kind", "lo", "num", "pending", "txt")

    def __init__(self, rows: list[int], values: list[Any], formula_rows: list[int]) -> None:
        every = rows + formula_rows
        self.lo = min(every)
        size = max(every) - self.lo + 1
        self.num = np.zeros(size)
        self.kind = np.full(size, EMPTY, np.int8)
        self.txt = np.full(size, "", object)
        self.group = np.full(size, -1, np.int32)
        self.pending = 0
        for r, value in zip(rows, values, strict=True):
            i = r - self.lo
            if isinstance(value, bool):
                self.num[i], self.kind[i] = float(value), BOOL
            elif isinstance(value, (int, float)):
                self.num[i], self.kind[i] = float(value), NUM
            elif isinstance(value, str):
                self.txt[i], self.kind[i] = value, TEXT
            elif value is not None:
                raise Unsupported(f"a cell holds a {type(value).__name__}")


class _Group:
    """Formula cells of one column whose formulas differ only in their numbers (or share a pattern)."""

    __slots__ = ("args", "col", "formulas", "index", "pattern", "rows", "sheet", "state")

    def __init__(self, sheet: str, col: int, index: int, pattern: str | None = None) -> None:
        self.sheet, self.col, self.index, self.pattern = sheet, col, index, pattern
        self.rows: list[int] = []
        self.formulas: list[str] = []
        self.args: list[dict[str, int]] = []
        self.state = 0  # 0 pending, 1 computing, 2 done


class Book:
    """A workbook's cells and defined names, evaluated group by group on demand."""

    def __init__(self, wb: Any) -> None:
        self.titles = {ws.title.lower(): ws.title for ws in wb.worksheets}
        self.columns: dict[tuple[str, int], _Column] = {}
        self.groups: list[_Group] = []
        self._tables: dict[tuple[Any, ...], dict[Any, int]] = {}
        by_shape: dict[tuple[str, int, str], _Group] = {}
        for ws in wb.worksheets:
            if not hasattr(ws, "_cells"):
                continue
            title = ws.title
            constants: dict[int, tuple[list[int], list[Any]]] = {}
            formula_rows: dict[int, list[int]] = {}
            for (r, c), cell in ws._cells.items():
                value = cell._value
                if cell.data_type == "f" and isinstance(value, str):
                    pattern = getattr(value, "pattern", None)  # a Formula made from a pattern (llmxl's tables)
                    key = (title, c, _DIGITS.sub(_ATOM, value) if pattern is None else pattern)
                    group = by_shape.get(key)
                    if group is None:
                        group = by_shape[key] = _Group(title, c, len(self.groups), pattern)
                        self.groups.append(group)
                    group.rows.append(r)
                    group.formulas.append(value)
                    if pattern is not None:
                        group.args.append(value.args)
                    formula_rows.setdefault(c, []).append(r)
                elif cell.data_type == "f":
                    raise Unsupported(f"{title}!{cell.coordinate} holds an array or data-table formula")
                else:
                    rows, values = constants.setdefault(c, ([], []))
                    rows.append(r)
                    values.append(value)
            for c in set(constants) | set(formula_rows):
                rows, values = constants.get(c, ([], []))
                self.columns[(title, c)] = _Column(rows, values, formula_rows.get(c, []))
        for group in self.groups:
            column = self.columns[(group.sheet, group.col)]
            column.group[np.asarray(group.rows) - column.lo] = group.index
            column.pending += 1
        self.names: dict[str, Ref] = {}
        for name, dn in wb.defined_names.items():
            text = "=" + dn.attr_text
            node = _Parser(_DIGITS.sub(_ATOM, text), _DIGITS.findall(text), {}).parse()
            if node[0] != "ref":
                raise Unsupported(f"defined name {name} is not a reference")
            self.names[name.lower()] = _static_ref(node, self)

    def sheet(self, name: str) -> str:
        title = self.titles.get(name.lower())
        if title is None:
            raise Unsupported(f"no sheet {name}")
        return title

    # -- values of cells ---------------------------------------------------------------------

    def gather(self, sheet: str, col: int, rows: Any) -> V:
        """The values of cells (sheet, col, rows): rows an int or an array."""
        column = self.columns.get((sheet, col))
        r = np.atleast_1d(np.asarray(rows))
        if column is None:
            return V(np.zeros(len(r)), np.full(len(r), EMPTY, np.int8))
        i = r - column.lo
        inside = (i >= 0) & (i < len(column.num))
        j = np.where(inside, i, 0)
        if column.pending:
            for g in np.unique(column.group[j[inside]]):
                if g >= 0 and self.groups[g].state != 2:
                    self.compute(self.groups[g])
        kind = column.kind[j]
        if not inside.all():
            kind = np.where(inside, kind, EMPTY).astype(np.int8)
        txt = column.txt[j] if (kind == TEXT).any() else None
        return V(column.num[j], None if (kind == NUM).all() else kind, txt)

    def compute(self, group: _Group) -> None:
        if group.state == 1:
            raise Unsupported(f"a reference cycle through {group.sheet} column {group.col}")
        group.state = 1
        rows = np.asarray(group.rows)
        try:
            result = _evaluate_group(self, group)
        except _Split:
            result = None
        if result is None:  # numbers that are not rows or constants differ between cells: one by one
            values = [_evaluate_group(self, _single(group, k)) for k in range(len(rows))]
            result = _concat(values)
        result = result.grow(len(rows))
        column = self.columns[(group.sheet, group.col)]
        i = rows - column.lo
        column.num[i] = result.num
        column.kind[i] = result.kinds()
        if result.txt is not None:
            column.txt[i] = result.txt
        column.pending -= 1
        group.state = 2

    def deref(self, x: V | Ref, env: Env) -> V:
        """A value: a single cell's, or (from a range) the cell in the formula's row or column (implicit
        intersection), or in an array argument every cell of the range."""
        if isinstance(x, V):
            return x
        if x.single():
            return self.gather(x.sheet, x.c0, x.r0)
        if env.array:
            return self.cells(x)
        if not x.fixed:
            raise _Ragged
        if x.c0 == x.c1:  # a column range: the cell in the formula's own row
            rows = env.rows
            inside = (rows >= x.r0) & (rows <= x.r1)
            got = self.gather(x.sheet, x.c0, np.where(inside, rows, x.r0))
            return _mask_error(got, ~inside, E_VALUE)
        if x.r0 == x.r1:
            inside = (env.cols >= x.c0) & (env.cols <= x.c1)
            parts = [self.gather(x.sheet, c, x.r0) for c in range(x.c0, x.c1 + 1)]
            got = _concat(
                [parts[int(c) - x.c0] if ok else V.error(E_VALUE) for c, ok in zip(env.cols, inside, strict=True)]
            )
            return got
        return V.error(E_VALUE)

    def cells(self, x: Ref) -> V:
        """Every cell of a fixed range, row by row."""
        if not x.fixed:
            raise _Ragged
        rows = np.arange(x.r0, x.r1 + 1)
        if x.c0 == x.c1:
            return self.gather(x.sheet, x.c0, rows)
        parts = [self.gather(x.sheet, c, rows) for c in range(x.c0, x.c1 + 1)]
        order = np.arange(len(rows) * len(parts)).reshape(len(parts), len(rows)).T.ravel()
        return _concat(parts).take(order)

    def table(self, x: Ref) -> dict[Any, int]:
        """MATCH's index of a range: first position (from 1) of each value (text by lower case)."""
        key = (x.sheet, x.c0, x.c1, x.r0, x.r1)
        found = self._tables.get(key)
        if found is None:
            v = self.cells(x)
            found = {}
            k = v.kinds()
            for i in range(len(v) - 1, -1, -1):
                if k[i] == TEXT:
                    found[("t", v.txt[i].lower())] = i + 1
                elif k[i] in (NUM, BOOL):
                    found[(int(k[i]), float(v.num[i]))] = i + 1
            self._tables[key] = found
        return found


class Env:
    """What a group's expression is evaluated for: the cells' rows and columns, the numbers that differ
    from cell to cell (by position in the formula), and whether this is an array argument."""

    __slots__ = ("array", "atoms", "cols", "n", "rows")

    def __init__(self, rows: np.ndarray, cols: np.ndarray, atoms: dict[int, np.ndarray], array: bool = False):
        self.n, self.rows, self.cols, self.atoms, self.array = len(rows), rows, cols, atoms, array

    def take(self, idx: np.ndarray, array: bool | None = None) -> Env:
        return Env(
            self.rows[idx],
            self.cols[idx],
            {k: v[idx] for k, v in self.atoms.items()},
            self.array if array is None else array,
        )


def _static_ref(node: tuple[Any, ...], book: Book) -> Ref:
    _, sheet, c0, c1, r0, r1 = node
    if sheet is None:
        raise Unsupported("a defined name without a sheet")
    return Ref(book.sheet(sheet), c0, c1, r0, r1)


# --- compiling a tree to a function of the environment -----------------------------------------

Fn = Callable[[Env], Any]


def _compile(node: tuple[Any, ...], book: Book, sheet: str) -> Fn:
    kind = node[0]
    if kind == "const":
        value = V.const(node[1])
        return lambda env: value
    if kind == "error":
        value = V.error(node[1])
        return lambda env: value
    if kind == "atom":
        k = node[1]
        return lambda env: V(env.atoms[k].astype(float))
    if kind == "ref":
        _, ref_sheet, c0, c1, r0, r1 = node
        target = book.sheet(ref_sheet) if ref_sheet else sheet
        if not isinstance(r0, tuple) and not isinstance(r1, tuple):
            ref = Ref(target, c0, c1, r0, r1)
            return lambda env: ref

        def row(spec: Any) -> Callable[[Env], Any]:
            if isinstance(spec, tuple):
                k = spec[1]
                return lambda env: env.atoms[k]
            return lambda env: spec

        a, b = row(r0), row(r1)
        return lambda env: Ref(target, c0, c1, a(env), b(env))
    if kind == "name":
        ref = book.names.get(node[1].lower())
        if ref is None:
            raise Unsupported(f"unknown name {node[1]}")
        return lambda env: ref
    if kind == "neg":
        inner = _compile(node[1], book, sheet)
        zero = V.const(0.0)
        return lambda env: arithmetic("-", zero, book.deref(inner(env), env))
    if kind == "bin":
        _, op, left, right = node
        a, b = _compile(left, book, sheet), _compile(right, book, sheet)
        if op in ("+", "-", "*", "/", "^"):
            return lambda env: arithmetic(op, book.deref(a(env), env), book.deref(b(env), env))
        if op == "&":

            def join(env: Env) -> V:
                x, ex = to_text(book.deref(a(env), env))
                y, ey = to_text(book.deref(b(env), env))
                return _text_result(x + y, _merge_err(ex, ey))

            return join
        return lambda env: compare(op, book.deref(a(env), env), book.deref(b(env), env))
    if kind == "call":
        _, name, args = node
        impl = _FUNCTIONS.get(name)
        if impl is None:
            raise Unsupported(f"the function {name}")
        fns = [_compile(arg, book, sheet) for arg in args]
        call = impl(book, fns)

        def guarded(env: Env) -> Any:
            try:
                return call(env)
            except _Ragged:
                if env.n == 1:
                    raise Unsupported(f"{name} over a range that is not a fixed block") from None
                return _concat([book.deref(guarded(env.take(np.array([i]))), env) for i in range(env.n)])

        return guarded
    raise Unsupported(f"node {kind}")


# --- groups ---------------------------------------------------------------------------------------


def _single(group: _Group, k: int) -> _Group:
    one = _Group(group.sheet, group.col, -1)
    one.rows = [group.rows[k]]
    one.formulas = [group.formulas[k]]
    return one


_SLOT = re.compile(r"\{(\w+)\}|\d+")


@functools.lru_cache(maxsize=4096)
def _pattern_shape(pattern: str) -> tuple[str, tuple[tuple[int, str], ...], int]:
    """A pattern's shape (numbers and ``{name}`` slots as atoms), its slots by atom, and its atom count."""
    slots = []
    count = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal count
        if m.group(1):
            slots.append((count, m.group(1)))
        count += 1
        return _ATOM

    shape = _SLOT.sub(sub, pattern)
    return shape, tuple(slots), count


def _atoms(group: _Group) -> tuple[str, list[str], dict[int, np.ndarray]]:
    """The group's shape, the first cell's atoms, and the atoms that differ from cell to cell."""
    first = group.formulas[0]
    atoms = _DIGITS.findall(first)
    if group.pattern is not None:
        shape, slots, count = _pattern_shape(group.pattern)
        if count == len(atoms) and _ATOM + _ATOM not in shape:
            values = {name: np.array([a[name] for a in group.args]) for name in {name for _, name in slots}}
            return shape, atoms, {k: values[name] for k, name in slots}
    shape = _DIGITS.sub(_ATOM, first)
    varying: dict[int, np.ndarray] = {}
    if len(group.formulas) > 1 and atoms:
        columns = list(zip(*(_DIGITS.findall(f) for f in group.formulas), strict=True))
        for k, column in enumerate(columns):
            if len(set(column)) > 1:
                varying[k] = np.array([int(x) for x in column])
    return shape, atoms, varying


def _evaluate_group(book: Book, group: _Group) -> V:
    shape, atoms, varying = _atoms(group)
    node = _Parser(shape, atoms, varying).parse()
    fn = _compile(node, book, group.sheet)
    rows = np.asarray(group.rows)
    env = Env(rows, np.full(len(rows), group.col), varying)
    result = book.deref(fn(env), env).grow(len(rows))
    if result.kind is not None and (result.kind == EMPTY).any():  # a formula showing an empty cell shows 0
        kind = result.kind.copy()
        num = result.num.copy()
        num[kind == EMPTY] = 0.0
        kind[kind == EMPTY] = NUM
        result = V(num, None if not kind.any() else kind, result.txt)
    return result


# --- writing the values into the file ---------------------------------------------------------------


class Cache:
    """The computed value of every formula cell of a workbook, as the .xlsx cell type and text to write."""

    def __init__(self, book: Book) -> None:
        self.book = book

    def rendered(self, sheet: str, col: int) -> tuple[int, list[tuple[str, str] | None]]:
        """One column's formula cells as (first row, per row: the cell's type attribute and its ``<v>`` text,
        XML-escaped; None where the row holds no formula)."""
        column = self.book.columns.get((sheet, col))
        if column is None:
            return 0, []
        out: list[tuple[str, str] | None] = [None] * len(column.num)
        idx = np.nonzero(column.group >= 0)[0]
        kinds = column.kind[idx].tolist()
        numbers = column.num[idx].tolist()
        texts = column.txt[idx].tolist()
        for i, k, x, t in zip(idx.tolist(), kinds, numbers, texts, strict=True):
            if k == NUM:
                out[i] = ("", repr(x))
            elif k == TEXT:
                out[i] = (' t="str"', t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
            elif k == BOOL:
                out[i] = (' t="b"', "1" if x else "0")
            elif k == ERR:
                out[i] = (' t="e"', ERRORS[int(x)])
        return column.lo, out


def evaluate(wb: Any) -> Cache:
    """Compute every formula cell of an openpyxl workbook (raises :class:`Unsupported` when it cannot)."""
    book = Book(wb)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        for group in book.groups:
            if group.state != 2:
                book.compute(group)
    finally:
        sys.setrecursionlimit(limit)
    return Cache(book)
