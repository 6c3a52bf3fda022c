"""Systems: a catalog GPU as a server or rack builds it, with its links (llmxl/data/systems.toml).

A system names its GPU and adds what the GPU's own entry cannot know: how many GPUs share the
scale-up link (one NVLink or Infinity Fabric domain: 8 in an HGX node, 72 in a GB200 NVL72 rack)
and the scale-out network per GPU (its NIC). :func:`system_gpu` turns a system's name into a
:class:`GpuSpec` with those fields set, so a system is accepted wherever a GPU is.
"""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import catalog
from .errors import CatalogError

__all__ = ["SystemSpec", "get_system", "system_gpu", "systems"]

_Rate = Annotated[float, Field(ge=1e-3, le=1e8, allow_inf_nan=False, strict=True)]
_LABEL = "llmxl/data/systems.toml"


class SystemSpec(BaseModel):
    """One system: its GPU, how many GPUs share the scale-up link, and the scale-out link per GPU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    aliases: tuple[str, ...] = ()
    gpu: str
    """Catalog id of the GPU."""
    domain_gpus: Annotated[int, Field(ge=1, le=100_000, strict=True)]
    """GPUs sharing the scale-up link (one NVLink / Infinity Fabric domain)."""
    scaleup_gbs: _Rate | None = None
    """Scale-up bandwidth per GPU, one direction [GB/s]; None: the GPU's interconnect_gbs."""
    scaleout_gbs: _Rate
    """Scale-out network per GPU, one direction [GB/s]."""
    scaleout_latency_s: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, strict=True)]
    """Added latency of a collective that crosses the scale-out network [s]."""
    description: str = ""
    source: str
    checked: _dt.date


_cache: dict[str, Any] = {}


def _load() -> tuple[dict[str, SystemSpec], dict[str, str], dict[str, Any]]:
    cat = catalog.get_catalog()
    if _cache.get("catalog") is cat:
        return _cache["systems"], _cache["names"], _cache["gpus"]
    import tomllib

    data = tomllib.loads((resources.files("llmxl") / "data" / "systems.toml").read_text(encoding="utf-8"))
    found: dict[str, SystemSpec] = {}
    names: dict[str, str] = {}
    for i, item in enumerate(data.get("systems", [])):
        try:
            spec = SystemSpec(**item)
        except ValidationError as exc:
            raise CatalogError(f"{_LABEL}: system {i + 1} ({item.get('id')!r}): {exc.errors()[0]['msg']}") from None
        found[spec.id] = spec
        for name in (spec.id, *spec.aliases):
            names[catalog.normalise_name(name)] = spec.id
    _cache.update(catalog=cat, systems=found, names=names, gpus={})
    return found, names, _cache["gpus"]


def systems() -> list[str]:
    """Ids of the systems in llmxl/data/systems.toml."""
    return list(_load()[0])


def get_system(name: str) -> SystemSpec | None:
    """The system called ``name`` (an id or alias), None when no system is."""
    found, names, _ = _load()
    ident = names.get(catalog.normalise_name(name))
    return None if ident is None else found[ident]


def system_gpu(name: str) -> Any:
    """The GpuSpec of the system called ``name`` (its GPU with the system's links), None when no system is.

    The spec's id is the system's; ``system_gpu`` names the GPU. One object per system, so the terms
    built from it are cached like a catalog GPU's.
    """
    spec = get_system(name)
    if spec is None:
        return None
    made = _load()[2]
    hit = made.get(spec.id)
    if hit is None:
        gpu = catalog.get_gpu(spec.gpu)
        update: dict[str, Any] = {
            "id": spec.id,
            "aliases": (),
            "domain_gpus": spec.domain_gpus,
            "scaleout_gbs": float(spec.scaleout_gbs),
            "scaleout_latency_s": float(spec.scaleout_latency_s),
            "system_gpu": gpu.id,
            "links_source": spec.source,
        }
        if spec.scaleup_gbs is not None:
            update["interconnect_gbs"] = float(spec.scaleup_gbs)
        hit = made[spec.id] = gpu.model_copy(update=update)
    return hit
