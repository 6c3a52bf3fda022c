"""The step-level simulator (llmxl/load/simulate.py) on cases computable by hand, and its contracts."""

from __future__ import annotations

import itertools
import math

import pytest

import llmxl
from llmxl import DoesNotFitError, InvalidInputError
from llmxl.load.simulate import lengths, simulate
from llmxl.load.steps import Rates, roofline_step
from llmxl.resolve import configuration, decode_scale, prefill_scale
from llmxl.serving import forward

MODEL, GPU = "llama-3.1-8b", "h100-sxm-80gb"


def _passes(b, s, c, prefill):
    """serving.forward for b sequences at the GPU's default efficiencies: the estimate()'s own arithmetic, at
    the load model's κD (bandwidth × bw, L τL and τDec × ov); a prefill scaled by κP beside the step of nothing
    (docs/methodology.md, "One step")."""
    m, g, _, T, _, fe, he = configuration(MODEL, GPU, "w16a16e16", 1, 1, "serving")
    bw, ov = decode_scale(g, m)
    M = T.bandwidth_bps * he * bw
    fixed = T.layer_overhead_s + (0.0 if prefill else T.decode_overhead_s)  # what forward charges that κD scales
    t = sum(forward(T, b, s, c, T.peak_flops * fe, M, prefill)) - (1 - ov) * fixed
    if not prefill:
        return t
    rates = Rates(T, T.peak_flops * fe, M, ov * (T.layer_overhead_s + T.decode_overhead_s),
                  ov * T.layer_overhead_s + T.prefill_overhead_s)  # fmt: skip
    empty = roofline_step(rates, 0.0, 0.0)
    return empty + prefill_scale(g, m) * (t - empty)


class TestByHand:
    def test_one_request_at_a_time_is_prefill_plus_front_end(self):
        front = 0.012
        r = simulate(MODEL, GPU, prompt_tokens=1000, completion_tokens=50, max_concurrency=1, num_requests=5,
                     engine=llmxl.engine("vllm", front_end_s=front))  # fmt: skip
        prefill = _passes(1, 1000, 0, True)  # estimate()'s TTFT, scaled by κP
        assert r.ttft_p50_s == pytest.approx(prefill + front, rel=1e-9)
        assert r.ttft_p99_s == pytest.approx(prefill + front, rel=1e-9)
        decode = [_passes(1, 1, 1000 + i, False) for i in range(49)]  # contexts 1000 .. 1048
        assert r.e2e_p50_s == pytest.approx(front + prefill + sum(decode), rel=1e-9)
        assert r.tpot_s == pytest.approx(sum(decode) / 49, rel=1e-9)

    def test_a_burst_whose_steps_can_be_listed(self):
        """Three prompts of 100 tokens in one step (budget 8192), then two decode steps of all three."""
        r = simulate(MODEL, GPU, prompt_tokens=100, completion_tokens=3, num_requests=3)
        steps = [_passes(3, 100, 0, True), _passes(3, 1, 100, False), _passes(3, 1, 101, False)]
        assert r.steps == 3
        assert r.ttft_p50_s == pytest.approx(steps[0], rel=1e-9)
        assert r.e2e_p99_s == pytest.approx(sum(steps), rel=1e-9)
        assert r.duration_s == pytest.approx(sum(steps), rel=1e-9)
        assert r.output_tokens_per_s == pytest.approx(9 / sum(steps), rel=1e-9)
        assert r.itl_p50_s == pytest.approx(steps[1], rel=1e-9) and r.itl_s == pytest.approx(sum(steps[1:]) / 2)

    def test_a_small_budget_chunks_a_prompt(self):
        """max_num_batched_tokens 256: a 600-token prompt takes three steps (256, 256, 88)."""
        eng = llmxl.engine("vllm", max_num_batched_tokens=256)
        r = simulate(MODEL, GPU, prompt_tokens=600, completion_tokens=2, num_requests=1, engine=eng)
        assert r.steps == 4  # three chunks, then the second token


class TestContracts:
    def test_littles_law_holds(self):
        r = simulate(MODEL, GPU, prompt_tokens=500, completion_tokens=100, request_rate=8, num_requests=2000,
                     range_ratio=0.3, seed=3)  # fmt: skip
        assert r.mean_concurrency == pytest.approx(r.requests_per_s * r.e2e_s, rel=0.02)

    def test_closed_loop_throughput_rises_with_concurrency_up_to_the_cap(self):
        eng = llmxl.engine("vllm", max_num_seqs=16)
        rates = [simulate(MODEL, GPU, prompt_tokens=300, completion_tokens=100, max_concurrency=c, num_requests=200,
                          engine=eng).output_tokens_per_s for c in (1, 2, 4, 8, 16, 32, 64)]  # fmt: skip
        assert all(b >= a for a, b in itertools.pairwise(rates[:5]))
        assert rates[4] > 4 * rates[0]
        assert rates[6] == pytest.approx(rates[4], rel=0.05)  # beyond the cap, requests only wait

    def test_percentiles_are_ordered(self):
        r = simulate(MODEL, GPU, prompt_tokens=800, completion_tokens=200, request_rate=12, num_requests=1500,
                     range_ratio=0.5)  # fmt: skip
        for name in ("ttft", "tpot", "itl", "e2e"):
            p50, p90, p99 = (getattr(r, f"{name}_p{q}_s") for q in (50, 90, 99))
            assert p50 <= p90 <= p99, name

    def test_the_same_seed_gives_the_same_run(self):
        kw = dict(prompt_tokens=800, completion_tokens=200, request_rate=12, num_requests=500, range_ratio=0.5)
        assert simulate(MODEL, GPU, seed=7, **kw) == simulate(MODEL, GPU, seed=7, **kw)
        assert simulate(MODEL, GPU, seed=7, **kw).ttft_p90_s != simulate(MODEL, GPU, seed=8, **kw).ttft_p90_s

    def test_a_burst_beyond_the_kv_cache_preempts_and_still_finishes(self):
        r = simulate(MODEL, GPU, prompt_tokens=4000, completion_tokens=1000, num_requests=300)
        assert r.preemptions > 0 and r.kv_cache_peak_fraction > 0.95
        assert any("preemptions" in w for w in r.warnings)
        assert r.requests_per_s == pytest.approx(300 / r.duration_s)

    def test_lengths_follow_vllms_random_range_ratio(self):
        import numpy as np

        draw = lengths(1000, 0.5, 100_000, np.random.default_rng(0))
        assert draw.min() == 500 and draw.max() == 1500 and abs(draw.mean() - 1000) < 5

    def test_prefill_first_engine_stalls_decodes_for_prompts(self):
        kw = dict(prompt_tokens=2000, completion_tokens=200, request_rate=5, num_requests=600, seed=2)
        sgl = simulate(MODEL, GPU, engine="sglang", **kw)
        assert sgl.itl_p99_s > 2 * sgl.itl_p50_s  # a prefill step lands in some gaps between tokens
        # equal lengths: a request's TPOT is the mean of its gaps, so the mean ITL is the mean TPOT, as long as a
        # prompt's stall counts only for the sequences that waited through it (not those it starts)
        assert sgl.itl_s == pytest.approx(sgl.tpot_s, rel=1e-9)


class TestBadInput:
    @pytest.mark.parametrize(
        ("kw", "message"),
        [
            (dict(request_rate=0), "request_rate must be > 0"),
            (dict(request_rate=-1), "request_rate must be > 0"),
            (dict(max_concurrency=0), "max_concurrency must be a whole number"),
            (dict(range_ratio=1.0), r"range_ratio must be in \[0, 1\)"),
            (dict(burstiness=0), "burstiness must be a number from"),
            (dict(num_requests=10**6), "more than the 200,000 one simulation takes"),
            (dict(engine="vlm"), "unknown engine 'vlm'; did you mean 'vllm'"),
            (dict(seed=-1), "seed must be a whole number"),
        ],
    )
    def test_one_line_naming_the_field(self, kw, message):
        with pytest.raises((InvalidInputError, llmxl.UnknownNameError), match=message):
            simulate(MODEL, GPU, prompt_tokens=100, completion_tokens=10, num_requests=kw.pop("num_requests", 10),
                     **kw)  # fmt: skip

    def test_a_request_longer_than_the_kv_cache_is_refused(self):
        with pytest.raises(DoesNotFitError, match="less than one request"):
            simulate("llama-3.1-70b", GPU, tp=2, prompt_tokens=100_000, completion_tokens=30_000, num_requests=2)

    def test_results_are_finite(self):
        r = simulate(MODEL, GPU, prompt_tokens=100, completion_tokens=1, num_requests=20, request_rate=5)
        assert all(math.isfinite(v) for v in (r.ttft_s, r.e2e_s, r.requests_per_s))
        assert math.isnan(r.tpot_s)  # one token: no gap to time


def test_a_rate_above_capacity_is_reported_as_saturated():
    calm = simulate(MODEL, GPU, prompt_tokens=1000, completion_tokens=200, request_rate=2, num_requests=200)
    assert not calm.saturated and calm.capacity_requests_per_s > 2
    hot = simulate(MODEL, GPU, prompt_tokens=1000, completion_tokens=200, num_requests=600,
                   request_rate=2 * calm.capacity_requests_per_s)  # fmt: skip
    assert hot.saturated and any("saturates" in w and "2.00 x" in w for w in hot.warnings)
    assert hot.ttft_p90_s > 10 * calm.ttft_p90_s


def test_prefill_first_with_a_full_kv_cache_decodes_on_rather_than_stalling():
    """SGLang's policy with a prompt waiting that the full KV cache cannot take: the decodes go on (preempting
    the newest when they outgrow it) and free room, as SGLang retracts; this once spun without advancing."""
    import time

    start = time.perf_counter()
    r = llmxl.simulate("deepseek-r1", "b200", tp=8, dtype="fp8", prompt_tokens=1024, completion_tokens=8192,
                       max_concurrency=256, num_requests=600, engine="sglang")  # fmt: skip
    assert time.perf_counter() - start < 10
    assert r.num_requests == 600 and r.preemptions > 0 and r.kv_cache_peak_fraction <= 1.0
    assert any("preemptions" in w for w in r.warnings)
