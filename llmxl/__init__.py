"""llmxl: what it costs to serve a large language model, for spreadsheets and Python.

>>> import llmxl
>>> e = llmxl.estimate("llama-2-70b", "a100-sxm-80gb", tp=2, batch_size=8,
...                    prompt_tokens=512, completion_tokens=512, gpu_hour_usd=2.21)
>>> round(e.tokens_per_s, 1)
141.5

Only numpy is imported with the package; pydantic and the specs load with the
catalog on first use, and openpyxl, xlwings and the command line when their
faces are used.
"""

from ._version import __version__
from .breakeven import Breakeven, breakeven
from .catalog import add_catalog_file, dtypes, get_dtype, get_gpu, get_model, gpus, models
from .errors import CatalogError, DoesNotFitError, InvalidInputError, LlmxlError, UnknownNameError
from .estimate import METHODS, Breakdown, Estimate, LatencyBreakdown, estimate, scenario_defaults
from .frontier import Frontier, FrontierPoint, frontier
from .operating import OperatingPoint, operating_point
from .plan import Plan, PlanRow, plan
from .prices import api_price, api_prices, owned_gpu_hour_usd
from .resolve import engine, released_dtype

__all__ = [
    "METHODS",
    "Breakdown",
    "Breakeven",
    "Calibration",
    "CatalogError",
    "DoesNotFitError",
    "DtypeSpec",
    "Estimate",
    "Frontier",
    "FrontierPoint",
    "GpuSpec",
    "InvalidInputError",
    "LatencyBreakdown",
    "LlmxlError",
    "Measurement",
    "ModelSpec",
    "OperatingPoint",
    "Plan",
    "PlanRow",
    "SimulationResult",
    "UnknownNameError",
    "__version__",
    "add_catalog_file",
    "api_price",
    "api_prices",
    "breakeven",
    "calibrate",
    "dtypes",
    "engine",
    "estimate",
    "frontier",
    "get_dtype",
    "get_gpu",
    "get_model",
    "gpus",
    "models",
    "operating_point",
    "owned_gpu_hour_usd",
    "plan",
    "read_measurements",
    "released_dtype",
    "scenario_defaults",
    "simulate",
]


def __getattr__(name: str) -> object:
    # ModelSpec, GpuSpec and DtypeSpec are pydantic models: load them (and pydantic) on first use.
    if name in ("DtypeSpec", "GpuSpec", "ModelSpec"):
        from . import specs

        return getattr(specs, name)
    # Calibration loads on first use too: a spreadsheet that never calibrates never pays for it.
    if name in ("Calibration", "Measurement", "calibrate", "read_measurements"):
        from . import calibration

        return getattr(calibration, name)
    if name in ("SimulationResult", "simulate"):
        from .load import simulate

        return getattr(simulate, name)
    raise AttributeError(f"module 'llmxl' has no attribute {name!r}")
