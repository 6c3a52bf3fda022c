"""llmxl's Excel functions, for xlwings (Windows desktop Excel) and xlwings Lite.

Each function is a thin wrapper: it turns what Excel hands over (floats for
whole numbers, None for blank cells, text with stray spaces, ranges as lists
of rows) into arguments for :func:`llmxl.estimate` and turns the answer back
into cells. A range given for batch_size, prompt_tokens, completion_tokens,
gpu_hour_usd or an efficiency returns an array of its shape, computed in one
vectorised call; a bad row shows its own message in its own cell.

Errors never show a traceback: the cell reads the Excel error kind and one
line, e.g. ``#VALUE! batch_size must be a whole number ≥ 1, got 2.5``.
"""

from __future__ import annotations

import datetime as _dt
import math

import xlwings as xw

import llmxl
from llmxl import InvalidInputError, LlmxlError, catalog
from llmxl.estimate import DEFAULTS as _DEFAULTS
from llmxl.estimate import check_method, default_efficiencies

__all__ = [
    "LLM_COMPLETION_TIME",
    "LLM_DTYPES",
    "LLM_ESTIMATE",
    "LLM_GPUS",
    "LLM_GPU_INFO",
    "LLM_KV_CACHE_GIB",
    "LLM_LATENCY",
    "LLM_MAX_BATCH",
    "LLM_MODELS",
    "LLM_MODEL_INFO",
    "LLM_PRICE_COMPLETION",
    "LLM_PRICE_PROMPT",
    "LLM_TOKENS_PER_SEC",
    "LLM_TPOT",
    "LLM_TTFT",
    "LLM_VERSION",
    "LLM_WEIGHTS_GIB",
]

CATEGORY = "llmxl"
_GIB = 1024**3
# Workload arguments that may be ranges, with the value a blank cell stands for.
_RANGE_ARGS = ("batch_size", "prompt_tokens", "completion_tokens", "gpu_hour_usd", "flops_efficiency", "hbm_efficiency")
_REQUIRED = ("batch_size", "prompt_tokens", "completion_tokens")

_DOCS = {
    "model": 'Model name from LLM_MODELS(), e.g. "llama-2-70b", or a config.json path.',
    "gpu": 'GPU name from LLM_GPUS(), e.g. "a100-sxm-80gb".',
    "batch_size": "Sequences served together (whole number ≥ 1); a cell or a range.",
    "prompt_tokens": "Tokens in each prompt (whole number ≥ 1); a cell or a range.",
    "completion_tokens": "Tokens generated for each sequence (whole number ≥ 1); a cell or a range.",
    "tp": "Optional. Tensor-parallel GPUs; must divide the attention heads. Default 1.",
    "gpu_hour_usd": "Optional. USD per GPU per hour. Default: the catalog price of the GPU.",
    "flops_efficiency": "Optional. Fraction of peak compute achieved, in (0, 1]. "
    "Default: the method's (0.7; for serving the GPU's fitted value).",
    "hbm_efficiency": "Optional. Fraction of peak memory bandwidth achieved, in (0, 1]. "
    "Default: the method's (0.9; for serving the GPU's fitted value).",
    "dtype": 'Optional. Precision such as "bf16", "fp8", "fp8-kv16", "int4-awq", "mxfp4", "nvfp4". '
    "Default w16a16e16.",
    "method": 'Optional. "standard" (default; dense models), "serving" (what a serving engine measures; '
    'MoE, MLA, windows) or "reference" (reproduces the published Llama-2-70B table).',
    "pp": "Optional. Pipeline-parallel stages. Default 1.",
}
_ORDER = (
    "model",
    "gpu",
    "batch_size",
    "prompt_tokens",
    "completion_tokens",
    "tp",
    "gpu_hour_usd",
    "flops_efficiency",
    "hbm_efficiency",
    "dtype",
    "method",
    "pp",
)


def _scenario_function(name: str, doc: str, pick, *, one_scenario: bool = False):
    """Make one Excel function of the shared scenario signature.

    Every scenario function has the same arguments, so they are built here from one
    definition; xlwings reads the real signature of ``udf``. ``pick(estimate)`` gives
    the cell value(s); ``one_scenario`` refuses ranges (for spills).
    """

    def udf(
        model,
        gpu,
        batch_size,
        prompt_tokens,
        completion_tokens,
        tp=None,
        gpu_hour_usd=None,
        flops_efficiency=None,
        hbm_efficiency=None,
        dtype=None,
        method=None,
        pp=None,
    ):
        args = locals()
        if one_scenario:
            for arg in _RANGE_ARGS:
                grid = _grid(args[arg])
                if len(grid) != 1 or len(grid[0]) != 1:
                    return InvalidInputError(
                        f"{name} takes one scenario, but {arg} is a range; use LLM_TTFT and the other "
                        "single-result functions for ranges",
                        field=arg,
                    ).excel_text()
        return _run(args, pick)

    udf.__name__ = udf.__qualname__ = name
    udf.__doc__ = doc  # before the first decorator: xlwings reads the description then
    for arg in reversed(_ORDER):
        options = {"ndim": 2} if arg in _RANGE_ARGS else {}
        udf = xw.arg(arg, doc=_DOCS[arg], **options)(udf)
    return xw.func(category=CATEGORY)(udf)  # outermost, or xlwings resets the category


# ---------------------------------------------------------------------------
# Excel values -> Python


def _text(value, field: str, default=None):
    """A name argument: trimmed text, default when blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise InvalidInputError(f"{field} is blank; give a name from LLM_{field.upper()}S()", field=field)
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _cell_number(value, field: str):
    """One cell -> float, or None for a blank; raises InvalidInputError for anything else."""
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
    if isinstance(value, (int, float)):  # numpy numbers, from Python callers
        return float(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        raise InvalidInputError(f"{field} must be a number, got a date", field=field)
    raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field)


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


def _workload(args: dict, defaults: dict):
    """Parse the range-capable arguments.

    Returns (kwargs for estimate, shape or None when every argument is one cell,
    {(row, col): error} for cells that cannot be read). Blank optional cells take
    their default (NaN for a price the catalog lacks); a blank required cell is an error.
    """
    import numpy as np

    grids = {k: _grid(args[k]) for k in _RANGE_ARGS}
    shapes = {}
    for k, g in grids.items():
        widths = set(map(len, g))
        if len(widths) != 1 or 0 in widths:  # xlwings' ndim=2 gives rectangles; Python callers may not
            raise InvalidInputError(f"{k} must be a cell or a rectangular range", field=k)
        shapes[k] = (len(g), widths.pop())
    multi = {k: s for k, s in shapes.items() if s != (1, 1)}
    kwargs: dict = {}
    for k in _RANGE_ARGS:
        if shapes[k] != (1, 1):
            continue
        number = _cell_number(grids[k][0][0], k)
        if number is None:
            if k in _REQUIRED:
                raise InvalidInputError(f"{k} is blank; give a whole number ≥ 1", field=k)
            number = defaults[k]
        elif k in _REQUIRED and number.is_integer():
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
                        if k in _REQUIRED:
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


# ---------------------------------------------------------------------------
# Python -> Excel values


def _no_price(gpu: str) -> str:
    return f"#N/A no price for gpu {gpu!r}; give gpu_hour_usd"


def _run(args: dict, pick):
    """Evaluate one scenario function: ``pick(estimate)`` gives the value(s); errors become text."""
    import numpy as np

    try:
        model = _text(args["model"], "model")
        gpu = catalog.get_gpu(_text(args["gpu"], "gpu"))
        common = dict(
            tp=_scalar_arg(args["tp"], "tp"),
            pp=_scalar_arg(args["pp"], "pp"),
            dtype=_text(args["dtype"], "dtype", _DEFAULTS["dtype"]),
            method=_text(args["method"], "method", _DEFAULTS["method"]),
        )
        fe, he = default_efficiencies(gpu, check_method(common["method"]))
        defaults = {**_DEFAULTS, "gpu_hour_usd": gpu.usd_per_hour, "flops_efficiency": fe, "hbm_efficiency": he}
        workload, shape, cell_errors = _workload(args, defaults)
        if shape is None:
            value = pick(llmxl.estimate(model, gpu, **common, **workload))
            return _no_price(gpu.id) if value is None else value
        no_price = None
        price = workload.get("gpu_hour_usd")
        if isinstance(price, np.ndarray) and np.isnan(price).any():
            no_price = np.broadcast_to(np.isnan(price), shape)
            workload["gpu_hour_usd"] = np.where(np.isnan(price), 0.0, price)
        e = llmxl.estimate(model, gpu, on_error="nan", **common, **workload)
    except LlmxlError as exc:
        return exc.excel_text()
    values = pick(e)
    if values is None:
        return [[_no_price(gpu.id)] * shape[1] for _ in range(shape[0])]
    out = _rows(np.broadcast_to(values, shape))
    if no_price is not None and _is_price(pick):
        for i, j in zip(*np.nonzero(no_price), strict=True):
            out[i][j] = _no_price(gpu.id)
    failed = e.errors
    if failed is not None:
        for i, j in zip(*np.nonzero(failed != None), strict=True):  # noqa: E711 - element-wise
            out[i][j] = failed[i, j].excel_text()
    for (i, j), exc in cell_errors.items():
        out[i][j] = exc.excel_text()
    return out


def _rows(values) -> list:
    """A 2-D array as Excel's list of rows (faster than ndarray.tolist for long columns)."""
    flat = values.ravel().tolist()
    cols = values.shape[1]
    if cols == 1:
        return [[v] for v in flat]
    return [flat[i : i + cols] for i in range(0, len(flat), cols)]


def _is_price(pick) -> bool:
    return getattr(pick, "is_price", False)


def _price(attr):
    def pick(e):
        return getattr(e, attr)

    pick.is_price = True
    return pick


def _attr(attr, scale=1.0):
    if scale == 1.0:
        return lambda e: getattr(e, attr)
    return lambda e: getattr(e, attr) / scale


# ---------------------------------------------------------------------------
# Scenario functions: one signature, so a formula can be copied and renamed.

_SPILL = (
    ("Time to first token [s]", "ttft_s", 1.0),
    ("Time per output token [s]", "tpot_s", 1.0),
    ("Time for completion [s]", "completion_time_s", 1.0),
    ("End-to-end latency [s]", "e2e_latency_s", 1.0),
    ("Tokens/second [tokens/s]", "tokens_per_s", 1.0),
    ("Prefill tokens/second [tokens/s]", "prefill_tokens_per_s", 1.0),
    ("Decode tokens/second [tokens/s]", "decode_tokens_per_s", 1.0),
    ("Price per 1k prompt tokens [USD]", "usd_per_1k_prompt_tokens", 1.0),
    ("Price per 1k completion tokens [USD]", "usd_per_1k_completion_tokens", 1.0),
    ("Weights per GPU [GiB]", "weight_bytes_per_gpu", _GIB),
    ("KV cache per GPU [GiB]", "kv_cache_bytes_per_gpu", _GIB),
    ("Activations per GPU [GiB]", "activation_bytes_per_gpu", _GIB),
    ("Largest batch that fits [sequences]", "max_batch_size", 1.0),
    ("GPUs [count]", "num_gpus", 1.0),
    ("Parameters, total [billions]", "total_parameters", 1e9),
    ("Parameters, active per token [billions]", "active_parameters", 1e9),
    ("KV cache per token per GPU [KiB]", "kv_bytes_per_token", 1024.0),
    ("Experts read per decode step [per MoE layer]", "experts_per_decode_step", 1.0),
)
_MISSING = {
    "experts_per_decode_step": "n/a: a dense model",
}


def _spill(e):
    rows = [["Model", e.model], ["GPU", e.gpu], ["Dtype", e.dtype], ["Method", e.method]]
    for label, attr, scale in _SPILL:
        value = getattr(e, attr)
        missing = _MISSING.get(attr, "n/a: no price; give gpu_hour_usd")
        rows.append([label, missing if value is None else value / scale])
    rows += [["Warning", w] for w in e.warnings]
    return rows


LLM_TTFT = _scenario_function(
    "LLM_TTFT", "Time to first token [s]: one forward pass over the prompt, for the whole batch.", _attr("ttft_s")
)
LLM_TPOT = _scenario_function(
    "LLM_TPOT",
    "Time per output token [s]: one decode step, including reading and writing the KV cache.",
    _attr("tpot_s"),
)
LLM_COMPLETION_TIME = _scenario_function(
    "LLM_COMPLETION_TIME",
    "Time to generate all completion tokens [s], after the first token's prefill.",
    _attr("completion_time_s"),
)
LLM_LATENCY = _scenario_function(
    "LLM_LATENCY",
    "End-to-end latency of a request [s]: time to first token plus completion time.",
    _attr("e2e_latency_s"),
)
LLM_TOKENS_PER_SEC = _scenario_function(
    "LLM_TOKENS_PER_SEC",
    "Generated tokens per second over the whole request, batch × completion / latency "
    "(the published table's Tokens/second).",
    _attr("tokens_per_s"),
)
LLM_PRICE_PROMPT = _scenario_function(
    "LLM_PRICE_PROMPT",
    "USD per 1,000 prompt tokens, at the prefill rate, for all tp × pp GPUs.",
    _price("usd_per_1k_prompt_tokens"),
)
LLM_PRICE_COMPLETION = _scenario_function(
    "LLM_PRICE_COMPLETION",
    "USD per 1,000 completion tokens, at the decode rate, for all tp × pp GPUs.",
    _price("usd_per_1k_completion_tokens"),
)
LLM_WEIGHTS_GIB = _scenario_function(
    "LLM_WEIGHTS_GIB", "Model weights held by each GPU [GiB].", _attr("weight_bytes_per_gpu", _GIB)
)
LLM_KV_CACHE_GIB = _scenario_function(
    "LLM_KV_CACHE_GIB",
    "KV cache held by each GPU for the batch's prompt and completion tokens [GiB].",
    _attr("kv_cache_bytes_per_gpu", _GIB),
)
LLM_MAX_BATCH = _scenario_function(
    "LLM_MAX_BATCH",
    "Largest batch whose KV cache and activations fit in GPU memory while decoding.",
    _attr("max_batch_size"),
)
LLM_ESTIMATE = _scenario_function(
    "LLM_ESTIMATE",
    "Every result for one scenario as a two-column spill: metric (with unit) and value.",
    _spill,
    one_scenario=True,
)


# ---------------------------------------------------------------------------
# Catalog functions


@xw.func(category=CATEGORY)
def LLM_MODELS():
    """Ids of all catalog models, one per row (for dropdowns)."""
    return _column(catalog.models)


@xw.func(category=CATEGORY)
def LLM_GPUS():
    """Ids of all catalog GPUs, one per row (for dropdowns)."""
    return _column(catalog.gpus)


@xw.func(category=CATEGORY)
def LLM_DTYPES():
    """Ids of all catalog dtypes (precision recipes), one per row (for dropdowns)."""
    return _column(catalog.dtypes)


def _column(list_ids):
    try:
        return [[i] for i in list_ids()]
    except LlmxlError as exc:
        return exc.excel_text()


def _info(kind: str, getter, name, field):
    try:
        spec = getter(_text(name, kind))
        key = _text(field, "field").lower()
        data = spec.model_dump()
        for part in ("moe", "mla", "attention"):  # nested parts read as "moe.num_experts" ...
            if part in data:
                fields = type(spec).model_fields[part].annotation.__args__[0].model_fields
                nested = data.pop(part) or {}
                data.update({f"{part}.{k}": nested.get(k) for k in fields})
        for prop in (
            "num_parameters",
            "total_parameters",
            "active_parameters",
            "attention_head_dim",
            "kv_groups",
            "compute_kind",
            "kv_bits",
        ):
            if hasattr(type(spec), prop):
                data[prop] = getattr(spec, prop)
        if key not in data:
            fields = ", ".join(k for k in data if k != "aliases")
            raise InvalidInputError(f"unknown {kind} field {key!r}; use one of {fields}", field="field")
        value = data[key]
    except LlmxlError as exc:
        return exc.excel_text()
    if value is None:
        return f"#N/A {spec.id} has no {key}"
    if isinstance(value, (_dt.date, tuple)):
        return value.isoformat() if isinstance(value, _dt.date) else ", ".join(value)
    return value


@xw.func(category=CATEGORY)
@xw.arg("model", doc=_DOCS["model"])
@xw.arg(
    "field",
    doc='Field name, e.g. "num_hidden_layers", "total_parameters", "active_parameters", "moe.num_experts", "source".',
)
def LLM_MODEL_INFO(model, field):
    """One catalog value of a model, by Hugging Face config.json field name."""
    return _info("model", catalog.get_model, model, field)


@xw.func(category=CATEGORY)
@xw.arg("gpu", doc=_DOCS["gpu"])
@xw.arg("field", doc='Field name, e.g. "memory_gib", "hbm_bandwidth_gbs", "fp16_tflops", "usd_per_hour".')
def LLM_GPU_INFO(gpu, field):
    """One catalog value of a GPU, e.g. memory_gib, hbm_bandwidth_gbs, fp16_tflops, usd_per_hour."""
    return _info("gpu", catalog.get_gpu, gpu, field)


@xw.func(category=CATEGORY)
def LLM_VERSION():
    """The version of llmxl computing these formulas."""
    return llmxl.__version__
