"""``estimate()``: the one entry point every face of llmxl calls.

It resolves the model, GPU and dtype (:mod:`llmxl.resolve`), checks every input
(:mod:`llmxl.checks`), runs the arithmetic of :mod:`llmxl.formulas` or
:mod:`llmxl.serving` and returns a frozen :class:`~llmxl.result.Estimate`.
Workload inputs (batch size, token counts, efficiencies, price) may be numpy
arrays: results then have their broadcast shape and equal scalar calls element
by element. A broadcast shape of more than :data:`~llmxl.checks.MAX_ARRAY_ELEMENTS`
(10 million) scenarios is refused, and so is a masked array with masked entries:
llmxl never computes an entry the caller masked.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import parallel, prefix, serving
from .checks import (
    MAX_ARRAY_ELEMENTS,
    MAX_COUNT,
    MAX_PRICE_USD,
    METHODS,
    MIN_EFFICIENCY,
    as_number,
    check_count,
    check_efficiency,
    check_method,
    count_message,
    efficiency_message,
    format_value,
    price_message,
)
from .errors import DoesNotFitError, InvalidInputError
from .formulas import Terms, forward_pass, kv_cache_bytes
from .resolve import (
    AnyTerms,
    calibrated_gpu,
    configuration,
    default_efficiencies,
    fit_message,
    raise_if_not_fit,
    released_dtype,
    resolve_gpu,
    smallest_tp,
    speculative_terms,
)
from .result import Breakdown, Estimate, LatencyBreakdown, broadcast_result, new_estimate, unwrap
from .speculative import decode_step as speculative_step

if TYPE_CHECKING:
    from .specs import DtypeSpec, GpuSpec, ModelSpec

__all__ = ["DEFAULTS", "METHODS", "Breakdown", "Estimate", "LatencyBreakdown", "estimate", "scenario_defaults"]


def estimate(
    model: str | os.PathLike[str] | Mapping[str, Any] | ModelSpec,
    gpu: str | Mapping[str, Any] | GpuSpec,
    *,
    batch_size: Any = 1,
    prompt_tokens: Any,
    completion_tokens: Any,
    tp: int = 1,
    pp: int = 1,
    dtype: str | DtypeSpec | None = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    gpu_hour_usd: Any = None,
    method: Literal["standard", "reference", "serving"] = "serving",
    on_error: Literal["raise", "nan"] = "raise",
    calibration: Any = None,
    dp: int = 1,
    ep: int | None = None,
    redundant_experts: int = 0,
    speculative: str | None = None,
    num_speculative_tokens: Any = None,
    acceptance_rate: Any = None,
    prefix_cache_hit: Any = 0.0,
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
        "mxfp4", "nvfp4" ...); None (default) takes the precision the model's weights are published in
        (:func:`llmxl.released_dtype`: mxfp4 for gpt-oss, fp8 for DeepSeek-V3, bf16 for most), and
        ``Estimate.dtype`` names the one used.
    flops_efficiency, hbm_efficiency : Fractions of peak compute and bandwidth, in (0, 1]; None
        takes the method's default (0.7 and 0.9 for `standard` and `reference`; for `serving` the
        GPU entry's own constants, else the defaults fitted to the GPUs of
        llmxl/data/methods.toml's fitted_gpus, and on any other GPU ``warnings`` says they are borrowed).
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
    dp, ep, redundant_experts : Expert parallelism with data-parallel attention (mixture-of-experts
        models, `serving`): dp attention ranks of tp GPUs each, each holding batch_size / dp sequences;
        ep = 1 (experts tensor-parallel over the tp × dp GPUs) or tp × dp (whole experts per GPU, the
        routed tokens exchanged by an all-to-all; None, the default, takes tp × dp when dp > 1, else 1);
        redundant_experts places that many routed experts twice so that E + R spreads over ep (EPLB).
        vLLM ``-tp T -dp D --enable-expert-parallel`` is tp=T, dp=D, ep=T·D; SGLang ``--tp N --dp D
        --enable-dp-attention --ep N`` is tp=N/D, dp=D, ep=N. A replica is tp × dp × pp GPUs. ``gpu``
        may name a system (``"gb200-nvl72"``, ``"hgx-h200"``) whose links each collective is charged
        on. See methodology.md, "Expert and data parallelism".
    speculative : None (default: no speculative decoding, today's results), "mtp" (DeepSeek's multi-token
        prediction module), "eagle3" (a one-layer draft head) or "ngram" (prompt lookup); `serving` only.
        Decode steps verify num_speculative_tokens drafts and yield (1 - a^(k+1)) / (1 - a) tokens each.
    num_speculative_tokens : k, draft tokens per step, 1 to 16; None takes the k of the published figure.
    acceptance_rate : a, the probability that a draft token is accepted (given the ones before it were), in
        [0, 1); None takes the published figure for the model and method (llmxl/data/speculative.toml),
        and without one the call is refused.
    prefix_cache_hit : Fraction of each prompt's tokens served from the engine's prefix cache, in [0, 1)
        (`serving` only; default 0, none): prefill computes max((1 - h) s, 1) tokens and attends over all s
        (docs/methodology.md, "Prefix caching"). A number, not an array.

    Returns
    -------
    Estimate

    Notes
    -----
    `standard`/`reference`: TTFT = fwd(b, s); TPOT = fwd(b, 1) + 2 KV / M;
    tokens/s = b n / (TTFT + n TPOT). `serving`: TTFT = fwd(b, s, 0);
    TPOT = fwd(b, 1, s + (n - 1) / 2); tokens/s = b n / (TTFT + (n - 1) TPOT). With a prefix-cache hit
    fraction h: TTFT = fwd(b, u, s - u) with u = max((1 - h) s, 1) prompt tokens computed.
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
        gpu = calibrated_gpu(gpu, calibration)
    if on_error not in ("raise", "nan"):
        raise InvalidInputError(f"on_error must be 'raise' or 'nan', got {on_error!r}", field="on_error")
    hit = prefix.check_prefix_cache_hit(prefix_cache_hit)
    if hit and method_ != "serving":
        raise InvalidInputError(
            f"prefix_cache_hit {hit:g} is modelled by the serving method only, not {method_}; use "
            "method='serving' or prefix_cache_hit=0",
            field="prefix_cache_hit",
        )
    m, g, d, T, config_warnings, default_fe, default_he = configuration(
        model, gpu, dtype, tp, pp, method_, dp, ep, redundant_experts
    )
    price = g.usd_per_hour if gpu_hour_usd is None else gpu_hour_usd
    if flops_efficiency is None:
        flops_efficiency = default_fe
    if hbm_efficiency is None:
        hbm_efficiency = default_he
    warnings = list(config_warnings)
    spec = None
    if speculative is not None or num_speculative_tokens is not None or acceptance_rate is not None:
        T, spec = speculative_terms(m, T, speculative, num_speculative_tokens, acceptance_rate, warnings)
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
            spec,
            hit,
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
        spec,
        hit,
    )


DEFAULTS: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(estimate).parameters.items()
    if p.default is not inspect.Parameter.empty
}


def scenario_defaults(
    gpu: str | Mapping[str, Any] | GpuSpec, *, method: str = "serving", model: Any = None
) -> dict[str, Any]:
    """What :func:`estimate` takes for every keyword left out, for this GPU, method and model.

    A face that fills blanks itself (an Excel range with empty cells, a CLI option not given) asks
    here, so that a blank means exactly what leaving the argument out of ``estimate()`` means.

    Returns
    -------
    dict : :data:`DEFAULTS`, with ``method`` checked, ``gpu_hour_usd`` the GPU's catalog price (None
        when it has none), ``flops_efficiency``/``hbm_efficiency`` the method's defaults for the GPU and,
        given a model, ``dtype`` the precision its weights are published in (None without a model: each
        model's own then).

    Examples
    --------
    >>> d = scenario_defaults("a100-sxm-80gb", method="reference", model="llama-2-70b")
    >>> d["flops_efficiency"], d["hbm_efficiency"], d["dtype"]
    (0.7, 0.9, 'w16a16e16')
    >>> scenario_defaults("h200-sxm-141gb", model="gpt-oss-120b")["dtype"]
    'mxfp4'
    """
    g = resolve_gpu(gpu)
    method_ = check_method(method)
    fe, he = default_efficiencies(g, method_)
    dtype = None if model is None else released_dtype(model)[0].id
    return {
        **DEFAULTS,
        "method": method_,
        "gpu_hour_usd": g.usd_per_hour,
        "flops_efficiency": fe,
        "hbm_efficiency": he,
        "dtype": dtype,
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
    spec: Any = None,
    hit: float = 0.0,
) -> Estimate:
    """The fast path: Python ints and floats, on_error='raise'."""
    if not 1 <= b <= 10_000_000:
        raise InvalidInputError(count_message("batch_size", b), field="batch_size")
    if not 1 <= s <= 1_000_000_000:
        raise InvalidInputError(count_message("prompt_tokens", s), field="prompt_tokens")
    if not 1 <= n <= 1_000_000_000:
        raise InvalidInputError(count_message("completion_tokens", n), field="completion_tokens")
    if not MIN_EFFICIENCY <= fe <= 1.0:
        raise InvalidInputError(efficiency_message("flops_efficiency", fe), field="flops_efficiency")
    if not MIN_EFFICIENCY <= he <= 1.0:
        raise InvalidInputError(efficiency_message("hbm_efficiency", he), field="hbm_efficiency")
    if price is not None and not 0 <= price <= MAX_PRICE_USD:
        raise InvalidInputError(price_message(price), field="gpu_hour_usd")
    if type(price) is float:
        price += 0.0  # -0.0 is 0: no price prints as "$-0.00"
    _check_context_scalar(m, T, s, n, warnings)
    return _compute(m, g, d, T, b, s, n, fe, he, price, warnings, max, None, spec, hit)


_NOT_FINITE = "the estimate is not a finite number; check the model's and the GPU's figures (units: GiB, GB/s, TFLOPS)"


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
    spec: Any = None,
    hit: float = 0.0,
) -> Estimate:
    """The arithmetic, shared by the scalar and array paths (mx = max or np.maximum)."""
    F = T.peak_flops * fe
    M = T.bandwidth_bps * he
    total, active, kv_token = _model_figures(m, T)
    if T.method == "serving":
        mn = min if mx is max else np.minimum
        if hit:  # u prompt tokens computed over c read from the prefix cache (llmxl.prefix)
            u, c = prefix.split(s, hit, mx)
            pre = serving.forward(T, b, u, c, F, M, True, mx, mn)  # type: ignore[arg-type]
            alone = serving.forward(T, b, u, 0, F, M, True, mx, mn)  # type: ignore[arg-type]
        else:
            pre = serving.forward(T, b, s, 0, F, M, True, mx, mn)  # type: ignore[arg-type]
        if spec is None:
            dec = serving.forward(T, b, 1, s + (n - 1) * 0.5, F, M, False, mx, mn)  # type: ignore[arg-type]
        else:  # a step verifies k drafts and yields tau tokens: per token, each part over tau
            step = speculative_step(T, spec, b, s + (n - 1) * 0.5, F, M, mx, mn)  # type: ignore[arg-type]
            dec = tuple(x / spec.tau for x in step)  # type: ignore[assignment]
        ttft = pre[0] + pre[1] + pre[2] + pre[3] + pre[4]
        cached_s = ttft - sum(alone) if hit else 0.0 * ttft
        tpot = dec[0] + dec[1] + dec[2] + dec[3] + dec[4]
        kv_s = 0.0 * tpot
        steps = n - 1
        E = T.experts  # type: ignore[union-attr]
        routed = b if spec is None else b * (spec.k + 1)
        experts = serving.experts_touched(E, T.experts_per_token, routed) if E else None  # type: ignore[union-attr]
        if E and T.ep > 1:  # type: ignore[union-attr]  # the experts of one GPU, touched by the replica's tokens
            experts = parallel.experts_touched_per_gpu(T, routed)  # type: ignore[arg-type]
        need_pre, act_pre, kv, act_dec = serving.memory_needs(T, b, s, n, mx, mn)  # type: ignore[arg-type]
        if spec is not None:  # the verification pass holds k + 1 positions of each sequence
            act_dec = serving.activation_bytes(T, b * (spec.k + 1), 1, mx)  # type: ignore[arg-type]
        if hit:  # the prompt's whole KV is held; activations are those of the u tokens computed
            act_pre = serving.activation_bytes(T, b, u, mx)  # type: ignore[arg-type]
            need_pre = act_pre + serving.kv_cache_bytes(T, b, s, mn)  # type: ignore[arg-type]
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
        cached_s = 0.0 * ttft
        tpot = dec[0] + dec[1] + dec[2] + dec[3] + dec[4] + dec[5] + kv_s
    left = T.free_bytes
    if errors is None and not (mx is max and left > need_pre and left > kv + act_dec):  # raise mode
        raise_if_not_fit(m, g, d, T, b, s, n, need_pre, act_dec, kv, left)
    if mx is max and not (ttft < math.inf and tpot < math.inf):  # a guarantee; the input ranges keep this away
        raise InvalidInputError(_NOT_FINITE, field="gpu")
    max_batch_f = left / ((kv + act_dec) / b)
    max_batch = math.floor(max_batch_f) if mx is max else np.floor(max_batch_f)
    return new_estimate(
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
            hit,
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
            cached_s,
            tuple(warnings),
            errors,
            getattr(T, "dp", 1),
            getattr(T, "ep", 1),
        ),
        # breakdown parts, memory needs (for the fit masks), and (shape, failed) once broadcast
        (pre, dec, kv_s, (need_pre, act_dec), None),
    )


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
    spec: Any = None,
    hit: float = 0.0,
) -> Estimate:
    """Any mix of scalars and arrays, either error mode."""
    raw = {
        "batch_size": as_number(batch_size, "batch_size"),
        "prompt_tokens": as_number(prompt_tokens, "prompt_tokens"),
        "completion_tokens": as_number(completion_tokens, "completion_tokens"),
        "flops_efficiency": as_number(flops_efficiency, "flops_efficiency"),
        "hbm_efficiency": as_number(hbm_efficiency, "hbm_efficiency"),
    }
    if price is not None:
        raw["gpu_hour_usd"] = as_number(price, "gpu_hour_usd")
    arrays = {k: v for k, v in raw.items() if isinstance(v, np.ndarray)}
    if not arrays:
        if on_error == "raise":
            b, s, n = (check_count(raw[k], k) for k in ("batch_size", "prompt_tokens", "completion_tokens"))
            fe = check_efficiency(raw["flops_efficiency"], "flops_efficiency")
            he = check_efficiency(raw["hbm_efficiency"], "hbm_efficiency")
            return _scalar(m, g, d, T, b, s, n, fe, he, raw.get("gpu_hour_usd"), warnings, spec, hit)
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
            spec,
            hit,
        )
        return unwrap(one)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise InvalidInputError(
            f"array inputs do not broadcast together: {shapes}; give equal shapes", field=next(iter(arrays))
        ) from None
    size = math.prod(shape)
    if size > MAX_ARRAY_ELEMENTS:  # checked on the shape, before any array of it is made
        shapes = " × ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise InvalidInputError(
            f"the array inputs ({shapes}) make {size:,} scenarios, more than the {MAX_ARRAY_ELEMENTS:,} llmxl "
            "computes in one call; split the workload",
            field=next(iter(arrays)),
        )
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
            e = _compute(m, g, d, T, b, s, n, fe, he, pr, warnings, np.maximum, None, spec, hit)
            if not (np.all(np.isfinite(e.ttft_s)) and np.all(np.isfinite(e.tpot_s))):
                raise InvalidInputError(_NOT_FINITE, field="gpu")
            return broadcast_result(e, shape)
        e = _compute(m, g, d, T, b, s, n, fe, he, pr, warnings, np.maximum, np.array([None], dtype=object), spec, hit)
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
            needs = smallest_tp(m, g, d, T.t, T.p, T.method, sub[0], sub[1], sub[2])
            for j, idx in enumerate(zip(*sel, strict=True)):
                messages[idx] = DoesNotFitError(
                    fit_message(m, g, T, *(x[j] for x in sub), left, int(needs[j])), field="batch_size"
                )
        failed = np.broadcast_to(bad, shape) | fit_bad
        return broadcast_result(e, shape, failed, messages)


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
                lambda k, v: count_message(k, v),
            )
            for name in ("batch_size", "prompt_tokens", "completion_tokens")
        ),
        *(
            (name, lambda x: (x >= MIN_EFFICIENCY) & (x <= 1), efficiency_message)
            for name in ("flops_efficiency", "hbm_efficiency")
        ),
        ("gpu_hour_usd", lambda x: (x >= 0) & (x <= MAX_PRICE_USD), lambda k, v: price_message(v)),
        (
            "prompt_tokens",
            lambda x: ~(x > T.context_tokens),
            lambda k, v: (
                f"prompt_tokens {format_value(v)} exceeds {m.id}'s context of {T.context_tokens} tokens; "
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
