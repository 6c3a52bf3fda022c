"""Catalog functions: the names for dropdowns and one figure of a model or GPU."""

from __future__ import annotations

import datetime as _dt

import xlwings as xw

import llmxl
from llmxl import InvalidInputError, LlmxlError, catalog

from ._excel import _DOCS, CATEGORY, _text, cap_text, xl_arg


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
        return cap_text(value.isoformat() if isinstance(value, _dt.date) else ", ".join(value))
    return cap_text(value)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg(
    "field",
    doc='Field name, e.g. "num_hidden_layers", "total_parameters", "active_parameters", "moe.num_experts", "source".',
)
def LLM_MODEL_INFO(model, field):
    """One catalog value of a model, by Hugging Face config.json field name."""
    return _info("model", catalog.get_model, model, field)


@xw.func(category=CATEGORY)
@xl_arg("gpu", doc=_DOCS["gpu"])
@xl_arg("field", doc='Field name, e.g. "memory_gib", "hbm_bandwidth_gbs", "fp16_tflops", "usd_per_hour".')
def LLM_GPU_INFO(gpu, field):
    """One catalog value of a GPU, e.g. memory_gib, hbm_bandwidth_gbs, fp16_tflops, usd_per_hour."""
    return _info("gpu", catalog.get_gpu, gpu, field)


@xw.func(category=CATEGORY)
def LLM_VERSION():
    """The version of llmxl computing these formulas."""
    return llmxl.__version__
