"""The energy and emissions of serving: power per GPU, kWh and kg CO2e per 1M tokens.

Definitions: docs/methodology.md, "Energy and emissions". The figures are catalog data: each GPU's board
power (TDP, TGP or TBP) in ``llmxl/data/gpus/*.toml``; the typical serving fraction, the server's share,
the default PUE and the grid intensities by region in ``llmxl/data/energy.toml``, each with its source.
Nothing here prints or touches files.

A GPU serving, with its share of the server, draws P = board power · f · k: f the typical draw under
serving load as a fraction of board power (0.8), k the server's power per GPU over its GPU's board power
(DGX H100: 10,200 W / (8 · 700 W)). A fleet of G GPUs at PUE u uses G · P · u · 730 kWh a month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import catalog
from .checks import check_range
from .errors import InvalidInputError

if TYPE_CHECKING:
    from .conventions import EnergyConventions
    from .specs import GpuSpec

__all__ = [
    "check_power_kw",
    "check_pue",
    "conventions",
    "grid_g_co2e_per_kwh",
    "kg_co2e_per_1m_tokens",
    "kwh_per_1m_tokens",
    "kwh_per_month",
    "serving_power_kw",
]


def conventions() -> EnergyConventions:
    """The energy defaults of llmxl/data/energy.toml, with their sources."""
    return catalog.get_catalog().energy


def check_pue(value: Any) -> float:
    """A power usage effectiveness: a number from 1 (the IT load alone) to 10."""
    return check_range(value, "pue")


def check_power_kw(value: Any, field: str = "power_kw") -> float:
    """Power per GPU with its share of the server [kW]: a number from 0 to 1,000."""
    return check_range(value, "power_kw", name=field)


def serving_power_kw(gpu: GpuSpec) -> float | None:
    """Power one GPU draws while serving, with its share of the server [kW]; None without a board power.

    Parameters
    ----------
    gpu : A catalog GPU (:func:`llmxl.get_gpu`) or a GpuSpec with ``board_power_w``.

    Returns
    -------
    float or None : board_power_w · f · k / 1000 [kW]; None when the GPU has no board power.

    Notes
    -----
    f is the GPU's ``serving_power_fraction`` or, without one, the catalog's typical fraction (0.8, the median
    of ML.ENERGY's measured H100 and B200 draw at batch 16–256); k = 10,200 W / (8 · 700 W), a DGX H100's
    maximum power per GPU over its GPU's board power: the rest of the server is assumed to run at the same
    fraction of its maximum as its GPUs.

    Examples
    --------
    >>> import llmxl
    >>> round(serving_power_kw(llmxl.get_gpu("h100-sxm-80gb")), 6)
    1.02
    """
    if gpu.board_power_w is None:
        return None
    e = conventions()
    fraction = gpu.serving_power_fraction if gpu.serving_power_fraction is not None else e.serving_power_fraction
    return gpu.board_power_w * fraction * e.server_factor / 1000


def grid_g_co2e_per_kwh(value: Any = None) -> float:
    """Grid carbon intensity [g CO2e/kWh]: a number, a region of llmxl/data/energy.toml, or None for its default.

    Examples
    --------
    >>> grid_g_co2e_per_kwh(), grid_g_co2e_per_kwh("US"), grid_g_co2e_per_kwh(50)
    (445.0, 367.0, 50.0)
    """
    e = conventions()
    regions = {g.region: g.g_co2e_per_kwh for g in e.grid}
    if value is None:
        return regions[e.grid_default]
    if isinstance(value, str) and value.strip().lower() in regions:
        return regions[value.strip().lower()]
    if isinstance(value, str):
        try:
            float(value.strip())
        except ValueError:
            raise InvalidInputError(
                f"grid intensity {value!r} is neither a number of g CO2e/kWh nor a region; use one of "
                f"{', '.join(sorted(regions))}, or a number such as 445",
                field="grid_g_co2e_per_kwh",
            ) from None
    return check_range(value, "grid_g_co2e_per_kwh")


def kwh_per_month(num_gpus: Any, power_kw: Any, pue: Any) -> Any:
    """Energy of a fleet over a month at the meter [kWh]: GPUs · P · PUE · 730 (llmxl/data/finance.toml)."""
    return num_gpus * power_kw * pue * catalog.get_catalog().finance.hours_per_month


def kwh_per_1m_tokens(
    num_gpus: Any, power_kw: Any, pue: Any, requests_per_s: Any, prompt_tokens: Any, completion_tokens: Any
) -> Any:
    """Energy per 1M tokens served (prompt and completion alike) [kWh]: the month's energy over its tokens.

    Notes
    -----
    GPUs · P · PUE · 730 / (λavg · 730 · 3600 · (s + n)) · 1e6: the fleet draws its serving power every hour,
    as the owned price counts it, busy or not.

    Examples
    --------
    Two H100s at 1.02 kW each, PUE 1.58, serving 1 request/s of 1,000 + 300 tokens:

    >>> round(kwh_per_1m_tokens(2, 1.02, 1.58, 1.0, 1000, 300), 6)
    0.688718
    """
    month = kwh_per_month(num_gpus, power_kw, pue)
    tokens = requests_per_s * catalog.get_catalog().finance.hours_per_month * 3600 * (prompt_tokens + completion_tokens)
    return month / tokens * 1e6


def kg_co2e_per_1m_tokens(kwh: Any, g_co2e_per_kwh: Any) -> Any:
    """Emissions per 1M tokens [kg CO2e]: kWh per 1M tokens · grid g CO2e/kWh / 1000."""
    return kwh * g_co2e_per_kwh / 1000
