"""The input checks every face shares: counts, efficiencies, prices and methods, with their limits.

Each check takes what a caller may pass (Python or numpy numbers, numeric text) and returns a clean
value, or raises :class:`InvalidInputError` / :class:`UnknownNameError` with a one-line message that
names the field, the value and the fix. No catalog, no arithmetic: these sit below everything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidInputError, UnknownNameError

__all__ = [
    "MAX_COUNT",
    "MAX_PRICE_USD",
    "METHODS",
    "MIN_EFFICIENCY",
    "as_number",
    "check_count",
    "check_efficiency",
    "check_method",
    "check_price",
]

METHODS = ("standard", "reference", "serving")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def as_number(value: Any, field: str) -> Any:
    """A Python number from a scalar, or an ndarray of float64 from an array-like."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{field} must be a number, got {value}", field=field)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidInputError(f"{field} is blank; give a number", field=field)
        try:
            return float(text)
        except ValueError:
            raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field) from None
    if value is None:
        raise InvalidInputError(f"{field} is missing; give a number", field=field)
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            raise InvalidInputError(
                f"{field} must be a number or a rectangular array of numbers", field=field
            ) from None
        if arr.dtype.kind == "b":
            raise InvalidInputError(f"{field} must hold numbers, got booleans", field=field)
        if arr.dtype.kind not in "iuf":
            try:
                arr = np.char.strip(arr.astype(str)).astype(np.float64)
            except (ValueError, TypeError):
                raise InvalidInputError(
                    f"{field} must hold numbers only; found a non-numeric entry", field=field
                ) from None
        arr = arr.astype(np.float64, copy=False)
        if arr.ndim == 0:
            return arr.item()
        if arr.size == 0:
            raise InvalidInputError(f"{field} is an empty array; give at least one number", field=field)
        return arr
    raise InvalidInputError(f"{field} must be a number, got {type(value).__name__}", field=field)


#: Largest accepted counts: beyond any real deployment, small enough that no arithmetic overflows.
MAX_COUNT = {"batch_size": 10**7, "prompt_tokens": 10**9, "completion_tokens": 10**9}
_MAX_OTHER_COUNT = 10**6  # tp, pp, concurrency and other counts
MIN_EFFICIENCY = 1e-4
MAX_PRICE_USD = 1e6


def count_message(field: str, value: Any) -> str:
    top = MAX_COUNT.get(field.split("[")[0], _MAX_OTHER_COUNT)
    return f"{field} must be a whole number from 1 to {top:,}, got {format_value(value)}"


def check_count(value: Any, field: str) -> int:
    """One whole number ≥ 1 (ints, whole floats, numeric text), else InvalidInputError naming ``field``."""
    top = MAX_COUNT.get(field, _MAX_OTHER_COUNT)
    if type(value) is int and 1 <= value <= top:
        return value
    v = as_number(value, field)
    if isinstance(v, np.ndarray):
        raise InvalidInputError(f"{field} must be a single whole number, got an array", field=field)
    if isinstance(v, float):
        if v.is_integer() and 1 <= v <= top:
            return int(v)
    elif 1 <= v <= top:
        return int(v)
    raise InvalidInputError(count_message(field, v), field=field)


def efficiency_message(field: str, value: Any) -> str:
    return f"{field} must be in [{MIN_EFFICIENCY:g}, 1], got {format_value(value)}; give a fraction of peak such as 0.7"


def check_efficiency(value: Any, field: str) -> float:
    """One fraction in [0.0001, 1], else InvalidInputError naming ``field``."""
    v = as_number(value, field)
    if isinstance(v, np.ndarray) or not MIN_EFFICIENCY <= v <= 1.0:
        raise InvalidInputError(efficiency_message(field, v), field=field)
    return float(v)


def check_price(value: Any) -> float | None:
    """A price ≥ 0 in USD per GPU-hour, or None; else InvalidInputError."""
    if value is None:
        return None
    v = as_number(value, "gpu_hour_usd")
    if isinstance(v, np.ndarray) or not 0 <= v <= MAX_PRICE_USD:
        raise InvalidInputError(price_message(v), field="gpu_hour_usd")
    return float(v)


def check_method(value: Any) -> str:
    """'serving', 'standard' or 'reference' (any case; blank means serving), else UnknownNameError."""
    if type(value) is str and (value == "standard" or value == "reference" or value == "serving"):
        return value
    if isinstance(value, str):
        m = value.strip().lower()
        if m in METHODS:
            return m
        if not m:
            return "serving"
    raise UnknownNameError(
        f"unknown method {value!r}; use 'serving' (the default; what a serving engine measures), 'standard' "
        "(llm-analysis's roofline; dense models) or 'reference' (reproduces the published table)",
        field="method",
    )


def price_message(price: Any) -> str:
    return (
        f"gpu_hour_usd must be a price from 0 to {MAX_PRICE_USD:,.0f}, got {format_value(price)}; "
        "give USD per GPU per hour such as 2.21"
    )
