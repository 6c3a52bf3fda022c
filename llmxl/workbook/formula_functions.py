"""The worksheet functions the evaluator supports: IF, IFERROR, INDEX, MATCH, SUM, MAX, MIN, COUNT, AND, OR,
NOT, SUMPRODUCT, ROUND, ROUNDUP, POWER, LN, LOG10, INT, ABS, SUBSTITUTE, ISNUMBER and NA (their semantics:
:mod:`.evaluate`).

``_FUNCTIONS`` is the registry the evaluator compiles calls with: each name maps to a maker that, given the
workbook (``Book``) and the call's arguments compiled (``Fn``, functions of the environment ``Env``), returns
the compiled call. Those three belong to :mod:`.evaluate` and are named here for the type checker only, so at
run time this module imports nothing but :mod:`.formula_values`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .formula_values import (
    BOOL,
    E_NA,
    E_NUM,
    E_REF,
    E_VALUE,
    ERR,
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
    to_bool,
    to_number,
    to_text,
)

if TYPE_CHECKING:
    from .evaluate import Book, Env, Fn


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


def _log10(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return np.log10(np.where(x > 0, x, 1.0)), x <= 0


def _int(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """INT: the largest whole number not above x."""
    return np.floor(x), np.zeros(x.shape, bool)


def _abs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.abs(x), np.zeros(x.shape, bool)


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
    "LOG10": _unary_number(_log10),
    "INT": _unary_number(_int),
    "ABS": _unary_number(_abs),
    "SUBSTITUTE": _f_substitute,
    "ISNUMBER": _f_isnumber,
    "NA": _f_na,
}
