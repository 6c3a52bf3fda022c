"""``estimate()``: the one entry point every face of llmxl calls.

It resolves the model, GPU and dtype, checks every input, runs the arithmetic
of :mod:`llmxl.formulas` and returns a frozen :class:`Estimate`. Workload
inputs (batch size, token counts, efficiencies, price) may be numpy arrays:
results then have their broadcast shape and equal scalar calls element by
element.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import catalog, serving
from .errors import DoesNotFitError, InvalidInputError, UnknownNameError
from .formulas import Terms, activation_bytes, forward_pass, kv_cache_bytes, terms, usd_per_1k_tokens
from .serving import ServingTerms

if TYPE_CHECKING:  # the specs (and pydantic) load with the catalog, on first use
    from .specs import DtypeSpec, GpuSpec, ModelSpec

__all__ = [
    "DEFAULTS",
    "METHODS",
    "Breakdown",
    "Estimate",
    "LatencyBreakdown",
    "check_count",
    "check_efficiency",
    "check_method",
    "check_price",
    "default_efficiencies",
    "estimate",
]

METHODS = ("standard", "reference", "serving")
_GIB = 1024**3
_COMPONENTS = (
    "attention_s",
    "mlp_s",
    "norm_s",
    "communication_s",
    "embedding_s",
    "logits_s",
    "overhead_s",
    "kv_cache_s",
)
_set = object.__setattr__


# ---------------------------------------------------------------------------
# Result objects


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; call estimate() again")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


class LatencyBreakdown(_Frozen):
    """Latency of one phase by component [s]; the components sum to ``total_s``.

    Attributes
    ----------
    attention_s, mlp_s, norm_s : Time in attention, MLP and layer norms, all layers [s].
        (`serving`: attention includes reading the KV cache; norms are in overhead_s.)
    communication_s : Tensor-parallel all-reduces and pipeline hand-offs [s].
    embedding_s : Reading the embedding table [s] (0 in `serving`).
    logits_s : The output projection [s].
    overhead_s : Fixed costs per layer and per pass [s] (`serving` only; 0 otherwise).
    kv_cache_s : Loading and storing the KV cache (decode only, 0 in prefill; 0 in `serving`,
        where it is part of attention_s) [s].
    """

    __slots__ = _COMPONENTS

    attention_s: Any
    mlp_s: Any
    norm_s: Any
    communication_s: Any
    embedding_s: Any
    logits_s: Any
    overhead_s: Any
    kv_cache_s: Any

    def __init__(self, *values: Any) -> None:
        for name, value in zip(_COMPONENTS, values, strict=True):
            _set(self, name, value)

    @property
    def total_s(self) -> Any:
        """Sum of the components [s]."""
        return (
            self.attention_s
            + self.mlp_s
            + self.norm_s
            + self.communication_s
            + self.embedding_s
            + self.logits_s
            + self.overhead_s
            + self.kv_cache_s
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COMPONENTS}

    def __repr__(self) -> str:
        return "LatencyBreakdown(" + ", ".join(f"{n}={_short(getattr(self, n))}" for n in _COMPONENTS) + ")"


class Breakdown(_Frozen):
    """Per-component latency of prefill (one pass over the prompt) and decode (one token)."""

    __slots__ = ("decode", "prefill")

    prefill: LatencyBreakdown
    decode: LatencyBreakdown

    def __init__(self, prefill: LatencyBreakdown, decode: LatencyBreakdown) -> None:
        _set(self, "prefill", prefill)
        _set(self, "decode", decode)

    def to_dict(self) -> dict[str, Any]:
        return {"prefill": self.prefill.to_dict(), "decode": self.decode.to_dict()}

    def __repr__(self) -> str:
        return f"Breakdown(prefill={self.prefill!r}, decode={self.decode!r})"


_INPUT_FIELDS = (
    "model",
    "gpu",
    "dtype",
    "method",
    "tp",
    "pp",
    "batch_size",
    "prompt_tokens",
    "completion_tokens",
    "flops_efficiency",
    "hbm_efficiency",
    "gpu_hour_usd",
)
_RESULT_FIELDS = (
    "ttft_s",
    "tpot_s",
    "completion_time_s",
    "e2e_latency_s",
    "tokens_per_s",
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "usd_per_1k_prompt_tokens",
    "usd_per_1k_completion_tokens",
    "weight_bytes_per_gpu",
    "kv_cache_bytes_per_gpu",
    "activation_bytes_per_gpu",
    "max_batch_size",
    "num_gpus",
    "total_parameters",
    "active_parameters",
    "kv_bytes_per_token",
    "experts_per_decode_step",
)


class Estimate(_Frozen):
    """The outcome of :func:`estimate`, immutable.

    Inputs are echoed back (``model``, ``gpu`` and ``dtype`` as ids). With array
    inputs every result is an array of the broadcast shape.

    Attributes
    ----------
    ttft_s : Time to first token, one forward pass over the prompt [s].
    tpot_s : Time per output token, one decode step incl. KV-cache traffic [s]
        (`serving`: at the mean context of the completion).
    completion_time_s : Time to generate all completion tokens [s]: n * tpot_s,
        or (n - 1) * tpot_s in `serving`, where the first token comes out of prefill.
    e2e_latency_s : ttft_s + completion_time_s [s].
    tokens_per_s : Generated tokens per second over the whole request,
        batch_size * completion_tokens / e2e_latency_s (the published table's column) [1/s].
    prefill_tokens_per_s : batch_size * prompt_tokens / ttft_s [1/s].
    decode_tokens_per_s : batch_size / tpot_s [1/s].
    usd_per_1k_prompt_tokens : Cost of 1000 prompt tokens at the prefill rate [USD];
        None when no price is known.
    usd_per_1k_completion_tokens : Cost of 1000 completion tokens at the decode rate [USD];
        None when no price is known.
    weight_bytes_per_gpu : Weights held by each GPU [bytes].
    kv_cache_bytes_per_gpu : KV cache for batch_size sequences of prompt + completion tokens [bytes].
    activation_bytes_per_gpu : Peak activation buffer, during prefill [bytes].
    max_batch_size : Largest batch whose KV cache and activations fit while decoding.
    num_gpus : tp * pp.
    total_parameters : Parameters of the model, every expert counted [count].
    active_parameters : Parameters one token uses (K of the E routed experts) [count].
    kv_bytes_per_token : KV cache one token of context adds on each GPU (all layers of its
        stage, within every attention window) [bytes].
    experts_per_decode_step : Distinct routed experts a decode step of the batch reads per MoE
        layer, E (1 - (1 - K / E)^b); None for a dense model.
    warnings : Things the caller should know, e.g. a context overrun (tuple of str).
    errors : With ``on_error="nan"`` and array inputs, an object array holding, for each
        failed scenario, the :class:`LlmxlError` it raised (None where it computed); with
        scalar inputs that error or None. Always None with ``on_error="raise"``.
    breakdown : Per-component latency of prefill and decode (:class:`Breakdown`).
    """

    # The stored values live in one tuple (cheap to build, immutable); results that follow
    # from them by one formula are properties, computed when read.
    __slots__ = ("_breakdown", "_parts", "_v")

    model: str
    gpu: str
    dtype: str
    method: str
    tp: int
    pp: int
    batch_size: Any
    prompt_tokens: Any
    completion_tokens: Any
    flops_efficiency: Any
    hbm_efficiency: Any
    gpu_hour_usd: Any
    ttft_s: Any
    tpot_s: Any
    completion_time_s: Any
    total_parameters: int
    active_parameters: int
    kv_bytes_per_token: float
    experts_per_decode_step: Any
    weight_bytes_per_gpu: float
    kv_cache_bytes_per_gpu: Any
    activation_bytes_per_gpu: Any
    max_batch_size: Any
    warnings: tuple[str, ...]
    errors: Any

    @property
    def e2e_latency_s(self) -> Any:
        """ttft_s + completion_time_s [s]."""
        return self.ttft_s + self.completion_time_s

    @property
    def tokens_per_s(self) -> Any:
        """batch_size * completion_tokens / e2e_latency_s [tokens/s]."""
        return self.batch_size * self.completion_tokens / self.e2e_latency_s

    @property
    def prefill_tokens_per_s(self) -> Any:
        """batch_size * prompt_tokens / ttft_s [tokens/s]."""
        return self.batch_size * self.prompt_tokens / self.ttft_s

    @property
    def decode_tokens_per_s(self) -> Any:
        """batch_size / tpot_s [tokens/s]."""
        return self.batch_size / self.tpot_s

    @property
    def num_gpus(self) -> int:
        """tp * pp."""
        return self.tp * self.pp

    def _usd_per_1k(self, rate: Any) -> Any:
        price = self.gpu_hour_usd
        return None if price is None else usd_per_1k_tokens(price, self.num_gpus, rate)

    @property
    def usd_per_1k_prompt_tokens(self) -> Any:
        """Cost of 1000 prompt tokens at the prefill rate [USD]; None without a price."""
        return self._usd_per_1k(self.prefill_tokens_per_s)

    @property
    def usd_per_1k_completion_tokens(self) -> Any:
        """Cost of 1000 completion tokens at the decode rate [USD]; None without a price."""
        return self._usd_per_1k(self.decode_tokens_per_s)

    @property
    def breakdown(self) -> Breakdown:
        """Per-component latency of prefill and decode."""
        bd = self._breakdown  # type: ignore[attr-defined]
        if bd is None:
            pre, dec, kv_s, _, frame = self._parts  # type: ignore[attr-defined]
            if frame is not None:  # array results: full shape, NaN where a scenario failed
                pre = tuple(_full(x, *frame) for x in pre)
                dec = tuple(_full(x, *frame) for x in dec)
                kv_s = _full(kv_s, *frame)
            bd = Breakdown(
                LatencyBreakdown(*_components(pre, _frozen(0.0 * kv_s))), LatencyBreakdown(*_components(dec, kv_s))
            )
            _set(self, "_breakdown", bd)
        return bd

    def _replace(self, values: dict[str, Any], parts: tuple[Any, ...]) -> Estimate:
        """A copy with some stored values replaced, and new parts."""
        stored = list(self._v)  # type: ignore[attr-defined]
        for name, value in values.items():
            stored[_STORED_INDEX[name]] = value
        return _new_estimate(tuple(stored), parts)

    def to_dict(self) -> dict[str, Any]:
        """Inputs, results, warnings, errors and breakdown as a plain dict."""
        out = {name: getattr(self, name) for name in _INPUT_FIELDS + _RESULT_FIELDS}
        out["warnings"] = list(self.warnings)
        if self.errors is not None:
            out["errors"] = self.errors
        out["breakdown"] = self.breakdown.to_dict()
        return out

    def __repr__(self) -> str:
        shown = (
            "model",
            "gpu",
            "dtype",
            "method",
            "tp",
            "batch_size",
            "prompt_tokens",
            "completion_tokens",
            "ttft_s",
            "completion_time_s",
            "tokens_per_s",
            "usd_per_1k_completion_tokens",
        )
        return "Estimate(" + ", ".join(f"{n}={_short(getattr(self, n))}" for n in shown) + ")"


_STORED = (
    *_INPUT_FIELDS,
    "ttft_s",
    "tpot_s",
    "completion_time_s",
    "total_parameters",
    "active_parameters",
    "kv_bytes_per_token",
    "experts_per_decode_step",
    "weight_bytes_per_gpu",
    "kv_cache_bytes_per_gpu",
    "activation_bytes_per_gpu",
    "max_batch_size",
    "warnings",
    "errors",
)
_STORED_INDEX = {name: i for i, name in enumerate(_STORED)}
for _i, _name in enumerate(_STORED):
    setattr(Estimate, _name, property(lambda self, _i=_i: self._v[_i]))
del _i, _name


def _components(p: tuple[Any, ...], kv_s: Any) -> tuple[Any, ...]:
    """The breakdown components of one pass, as _COMPONENTS orders them.

    A `serving` pass is (attention, mlp, communication, output head, overhead); a `standard`
    or `reference` pass is (attention, mlp, norm, communication, embedding, logits, activations).
    """
    zero = _frozen(0.0 * p[0])
    if len(p) == 5:
        return (p[0], p[1], zero, p[2], zero, p[3], p[4], kv_s)
    return (*p[:6], zero, kv_s)


def _frozen(x: Any) -> Any:
    """``x``, read-only when it is an array: results are never changed in place."""
    if isinstance(x, np.ndarray):
        x.flags.writeable = False
    return x


def _new_estimate(values: tuple[Any, ...], parts: tuple[Any, ...]) -> Estimate:
    e = object.__new__(Estimate)
    _set(e, "_v", values)
    _set(e, "_parts", parts)
    _set(e, "_breakdown", None)
    return e


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape})"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


# ---------------------------------------------------------------------------
# Input checking


def _show(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _scalar_number(value: Any, field: str) -> Any:
    """A Python number from a scalar, or an ndarray of float64 from an array-like."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{field} must be a number, got {value}", field=field)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidInputError(f"{field} is blank; give a number", field=field)
        try:
            return float(text)
        except ValueError:
            raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field) from None
    if value is None:
        raise InvalidInputError(f"{field} is missing; give a number", field=field)
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError):
            raise InvalidInputError(
                f"{field} must be a number or a rectangular array of numbers", field=field
            ) from None
        if arr.dtype.kind == "b":
            raise InvalidInputError(f"{field} must hold numbers, got booleans", field=field)
        if arr.dtype.kind not in "iuf":
            try:
                arr = np.char.strip(arr.astype(str)).astype(np.float64)
            except (ValueError, TypeError):
                raise InvalidInputError(
                    f"{field} must hold numbers only; found a non-numeric entry", field=field
                ) from None
        arr = arr.astype(np.float64, copy=False)
        if arr.ndim == 0:
            return arr.item()
        if arr.size == 0:
            raise InvalidInputError(f"{field} is an empty array; give at least one number", field=field)
        return arr
    raise InvalidInputError(f"{field} must be a number, got {type(value).__name__}", field=field)


#: GPUs in one server node: beyond it, tensor- or pipeline-parallel traffic crosses the network.
NODE_GPUS = 8
#: Largest accepted counts: beyond any real deployment, small enough that no arithmetic overflows.
MAX_COUNT = {"batch_size": 10**7, "prompt_tokens": 10**9, "completion_tokens": 10**9}
_MAX_OTHER_COUNT = 10**6  # tp, pp, concurrency and other counts
MIN_EFFICIENCY = 1e-4
MAX_PRICE_USD = 1e6


def _count_message(field: str, value: Any) -> str:
    top = MAX_COUNT.get(field.split("[")[0], _MAX_OTHER_COUNT)
    return f"{field} must be a whole number from 1 to {top:,}, got {_show(value)}"


def check_count(value: Any, field: str) -> int:
    """One whole number ≥ 1 (ints, whole floats, numeric text), else InvalidInputError naming ``field``."""
    top = MAX_COUNT.get(field, _MAX_OTHER_COUNT)
    if type(value) is int and 1 <= value <= top:
        return value
    v = _scalar_number(value, field)
    if isinstance(v, np.ndarray):
        raise InvalidInputError(f"{field} must be a single whole number, got an array", field=field)
    if isinstance(v, float):
        if v.is_integer() and 1 <= v <= top:
            return int(v)
    elif 1 <= v <= top:
        return int(v)
    raise InvalidInputError(_count_message(field, v), field=field)


def _efficiency_message(field: str, value: Any) -> str:
    return f"{field} must be in [{MIN_EFFICIENCY:g}, 1], got {_show(value)}; give a fraction of peak such as 0.7"


def check_efficiency(value: Any, field: str) -> float:
    """One fraction in [0.0001, 1], else InvalidInputError naming ``field``."""
    v = _scalar_number(value, field)
    if isinstance(v, np.ndarray) or not MIN_EFFICIENCY <= v <= 1.0:
        raise InvalidInputError(_efficiency_message(field, v), field=field)
    return float(v)


def check_price(value: Any) -> float | None:
    """A price ≥ 0 in USD per GPU-hour, or None; else InvalidInputError."""
    if value is None:
        return None
    v = _scalar_number(value, "gpu_hour_usd")
    if isinstance(v, np.ndarray) or not 0 <= v <= MAX_PRICE_USD:
        raise InvalidInputError(_price_message(v), field="gpu_hour_usd")
    return float(v)


def check_method(value: Any) -> str:
    """'serving', 'standard' or 'reference' (any case; blank means serving), else UnknownNameError."""
    if type(value) is str and (value == "standard" or value == "reference" or value == "serving"):
        return value
    if isinstance(value, str):
        m = value.strip().lower()
        if m in METHODS:
            return m
        if not m:
            return "serving"
    raise UnknownNameError(
        f"unknown method {value!r}; use 'serving' (the default; what a serving engine measures), 'standard' "
        "(llm-analysis's roofline; dense models) or 'reference' (reproduces the published table)",
        field="method",
    )


def _resolve_model(model: Any) -> ModelSpec:
    from .specs import ModelSpec

    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        try:
            return catalog.get_model(model)
        except UnknownNameError:
            text = model.strip()
            if text.lower().endswith(".json") or os.path.isfile(text):
                return ModelSpec.from_hf_config(text)
            raise
    if isinstance(model, os.PathLike):
        return ModelSpec.from_hf_config(model)
    if isinstance(model, Mapping):
        return ModelSpec.from_hf_config(model)
    raise InvalidInputError(
        f"model must be a catalog name, a config.json path, a dict or a ModelSpec, got {type(model).__name__}",
        field="model",
    )


def _resolve_gpu(gpu: Any) -> GpuSpec:
    from .specs import GpuSpec, format_validation_error

    if isinstance(gpu, GpuSpec):
        return gpu
    if isinstance(gpu, str):
        return catalog.get_gpu(gpu)
    if isinstance(gpu, Mapping):
        from pydantic import ValidationError

        try:
            return GpuSpec(**{str(k): v for k, v in gpu.items()})
        except ValidationError as exc:
            raise InvalidInputError(format_validation_error(exc, "gpu", gpu.get("id")), field="gpu") from None
    raise InvalidInputError(
        f"gpu must be a catalog name, a dict of GPU fields or a GpuSpec, got {type(gpu).__name__}",
        field="gpu",
    )


def _resolve_dtype(dtype: Any) -> DtypeSpec:
    from .specs import DtypeSpec

    if isinstance(dtype, DtypeSpec):
        return dtype
    if isinstance(dtype, str):
        return catalog.get_dtype(dtype)
    raise InvalidInputError(f"dtype must be a name such as 'w16a16e16', got {type(dtype).__name__}", field="dtype")


def _divisors(n: int) -> list[int]:
    """The divisors of n in increasing order, in O(√n) steps."""
    small, large = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i * i != n:
                large.append(n // i)
        i += 1
    return small + large[::-1]


_terms_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
AnyTerms = Terms | ServingTerms


def _terms_for(model: ModelSpec, gpu: GpuSpec, dtype: DtypeSpec, tp: int, pp: int, method: str) -> AnyTerms:
    key = (id(model), id(gpu), id(dtype), tp, pp, method)
    hit = _terms_cache.get(key)
    if hit is not None and hit[0] is model and hit[1] is gpu and hit[2] is dtype:
        return hit[3]
    a = model.num_attention_heads
    if a % tp:
        options = ", ".join(str(d) for d in _divisors(a) if d <= 64)
        raise InvalidInputError(
            f"tp={tp} does not divide {model.id}'s {a} attention heads; use one of {options}", field="tp"
        )
    if pp > model.num_hidden_layers:
        raise InvalidInputError(
            f"pp={pp} exceeds {model.id}'s {model.num_hidden_layers} layers; use at most {model.num_hidden_layers}",
            field="pp",
        )
    kind = dtype.compute_kind
    peak = gpu.peak_tflops(kind)
    if peak is None:
        alt = {
            "int4": "w4a16e16 (int4 weights, fp16 compute)",
            "fp4": "mxfp4 (4-bit weights, bf16 compute) or fp8",
            "int8": "fp8 or w8a16e16 (int8 weights, fp16 compute)",
        }.get(kind, "w16a16e16 or w8a16e16")
        raise InvalidInputError(
            f"dtype {dtype.id!r} needs {kind} tensor cores, which {gpu.id} lacks; use {alt}", field="dtype"
        )
    if method == "serving":
        T: AnyTerms = serving.serving_terms(model, gpu, dtype, tp, pp, catalog.serving_constants(gpu), peak)
    else:
        T = terms(model, gpu, dtype, tp, pp, method, peak)
    if len(_terms_cache) > 512:
        _terms_cache.clear()
    _terms_cache[key] = (model, gpu, dtype, T)
    return T


def _memory_needs(T: AnyTerms, b: Any, s: Any, n: Any, mx: Any = max) -> tuple[Any, Any, Any, Any]:
    """Memory per GPU [bytes]: (prompt need, prefill activations, decode KV cache, decode activations).

    The prompt fits when free memory exceeds the prompt need; decoding when it exceeds
    KV cache + decode activations. `serving` counts the prompt's own KV cache in the prompt need.
    """
    if T.method == "serving":
        return serving.memory_needs(T, b, s, n, mx, min if mx is max else np.minimum)  # type: ignore[arg-type]
    act_pre = activation_bytes(T, b, s, mx)
    return act_pre, act_pre, kv_cache_bytes(T, b, s, n), activation_bytes(T, b, 1, mx)


def _fits(T: AnyTerms, b: Any, s: Any, n: Any) -> Any:
    """Whether weights, prompt activations and decoding all fit (element-wise)."""
    left = T.free_bytes
    need_pre, _, kv, act_dec = _memory_needs(T, b, s, n, np.maximum)
    return (left > 0) & (left > need_pre) & (left > kv + act_dec)


def _smallest_tp(
    model: ModelSpec, gpu: GpuSpec, dtype: DtypeSpec, tp: int, pp: int, method: str, b: Any, s: Any, n: Any
) -> np.ndarray:
    """Smallest tp > the given one that would fit each scenario (0 where none does)."""
    b, s, n = np.broadcast_arrays(np.asarray(b, float), np.asarray(s, float), np.asarray(n, float))
    best = np.zeros(b.shape, dtype=np.int64)
    todo = np.ones(b.shape, dtype=bool)
    for cand in _divisors(model.num_attention_heads):
        if cand <= tp:
            continue
        T = _terms_for(model, gpu, dtype, cand, pp, method)
        ok = todo & _fits(T, b, s, n)
        best[ok] = cand
        todo &= ~ok
        if not todo.any():
            break
    return best


def _tp_hint(tp_needed: int) -> str:
    if tp_needed:
        return f"try tp={tp_needed}"
    return "no tp fits; use a GPU with more memory, a smaller dtype or more pipeline stages (pp)"


# ---------------------------------------------------------------------------
# The entry point


def estimate(
    model: str | os.PathLike[str] | Mapping[str, Any] | ModelSpec,
    gpu: str | Mapping[str, Any] | GpuSpec,
    *,
    batch_size: Any = 1,
    prompt_tokens: Any,
    completion_tokens: Any,
    tp: int = 1,
    pp: int = 1,
    dtype: str | DtypeSpec = "w16a16e16",
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    gpu_hour_usd: Any = None,
    method: Literal["standard", "reference", "serving"] = "serving",
    on_error: Literal["raise", "nan"] = "raise",
    calibration: Any = None,
) -> Estimate:
    """Latency, throughput, memory and price of serving one model on one GPU type.

    Parameters
    ----------
    model : Catalog name or alias ("llama-2-70b", "meta-llama/Llama-2-70b-hf"), path of a
        Hugging Face ``config.json``, dict of its fields, or a :class:`ModelSpec`.
    gpu : Catalog name ("a100-sxm-80gb"), dict of :class:`GpuSpec` fields, or a GpuSpec.
    batch_size : Sequences decoded together [count]; number or array.
    prompt_tokens : Tokens in each prompt [tokens]; number or array.
    completion_tokens : Tokens generated for each sequence [tokens]; number or array.
    tp, pp : Tensor- and pipeline-parallel sizes; tp must divide the attention heads.
    dtype : ``wXaYeZ`` recipe or alias ("bf16", "fp8", "fp8-kv16", "int8-weight-only", "int4-awq",
        "mxfp4", "nvfp4" ...).
    flops_efficiency, hbm_efficiency : Fractions of peak compute and bandwidth, in (0, 1]; None
        takes the method's default (0.7 and 0.9 for `standard` and `reference`; the GPU's
        catalog values for `serving`).
    gpu_hour_usd : Price of one GPU for one hour [USD]; None takes the catalog price,
        and without one the price fields are None.
    method : "serving" (default; what a serving engine measures, fitted to public measurements;
        any model, including mixture of experts, latent attention and attention windows),
        "standard" (llm-analysis's roofline; dense models) or "reference" (reproduces the
        published table).
    on_error : "raise" (default) raises :class:`LlmxlError` for the first bad scenario;
        "nan" fills failed scenarios with NaN and puts their messages in ``errors``.
    calibration : A :class:`llmxl.Calibration` of this GPU: its fitted `serving`
        constants replace the catalog's (the same as passing ``calibration.spec`` as ``gpu``).

    Returns
    -------
    Estimate

    Notes
    -----
    `standard`/`reference`: TTFT = fwd(b, s); TPOT = fwd(b, 1) + 2 KV / M;
    tokens/s = b n / (TTFT + n TPOT). `serving`: TTFT = fwd(b, s, 0);
    TPOT = fwd(b, 1, s + (n - 1) / 2); tokens/s = b n / (TTFT + (n - 1) TPOT).
    Price per 1k tokens = 1000 price (tp pp) / 3600 / rate. See ``docs/methodology.md``.

    Examples
    --------
    The first row of the published Llama-2-70B table:

    >>> e = estimate("llama-2-70b", "a100-sxm-80gb", tp=2, batch_size=1, prompt_tokens=128,
    ...              completion_tokens=242, gpu_hour_usd=2.21, method="reference")
    >>> round(e.ttft_s, 3), round(e.tokens_per_s, 3), round(e.usd_per_1k_completion_tokens, 4)
    (0.04, 25.568, 0.0478)
    """
    method_ = check_method(method)
    if calibration is not None:
        gpu = _calibrated_gpu(gpu, calibration)
    if on_error not in ("raise", "nan"):
        raise InvalidInputError(f"on_error must be 'raise' or 'nan', got {on_error!r}", field="on_error")
    m, g, d, T, config_warnings, default_fe, default_he = _configuration(model, gpu, dtype, tp, pp, method_)
    price = g.usd_per_hour if gpu_hour_usd is None else gpu_hour_usd
    if flops_efficiency is None:
        flops_efficiency = default_fe
    if hbm_efficiency is None:
        hbm_efficiency = default_he
    warnings = list(config_warnings)
    if (
        on_error == "raise"
        and type(batch_size) is int
        and type(prompt_tokens) is int
        and type(completion_tokens) is int
        and type(flops_efficiency) is float
        and type(hbm_efficiency) is float
        and (price is None or type(price) is float or type(price) is int)
    ):
        return _scalar(
            m, g, d, T, batch_size, prompt_tokens, completion_tokens, flops_efficiency, hbm_efficiency, price, warnings
        )
    return _general(
        m,
        g,
        d,
        T,
        batch_size,
        prompt_tokens,
        completion_tokens,
        flops_efficiency,
        hbm_efficiency,
        price,
        warnings,
        on_error,
    )


_config_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _calibrated_gpu(gpu: Any, calibration: Any) -> GpuSpec:
    spec = getattr(calibration, "spec", None)
    if spec is None:
        raise InvalidInputError(
            f"calibration must be what llmxl.calibrate() returns, got {type(calibration).__name__}",
            field="calibration",
        )
    given = _resolve_gpu(gpu).id
    if given not in (calibration.gpu, spec.id):
        raise InvalidInputError(
            f"the calibration is of {calibration.gpu}, not {given}; pass gpu={calibration.gpu!r}",
            field="calibration",
        )
    return spec


def _configuration(
    model: Any, gpu: Any, dtype: Any, tp: Any, pp: Any, method: str
) -> tuple[ModelSpec, GpuSpec, DtypeSpec, AnyTerms, tuple[str, ...], float, float]:
    """Resolve and check what the workload does not change; remembered for names given as text."""
    cat = catalog.get_catalog()
    key = None
    if type(model) is str and type(gpu) is str and type(dtype) is str and type(tp) is int and type(pp) is int:
        key = (model, gpu, dtype, tp, pp, method)
        hit = _config_cache.get(key)
        if hit is not None and hit[0] is cat:  # a reloaded catalog invalidates it
            return hit[1]
    m = _resolve_model(model)
    g = _resolve_gpu(gpu)
    d = _resolve_dtype(dtype)
    t = check_count(tp, "tp")
    p = check_count(pp, "pp")
    if method != "serving":
        features = m.standard_only_features
        if features:
            raise InvalidInputError(
                f"{m.id} has {' and '.join(features)}, which method '{method}' cannot model; use method='serving'",
                field="method",
            )
    T = _terms_for(m, g, d, t, p, method)
    if T.free_bytes <= 0:
        need = _smallest_tp(m, g, d, t, p, method, 1, 1, 1)[()]
        raise DoesNotFitError(
            f"weights need {T.weights_per_gpu_bytes / _GIB:.1f} GiB per GPU but {g.id} has "
            f"{g.memory_gib:g} GiB; {_tp_hint(int(need))}",
            field="tp",
        )
    warnings: tuple[str, ...] = ()
    if m.num_hidden_layers % p:
        stage = T.stage_layers if method == "serving" else T.layers_per_gpu  # type: ignore[union-attr]
        warnings = (
            f"pp={p} does not divide {m.id}'s {m.num_hidden_layers} layers; each stage is modelled with {stage} layers",
        )
    if t * p > NODE_GPUS:
        warnings += (
            f"tp × pp = {t * p} GPUs is more than one {NODE_GPUS}-GPU node: the link between nodes is the network, "
            f"slower than the {g.interconnect_gbs:g} GB/s intra-node figure used here",
        )
    if method != "serving" and m.attention is not None:
        warnings += (
            f"{m.id}'s attention window ({m.attention.sliding_window} tokens) is not modelled by method "
            f"'{method}'; method='serving' models it",
        )
    fe, he = default_efficiencies(g, method)
    result = (m, g, d, T, warnings, fe, he)
    if key is not None and cat.found.get(("models", model)) is m:  # not for config.json paths, which may change
        if len(_config_cache) > 512:
            _config_cache.clear()
        _config_cache[key] = (cat, result)
    return result


def default_efficiencies(gpu: GpuSpec, method: str) -> tuple[float, float]:
    """The (FLOPs, HBM) efficiencies a method uses when the caller gives none.

    `serving`: the GPU's catalog values, else the method's fitted defaults; `standard` and
    `reference`: the published table's 0.7 and 0.9 (llmxl/data/methods.toml).
    """
    if method == "serving":
        c = catalog.serving_constants(gpu)
        return c.flops_efficiency, c.hbm_efficiency
    d = catalog.method_defaults(method)
    return d.flops_efficiency, d.hbm_efficiency


#: The defaults of :func:`estimate`'s keyword arguments; the CLI and Excel faces use these.
DEFAULTS: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(estimate).parameters.items()
    if p.default is not inspect.Parameter.empty
}


def _scalar(
    m: ModelSpec,
    g: GpuSpec,
    d: DtypeSpec,
    T: Terms,
    b: int,
    s: int,
    n: int,
    fe: float,
    he: float,
    price: Any,
    warnings: list[str],
) -> Estimate:
    """The fast path: Python ints and floats, on_error='raise'."""
    if not 1 <= b <= 10_000_000:
        raise InvalidInputError(_count_message("batch_size", b), field="batch_size")
    if not 1 <= s <= 1_000_000_000:
        raise InvalidInputError(_count_message("prompt_tokens", s), field="prompt_tokens")
    if not 1 <= n <= 1_000_000_000:
        raise InvalidInputError(_count_message("completion_tokens", n), field="completion_tokens")
    if not MIN_EFFICIENCY <= fe <= 1.0:
        raise InvalidInputError(_efficiency_message("flops_efficiency", fe), field="flops_efficiency")
    if not MIN_EFFICIENCY <= he <= 1.0:
        raise InvalidInputError(_efficiency_message("hbm_efficiency", he), field="hbm_efficiency")
    if price is not None and not 0 <= price <= MAX_PRICE_USD:
        raise InvalidInputError(_price_message(price), field="gpu_hour_usd")
    _check_context_scalar(m, T, s, n, warnings)
    return _compute(m, g, d, T, b, s, n, fe, he, price, warnings, max, None)


_NOT_FINITE = "the estimate is not a finite number; check the model's and the GPU's figures (units: GiB, GB/s, TFLOPS)"


def _price_message(price: Any) -> str:
    return (
        f"gpu_hour_usd must be a price from 0 to {MAX_PRICE_USD:,.0f}, got {_show(price)}; "
        "give USD per GPU per hour such as 2.21"
    )


def _check_context_scalar(m: ModelSpec, T: Terms, s: int, n: int, warnings: list[str]) -> None:
    ctx = T.context_tokens
    if s > ctx:
        raise InvalidInputError(
            f"prompt_tokens {s} exceeds {m.id}'s context of {ctx} tokens; use at most {ctx}",
            field="prompt_tokens",
        )
    if s + n > ctx:
        warnings.append(
            f"prompt_tokens + completion_tokens = {s + n} exceeds {m.id}'s context of {ctx} tokens; "
            "the estimate extrapolates"
        )


_figures_cache: dict[int, tuple[Any, tuple[int, int, float]]] = {}


def _model_figures(m: ModelSpec, T: AnyTerms) -> tuple[int, int, float]:
    """(total parameters, active parameters, KV bytes per token per GPU), fixed per configuration."""
    hit = _figures_cache.get(id(T))
    if hit is not None and hit[0] is T:
        return hit[1]
    serving_ = T.method == "serving"
    kv_token = T.c_kv * T.L if serving_ else kv_cache_bytes(T, 1, 1, 0)  # type: ignore[union-attr, arg-type]
    figures = (m.total_parameters, m.active_parameters, kv_token)
    if len(_figures_cache) > 512:
        _figures_cache.clear()
    _figures_cache[id(T)] = (T, figures)
    return figures


def _compute(
    m: ModelSpec,
    g: GpuSpec,
    d: DtypeSpec,
    T: AnyTerms,
    b: Any,
    s: Any,
    n: Any,
    fe: Any,
    he: Any,
    price: Any,
    warnings: list[str],
    mx: Any,
    errors: Any,
) -> Estimate:
    """The arithmetic, shared by the scalar and array paths (mx = max or np.maximum)."""
    F = T.peak_flops * fe
    M = T.bandwidth_bps * he
    total, active, kv_token = _model_figures(m, T)
    if T.method == "serving":
        mn = min if mx is max else np.minimum
        pre = serving.forward(T, b, s, 0, F, M, True, mx, mn)  # type: ignore[arg-type]
        dec = serving.forward(T, b, 1, s + (n - 1) * 0.5, F, M, False, mx, mn)  # type: ignore[arg-type]
        ttft = pre[0] + pre[1] + pre[2] + pre[3] + pre[4]
        tpot = dec[0] + dec[1] + dec[2] + dec[3] + dec[4]
        kv_s = 0.0 * tpot
        steps = n - 1
        E = T.experts  # type: ignore[union-attr]
        experts = serving.experts_touched(E, T.experts_per_token, b) if E else None  # type: ignore[union-attr]
        need_pre, act_pre, kv, act_dec = serving.memory_needs(T, b, s, n, mx, mn)  # type: ignore[arg-type]
    else:
        pre = forward_pass(T, b, s, F, M, mx)  # type: ignore[arg-type]
        dec = forward_pass(T, b, 1, F, M, mx)  # type: ignore[arg-type]
        act_pre, act_dec = pre[6], dec[6]
        steps = n
        experts = None
        need_pre = act_pre
        kv = kv_cache_bytes(T, b, s, n)  # type: ignore[arg-type]
        kv_s = 2 * kv / M
        ttft = pre[0] + pre[1] + pre[2] + pre[3] + pre[4] + pre[5]
        tpot = dec[0] + dec[1] + dec[2] + dec[3] + dec[4] + dec[5] + kv_s
    left = T.free_bytes
    if errors is None and not (mx is max and left > need_pre and left > kv + act_dec):  # raise mode
        _raise_if_not_fit(m, g, d, T, b, s, n, need_pre, act_dec, kv, left)
    if mx is max and not (ttft < math.inf and tpot < math.inf):  # a guarantee; the input ranges keep this away
        raise InvalidInputError(_NOT_FINITE, field="gpu")
    max_batch_f = left / ((kv + act_dec) / b)
    max_batch = math.floor(max_batch_f) if mx is max else np.floor(max_batch_f)
    return _new_estimate(
        (
            m.id,
            g.id,
            d.id,
            T.method,
            T.t,
            T.p,
            b,
            s,
            n,
            fe,
            he,
            price,
            ttft,
            tpot,
            steps * tpot,
            total,
            active,
            kv_token,
            experts,
            T.weights_per_gpu_bytes,
            kv,
            act_pre,
            max_batch,
            tuple(warnings),
            errors,
        ),
        # breakdown parts, memory needs (for the fit masks), and (shape, failed) once broadcast
        (pre, dec, kv_s, (need_pre, act_dec), None),
    )


def _raise_if_not_fit(
    m: ModelSpec,
    g: GpuSpec,
    d: DtypeSpec,
    T: Terms,
    b: Any,
    s: Any,
    n: Any,
    need_pre: Any,
    act_dec: Any,
    kv: Any,
    left: float,
) -> None:
    prompt_bad = np.logical_not(left > need_pre)
    decode_bad = np.logical_not(left > kv + act_dec)
    if not (np.any(prompt_bad) or np.any(decode_bad)):
        return
    arrays = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (b, s, n, need_pre, act_dec, kv)))
    bad = np.broadcast_to(prompt_bad | decode_bad, arrays[0].shape)
    i = tuple(int(j) for j in np.argwhere(bad)[0]) if bad.ndim else ()
    vals = [float(a[i]) for a in arrays]
    where = "" if not i else f"scenario {list(i) if len(i) > 1 else i[0]}: "
    need = int(_smallest_tp(m, g, d, T.t, T.p, T.method, *vals[:3])[()])
    raise DoesNotFitError(where + _fit_message(m, g, T, *vals, left, need), field="batch_size")


def _general(
    m: ModelSpec,
    g: GpuSpec,
    d: DtypeSpec,
    T: Terms,
    batch_size: Any,
    prompt_tokens: Any,
    completion_tokens: Any,
    flops_efficiency: Any,
    hbm_efficiency: Any,
    price: Any,
    warnings: list[str],
    on_error: str,
) -> Estimate:
    """Any mix of scalars and arrays, either error mode."""
    raw = {
        "batch_size": _scalar_number(batch_size, "batch_size"),
        "prompt_tokens": _scalar_number(prompt_tokens, "prompt_tokens"),
        "completion_tokens": _scalar_number(completion_tokens, "completion_tokens"),
        "flops_efficiency": _scalar_number(flops_efficiency, "flops_efficiency"),
        "hbm_efficiency": _scalar_number(hbm_efficiency, "hbm_efficiency"),
    }
    if price is not None:
        raw["gpu_hour_usd"] = _scalar_number(price, "gpu_hour_usd")
    arrays = {k: v for k, v in raw.items() if isinstance(v, np.ndarray)}
    if not arrays:
        if on_error == "raise":
            b, s, n = (check_count(raw[k], k) for k in ("batch_size", "prompt_tokens", "completion_tokens"))
            fe, he = float(raw["flops_efficiency"]), float(raw["hbm_efficiency"])
            return _scalar(m, g, d, T, b, s, n, fe, he, raw.get("gpu_hour_usd"), warnings)
        # nan mode with scalars: run the array path on one element, then unwrap.
        one = _general(
            m,
            g,
            d,
            T,
            *(
                [raw[k]]
                for k in ("batch_size", "prompt_tokens", "completion_tokens", "flops_efficiency", "hbm_efficiency")
            ),
            None if price is None else [raw["gpu_hour_usd"]],
            warnings,
            on_error,
        )
        return _unwrap(one)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise InvalidInputError(
            f"array inputs do not broadcast together: {shapes}; give equal shapes", field=next(iter(arrays))
        ) from None
    with np.errstate(all="ignore"):
        bad, reasons = _check_arrays(m, T, raw, shape, on_error)
        b, s, n = raw["batch_size"], raw["prompt_tokens"], raw["completion_tokens"]
        fe, he = raw["flops_efficiency"], raw["hbm_efficiency"]
        pr = raw.get("gpu_hour_usd")
        total = s + n
        over = total > T.context_tokens
        if np.any(over & ~bad):
            count = int(np.count_nonzero(np.broadcast_to(over & ~bad, shape)))
            first = float(np.broadcast_to(total, shape)[np.broadcast_to(over & ~bad, shape)][0])
            warnings.append(
                f"{count} scenario{'s' if count > 1 else ''}: prompt_tokens + completion_tokens "
                f"(e.g. {first:g}) exceeds {m.id}'s context of {T.context_tokens} tokens; the estimate extrapolates"
            )
        if on_error == "raise":
            e = _compute(m, g, d, T, b, s, n, fe, he, pr, warnings, np.maximum, None)
            if not (np.all(np.isfinite(e.ttft_s)) and np.all(np.isfinite(e.tpot_s))):
                raise InvalidInputError(_NOT_FINITE, field="gpu")
            return _broadcast_result(e, shape)
        e = _compute(m, g, d, T, b, s, n, fe, he, pr, warnings, np.maximum, np.array([None], dtype=object))
        left = T.free_bytes
        (need_pre, act_dec), kv = e._parts[3], e.kv_cache_bytes_per_gpu
        fit_bad = np.broadcast_to(~bad & ~((left > need_pre) & (left > kv + act_dec)), shape)
        messages = np.full(shape, None, dtype=object)
        for idx, exc in reasons:
            messages[idx] = exc
        if fit_bad.any():
            vals = np.broadcast_arrays(*(np.asarray(x, float) for x in (b, s, n, need_pre, act_dec, kv)))
            vals = [np.broadcast_to(v, shape) for v in vals]
            sel = np.nonzero(fit_bad)
            sub = [v[sel] for v in vals]
            needs = _smallest_tp(m, g, d, T.t, T.p, T.method, sub[0], sub[1], sub[2])
            for j, idx in enumerate(zip(*sel, strict=True)):
                messages[idx] = DoesNotFitError(
                    _fit_message(m, g, T, *(x[j] for x in sub), left, int(needs[j])), field="batch_size"
                )
        failed = np.broadcast_to(bad, shape) | fit_bad
        return _broadcast_result(e, shape, failed, messages)


def _fit_message(
    m: ModelSpec,
    g: GpuSpec,
    T: AnyTerms,
    b: float,
    s: float,
    n: float,
    need_pre: float,
    act_dec: float,
    kv: float,
    left: float,
    need: int,
) -> str:
    hint = _tp_hint(need)
    # Both needs grow in proportion to the batch: the largest batch that fits is the same for
    # either message. Strictly below left / per-sequence need, since fitting means left > need.
    per_sequence = max(need_pre, kv + act_dec) / b
    max_batch = math.ceil(left / per_sequence) - 1 if per_sequence > 0 else 0
    fix = f"use batch_size ≤ {max_batch} or {hint}" if max_batch >= 1 else hint
    if not left > need_pre:
        what = "prompt activations and KV cache" if T.method == "serving" else "prompt activations"
        need_gib, left_gib = _gib_apart(need_pre, left)
        return (
            f"{what} for batch_size {b:g} × {s:g} tokens need {need_gib} GiB per GPU "
            f"but {left_gib} GiB is left after weights on {g.id}; {fix}"
        )
    kv_gib, left_gib = _gib_apart(kv, left)
    return (
        f"KV cache for batch_size {b:g} × {s + n:g} tokens needs {kv_gib} GiB per GPU "
        f"(plus {_gib_or_mib(act_dec)} activations) but {left_gib} GiB is left after weights "
        f"on {g.id}; {fix}"
    )


def _gib_or_mib(n: float) -> str:
    """A byte count in GiB, or in MiB below a tenth of a GiB, where "0.0 GiB" would hide it."""
    return f"{n / _GIB:.1f} GiB" if n >= _GIB / 10 else f"{n / 2**20:.1f} MiB"


def _gib_apart(a: float, b: float) -> tuple[str, str]:
    """Two byte counts in GiB with one decimal, or as many more (up to four) as it takes for them to read
    differently: "need 177.4 GiB but 177.4 GiB is left" would read as a contradiction."""
    for digits in range(1, 5):
        x, y = f"{a / _GIB:.{digits}f}", f"{b / _GIB:.{digits}f}"
        if x != y:
            break
    return x, y


def _check_arrays(
    m: ModelSpec, T: Terms, raw: dict[str, Any], shape: tuple[int, ...], on_error: str
) -> tuple[Any, list[tuple[Any, str]]]:
    """Validate every element; raise on the first bad one, or collect (index, message)."""
    bad = np.zeros(shape, dtype=bool)
    reasons: list[tuple[Any, str]] = []
    checks = [
        *(
            (
                name,
                lambda x, top=MAX_COUNT[name]: (x >= 1) & (x <= top) & (x == np.floor(x)),
                lambda k, v: _count_message(k, v),
            )
            for name in ("batch_size", "prompt_tokens", "completion_tokens")
        ),
        *(
            (name, lambda x: (x >= MIN_EFFICIENCY) & (x <= 1), _efficiency_message)
            for name in ("flops_efficiency", "hbm_efficiency")
        ),
        ("gpu_hour_usd", lambda x: (x >= 0) & (x <= MAX_PRICE_USD), lambda k, v: _price_message(v)),
        (
            "prompt_tokens",
            lambda x: ~(x > T.context_tokens),
            lambda k, v: (
                f"prompt_tokens {_show(v)} exceeds {m.id}'s context of {T.context_tokens} tokens; "
                f"use at most {T.context_tokens}"
            ),
        ),
    ]
    for field, ok_fn, msg_fn in checks:
        if field not in raw:
            continue
        value = raw[field]
        ok = ok_fn(np.asarray(value))
        if np.all(ok):
            continue
        wrong = np.broadcast_to(~ok, shape) & ~bad
        if not wrong.any():
            continue
        vals = np.broadcast_to(np.asarray(value, dtype=float), shape)
        if on_error == "raise":
            i = tuple(int(j) for j in np.argwhere(wrong)[0])
            label = f"{field}[{', '.join(map(str, i))}]" if np.ndim(value) else field
            msg = msg_fn(label, float(vals[i]))
            exc = InvalidInputError(msg, field=field)
            raise exc
        for i in zip(*np.nonzero(wrong), strict=True):
            reasons.append((i, InvalidInputError(msg_fn(field, float(vals[i])), field=field)))
        bad |= wrong
    return bad, reasons


_ARRAY_RESULTS = (
    "ttft_s",
    "tpot_s",
    "completion_time_s",
    "kv_cache_bytes_per_gpu",
    "activation_bytes_per_gpu",
    "max_batch_size",
)
_ARRAY_INPUTS = ("batch_size", "prompt_tokens", "completion_tokens", "flops_efficiency", "hbm_efficiency")


def _full(x: Any, shape: tuple[int, ...], failed: Any) -> Any:
    """``x`` at the full shape, NaN where a scenario failed (a read-only view when none did)."""
    if failed is None:
        return np.broadcast_to(np.asarray(x, dtype=float), shape)
    out = np.array(np.broadcast_to(x, shape), dtype=float)
    out[failed] = np.nan
    out.flags.writeable = False
    return out


def _broadcast_result(e: Estimate, shape: tuple[int, ...], failed: Any = None, messages: Any = None) -> Estimate:
    """Give every workload field the full shape; NaN where a scenario failed.

    The breakdown is brought to the full shape when it is first read.
    """
    if failed is not None and not failed.any():
        failed = None
    values = {name: _full(getattr(e, name), shape, failed) for name in _ARRAY_RESULTS}
    for name in _ARRAY_INPUTS:  # copies: the caller's arrays may change later
        values[name] = np.array(np.broadcast_to(getattr(e, name), shape), dtype=float)
    if e.gpu_hour_usd is not None:
        values["gpu_hour_usd"] = np.array(np.broadcast_to(e.gpu_hour_usd, shape), dtype=float)
    if e.experts_per_decode_step is not None:
        values["experts_per_decode_step"] = _full(e.experts_per_decode_step, shape, failed)
    if messages is not None:
        values["errors"] = messages
    pre, dec, kv_s, needs, _ = e._parts  # type: ignore[attr-defined]
    return e._replace(values=values, parts=(pre, dec, kv_s, needs, (shape, failed)))


def _unwrap(e: Estimate) -> Estimate:
    """Turn a one-element array result back into scalars (nan mode with scalar inputs)."""

    def one(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            v = x.reshape(-1)[0]
            return v.item() if hasattr(v, "item") else v
        return x

    names = (*_ARRAY_RESULTS, *_ARRAY_INPUTS, "gpu_hour_usd", "errors", "experts_per_decode_step")
    values = {name: one(getattr(e, name)) for name in names}
    if isinstance(values["max_batch_size"], float) and math.isfinite(values["max_batch_size"]):
        values["max_batch_size"] = int(values["max_batch_size"])
    for name in ("batch_size", "prompt_tokens", "completion_tokens"):
        v = values[name]
        if isinstance(v, float) and v.is_integer():
            values[name] = int(v)
    pre, dec, kv_s, needs, frame = e._parts  # type: ignore[attr-defined]
    if frame is not None:
        pre, dec, kv_s = tuple(_full(x, *frame) for x in pre), tuple(_full(x, *frame) for x in dec), _full(kv_s, *frame)
    parts = (tuple(one(x) for x in pre), tuple(one(x) for x in dec), one(kv_s), tuple(one(x) for x in needs), None)
    return e._replace(values=values, parts=parts)
