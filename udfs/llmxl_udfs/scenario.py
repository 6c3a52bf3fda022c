"""Scenario functions: one signature, so a formula can be copied and renamed.

A range given for batch_size, prompt_tokens, completion_tokens, gpu_hour_usd or
an efficiency returns an array of its shape, computed in one vectorised call; a
bad row shows its own message in its own cell.
"""

from __future__ import annotations

import xlwings as xw

import llmxl
from llmxl import InvalidInputError, LlmxlError
from llmxl.estimate import DEFAULTS as _DEFAULTS
from llmxl.resolve import resolve_gpu
from llmxl.speculation import parse_speculative

from ._excel import (
    _DOCS,
    _GIB,
    CATEGORY,
    _grid,
    _optional_text,
    _rows,
    _scalar_arg,
    _text,
    _workload,
    cap_text,
    xl_arg,
)

# Workload arguments that may be ranges, with the value a blank cell stands for.
_RANGE_ARGS = ("batch_size", "prompt_tokens", "completion_tokens", "gpu_hour_usd", "flops_efficiency", "hbm_efficiency")
_REQUIRED = ("batch_size", "prompt_tokens", "completion_tokens")

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
    "dp",
    "ep",
    "redundant_experts",
    "speculative",
    "prefix_cache_hit",
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
        dp=None,
        ep=None,
        redundant_experts=None,
        speculative=None,
        prefix_cache_hit=None,
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
        return cap_text(_run(args, pick))

    udf.__name__ = udf.__qualname__ = name
    udf.__doc__ = doc  # before the first decorator: xlwings reads the description then
    for arg in reversed(_ORDER):
        options = {"ndim": 2} if arg in _RANGE_ARGS else {}
        udf = xl_arg(arg, doc=_DOCS[arg], **options)(udf)
    return xw.func(category=CATEGORY)(udf)  # outermost, or xlwings resets the category


def _layout(args: dict) -> dict:
    """dp, ep and redundant_experts as given (a blank cell: the library's default)."""
    out = {}
    for name in ("dp", "ep", "redundant_experts"):
        value = _scalar_arg(args[name], name)
        if value is not None:
            out[name] = value
    return out


def _no_price(gpu: str) -> str:
    return f"#N/A no price for gpu {gpu!r}; give gpu_hour_usd"


def _run(args: dict, pick):
    """Evaluate one scenario function: ``pick(estimate)`` gives the value(s); errors become text."""
    import numpy as np

    try:
        model = _text(args["model"], "model")
        gpu = resolve_gpu(_text(args["gpu"], "gpu"))  # a catalog GPU or a system (llmxl/data/systems.toml)
        defaults = llmxl.scenario_defaults(
            gpu, method=_text(args["method"], "method", _DEFAULTS["method"]), model=model
        )
        common = dict(
            tp=_scalar_arg(args["tp"], "tp"),
            pp=_scalar_arg(args["pp"], "pp"),
            dtype=_text(args["dtype"], "dtype", defaults["dtype"]),
            method=defaults["method"],
            **_layout(args),
            **parse_speculative(_optional_text(args["speculative"], "speculative")),
            prefix_cache_hit=_scalar_arg(args["prefix_cache_hit"], "prefix_cache_hit"),
        )
        workload, shape, cell_errors = _workload(args, defaults, _RANGE_ARGS, _REQUIRED)
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


def _is_price(pick) -> bool:
    return getattr(pick, "is_price", False)


def _price(attr, scale=1.0):
    def pick(e):
        value = getattr(e, attr)
        return value if value is None or scale == 1.0 else value / scale

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
    "USD per 1,000 prompt tokens, at the prefill rate, for all tp × dp × pp GPUs.",
    _price("usd_per_1k_prompt_tokens"),
)
LLM_PRICE_COMPLETION = _scenario_function(
    "LLM_PRICE_COMPLETION",
    "USD per 1,000 completion tokens, at the decode rate, for all tp × dp × pp GPUs.",
    _price("usd_per_1k_completion_tokens"),
)
LLM_PRICE_PROMPT_1M = _scenario_function(
    "LLM_PRICE_PROMPT_1M",
    "USD per 1M prompt tokens, at the prefill rate, for all tp × dp × pp GPUs (the market's convention).",
    _price("usd_per_1k_prompt_tokens", 1e-3),
)
LLM_PRICE_COMPLETION_1M = _scenario_function(
    "LLM_PRICE_COMPLETION_1M",
    "USD per 1M completion tokens, at the decode rate, for all tp × dp × pp GPUs (the market's convention).",
    _price("usd_per_1k_completion_tokens", 1e-3),
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
