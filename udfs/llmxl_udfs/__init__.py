"""llmxl's Excel functions, for xlwings (Windows desktop Excel) and xlwings Lite.

Each function is a thin wrapper: it turns what Excel hands over (floats for
whole numbers, None for blank cells, text with stray spaces, ranges as lists
of rows) into arguments for :func:`llmxl.estimate` and turns the answer back
into cells. A range given for batch_size, prompt_tokens, completion_tokens,
gpu_hour_usd or an efficiency returns an array of its shape, computed in one
vectorised call; a bad row shows its own message in its own cell.

Errors never show a traceback: the cell reads the Excel error kind and one
line, e.g. ``#VALUE! batch_size must be a whole number from 1 to 10,000,000, got 2.5``.
"""

from __future__ import annotations

from .calibration import LLM_CALIBRATE
from .catalog import LLM_DTYPES, LLM_GPU_INFO, LLM_GPUS, LLM_MODEL_INFO, LLM_MODELS, LLM_VERSION
from .planning import (
    LLM_API_PRICE,
    LLM_BREAKEVEN,
    LLM_COST_PER_1M,
    LLM_ENERGY_PER_1M,
    LLM_FRONTIER,
    LLM_GPUS_NEEDED,
    LLM_MONTHLY_COST,
    LLM_OPERATING_POINT,
    LLM_OWNED_GPU_HOUR,
    LLM_PLAN,
)
from .scenario import (
    LLM_COMPLETION_TIME,
    LLM_ESTIMATE,
    LLM_KV_CACHE_GIB,
    LLM_LATENCY,
    LLM_MAX_BATCH,
    LLM_PRICE_COMPLETION,
    LLM_PRICE_COMPLETION_1M,
    LLM_PRICE_PROMPT,
    LLM_PRICE_PROMPT_1M,
    LLM_TOKENS_PER_SEC,
    LLM_TPOT,
    LLM_TTFT,
    LLM_WEIGHTS_GIB,
)

__all__ = [
    "LLM_API_PRICE",
    "LLM_BREAKEVEN",
    "LLM_CALIBRATE",
    "LLM_COMPLETION_TIME",
    "LLM_COST_PER_1M",
    "LLM_DTYPES",
    "LLM_ENERGY_PER_1M",
    "LLM_ESTIMATE",
    "LLM_FRONTIER",
    "LLM_GPUS",
    "LLM_GPUS_NEEDED",
    "LLM_GPU_INFO",
    "LLM_KV_CACHE_GIB",
    "LLM_LATENCY",
    "LLM_MAX_BATCH",
    "LLM_MODELS",
    "LLM_MODEL_INFO",
    "LLM_MONTHLY_COST",
    "LLM_OPERATING_POINT",
    "LLM_OWNED_GPU_HOUR",
    "LLM_PLAN",
    "LLM_PRICE_COMPLETION",
    "LLM_PRICE_COMPLETION_1M",
    "LLM_PRICE_PROMPT",
    "LLM_PRICE_PROMPT_1M",
    "LLM_TOKENS_PER_SEC",
    "LLM_TPOT",
    "LLM_TTFT",
    "LLM_VERSION",
    "LLM_WEIGHTS_GIB",
]
