"""The market and energy conventions every cost figure uses, as frozen specs (llmxl/data/finance.toml and
llmxl/data/energy.toml): hours in a month, the prompt:completion blend, grid intensity, serving power."""

from __future__ import annotations

import datetime as _dt
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .specs import Fraction, PositiveFloat, PositiveInt, _check_text_id, _Part

__all__ = ["EnergyConventions", "FinanceConventions", "GridIntensity"]


class FinanceConventions(_Part):
    """Conventions of cost of service (llmxl/data/finance.toml)."""

    hours_per_month: PositiveFloat
    """Hours in a billing month (730 = 8,760 / 12)."""
    hours_per_month_source: str
    blend_prompt_weight: PositiveFloat
    """Weight of the prompt price in a blended price (3)."""
    blend_completion_weight: PositiveFloat
    """Weight of the completion price in a blended price (1)."""
    blend_source: str
    checked: _dt.date
    owned_example: dict[str, float | str] = Field(default_factory=dict)
    """Example figures for owned hardware (owned_gpu_hour_usd's arguments), with their source."""


class GridIntensity(_Part):
    """Carbon intensity of a region's electricity, with its year and source (llmxl/data/energy.toml)."""

    region: str
    """Region key, lower case (world, us, eu27)."""
    g_co2e_per_kwh: PositiveFloat
    """Emissions per kWh of electricity [g CO2e/kWh]."""
    year: Annotated[int, Field(ge=1990, le=2100, strict=True)]
    """Year the figure describes."""
    basis: str
    """What is counted (CO2 from generation, or life-cycle CO2e)."""
    source: str
    """Where the figure was read (or how it was derived)."""

    @field_validator("region")
    @classmethod
    def _clean(cls, value: str) -> str:
        return _check_text_id(value).lower()


class EnergyConventions(_Part):
    """What the energy of serving defaults to (llmxl/data/energy.toml; docs/methodology.md)."""

    serving_power_fraction: Fraction
    """Typical draw of a GPU board under serving load, as a fraction of its board power (TDP/TGP/TBP)."""
    serving_power_source: str
    server_system: str
    """The server whose maximum power sets the share of the rest of the server (CPUs, memory, fans, NICs)."""
    server_power_w: PositiveFloat
    """That server's maximum power [W]."""
    server_gpus: PositiveInt
    """GPUs in that server."""
    server_gpu_board_power_w: PositiveFloat
    """Board power of each of its GPUs [W]."""
    server_source: str
    pue: Annotated[float, Field(ge=1, le=10, allow_inf_nan=False, strict=True)]
    """Default power usage effectiveness of the data centre."""
    pue_source: str
    grid_default: str
    """The region whose intensity applies when none is given."""
    grid: tuple[GridIntensity, ...]
    checked: _dt.date

    @model_validator(mode="after")
    def _regions(self) -> EnergyConventions:
        regions = [g.region for g in self.grid]
        if len(set(regions)) != len(regions):
            raise ValueError("a grid region is listed twice; keep one")
        if self.grid_default not in regions:
            raise ValueError(f"grid_default {self.grid_default!r} is not among the regions {regions}")
        return self

    @property
    def server_factor(self) -> float:
        """Server power per GPU over the GPU's board power: server_power_w / (server_gpus · board power)."""
        return self.server_power_w / (self.server_gpus * self.server_gpu_board_power_w)


#: GpuSpec fields that override one serving constant each.
