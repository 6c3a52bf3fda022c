"""Excel's conventions, shared by every llmxl function: reading cells, writing results, the help texts.

Excel hands over floats for whole numbers, None for blank cells, text with stray
spaces and ranges as lists of rows; these helpers turn them into arguments for
the library, and a failure into the one-line text the cell shows.
"""

from __future__ import annotations

import datetime as _dt
import math

from llmxl import InvalidInputError
from llmxl.checks import number
from llmxl.errors import cell_text
from llmxl.estimate import DEFAULTS as _DEFAULTS

CATEGORY = "llmxl"
_GIB = 1024**3
#: What Excel shows for an error value; xlwings hands such a cell over as this text (err_to_str).
EXCEL_ERRORS = frozenset(
    {"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!", "#CALC!", "#GETTING_DATA"}
)


def xl_arg(name: str, **options):
    """xlwings' ``arg`` decorator, with error cells handed over as their text (#N/A ...), never as blanks.

    xlwings would otherwise turn an error cell into None, which reads as "use the default": an
    error in the price cell silently became the catalog price.
    """
    import xlwings as xw

    return xw.arg(name, err_to_str=True, **options)


def _refuse_error(value, field: str) -> None:
    if isinstance(value, str) and value.strip().upper() in EXCEL_ERRORS:
        raise InvalidInputError(
            f"{field} points at a cell showing {value.strip().upper()}; fix that cell (an error is never read as "
            "a blank or a default)",
            field=field,
        )


_DOCS = {
    "model": 'Model name from LLM_MODELS(), e.g. "llama-2-70b", or a config.json path.',
    "gpu": 'GPU name from LLM_GPUS(), e.g. "a100-sxm-80gb".',
    "batch_size": "Sequences served together (whole number ≥ 1); a cell or a range.",
    "prompt_tokens": "Tokens in each prompt (whole number ≥ 1); a cell or a range.",
    "completion_tokens": "Tokens generated for each sequence (whole number ≥ 1); a cell or a range.",
    "tp": "Optional. Tensor-parallel GPUs; must divide the attention heads. Default 1.",
    "gpu_hour_usd": "Optional. USD per GPU per hour. Default: the catalog price of the GPU.",
    "flops_efficiency": "Optional. Fraction of peak compute achieved, in (0, 1]. "
    "Default: the method's (serving: the fitted value; standard and reference: 0.7).",
    "hbm_efficiency": "Optional. Fraction of peak memory bandwidth achieved, in (0, 1]. "
    "Default: the method's (serving: the fitted value; standard and reference: 0.9).",
    "dtype": 'Optional. Precision such as "bf16", "fp8", "fp8-kv16", "int4-awq", "mxfp4", "nvfp4". '
    "Default: the precision the model's weights are published in (mxfp4 for gpt-oss, fp8 for DeepSeek-V3, bf16 "
    "for most).",
    "method": 'Optional. "serving" (default; what a serving engine measures; any model), "standard" '
    '(llm-analysis; dense models) or "reference" (reproduces the published Llama-2-70B table).',
    "pp": "Optional. Pipeline-parallel stages. Default 1.",
    "dp": "Optional. Attention data-parallel ranks of tp GPUs each (mixture-of-experts models): a replica is "
    "tp × dp × pp GPUs, each rank holding batch / dp sequences. Default 1.",
    "ep": "Optional. Expert-parallel ranks: 1 (experts tensor-parallel) or tp × dp (whole experts per GPU, "
    "an all-to-all of the routed tokens). Default: tp × dp when dp > 1, else 1.",
    "redundant_experts": "Optional. Routed experts placed twice so that experts + these divide by ep (EPLB). "
    "Default 0.",
    "speculative": 'Optional. Speculative decoding: "mtp", "eagle3" or "ngram", with settings after a colon '
    '("eagle3:num_speculative_tokens=3,acceptance_rate=0.7"; k= and acceptance= for short). Default: none.',
    "prefix_cache_hit": "Optional. Fraction of each prompt's tokens served from the engine's prefix cache, in "
    "[0, 1) (serving method): prefill computes the rest. Default 0.",
}


def _text(value, field: str, default=None):
    """A name argument: trimmed text, default when blank."""
    _refuse_error(value, field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise InvalidInputError(f"{field} is blank; give a name from LLM_{field.upper()}S()", field=field)
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _optional_text(value, field: str):
    """An optional name argument: trimmed text, or None when blank (the library's default then applies)."""
    _refuse_error(value, field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _text(value, field)


def cap_text(value):
    """A cell's value, or every cell of a spilled table, with text within Excel's 32,767 characters."""
    if isinstance(value, str):
        return cell_text(value)
    if isinstance(value, list):
        return [cap_text(v) for v in value]
    return value


def given(**kwargs) -> dict:
    """The keyword arguments whose cells are not blank: a blank leaves the library's own default in force."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _cell_number(value, field: str):
    """One cell -> float, or None for a blank; raises InvalidInputError for anything else."""
    _refuse_error(value, field)
    t = type(value)
    if t is float or t is int:
        return float(value)
    if value is None:
        return None
    if t is str:
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field) from None
    if t is bool:
        raise InvalidInputError(f"{field} must be a number, got {str(value).upper()}", field=field)
    if isinstance(value, (_dt.date, _dt.datetime)):
        raise InvalidInputError(f"{field} must be a number, got a date", field=field)
    if isinstance(value, list):
        cells = sum(len(r) if isinstance(r, list) else 1 for r in value)
        raise InvalidInputError(f"{field} must be a single cell, got a range of {cells:,} cells", field=field)
    return float(number(value, field))  # numpy numbers and Decimals from Python callers; the rest refused


def _scalar_arg(value, field: str):
    """A single-valued optional argument (tp, pp): number, default when blank."""
    if isinstance(value, list):  # ndim=2 never applies to these, but a range may still arrive
        if len(value) == 1 and isinstance(value[0], list) and len(value[0]) == 1:
            value = value[0][0]
        else:
            raise InvalidInputError(f"{field} must be a single cell, got a range", field=field)
    number = _cell_number(value, field)
    return _DEFAULTS[field] if number is None else number


def _grid(value):
    """ndim=2 arguments arrive as lists of rows; anything else is a single cell."""
    if isinstance(value, list):
        return value
    return [[value]]


def _workload(args: dict, defaults: dict, range_args: tuple, required: tuple):
    """Parse the range-capable arguments.

    Returns (kwargs for estimate, shape or None when every argument is one cell,
    {(row, col): error} for cells that cannot be read). Blank optional cells take
    their default (NaN for a price the catalog lacks); a blank required cell is an error.
    """
    import numpy as np

    grids = {k: _grid(args[k]) for k in range_args}
    shapes = {}
    for k, g in grids.items():
        widths = set(map(len, g))
        if len(widths) != 1 or 0 in widths:  # xlwings' ndim=2 gives rectangles; Python callers may not
            raise InvalidInputError(f"{k} must be a cell or a rectangular range", field=k)
        shapes[k] = (len(g), widths.pop())
    multi = {k: s for k, s in shapes.items() if s != (1, 1)}
    kwargs: dict = {}
    for k in range_args:
        if shapes[k] != (1, 1):
            continue
        number = _cell_number(grids[k][0][0], k)
        if number is None:
            if k in required:
                raise InvalidInputError(f"{k} is blank; give a whole number ≥ 1", field=k)
            number = defaults[k]
        elif k in required and number.is_integer():
            number = int(number)
        kwargs[k] = number
    if not multi:
        return kwargs, None, {}
    try:
        shape = np.broadcast_shapes(*multi.values())
    except ValueError:
        sizes = ", ".join(f"{k} {r}×{c}" for k, (r, c) in multi.items())
        raise InvalidInputError(
            f"ranges differ in shape ({sizes}); give ranges of one shape", field=next(iter(multi))
        ) from None
    errors: dict = {}
    for k, (rows, cols) in multi.items():
        flat = [c for r in grids[k] for c in r]
        if set(map(type, flat)) == {float}:  # the usual range of numbers: no cell needs a look
            kwargs[k] = np.array(flat).reshape(rows, cols)
            continue
        arr = np.empty((rows, cols), dtype=float)
        blank = defaults.get(k)
        for i, row in enumerate(grids[k]):
            for j, cell in enumerate(row):
                t = type(cell)
                if t is float or t is int:
                    arr[i, j] = cell
                    continue
                try:
                    number = _cell_number(cell, k)
                    if number is None:
                        if k in required:
                            raise InvalidInputError(f"{k} is blank; give a whole number ≥ 1", field=k)
                        number = math.nan if blank is None else blank
                except InvalidInputError as exc:
                    for cell_ij in _cells(i, j, (rows, cols), shape):
                        errors.setdefault(cell_ij, exc)
                    number = 1.0  # any valid value: the cell shows the error
                arr[i, j] = number
        kwargs[k] = arr
    return kwargs, shape, errors


def _cells(i: int, j: int, own: tuple, shape: tuple):
    """The output cells one input cell feeds (more than one when it broadcasts)."""
    rows = range(shape[0]) if own[0] == 1 else (i,)
    cols = range(shape[1]) if own[1] == 1 else (j,)
    return tuple((r, c) for r in rows for c in cols)


def _rows(values) -> list:
    """A 2-D array as Excel's list of rows (faster than ndarray.tolist for long columns)."""
    flat = values.ravel().tolist()
    cols = values.shape[1]
    if cols == 1:
        return [[v] for v in flat]
    return [flat[i : i + cols] for i in range(0, len(flat), cols)]
