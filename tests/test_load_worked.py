"""The worked check of "Engines and load" in docs/methodology.md, computed by hand.

The load model's arithmetic is redone here with the math module, from the four step times the methodology
prints (each one step of the `serving` method: llmxl.load.steps.step_time, which tests/test_load_steps.py
checks against llmxl.serving.forward), and compared with the printed figures and with operating_point, plan
and frontier. Nothing here calls llmxl.load.queueing.
"""

from __future__ import annotations

import math
import statistics

import pytest

import llmxl
from llmxl.load.steps import Rates, step_time
from llmxl.resolve import configuration, resolve_engine

from .test_plan import CHECK, H100, TARGET

S, N, B, P = 1000, 300, 16, 90


def six(x: float) -> float:
    return float(f"{x:.6g}")


def _rates():
    _, _, _, T, _, fe, he = configuration("llama-3.1-70b", H100, "fp8", 2, 1, "serving")
    eng = resolve_engine(None)
    dec = T.decode_overhead_s if eng.decode_overhead_s is None else eng.decode_overhead_s
    pre = T.prefill_overhead_s if eng.prefill_overhead_s is None else eng.prefill_overhead_s
    return Rates(T, T.peak_flops * fe, T.bandwidth_bps * he, T.layer_overhead_s + dec, T.layer_overhead_s + pre), eng


def _steps(r, b):
    """a, L1 (one prompt beside b decodes, in one chunk: s ≤ the budget − b), step(0, s), step(0, 2s)."""
    ctx = S + (N - 1) / 2
    attend = S * (S + 1) / 2
    a = step_time(r, b, b * ctx)
    L1 = step_time(r, b, b * ctx, S, attend, 0.0, 1.0)
    one = step_time(r, 0.0, 0.0, S, attend, 0.0, 1.0)
    two = step_time(r, 0.0, 0.0, 2 * S, 2 * attend, 0.0, 2.0)
    return a, L1, one, two


def _normal_quantile(p):
    return statistics.NormalDist().inv_cdf(p)


def _poisson_quantile(mu, p):
    k, term = 0, math.exp(-mu)
    cdf = term
    while cdf < p:
        k += 1
        term *= mu / k
        cdf += term
    return k


def by_hand(b, f=0.0, pct=P, steps=None):
    """The closed form at mean concurrency b, step by step as docs/methodology.md writes it (mixed scheduling);
    ``steps(r, b)`` gives the four step times (default: prompts of S tokens, nothing cached)."""
    r, _ = _rates()
    a, L1, one, two = (steps or _steps)(r, b)
    d1, d = L1 - a, two - one  # the first prompt of a step adds Δ1, each further one Δ
    steps = N - 1
    c = d1
    for _ in range(4):
        t = a + b * c / steps
        lam = b / (steps * t)
        mu = lam * a / (1 - lam * d)
        c = d1 + max(d - d1, 0.0) * (1 - (1 - math.exp(-mu)) / mu)
    t = a + b * c / steps
    lam = b / (steps * t)
    rho = lam * d
    m = a / (1 - rho)
    v = d * d * lam * m / (1 - rho * rho)
    theta = v / m
    k = m / theta
    eb1 = (k + 1) * theta
    eb2 = (k + 1) * (k + 2) * theta * theta
    busy = 1 - math.exp(-(b + lam * L1))
    mean_x = busy * eb1 * (0.5 + rho)
    var_x = busy * (eb2 * (1 / 3 + rho + rho * rho) + d * d * lam * eb1) - mean_x * mean_x
    shape = mean_x * mean_x / var_x
    w = 1 / (9 * shape)
    x_p = mean_x * (1 - w + _normal_quantile(pct / 100) * math.sqrt(w)) ** 3
    kq = _poisson_quantile(lam * t, pct / 100)
    itl_p = a + (d1 + (kq - 1) * d if kq >= 1 else 0.0)
    return dict(a=a, L1=L1, d1=d1, d=d, c=c, t=t, lam=lam, rho=rho, m=m, v=v, mean_x=mean_x, var_x=var_x,
                ttft_mean=f + L1 + mean_x, ttft_p=f + L1 + x_p, itl_p=itl_p, phi=b * c / (steps * t), busy=busy)  # fmt: skip


# The figures docs/methodology.md prints ("Worked check (load)"), six significant digits.
PRINTED = dict(a=0.016747, L1=0.0660018, d1=0.0492548, d=0.0527987, c=0.049349, t=0.0193877, lam=2.76008,
               rho=0.145729, m=0.0196038, v=0.00015411, mean_x=0.017735, var_x=0.000382204, ttft_mean=0.0837368,
               ttft_p=0.108282, itl_p=0.016747, phi=0.136207)  # fmt: skip


def test_the_hand_computation_gives_the_printed_figures():
    got = by_hand(B)
    assert {k: six(got[k]) for k in PRINTED} == PRINTED


def test_operating_point_gives_them():
    """At the rate λ(16) the operating point decodes 16 on average, with the figures by hand."""
    want = by_hand(B, f=resolve_engine(None).front_end_s)
    op = llmxl.operating_point("llama-3.1-70b", H100, request_rate=want["lam"], **CHECK)
    assert op.engine == "vllm" and op.percentile == P
    assert op.decode_concurrency == pytest.approx(B, rel=1e-9)
    assert op.decode_step_s == pytest.approx(want["a"], rel=1e-9)
    assert op.prefill_s == pytest.approx(want["L1"], rel=1e-9)
    assert op.requests_per_s == pytest.approx(want["lam"], rel=1e-9)
    assert op.itl_mean_s == pytest.approx(want["t"], rel=1e-9)
    assert op.itl_s == pytest.approx(want["itl_p"], rel=1e-9)
    assert op.ttft_mean_s == pytest.approx(want["ttft_mean"], rel=1e-9)
    assert op.ttft_s == pytest.approx(want["ttft_p"], rel=1e-8)  # Acklam's normal quantile, 1e-9 relative
    assert op.prompt_share == pytest.approx(want["phi"], rel=1e-9)


def test_a_closed_loop_runs_in_waves():
    """Sixteen clients of equal requests under an engine that keeps them in step (TensorRT-LLM: mixed
    scheduling, whole prompts): each cycle's 16,000 prompt tokens are computed in steps of R = budget − 16
    tokens beside the others' decodes, by hand from docs/methodology.md's formulas."""
    from llmxl.operating import configured

    C = 16
    r, _ = _rates()
    budget = configured("llama-3.1-70b", H100, 2, 1, "fp8", S, N, None, None, "tensorrt-llm").replica.memory
    R = budget.max_num_batched_tokens - C
    ctx = S + (N - 1) / 2
    W = C * S
    K = W / R
    assert 1 < K < 2  # one full step and the rest

    def step(d, p):  # p prompt tokens of prompts of S tokens beside d decodes
        return step_time(r, d, d * ctx, p, p * (S + 1) / 2, 0.0, min(p / S, 1.0))

    a = step(C, 0)
    others = C - R / S
    L_R, rest = step(others, R), W - R
    L_rest = step(others, rest)
    Lp = (L_R + L_rest) / 2  # the mean of the cycle's two prefill steps
    T = (L_R - a) + (L_rest - a)
    spans = 1 + (math.ceil(K) - 1) / C
    t = a + (T - spans * (Lp - a)) / (N - 1)
    ttft = spans * Lp  # the engine's front-end time is 0
    lam = C / (ttft + (N - 1) * t)
    op = llmxl.operating_point("llama-3.1-70b", H100, C, engine="tensorrt-llm", **CHECK)
    assert (op.ttft_mean_s, op.itl_mean_s, op.requests_per_s) == pytest.approx((ttft, t, lam), rel=1e-9)
    assert op.decode_concurrency == pytest.approx(lam * (N - 1) * t, rel=1e-9)
    assert op.ttft_s == pytest.approx(Lp, rel=1e-9)  # nine in ten prompts fit in one step (1/16 straddle two)
    assert pytest.approx(op.requests_per_s * (op.ttft_mean_s + (N - 1) * op.itl_mean_s), rel=1e-12) == C


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tensorrt-llm"])
def test_the_closed_loop_is_the_simulators_steady_state(engine):
    """Against llmxl.simulate of the same closed loop, 40 requests per client. Engines that keep equal requests
    in step (SGLang prefill first, TensorRT-LLM whole prompts) against the simulator's waves of equal requests;
    vLLM, whose clients the closed form takes as independent, against requests of lengths ±20 % (range_ratio
    0.2), whose waves the simulator breaks up as chunked prefill does."""
    spread = 0.2 if llmxl.engine(engine).closed_loop == "independent" else 0.0
    for C in (1, 4, 16, 64):
        op = llmxl.operating_point("llama-3.1-70b", H100, C, engine=engine, **CHECK)
        sim = llmxl.simulate("llama-3.1-70b", H100, max_concurrency=C, num_requests=max(40 * C, 40), engine=engine,
                             range_ratio=spread, **CHECK)  # fmt: skip
        assert op.ttft_mean_s == pytest.approx(sim.ttft_s, rel=0.15), (C, op.ttft_mean_s, sim.ttft_s)
        assert op.itl_mean_s == pytest.approx(sim.tpot_s, rel=0.05), (C, op.itl_mean_s, sim.tpot_s)
        assert op.requests_per_s == pytest.approx(sim.requests_per_s, rel=0.02), C


def test_the_plan_holds_its_targets_at_the_percentile():
    """B* meets both targets at p90 by hand and B* + 1 misses one; replicas and cost follow from λ(B*)."""
    best = llmxl.plan("llama-3.1-70b", H100, **CHECK, **TARGET).best
    at, above = by_hand(best.concurrency), by_hand(best.concurrency + 1)
    assert at["ttft_p"] <= TARGET["ttft_s_max"] and at["itl_p"] <= TARGET["itl_s_max"]
    assert above["ttft_p"] > TARGET["ttft_s_max"] or above["itl_p"] > TARGET["itl_s_max"]
    assert best.requests_per_s == pytest.approx(at["lam"], rel=1e-9)
    assert best.replicas == math.ceil(TARGET["peak_requests_per_s"] / at["lam"])
    assert best.num_gpus == 2 * best.replicas
    assert best.monthly_usd == pytest.approx(best.num_gpus * TARGET["gpu_hour_usd"] * 730, rel=1e-12)
    seconds = 730 * 3600
    prompt = at["phi"] * best.monthly_usd / (TARGET["requests_per_s"] * seconds * S) * 1e6
    completion = (1 - at["phi"]) * best.monthly_usd / (TARGET["requests_per_s"] * seconds * N) * 1e6
    assert best.usd_per_1m_prompt_tokens == pytest.approx(prompt, rel=1e-9)
    assert best.usd_per_1m_completion_tokens == pytest.approx(completion, rel=1e-9)
    assert best.usd_per_1m_blended == pytest.approx((3 * prompt + completion) / 4, rel=1e-9)


def test_a_runs_first_wave_raises_its_mean_ttft_by_a_share_of_the_rounds():
    """num_requests = R C: mean TTFT = steady + (first wave − steady) / R; the wave is every prompt at once
    (queueing.first_wave_ttft); one request per client is the wave itself; percentiles are the steady state's."""
    from llmxl.load import queueing
    from llmxl.operating import configured

    C = 16
    steady = llmxl.operating_point("llama-3.1-70b", H100, C, **CHECK)
    c = configured("llama-3.1-70b", H100, 2, 1, "fp8", S, N, None, None, None)
    r, mem = c.replica.rates, c.replica.memory
    wave = queueing.closed_loop(r, S, N, C, cap=c.fit, budget=mem.max_num_batched_tokens, mixed=False,
                                front_end_s=0.0, percentile=50.0).ttft_s  # fmt: skip
    assert wave > steady.ttft_mean_s
    for R in (1, 4, 20):
        run = llmxl.operating_point("llama-3.1-70b", H100, C, num_requests=R * C, **CHECK)
        assert run.ttft_mean_s == pytest.approx(steady.ttft_mean_s + (wave - steady.ttft_mean_s) / R, rel=1e-12)
        assert (run.ttft_s, run.itl_mean_s, run.requests_per_s) == (steady.ttft_s, steady.itl_mean_s,
                                                                   steady.requests_per_s)  # fmt: skip
    with pytest.raises(llmxl.InvalidInputError, match="no first wave") as info:
        llmxl.operating_point("llama-3.1-70b", H100, request_rate=1.0, num_requests=100, **CHECK)
    assert info.value.field == "num_requests"


def test_prefill_scale_is_a_family_factor_times_the_moe_factor():
    """κP from llmxl/data/methods.toml: a listed family's dense factor, 1 elsewhere, times the MoE factor."""
    scale = llmxl.catalog.method_defaults("serving").prefill_scale
    family = scale.families[0]
    assert scale.of(family.gpus[0], moe=False) == family.dense
    assert scale.of(family.gpus[0], moe=True) == family.dense * scale.moe
    assert scale.of("a100-sxm-80gb", moe=False) == 1.0 and scale.of("mi300x", moe=True) == scale.moe
