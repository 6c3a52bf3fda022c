"""The values of formula expressions and Excel's operators on them: the evaluator's value model.

An expression of a group of formula cells (see :mod:`.evaluate`) evaluates to a :class:`V`, its values for
every cell as numpy arrays (numbers, text, booleans, empty cells and the error codes of :data:`ERRORS`), or
to a :class:`Ref`, a reference the evaluator reads. This module owns those two, the coercions Excel applies
(``to_number``, ``to_text`` with :func:`number_text`, ``to_bool``), the operators (``compare``,
``arithmetic``, ``^``, and the rounding of ROUND and ROUNDUP), how the values of parts of a group are put
back together, and the exceptions every part of the evaluator raises (:class:`Unsupported`, ``_Ragged``).
It imports nothing of the evaluator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# --- values -----------------------------------------------------------------------------------

NUM, TEXT, BOOL, ERR, EMPTY = 0, 1, 2, 3, 4
ERRORS = {1: "#NULL!", 2: "#DIV/0!", 3: "#VALUE!", 4: "#REF!", 5: "#NAME?", 6: "#NUM!", 7: "#N/A"}
E_DIV0, E_VALUE, E_REF, E_NUM, E_NA = 2, 3, 4, 6, 7
_EPS = 2.0**-48  # relative difference below which two numbers compare equal (15 significant digits)


class Unsupported(Exception):
    """A formula uses something this evaluator does not implement (or a reference cycle)."""


class _Ragged(Exception):
    """A range whose size differs from cell to cell of a group: evaluate cell by cell."""


class V:
    """Values of one expression for every cell of a group (length n) or for all of them (length 1).

    ``num`` holds numbers (booleans as 1/0, error codes for errors); ``kind`` is None when every
    value is a number, else the kind of each; ``txt`` holds the text where ``kind`` is TEXT.
    """

    __slots__ = ("kind", "num", "txt")

    def __init__(self, num: np.ndarray, kind: np.ndarray | None = None, txt: np.ndarray | None = None) -> None:
        self.num, self.kind, self.txt = num, kind, txt

    def __len__(self) -> int:
        return len(self.num)

    @staticmethod
    def const(value: Any) -> V:
        if isinstance(value, bool):
            return V(np.array([float(value)]), np.array([BOOL], np.int8))
        if isinstance(value, (int, float)):
            return V(np.array([float(value)]))
        if isinstance(value, str):
            return V(np.zeros(1), np.array([TEXT], np.int8), np.array([value], object))
        if value is None:
            return V(np.zeros(1), np.array([EMPTY], np.int8))
        raise Unsupported(f"a cell holds a {type(value).__name__}")

    @staticmethod
    def error(code: int, n: int = 1) -> V:
        return V(np.full(n, float(code)), np.full(n, ERR, np.int8))

    def kinds(self) -> np.ndarray:
        return np.zeros(len(self.num), np.int8) if self.kind is None else self.kind

    def texts(self) -> np.ndarray:
        return np.full(len(self.num), "", object) if self.txt is None else self.txt

    def take(self, idx: np.ndarray) -> V:
        if len(self.num) == 1:
            return self
        return V(
            self.num[idx],
            None if self.kind is None else self.kind[idx],
            None if self.txt is None else self.txt[idx],
        )

    def grow(self, n: int) -> V:
        """This value broadcast to length n."""
        if len(self.num) == n:
            return self
        return V(
            np.repeat(self.num, n),
            None if self.kind is None else np.repeat(self.kind, n),
            None if self.txt is None else np.repeat(self.txt, n),
        )


def _with_errors(num: np.ndarray, err: np.ndarray | None) -> V:
    """Numbers, with error codes where ``err`` is non-zero."""
    if err is None or not err.any():
        return V(num)
    num = np.where(err > 0, err.astype(float), num)
    return V(num, np.where(err > 0, ERR, NUM).astype(np.int8))


def _merge_err(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return np.where(a > 0, a, b)


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if np.isfinite(value) and text.strip().lower() not in ("nan", "inf", "-inf", "infinity") else None


def to_number(v: V) -> tuple[np.ndarray, np.ndarray | None]:
    """Numbers for arithmetic, and error codes (None when there are none)."""
    if v.kind is None:
        return v.num, None
    num = v.num.copy()
    err = np.zeros(len(num), np.int8)
    k = v.kind
    err[k == ERR] = v.num[k == ERR]
    num[k == EMPTY] = 0.0
    for i in np.nonzero(k == TEXT)[0]:
        parsed = _parse_number(v.txt[i])
        if parsed is None:
            err[i] = E_VALUE
        else:
            num[i] = parsed
    return num, (err if err.any() else None)


def number_text(x: float) -> str:
    """A number as the General format shows it when text is joined to it (up to 15 significant digits)."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    s = f"{x:.15g}"
    if "e" in s:
        mantissa, exponent = s.split("e")
        e = int(exponent)
        if -10 <= e < 0:  # small numbers read positionally (0.00001), to 15 significant digits
            return f"{x:.{14 - e}f}".rstrip("0").rstrip(".")
        return f"{mantissa}E{'+' if e >= 0 else '-'}{abs(e):02d}"
    return s


def to_text(v: V) -> tuple[np.ndarray, np.ndarray | None]:
    """Text for ``&`` and text functions, and error codes."""
    k = v.kinds()
    out = np.empty(len(v.num), object)
    err = None
    for i in range(len(out)):
        ki = k[i]
        if ki == TEXT:
            out[i] = v.txt[i]
        elif ki == NUM:
            out[i] = number_text(float(v.num[i]))
        elif ki == BOOL:
            out[i] = "TRUE" if v.num[i] else "FALSE"
        elif ki == EMPTY:
            out[i] = ""
        else:
            if err is None:
                err = np.zeros(len(out), np.int8)
            err[i] = int(v.num[i])
            out[i] = ""
    return out, err


def _text_result(out: np.ndarray, err: np.ndarray | None) -> V:
    if err is not None:
        err = np.broadcast_to(err, out.shape)
    kind = np.full(len(out), TEXT, np.int8)
    num = np.zeros(len(out))
    if err is not None and err.any():
        kind[err > 0] = ERR
        num[err > 0] = err[err > 0]
    return V(num, kind, out)


def to_bool(v: V) -> tuple[np.ndarray, np.ndarray | None]:
    """Truth values for IF, AND, OR and NOT, and error codes (text that is not TRUE/FALSE: #VALUE!)."""
    if v.kind is None:
        return v.num != 0, None
    truth = v.num != 0
    err = np.zeros(len(truth), np.int8)
    k = v.kind
    err[k == ERR] = v.num[k == ERR]
    truth[k == EMPTY] = False
    for i in np.nonzero(k == TEXT)[0]:
        word = v.txt[i].strip().upper()
        if word in ("TRUE", "FALSE"):
            truth[i] = word == "TRUE"
        else:
            err[i] = E_VALUE
    return truth, (err if err.any() else None)


def _bool_result(truth: np.ndarray, err: np.ndarray | None) -> V:
    v = V(truth.astype(float), np.full(len(truth), BOOL, np.int8))
    if err is not None and err.any():
        v.num[err > 0] = err[err > 0]
        v.kind[err > 0] = ERR
    return v


def _approx_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        d = np.abs(a - b)
        return (a == b) | ((d < np.abs(a) * _EPS) & (d < np.abs(b) * _EPS))


_ORDER = {NUM: 0, TEXT: 1, BOOL: 2}


def compare(op: str, a: V, b: V) -> V:
    n = max(len(a), len(b))
    a, b = a.grow(n), b.grow(n)
    if a.kind is None and b.kind is None:
        x, y = a.num, b.num
        eq = _approx_equal(x, y)
        result = {"=": eq, "<>": ~eq, "<": (x < y) & ~eq, ">": (x > y) & ~eq, "<=": (x < y) | eq, ">=": (x > y) | eq}
        return _bool_result(result[op], None)
    ka, kb = a.kinds(), b.kinds()
    ta, tb = a.texts(), b.texts()
    truth = np.zeros(n, bool)
    err = np.zeros(n, np.int8)
    for i in range(n):
        ki, kj = int(ka[i]), int(kb[i])
        if ki == ERR or kj == ERR:
            err[i] = int(a.num[i]) if ki == ERR else int(b.num[i])
            continue
        if ki == EMPTY:  # an empty cell compares as 0, "" or FALSE, whatever it is compared with
            ki = NUM if kj in (NUM, EMPTY) else kj
            x: Any = 0.0 if ki != TEXT else ""
        else:
            x = ta[i].lower() if ki == TEXT else float(a.num[i])
        if kj == EMPTY:
            kj = NUM if ki == NUM else ki
            y: Any = 0.0 if kj != TEXT else ""
        else:
            y = tb[i].lower() if kj == TEXT else float(b.num[i])
        if ki != kj:
            c = (_ORDER[ki] > _ORDER[kj]) - (_ORDER[ki] < _ORDER[kj])
        elif ki == TEXT:
            c = (x > y) - (x < y)
        else:
            c = 0 if bool(_approx_equal(np.array(x), np.array(y))) else (x > y) - (x < y)
        truth[i] = {"=": c == 0, "<>": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]
    return _bool_result(truth, err if err.any() else None)


def arithmetic(op: str, a: V, b: V) -> V:
    x, ea = to_number(a)
    y, eb = to_number(b)
    with np.errstate(all="ignore"):
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            r = x / y
        else:
            return _power(x, y, _merge_err(ea, eb))
    err = _merge_err(ea, eb)
    bad = ~np.isfinite(r)
    if op == "/":
        zero = np.broadcast_to(y == 0, r.shape)
        if zero.any():
            err = np.where(zero, E_DIV0, 0).astype(np.int8) if err is None else np.where(err > 0, err, E_DIV0 * zero)
            bad = bad & ~zero
    if bad.any():
        err = np.where(bad, E_NUM, 0).astype(np.int8) if err is None else np.where(err > 0, err, E_NUM * bad)
    if err is not None and err.shape != r.shape:
        err = np.broadcast_to(err, r.shape)
    return _with_errors(r, None if err is None else err.astype(np.int8))


def _power(x: np.ndarray, y: np.ndarray, err: np.ndarray | None) -> V:
    with np.errstate(all="ignore"):
        r = np.power(x, y)
    x, y = np.broadcast_arrays(x, y)
    code = np.zeros(r.shape, np.int8)
    code[(x == 0) & (y < 0)] = E_DIV0
    code[(x == 0) & (y == 0)] = E_NUM
    code[(code == 0) & ~np.isfinite(r)] = E_NUM
    if err is not None:
        code = np.where(np.broadcast_to(err, r.shape) > 0, np.broadcast_to(err, r.shape), code).astype(np.int8)
    return _with_errors(r, code)


def _round(x: np.ndarray, digits: np.ndarray, up: bool) -> np.ndarray:
    """ROUND / ROUNDUP: half away from zero (ROUND) or away from zero (ROUNDUP), after snapping a product
    that is a 15-digit whole or half number to it, so 2.675 rounds to 2.68 as in a spreadsheet."""
    d = np.trunc(digits)
    with np.errstate(all="ignore"):
        p = np.power(10.0, d)
        y = np.abs(x) * p
        if up:
            near = np.round(y)
            y = np.where(np.abs(y - near) <= y * _EPS, near, y)
            r = np.ceil(y)
        else:
            y = y + 0.5
            near = np.round(y)
            y = np.where(np.abs(y - near) <= y * _EPS, near, y)
            r = np.floor(y)
        return np.sign(x) * r / p


def _mask_error(v: V, mask: np.ndarray, code: int | np.ndarray) -> V:
    """``v`` with the error ``code`` (one, or one per cell) where ``mask`` is set."""
    if not mask.any():
        return v
    kind = v.kinds().copy()
    num = v.num.copy()
    kind[mask] = ERR
    num[mask] = np.broadcast_to(code, num.shape)[mask]
    return V(num, kind, v.txt)


def _concat(values: list[V]) -> V:
    num = np.concatenate([v.num for v in values])
    if all(v.kind is None for v in values):
        return V(num)
    kind = np.concatenate([v.kinds() for v in values])
    txt = np.concatenate([v.texts() for v in values]) if any(v.txt is not None for v in values) else None
    return V(num, kind, txt)


def _scatter(n: int, parts: list[tuple[np.ndarray, V]]) -> V:
    num = np.zeros(n)
    kind = np.zeros(n, np.int8)
    txt = None
    for idx, v in parts:
        num[idx] = v.num
        if v.kind is not None:
            kind[idx] = v.kind
        if v.txt is not None:
            if txt is None:
                txt = np.full(n, "", object)
            txt[idx] = v.txt
    return V(num, None if not kind.any() else kind, txt)


# --- references -------------------------------------------------------------------------------


class Ref:
    """A reference: sheet, columns c0..c1 and rows r0..r1 (ints, or an array per cell of the group)."""

    __slots__ = ("c0", "c1", "r0", "r1", "sheet")

    def __init__(self, sheet: str, c0: int, c1: int, r0: Any, r1: Any) -> None:
        self.sheet, self.c0, self.c1 = sheet, c0, c1
        self.r0, self.r1 = _fixed(r0), _fixed(r1)

    @property
    def fixed(self) -> bool:
        return isinstance(self.r0, int) and isinstance(self.r1, int)

    def single(self) -> bool:
        return self.c0 == self.c1 and (self.r0 is self.r1 or (self.fixed and self.r0 == self.r1))


def _fixed(r: Any) -> Any:
    if isinstance(r, np.ndarray):
        if r.size == 1 or (r == r[0]).all():
            return int(r[0])
        return r
    return int(r)
