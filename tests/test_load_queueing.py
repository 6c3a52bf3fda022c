"""The closed-form load model (llmxl/load/queueing.py) against the simulator, and its pieces."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from llmxl.load import queueing as Q
from llmxl.load.memory import engine_memory
from llmxl.load.simulate import simulate
from llmxl.load.steps import Rates
from llmxl.resolve import configuration, decode_scale, prefill_scale, resolve_engine

#: A grid of models (dense, MoE, MLA, windows), GPUs, request shapes and engines.
GRID = [
    ("llama-3.1-8b", "h100-sxm-80gb", "bf16", 1, 1000, 200, "vllm"),
    ("llama-3.1-70b", "h100-sxm-80gb", "fp8", 2, 2000, 300, "vllm"),
    ("qwen3-30b-a3b", "h200-sxm-141gb", "bf16", 1, 500, 500, "vllm"),
    ("llama-3.1-8b", "h100-sxm-80gb", "bf16", 1, 1000, 200, "sglang"),
    ("gpt-oss-20b", "h100-sxm-80gb", "mxfp4", 1, 4000, 200, "vllm"),
    ("deepseek-v3", "h200-sxm-141gb", "fp8", 8, 1000, 1000, "sglang"),
    ("mixtral-8x7b", "h100-sxm-80gb", "bf16", 2, 800, 400, "tensorrt-llm"),
]
UTILISATION = (0.3, 0.6, 0.9)


def _setup(model, gpu, dtype, tp, eng):
    m, g, _, T, _, fe, he = configuration(model, gpu, dtype, tp, 1, "serving")
    e = resolve_engine(eng)
    bw, ov = decode_scale(g, m)
    r = Rates(T, T.peak_flops * fe, T.bandwidth_bps * he * bw, ov * (T.layer_overhead_s + T.decode_overhead_s),
              ov * T.layer_overhead_s + T.prefill_overhead_s, prefill_scale=prefill_scale(g, m))  # fmt: skip
    return r, engine_memory(T, g, e, m.max_position_embeddings), T, e


@pytest.fixture(scope="module")
def comparison():
    """(case, utilisation, closed form p50, p90, ITL, simulated p50, p90, ITL) over the grid."""
    rows = []
    for model, gpu, dtype, tp, s, n, eng in GRID:
        r, mem, T, e = _setup(model, gpu, dtype, tp, eng)
        kw = dict(budget=mem.max_num_batched_tokens, mixed=e.scheduling == "mixed", front_end_s=e.front_end_s)
        top, lmax = Q.capacity(r, s, n, mem.max_concurrency(T, s + n), budget=kw["budget"], mixed=kw["mixed"])
        for u in UTILISATION:
            rate = u * lmax
            p50 = Q.at_rate(r, s, n, rate, percentile=50, top=top, **kw)
            p90 = Q.at_rate(r, s, n, rate, percentile=90, top=top, **kw)
            sim = simulate(model, gpu, prompt_tokens=s, completion_tokens=n, request_rate=rate, num_requests=3000,
                           dtype=dtype, tp=tp, engine=eng, seed=1)  # fmt: skip
            rows.append((f"{model}/{eng}/{s}x{n}", u, float(p50.ttft_pct_s), float(p90.ttft_pct_s), float(p50.itl_s),
                         sim.ttft_p50_s, sim.ttft_p90_s, sim.itl_s))  # fmt: skip
    return rows


def _errors(rows, i, j):
    return [abs(r[i] / r[j] - 1) for r in rows]


#: Mixture-of-experts models, whose prompts cost κP ≈ 3 times the roofline's on Hopper (llmxl/data/methods.toml)
MOE = ("qwen3-30b-a3b", "gpt-oss-20b", "deepseek-v3", "mixtral-8x7b")


def test_closed_form_tracks_the_simulator(comparison):
    """Median error over the grid ≤ 12.5 % for p50 and p90 TTFT and mean ITL (12.1 %, 10.1 % and 4.1 %); no dense
    point off by more than 32 % (30 %: Llama-3.1-70B's p50 TTFT at 0.6 of capacity).

    (The goal is 10 % everywhere up to a utilisation of 0.9.) The MoE cases are off by up to 95 % since
    κP ≈ 3 on Hopper: the closed form prices a second prompt in a step (Δ) without the decodes' memory
    traffic, and κP multiplies what that leaves out; Mixtral under TensorRT-LLM at 0.9 of capacity is the worst
    (TTFT p50 1.95× the simulator's). docs/methodology.md says so.
    """
    dense = [r for r in comparison if not r[0].startswith(MOE)]
    for i, j, what in ((2, 5, "TTFT p50"), (3, 6, "TTFT p90"), (4, 7, "mean ITL")):
        errs = _errors(comparison, i, j)
        assert statistics.median(errs) <= 0.125, (what, statistics.median(errs))
        worst = max(_errors(dense, i, j))
        assert worst <= 0.32, (what, worst)
        assert max(errs) <= 1.0, (what, max(errs))


def test_at_light_load_the_closed_form_agrees_within_17_percent(comparison):
    """At a utilisation of 0.3 the worst dense case is within 11 %, gpt-oss-20b's 4,000-token prompts (MoE)
    within 28 % (mean ITL below the simulator's) and Mixtral under TensorRT-LLM within 41 % (p90 TTFT above);
    the goal is 10 %."""
    light = [r for r in comparison if r[1] <= 0.3]
    for i, j in ((2, 5), (3, 6), (4, 7)):
        assert max(_errors([r for r in light if not r[0].startswith(MOE)], i, j)) <= 0.17, light
        assert max(_errors(light, i, j)) <= 0.45, light


def test_the_rate_grows_with_concurrency_and_latency_with_it():
    r, mem, T, _ = _setup("llama-3.1-8b", "h100-sxm-80gb", "bf16", 1, "vllm")
    top, _ = Q.capacity(r, 1000, 200, mem.max_concurrency(T, 1200), budget=mem.max_num_batched_tokens, mixed=True)
    B = np.arange(1, top + 1, dtype=float)
    load = Q.at_concurrency(r, 1000, 200, B, budget=mem.max_num_batched_tokens, mixed=True, front_end_s=0.02,
                            percentile=90)  # fmt: skip
    assert np.all(np.diff(load.requests_per_s) > 0)
    assert np.all(np.diff(load.itl_s) > 0) and np.all(np.diff(load.ttft_pct_s) > 0)
    assert np.all(load.ttft_pct_s > 0.02 + load.prefill_s)  # front-end, the prompt's step, and waiting


def test_at_concurrency_one_the_load_is_the_static_estimate():
    """B → 0: no queue, TTFT = front-end + the prompt's own step, ITL = one decode step of one sequence."""
    r, *_ = _setup("llama-3.1-8b", "h100-sxm-80gb", "bf16", 1, "vllm")
    tiny = Q.at_concurrency(r, 1000, 200, 1e-9, budget=8192, mixed=True, front_end_s=0.0, percentile=99)
    prefill = Q._step(r, 0.0, 0.0, 1000.0, 1000)
    assert float(tiny.ttft_pct_s) == pytest.approx(float(prefill), rel=1e-6)


def test_normal_and_gamma_quantiles():
    from scipy import stats

    p = np.array([1e-4, 0.01, 0.02425, 0.1, 0.5, 0.9, 0.97575, 0.999])
    assert np.allclose(Q.normal_quantile(p), stats.norm.ppf(p), rtol=1e-8, atol=1e-9)
    for shape in (0.4, 1.0, 3.0, 20.0):
        for q in (0.5, 0.9, 0.99):
            exact = stats.gamma.ppf(q, shape, scale=2.0)
            assert Q.gamma_quantile(2.0 * shape, 4.0 * shape, q) == pytest.approx(exact, rel=0.04), (shape, q)


def test_saturation_is_infinite_latency_not_a_number():
    r, mem, T, _ = _setup("llama-3.1-8b", "h100-sxm-80gb", "bf16", 1, "vllm")
    top, lmax = Q.capacity(r, 1000, 200, mem.max_concurrency(T, 1200), budget=8192, mixed=True)
    assert Q.at_rate(r, 1000, 200, 1.01 * lmax * 10, budget=8192, mixed=True, front_end_s=0, percentile=90,
                     top=top) is None  # fmt: skip
