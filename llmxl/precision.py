"""The precision a model's weights are published in, read from its ``config.json``.

A checkpoint names its precision in ``torch_dtype`` (``dtype`` in recent transformers) and, when its
weights are quantised, in ``quantization_config`` (fp8 block scales, MXFP4, compressed-tensors,
NVIDIA ModelOpt, AWQ/GPTQ, bitsandbytes). :func:`released_from_config` maps that onto a dtype of
``llmxl/data/dtypes.toml`` and says in words what it read, so that llmxl can estimate a model as it
is shipped when the caller names no dtype. Plain dicts in, plain values out: no catalog, no I/O.

The KV cache follows the serving engines' default (vLLM's and SGLang's ``kv_cache_dtype="auto"``):
the checkpoint's 16-bit dtype, unless the quantisation config itself quantises the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FALLBACK_DTYPE", "released_from_config"]

#: The dtype of a model whose config names no precision: 16-bit weights and activations.
FALLBACK_DTYPE = "w16a16e16"
_SIXTEEN = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "bf16": "bf16", "fp16": "fp16"}


def _text(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def _kv_fp8(q: Mapping[str, Any]) -> bool:
    """Whether a quantisation config quantises the KV cache to 8 bits."""
    algo = _text(q.get("kv_cache_quant_algo"))
    if algo:
        return algo == "fp8"
    scheme = q.get("kv_cache_scheme")
    return isinstance(scheme, Mapping) and scheme.get("num_bits") == 8


def _fp8(q: Mapping[str, Any], what: str) -> tuple[str, str]:
    if _kv_fp8(q):
        return "w8a8e16-fp8", f"{what}; KV cache fp8 as the config says"
    return "w8a8e16-fp8-kv16", f"{what}; KV cache 16-bit (the engines' default for this checkpoint)"


def _compressed_tensors(q: Mapping[str, Any]) -> tuple[str | None, str]:
    groups = q.get("config_groups")
    fmt = _text(q.get("format"))
    what = f"quantization_config compressed-tensors (format {fmt or 'not given'})"
    if not isinstance(groups, Mapping) or not groups:
        return None, f"{what} without config_groups"
    first = next(iter(groups.values()))
    weights = first.get("weights") if isinstance(first, Mapping) else None
    acts = first.get("input_activations") if isinstance(first, Mapping) else None
    if not isinstance(weights, Mapping):
        return None, f"{what} without a weights scheme"
    bits, kind = weights.get("num_bits"), _text(weights.get("type"))
    act_bits = acts.get("num_bits") if isinstance(acts, Mapping) else None
    what = f"{what}: {bits}-bit {kind} weights" + (f", {act_bits}-bit activations" if act_bits else "")
    if bits == 4 and (kind == "float" or "nvfp4" in fmt):
        return "nvfp4", what
    if bits == 4 and act_bits is None:
        return "w4a16e16", what
    if bits == 8 and kind == "float" and act_bits == 8:
        return _fp8(q, what)
    if bits == 8 and act_bits == 8:
        return "w8a8e16", what
    if bits == 8 and act_bits is None:
        return "w8a16e16", what
    return None, what


def _quantised(q: Mapping[str, Any]) -> tuple[str | None, str]:
    method = _text(q.get("quant_method"))
    if method == "fp8" or (not method and _text(q.get("fmt")) in ("e4m3", "float8_e4m3fn")):
        block = q.get("weight_block_size")
        fmt = q.get("fmt") or "e4m3"
        scales = f"block scales {block}" if block else "per-tensor scales"
        return _fp8(q, f"quantization_config quant_method fp8 ({fmt}, {scales})")
    if method == "mxfp4":
        return "mxfp4", "quantization_config quant_method mxfp4 (the MoE experts; other tensors 16-bit)"
    if method == "compressed-tensors":
        return _compressed_tensors(q)
    algo = _text(q.get("quant_algo"))
    if method == "modelopt" or algo:
        what = f"quantization_config quant_algo {algo.upper() or 'not given'} (NVIDIA ModelOpt)"
        if algo == "fp8":
            return _fp8(q, what)
        if algo == "nvfp4":
            return "nvfp4", what
        return None, what
    if method in ("awq", "gptq"):
        bits = q.get("bits") or q.get("w_bit")
        what = f"quantization_config quant_method {method}, {bits}-bit weights"
        return {4: "w4a16e16", 8: "w8a16e16"}.get(bits), what  # type: ignore[call-overload]
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):
            return "w4a16e16", "quantization_config bitsandbytes, 4-bit weights"
        if q.get("load_in_8bit"):
            return "w8a16e16", "quantization_config bitsandbytes, 8-bit weights"
    return None, f"quantization_config quant_method {method or 'not given'}"


def released_from_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """The released precision of a ``config.json``: ``{"dtype": id or None, "read": what it says}``.

    ``dtype`` is None when the config names a quantisation llmxl cannot map onto one of its dtypes;
    the caller must then give a dtype. A config without any precision field reads as 16-bit, and the
    result then also holds ``"assumed": True``.

    Examples
    --------
    >>> released_from_config({"quantization_config": {"quant_method": "mxfp4"}})["dtype"]
    'mxfp4'
    >>> released_from_config({"torch_dtype": "bfloat16"})
    {'dtype': 'w16a16e16', 'read': 'torch_dtype bfloat16, no quantization_config'}
    """
    text = data.get("text_config")
    inner = text if isinstance(text, Mapping) else {}
    q = data.get("quantization_config") or inner.get("quantization_config")
    if isinstance(q, Mapping):
        dtype, read = _quantised(q)
        if dtype is None:
            read += ", which llmxl does not map onto a dtype"
        return {"dtype": dtype, "read": read}
    name = _text(data.get("torch_dtype") or data.get("dtype") or inner.get("torch_dtype") or inner.get("dtype"))
    if name in _SIXTEEN:
        return {"dtype": FALLBACK_DTYPE, "read": f"torch_dtype {name}, no quantization_config"}
    if name in ("float32", "float"):
        return {
            "dtype": FALLBACK_DTYPE,
            "read": "torch_dtype float32, no quantization_config: served in 16 bits, as serving engines cast it",
        }
    if name:
        return {"dtype": None, "read": f"torch_dtype {name}, which llmxl does not map onto a dtype"}
    return {
        "dtype": FALLBACK_DTYPE,
        "read": "the config names no torch_dtype or quantization_config: bf16 assumed",
        "assumed": True,
    }
