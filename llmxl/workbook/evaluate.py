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
  zero), POWER, LN, SUBSTITUTE, ISNUMBER, NA and defined names.

Anything else raises :class:`Unsupported`; the workbook is then written without cached values
(its formulas recalculate on load as before), so a value is never guessed.

Speed: formulas that differ only in their numbers (the rows of a table) form one *group*,
evaluated at once over numpy arrays: a 10,000-scenario report's 300,000 formulas take well under
a second.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .formula_parser import _ATOM, _DIGITS, _Parser, _Split
from .formula_values import (
    BOOL,
    E_NA,
    E_NUM,
    E_REF,
    E_VALUE,
    EMPTY,
    ERR,
    ERRORS,
    NUM,
    TEXT,
    Ref,
    Unsupported,
    V,
    _bool_result,
    _concat,
    _mask_error,
    _merge_err,
    _Ragged,
    _round,
    _scatter,
    _text_result,
    _with_errors,
    arithmetic,
    compare,
    to_bool,
    to_number,
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


def _lazy_select(env: Env, truth: np.ndarray, err: np.ndarray | None, yes: Fn, no: Fn, book: Book) -> V:
    """IF: each branch evaluated only for the cells that take it."""
    n = env.n
    truth = np.broadcast_to(truth, (n,))
    bad = np.zeros(n, bool) if err is None else np.broadcast_to(err > 0, (n,))
    t = np.nonzero(truth & ~bad)[0]
    f = np.nonzero(~truth & ~bad)[0]
    if len(t) == n:
        return book.deref(yes(env), env)
    if len(f) == n:
        return book.deref(no(env), env)
    parts: list[tuple[np.ndarray, V]] = []
    if len(t):
        parts.append((t, book.deref(yes(env.take(t)), env.take(t)).grow(len(t))))
    if len(f):
        parts.append((f, book.deref(no(env.take(f)), env.take(f)).grow(len(f))))
    if bad.any():
        e = np.nonzero(bad)[0]
        codes = np.broadcast_to(err, (n,))[e]
        parts.append((e, V(codes.astype(float), np.full(len(e), ERR, np.int8))))
    return _scatter(n, parts)


def _f_if(book: Book, fns: list[Fn]) -> Fn:
    if len(fns) not in (2, 3):
        raise Unsupported("IF takes 2 or 3 arguments")
    cond, yes = fns[0], fns[1]
    no = fns[2] if len(fns) == 3 else (lambda env: V.const(False))

    def call(env: Env) -> V:
        truth, err = to_bool(book.deref(cond(env), env))
        return _lazy_select(env, truth, err, yes, no, book)

    return call


def _f_iferror(book: Book, fns: list[Fn]) -> Fn:
    value, fallback = fns

    def call(env: Env) -> V:
        v = book.deref(value(env), env).grow(env.n)
        if v.kind is None or not (v.kind == ERR).any():
            return v
        e = np.nonzero(v.kind == ERR)[0]
        ok = np.nonzero(v.kind != ERR)[0]
        sub = env.take(e)
        return _scatter(env.n, [(ok, v.take(ok)), (e, book.deref(fallback(sub), sub).grow(len(e)))])

    return call


def _f_index(book: Book, fns: list[Fn]) -> Fn:
    def call(env: Env) -> V:
        area = fns[0](env)
        if not isinstance(area, Ref):
            raise Unsupported("INDEX of a value that is not a range")
        if not area.fixed:
            raise _Ragged
        row_v = book.deref(fns[1](env), env).grow(env.n)
        rows, err = to_number(row_v)
        rows = np.trunc(rows)
        if len(fns) > 2:
            cols, cerr = to_number(book.deref(fns[2](env), env).grow(env.n))
            err = _merge_err(err, cerr)
            cols = np.trunc(cols)
        else:
            cols = np.ones(env.n) if area.c0 == area.c1 else np.zeros(env.n)
        height = area.r1 - area.r0 + 1
        width = area.c1 - area.c0 + 1
        code = np.zeros(env.n, np.int8) if err is None else err.copy()
        whole = rows == 0  # the whole column: the cell in the formula's own row (implicit intersection)
        target = np.where(whole, env.rows, area.r0 + rows - 1)
        code[(code == 0) & ((rows < 0) | (rows > height) | (cols < 0) | (cols > width))] = E_REF
        code[(code == 0) & whole & ((env.rows < area.r0) | (env.rows > area.r1))] = E_VALUE
        if width > 1:
            code[(code == 0) & (cols == 0)] = E_VALUE
        col_of = area.c0 + np.maximum(cols, 1).astype(int) - 1
        safe = np.where(code == 0, target, area.r0).astype(int)
        if (col_of == col_of[0]).all():
            got = book.gather(area.sheet, int(col_of[0]), safe)
        else:
            pieces = []
            for c in np.unique(col_of):
                idx = np.nonzero(col_of == c)[0]
                pieces.append((idx, book.gather(area.sheet, int(c), safe[idx])))
            got = _scatter(env.n, pieces)
        return _mask_error(got, code > 0, code)

    return call


_WILD = re.compile(r"~(.)|([*?])")


def _pattern(text: str) -> tuple[str, re.Pattern[str] | None]:
    """MATCH's wildcards: the literal text (``~`` escapes removed) and a regex when ``*`` or ``?`` are live."""
    live = False

    def sub(m: re.Match[str]) -> str:
        nonlocal live
        if m.group(1) is not None:
            return re.escape(m.group(1))
        live = True
        return ".*" if m.group(2) == "*" else "."

    parts = []
    pos = 0
    for m in _WILD.finditer(text):
        parts.append(re.escape(text[pos : m.start()]))
        parts.append(sub(m))
        pos = m.end()
    parts.append(re.escape(text[pos:]))
    literal = re.sub(r"~(.)", r"\1", text)
    return literal, (re.compile("".join(parts), re.IGNORECASE | re.DOTALL) if live else None)


def _f_match(book: Book, fns: list[Fn]) -> Fn:
    def call(env: Env) -> V:
        if len(fns) != 3:
            raise Unsupported("MATCH without a match type")
        mt = book.deref(fns[2](env), env)
        if mt.kind is not None or (mt.num != 0).any():
            raise Unsupported("MATCH other than exact (match type 0)")
        area = fns[1](env)
        if not isinstance(area, Ref):
            raise Unsupported("MATCH in a value that is not a range")
        if not area.fixed:
            raise _Ragged
        table = book.table(area)
        v = book.deref(fns[0](env), env)
        k = v.kinds()
        out = np.zeros(len(v))
        code = np.zeros(len(v), np.int8)
        cache: dict[Any, float] = {}
        for i in range(len(v)):
            if k[i] == ERR:
                code[i] = int(v.num[i])
                continue
            if k[i] == TEXT:
                key: Any = v.txt[i]
                if key not in cache:
                    literal, rx = _pattern(key)
                    if rx is None:
                        cache[key] = table.get(("t", literal.lower()), 0)
                    else:
                        texts = [(pos, t) for (kind, t), pos in table.items() if kind == "t"]
                        hits = [pos for pos, t in texts if rx.fullmatch(t)]
                        cache[key] = min(hits) if hits else 0
                pos = cache[key]
            elif k[i] in (NUM, BOOL):
                pos = table.get((int(k[i]), float(v.num[i])), 0)
            else:
                pos = 0
            if pos:
                out[i] = pos
            else:
                code[i] = E_NA
        return _with_errors(out, code)

    return call


def _aggregate(name: str) -> Callable[[Book, list[Fn]], Fn]:
    """SUM, MAX, MIN, COUNT, AND, OR: cells of ranges count when they hold numbers (AND/OR: also booleans);
    values given directly count as numbers (text that is not one: #VALUE!)."""

    def make(book: Book, fns: list[Fn]) -> Fn:
        def call(env: Env) -> V:
            n = env.n
            stacks: list[np.ndarray] = []  # (k, n) numbers; NaN where a cell does not count
            err = np.zeros(n, np.int8)
            for f in fns:
                x = f(env)
                if isinstance(x, Ref) and not x.single():
                    if x.fixed:
                        v = book.cells(x)
                        block = _counted(v, name)[:, None]
                        e = _first_error(v)
                        if e and name != "COUNT":
                            err[err == 0] = e
                        stacks.append(np.broadcast_to(block, (len(block), n)))
                        continue
                    if not _same_rows(x):
                        raise _Ragged
                    for c in range(x.c0, x.c1 + 1):
                        v = book.gather(x.sheet, c, x.r0).grow(n)
                        stacks.append(_counted(v, name)[None, :])
                        if name != "COUNT":
                            _take_errors(err, v)
                    continue
                if isinstance(x, Ref) or (env.array and isinstance(x, V) and len(x) > 1):
                    v = book.deref(x, env)
                    if env.array and len(v) > 1:
                        stacks.append(_counted(v, name)[:, None])
                        e = _first_error(v)
                        if e and name != "COUNT":
                            err[err == 0] = e
                        continue
                    v = v.grow(n)
                    stacks.append(_counted(v, name)[None, :])
                    if name != "COUNT":
                        _take_errors(err, v)
                    continue
                v = x.grow(n)
                if name == "COUNT":
                    stacks.append(np.where(v.kinds() == NUM, v.num, np.nan)[None, :])
                    continue
                if name in ("AND", "OR"):
                    truth, e = to_bool(v)
                    stacks.append(truth.astype(float)[None, :])
                else:
                    num, e = to_number(v)
                    stacks.append(np.asarray(num, float)[None, :])
                if e is not None:
                    err[err == 0] = e[err == 0]
            every = np.vstack([np.broadcast_to(s, (s.shape[0], n)) for s in stacks]) if stacks else np.empty((0, n))
            counted = ~np.isnan(every)
            with np.errstate(all="ignore"):
                if name == "SUM":
                    out = np.where(counted, every, 0).sum(axis=0)
                elif name == "COUNT":
                    out = counted.sum(axis=0).astype(float)
                elif name == "MAX":
                    out = np.where(counted.any(axis=0), np.where(counted, every, -np.inf).max(axis=0), 0.0)
                elif name == "MIN":
                    out = np.where(counted.any(axis=0), np.where(counted, every, np.inf).min(axis=0), 0.0)
                else:
                    truth = np.where(counted, every != 0, name == "AND")
                    out = (truth.all(axis=0) if name == "AND" else truth.any(axis=0)).astype(float)
                    err[(err == 0) & ~counted.any(axis=0)] = E_VALUE
                    return _bool_result(out.astype(bool), err)
            return _with_errors(out, err)

        return call

    return make


def _same_rows(x: Ref) -> bool:
    return isinstance(x.r0, np.ndarray) and isinstance(x.r1, np.ndarray) and bool((x.r0 == x.r1).all())


def _counted(v: V, name: str) -> np.ndarray:
    keep = (v.kinds() == NUM) | ((v.kinds() == BOOL) & (name in ("AND", "OR")))
    return np.where(keep, v.num, np.nan)


def _first_error(v: V) -> int:
    if v.kind is None:
        return 0
    idx = np.nonzero(v.kind == ERR)[0]
    return int(v.num[idx[0]]) if len(idx) else 0


def _take_errors(err: np.ndarray, v: V) -> None:
    if v.kind is not None:
        new = (err == 0) & (v.kind == ERR)
        err[new] = v.num[new]


def _f_sumproduct(book: Book, fns: list[Fn]) -> Fn:
    def call(env: Env) -> V:
        results = []
        for i in range(env.n):
            sub = env.take(np.array([i]), array=True)
            arrays = [book.deref(f(sub), sub) for f in fns]
            size = max(len(a) for a in arrays)
            if any(len(a) not in (1, size) for a in arrays):
                results.append(V.error(E_VALUE))
                continue
            product = np.ones(size)
            code = 0
            for a in arrays:
                a = a.grow(size)
                k = a.kinds()
                if (k == ERR).any():
                    code = code or int(a.num[np.nonzero(k == ERR)[0][0]])
                product *= np.where(k == NUM, a.num, 0.0)
            results.append(V.error(code) if code else V(np.array([product.sum()])))
        return _concat(results)

    return call


def _unary_number(fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Callable[[Book, list[Fn]], Fn]:
    def make(book: Book, fns: list[Fn]) -> Fn:
        def call(env: Env) -> V:
            num, err = to_number(book.deref(fns[0](env), env))
            out, bad = fn(num)
            code = np.where(bad, E_NUM, 0).astype(np.int8)
            return _with_errors(out, _merge_err(err, code))

        return call

    return make


def _ln(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return np.log(np.where(x > 0, x, 1.0)), x <= 0


def _f_round(up: bool) -> Callable[[Book, list[Fn]], Fn]:
    def make(book: Book, fns: list[Fn]) -> Fn:
        def call(env: Env) -> V:
            x, ex = to_number(book.deref(fns[0](env), env))
            d, ed = to_number(book.deref(fns[1](env), env))
            out = _round(x, d, up)
            return _with_errors(out, _merge_err(ex, ed))

        return call

    return make


def _f_power(book: Book, fns: list[Fn]) -> Fn:
    return lambda env: arithmetic("^", book.deref(fns[0](env), env), book.deref(fns[1](env), env))


def _f_substitute(book: Book, fns: list[Fn]) -> Fn:
    def call(env: Env) -> V:
        if len(fns) != 3:
            raise Unsupported("SUBSTITUTE with an instance number")
        texts = [to_text(book.deref(f(env), env)) for f in fns]
        n = max(len(t[0]) for t in texts)
        (a, ea), (b, eb), (c, ec) = ((np.broadcast_to(t, (n,)), e) for t, e in texts)
        err = _merge_err(_merge_err(None if ea is None else np.broadcast_to(ea, (n,)), eb), ec)
        cache: dict[tuple[str, str, str], str] = {}
        out = np.empty(n, object)
        for i in range(n):
            key = (a[i], b[i], c[i])
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = a[i] if not b[i] else a[i].replace(b[i], c[i])
            out[i] = hit
        return _text_result(out, None if err is None else np.broadcast_to(err, (n,)).copy())

    return call


def _f_not(book: Book, fns: list[Fn]) -> Fn:
    def call(env: Env) -> V:
        truth, err = to_bool(book.deref(fns[0](env), env))
        return _bool_result(~truth, err)

    return call


def _f_isnumber(book: Book, fns: list[Fn]) -> Fn:
    def call(env: Env) -> V:
        v = book.deref(fns[0](env), env)
        return _bool_result(v.kinds() == NUM, None)

    return call


def _f_na(book: Book, fns: list[Fn]) -> Fn:
    return lambda env: V.error(E_NA)


_FUNCTIONS: dict[str, Callable[[Book, list[Fn]], Fn]] = {
    "IF": _f_if,
    "IFERROR": _f_iferror,
    "INDEX": _f_index,
    "MATCH": _f_match,
    "SUM": _aggregate("SUM"),
    "MAX": _aggregate("MAX"),
    "MIN": _aggregate("MIN"),
    "COUNT": _aggregate("COUNT"),
    "AND": _aggregate("AND"),
    "OR": _aggregate("OR"),
    "NOT": _f_not,
    "SUMPRODUCT": _f_sumproduct,
    "ROUND": _f_round(False),
    "ROUNDUP": _f_round(True),
    "POWER": _f_power,
    "LN": _unary_number(_ln),
    "SUBSTITUTE": _f_substitute,
    "ISNUMBER": _f_isnumber,
    "NA": _f_na,
}


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
