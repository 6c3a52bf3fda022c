"""Hypothesis properties of the analytical model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import LlmxlError, estimate

MODELS = ["llama-2-7b", "llama-2-70b", "llama-3.1-8b", "mistral-7b", "qwen2.5-7b", "opt-13b", "falcon-40b"]
GPUS = ["a100-sxm-80gb", "h100-sxm-80gb", "l40s", "mi300x", "a10g"]
LATENCIES = ("ttft_s", "tpot_s", "completion_time_s", "e2e_latency_s")

scenario = st.fixed_dictionaries(
    {
        "model": st.sampled_from(MODELS),
        "gpu": st.sampled_from(GPUS),
        "tp": st.sampled_from([1, 2, 4, 8]),
        "batch_size": st.integers(1, 64),
        "prompt_tokens": st.integers(1, 2048),
        "completion_tokens": st.integers(1, 2048),
        "flops_efficiency": st.floats(0.05, 1.0),
        "hbm_efficiency": st.floats(0.05, 1.0),
        "method": st.sampled_from(["standard", "reference"]),
        "dtype": st.sampled_from(["w16a16e16", "w8a16e16", "w4a16e16", "w8a8e16"]),
    }
)


def _run(sc, gpu=None, **over):
    kw = dict(sc)
    model = kw.pop("model")
    g = kw.pop("gpu") if gpu is None else (kw.pop("gpu") and gpu)
    kw.update(over)
    try:
        return estimate(model, g, **kw)
    except LlmxlError:
        assume(False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    sc=scenario,
    factor=st.floats(1.0, 4.0),
    field=st.sampled_from(["hbm_bandwidth_gbs", "fp16_tflops", "int8_tops", "interconnect_gbs"]),
)
def test_a_faster_gpu_is_never_slower(sc, factor, field):
    base = llmxl.get_gpu(sc["gpu"])
    faster = base.model_copy(update={field: getattr(base, field) * factor})
    slow = _run(sc, gpu=base)
    fast = _run(sc, gpu=faster)
    for name in LATENCIES:
        assert getattr(fast, name) <= getattr(slow, name) * (1 + 1e-12), name
    for phase in ("prefill", "decode"):
        a, b = getattr(fast.breakdown, phase), getattr(slow.breakdown, phase)
        for comp in ("attention_s", "mlp_s", "norm_s", "communication_s", "embedding_s", "logits_s", "kv_cache_s"):
            assert getattr(a, comp) <= getattr(b, comp) * (1 + 1e-12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(sc=scenario, price=st.floats(0.01, 100.0), k=st.floats(0.1, 10.0))
def test_prices_scale_linearly_with_the_gpu_hour(sc, price, k):
    a = _run(sc, gpu_hour_usd=price)
    b = _run(sc, gpu_hour_usd=price * k)
    assert b.usd_per_1k_prompt_tokens == pytest.approx(k * a.usd_per_1k_prompt_tokens, rel=1e-12)
    assert b.usd_per_1k_completion_tokens == pytest.approx(k * a.usd_per_1k_completion_tokens, rel=1e-12)
    assert _run(sc, gpu_hour_usd=0.0).usd_per_1k_completion_tokens == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(sc=scenario)
def test_tokens_per_second_is_generated_tokens_over_latency(sc):
    e = _run(sc)
    assert e.tokens_per_s == pytest.approx(e.batch_size * e.completion_tokens / e.e2e_latency_s, rel=1e-12)
    assert e.e2e_latency_s == pytest.approx(e.ttft_s + e.completion_time_s, rel=1e-12)
    assert e.max_batch_size >= e.batch_size


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-5, 5000), min_size=0, max_size=4),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3),
    st.lists(st.text(max_size=5), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.builds(object),
    st.just(np.array([[1.0, 2.0]])),
    st.just(np.array(["8", " 16 "])),
    st.just(np.array([])),
)


@settings(max_examples=400, deadline=None)
@given(
    model=st.one_of(st.sampled_from(MODELS), anything),
    gpu=st.one_of(st.sampled_from(GPUS), anything),
    b=anything,
    s=anything,
    n=anything,
    tp=st.one_of(st.sampled_from([1, 2, 8]), anything),
    pp=st.one_of(st.just(1), anything),
    dtype=st.one_of(st.just("fp16"), anything),
    fe=st.one_of(st.just(0.7), anything),
    he=st.one_of(st.just(0.9), anything),
    price=st.one_of(st.none(), anything),
    method=st.one_of(st.just("reference"), anything),
    on_error=st.sampled_from(["raise", "nan"]),
)
def test_fuzzed_inputs_raise_only_llmxl_errors(model, gpu, b, s, n, tp, pp, dtype, fe, he, price, method, on_error):
    try:
        e = estimate(
            model,
            gpu,
            batch_size=b,
            prompt_tokens=s,
            completion_tokens=n,
            tp=tp,
            pp=pp,
            dtype=dtype,
            flops_efficiency=fe,
            hbm_efficiency=he,
            gpu_hour_usd=price,
            method=method,
            on_error=on_error,
        )
    except LlmxlError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    ttft = np.asarray(e.ttft_s, dtype=float)
    if on_error == "raise":
        assert np.all(np.isfinite(ttft)) and np.all(ttft > 0)
    else:
        ok = np.array([x is None for x in np.asarray(e.errors, dtype=object).reshape(-1)]).reshape(ttft.shape)
        assert np.all(np.isfinite(ttft[ok]))
        assert np.all(np.isnan(ttft[~ok]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(sc=scenario)
def test_nan_mode_agrees_with_raise_mode(sc):
    e = _run(sc)
    kw = {k: v for k, v in sc.items() if k not in ("model", "gpu")}
    m = estimate(sc["model"], sc["gpu"], on_error="nan", **kw)
    assert m.errors is None
    assert m.ttft_s == e.ttft_s and m.max_batch_size == e.max_batch_size
    assert not math.isnan(m.tokens_per_s)
