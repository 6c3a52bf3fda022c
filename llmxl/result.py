"""What :func:`llmxl.estimate` returns: :class:`Estimate` and its per-component :class:`Breakdown`.

Immutable result objects, their documentation (every field with its unit) and ``to_dict``, and the
helpers that give array results their broadcast shape. Nothing here computes an estimate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .formulas import usd_per_1k_tokens

__all__ = ["COMPONENTS", "Breakdown", "Estimate", "LatencyBreakdown"]

COMPONENTS = (
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

    __slots__ = COMPONENTS

    attention_s: Any
    mlp_s: Any
    norm_s: Any
    communication_s: Any
    embedding_s: Any
    logits_s: Any
    overhead_s: Any
    kv_cache_s: Any

    def __init__(self, *values: Any) -> None:
        for name, value in zip(COMPONENTS, values, strict=True):
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
        return {name: getattr(self, name) for name in COMPONENTS}

    def __repr__(self) -> str:
        return "LatencyBreakdown(" + ", ".join(f"{n}={_short(getattr(self, n))}" for n in COMPONENTS) + ")"


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
    "prefix_cache_hit",
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
    "usd_per_1k_uncached_prompt_tokens",
    "usd_per_1k_cached_prompt_tokens",
)


class Estimate(_Frozen):
    """The outcome of :func:`estimate`, immutable.

    Inputs are echoed back (``model``, ``gpu`` and ``dtype`` as ids). With array
    inputs every result is an array of the broadcast shape.

    Attributes
    ----------
    prefix_cache_hit : Fraction of each prompt's tokens read from the prefix cache (0: none); the prefill
        computes the rest (docs/methodology.md, "Prefix caching").
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
    usd_per_1k_uncached_prompt_tokens, usd_per_1k_cached_prompt_tokens : With prefix-cache hits, the prefill's
        cost split between the prompt tokens it computes and those it reads from the cache [USD per 1000 of each]:
        the cached ones carry prefill_cached_s, what reading and attending to their KV adds to the pass, the
        computed ones the rest. Without hits the uncached price is usd_per_1k_prompt_tokens and the cached None;
        None when no price is known.
    prefill_cached_s : fwd(b, u, c) − fwd(b, u, 0), the part of the prefill pass spent on the c cached tokens
        of each prompt [s]; 0 without hits.
    weight_bytes_per_gpu : Weights held by each GPU [bytes].
    kv_cache_bytes_per_gpu : KV cache for batch_size sequences of prompt + completion tokens [bytes].
    activation_bytes_per_gpu : Peak activation buffer, during prefill [bytes].
    max_batch_size : Largest batch whose KV cache and activations fit while decoding.
    num_gpus : tp * dp * pp, the GPUs of one replica.
    dp, ep : Attention data-parallel and expert-parallel ranks (1 and 1 without a layout; llmxl.parallel).
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
    prefix_cache_hit: float
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
    prefill_cached_s: Any
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
        """tp * dp * pp: the GPUs of one replica."""
        return self.tp * self.dp * self.pp  # type: ignore[attr-defined]

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

    def _prompt_split(self) -> tuple[Any, Any, Any]:
        """(cost of the prefill pass [USD], computed, cached prompt tokens), or None without a price."""
        from .prefix import split

        price = self.gpu_hour_usd
        if price is None:
            return None  # type: ignore[return-value]
        mx = max if np.ndim(self.prompt_tokens) == 0 else np.maximum
        u, c = split(self.prompt_tokens, self.prefix_cache_hit, mx)
        return price * self.num_gpus / 3600, self.batch_size * u, self.batch_size * c

    @property
    def usd_per_1k_uncached_prompt_tokens(self) -> Any:
        """Cost of 1000 prompt tokens the prefill computes [USD]: the pass less prefill_cached_s, over the b u
        computed tokens; usd_per_1k_prompt_tokens without hits; None without a price."""
        if not self.prefix_cache_hit or self.gpu_hour_usd is None:
            return self.usd_per_1k_prompt_tokens
        per_s, u, _ = self._prompt_split()
        return 1000 * per_s * (self.ttft_s - self.prefill_cached_s) / u

    @property
    def usd_per_1k_cached_prompt_tokens(self) -> Any:
        """Cost of 1000 prompt tokens read from the prefix cache [USD]: prefill_cached_s over the b c cached
        tokens; None without hits or without a price."""
        if not self.prefix_cache_hit or self.gpu_hour_usd is None:
            return None
        per_s, _, c = self._prompt_split()
        return 1000 * per_s * self.prefill_cached_s / c

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
        return new_estimate(tuple(stored), parts)

    def to_dict(self) -> dict[str, Any]:
        """Inputs, results, warnings, errors and breakdown as a plain dict."""
        out = {name: getattr(self, name) for name in _INPUT_FIELDS + _RESULT_FIELDS}
        if self.dp != 1 or self.ep != 1:  # type: ignore[attr-defined]  # a layout (llmxl.parallel) says so
            out = {**{k: out[k] for k in _INPUT_FIELDS[:6]}, "dp": self.dp, "ep": self.ep, **out}  # type: ignore[attr-defined]
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
    "prefill_cached_s",
    "warnings",
    "errors",
    "dp",
    "ep",
)
_STORED_INDEX = {name: i for i, name in enumerate(_STORED)}
for _i, _name in enumerate(_STORED):
    setattr(Estimate, _name, property(lambda self, _i=_i: self._v[_i]))
del _i, _name


def _components(p: tuple[Any, ...], kv_s: Any) -> tuple[Any, ...]:
    """The breakdown components of one pass, as COMPONENTS orders them.

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


def new_estimate(values: tuple[Any, ...], parts: tuple[Any, ...]) -> Estimate:
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


_ARRAY_RESULTS = (
    "ttft_s",
    "tpot_s",
    "completion_time_s",
    "kv_cache_bytes_per_gpu",
    "activation_bytes_per_gpu",
    "max_batch_size",
    "prefill_cached_s",
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


def broadcast_result(e: Estimate, shape: tuple[int, ...], failed: Any = None, messages: Any = None) -> Estimate:
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


def unwrap(e: Estimate) -> Estimate:
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
