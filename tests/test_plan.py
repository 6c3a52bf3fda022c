"""Capacity planning and cost of service (llmxl/plan.py, llmxl/prices.py).

Expected figures: the planning worked check of docs/methodology.md, six significant digits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import InvalidInputError, UnknownNameError, breakeven, operating_point, owned_gpu_hour_usd, plan

# The worked check's GPU: H100-SXM datasheet figures with the check's serving constants.
H100 = {
    "id": "h100-check",
    "memory_gib": 80,
    "hbm_bandwidth_gbs": 3350,
    "fp16_tflops": 989,
    "fp8_tflops": 1979,
    "int8_tops": 1979,
    "interconnect_gbs": 450,
    "allreduce_latency_s": 2e-5,
    "layer_overhead_s": 1e-5,
    "prefill_overhead_s": 8e-3,
    "decode_overhead_s": 5e-4,
    "serving_flops_efficiency": 0.7,
    "serving_hbm_efficiency": 0.9,
}
SHAPE = dict(prompt_tokens=1000, completion_tokens=300)
CHECK = dict(tp=2, dtype="fp8", **SHAPE)
TARGET = dict(requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.05, gpu_hour_usd=3.99)


def six(x: float) -> float:
    return float(f"{x:.6g}")


class TestWorkedCheck:
    def test_one_client_alone_waits_for_its_prefill_only(self):
        op = operating_point("llama-3.1-70b", H100, 1, **CHECK)  # a closed loop of one client
        assert op.engine == "vllm" and op.concurrency == 1.0
        assert six(op.ttft_mean_s) == 0.0651472 == six(op.ttft_s)  # the serving check's T1: nothing else runs
        assert op.max_concurrency == 328 and op.kv_cache_tokens == 430688 and op.capacity_concurrency == 288

    def test_plan(self):
        best = plan("llama-3.1-70b", H100, **CHECK, **TARGET).best
        assert (best.engine, best.percentile) == ("vllm", 90.0)
        assert (best.concurrency, best.max_concurrency, best.replicas, best.num_gpus) == (31, 328, 4, 8)
        assert six(best.requests_per_s) == 4.62575
        assert six(best.capacity_requests_per_s) == 12.2157
        assert six(best.ttft_s) == 0.1317
        assert six(best.itl_s) == 0.0172596
        assert six(best.utilisation) == 0.102328
        assert six(best.peak_utilisation) == 0.306983
        assert six(best.monthly_usd) == 23301.6
        assert six(best.usd_per_1m_prompt_tokens) == 0.407767
        assert six(best.usd_per_1m_completion_tokens) == 4.55189
        assert six(best.usd_per_1m_blended) == 1.4438

    def test_the_median_and_a_looser_target(self):
        median = plan("llama-3.1-70b", H100, **CHECK, **TARGET, percentile=50).best
        assert (median.concurrency, median.num_gpus, six(median.usd_per_1m_blended)) == (207, 4, 0.693701)
        loose = plan("llama-3.1-70b", H100, **CHECK, **{**TARGET, "itl_s_max": 0.08}).best
        assert (loose.concurrency, loose.num_gpus) == (159, 4)

    def test_api_and_breakeven(self):
        from llmxl.breakeven import api_monthly_usd

        assert six(api_monthly_usd(5, 1000, 300, 0.88, 0.88)) == 15032.2
        b = breakeven("llama-3.1-70b", H100, **CHECK, peak_factor=2, api=(0.88, 0.88), ttft_s_max=0.5,
                      itl_s_max=0.05, gpu_hour_usd=3.99)  # fmt: skip
        # Where the costs are equal: one replica ($5,825.4 a month, printed) over the API's $3,006.432 a month
        # per request/s (730 h · 3600 s · (1000 + 300) tokens · $0.88 / 1e6).
        assert b.requests_per_s == pytest.approx(5825.4 / 3006.432, rel=1e-12)
        assert b.requests_per_s == pytest.approx(1.93765, rel=1e-5)
        assert api_monthly_usd(b.requests_per_s * 1.000001, 1000, 300, 0.88, 0.88) > b.monthly_usd
        assert six(b.monthly_usd) == 5825.4 and b.row.replicas == 1 and b.row.num_gpus == 2
        never = breakeven("llama-3.1-70b", H100, **CHECK, peak_factor=3, api=(0.88, 0.88), ttft_s_max=0.5,
                          itl_s_max=0.05, gpu_hour_usd=3.99)  # fmt: skip
        assert never.requests_per_s is None and "the API costs less at every traffic level" in never.reason

    def test_the_catalog_provider_gives_the_same_break_even(self):
        a = breakeven("llama-3.3-70b", H100, **CHECK, peak_factor=2, api="Together", gpu_hour_usd=3.99)
        b = breakeven("llama-3.3-70b", H100, **CHECK, peak_factor=2, api=(0.88, 0.88), gpu_hour_usd=3.99)
        assert a.requests_per_s == b.requests_per_s and a.api == "together"


class TestOperatingPoint:
    def test_vectorised_equals_scalar(self):
        C = np.array([1, 7, 64, 300])
        v = operating_point("mixtral-8x7b", "h100-sxm-80gb", C, tp=2, **SHAPE)
        for i, c in enumerate(C):
            s = operating_point("mixtral-8x7b", "h100-sxm-80gb", int(c), tp=2, **SHAPE)
            for name in ("decode_step_s", "requests_per_s", "ttft_s", "ttft_mean_s", "itl_s", "prompt_share"):
                assert getattr(v, name)[i] == pytest.approx(getattr(s, name), rel=1e-12)

    def test_one_completion_token_is_no_load_to_batch(self):
        for face in (operating_point, plan):
            kw = {"request_rate": 2} if face is operating_point else {"requests_per_s": 2}
            with pytest.raises(InvalidInputError, match="completion_tokens must be ≥ 2") as info:
                face("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=500, completion_tokens=1, **kw)
            assert info.value.field == "completion_tokens"

    def test_a_rate_and_the_plan_row_agree(self):
        best = plan("llama-3.1-70b", H100, **CHECK, **TARGET).best
        op = operating_point("llama-3.1-70b", H100, request_rate=best.requests_per_s, **CHECK)
        assert op.decode_concurrency == pytest.approx(best.concurrency, rel=1e-9)
        assert op.ttft_s == pytest.approx(best.ttft_s, rel=1e-9) and op.itl_s == pytest.approx(best.itl_s, rel=1e-9)
        assert op.utilisation == pytest.approx(best.requests_per_s / best.capacity_requests_per_s, rel=1e-12)
        assert not op.saturated

    def test_a_rate_beyond_capacity_saturates_and_says_by_how_much(self):
        op = operating_point("llama-3.1-70b", H100, request_rate=50, **CHECK)
        assert op.saturated and op.ttft_s == math.inf and op.utilisation == pytest.approx(50 / 12.215661, rel=1e-6)
        assert op.requests_per_s == pytest.approx(op.capacity_requests_per_s)

    def test_more_clients_than_the_engine_runs_queue_in_front_of_it(self):
        op = operating_point("llama-3.1-70b", H100, np.array([328, 1000]), **CHECK)
        assert list(op.saturated) == [False, True]
        # Little's law over the whole loop: C = λ (TTFT + (n − 1) ITL)
        assert pytest.approx(op.requests_per_s[1] * (op.ttft_mean_s[1] + 299 * op.itl_mean_s[1]), rel=1e-6) == 1000

    def test_concurrency_or_rate_not_both(self):
        with pytest.raises(InvalidInputError, match=r"concurrency .* or as request_rate"):
            operating_point("llama-3.1-8b", "h100-sxm-80gb", 8, request_rate=2, **SHAPE)
        with pytest.raises(InvalidInputError, match="percentile must be between 0 and 100"):
            operating_point("llama-3.1-8b", "h100-sxm-80gb", 8, percentile=100, **SHAPE)


class TestPlan:
    def test_rows_cover_every_candidate_and_say_why(self):
        p = plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], dtype=["bf16", "nvfp4"], **SHAPE, **TARGET)
        # tp 1, 2, 4, 8 for two GPUs and two dtypes
        assert len(p.rows) == 16
        h100_fp4 = [r for r in p.rows if r.gpu == "h100-sxm-80gb" and r.dtype == "nvfp4"]
        assert all("fp4 tensor cores" in r.reason for r in h100_fp4)
        tp1 = next(r for r in p.rows if r.gpu == "h100-sxm-80gb" and r.tp == 1 and r.dtype == "w16a16e16")
        assert "weights need" in tp1.reason and tp1.monthly_usd is None
        assert p.best is p.rows[0] and p.best.reason is None
        feasible = [r.monthly_usd for r in p.rows if r.reason is None]
        assert feasible == sorted(feasible)

    def test_nothing_meets_the_target_is_not_an_error(self):
        p = plan("llama-3.1-70b", "a100-sxm-80gb", **SHAPE, requests_per_s=1, ttft_s_max=0.01, gpu_hour_usd=2.0)
        assert p.best is None and p.rows
        miss = [r for r in p.rows if r.reason and "time to first token" in r.reason]
        assert miss and all("exceeds the 0.01 s target by" in r.reason for r in miss)

    def test_tokens_per_day_and_peak_factor(self):
        a = plan("llama-3.1-8b", "l40s", **SHAPE, tokens_per_day=5 * 86400 * 1300, peak_factor=3)
        b = plan("llama-3.1-8b", "l40s", **SHAPE, requests_per_s=5, peak_requests_per_s=15)
        assert a.requests_per_s == pytest.approx(5) and a.peak_requests_per_s == pytest.approx(15)
        assert a.best.num_gpus == b.best.num_gpus

    def test_max_concurrency_caps_the_design_load(self):
        p = plan("llama-3.1-70b", H100, **CHECK, requests_per_s=5, max_concurrency=32, gpu_hour_usd=3.99)
        # the cap must hold the sequences' 99th percentile: B + 2.33 √B ≤ 32
        assert p.best.concurrency == 21 and p.best.max_concurrency == 328
        assert 21 + 2.326 * 21**0.5 <= 32 < 22 + 2.326 * 22**0.5

    def test_owned_price_basis(self):
        owned = {"purchase_usd": 30000, "years": 5, "power_kw": 1.0, "pue": 1.3, "usd_per_kwh": 0.08,
                 "other_usd_per_year": 4500}  # fmt: skip
        p = plan("llama-3.1-70b", H100, **CHECK, requests_per_s=5, peak_requests_per_s=15, owned=owned)
        assert p.best.gpu_hour_usd == pytest.approx(owned_gpu_hour_usd(30000, 5, 1.0, 1.3, 0.08, 4500))
        assert p.best.gpu_hour_usd == pytest.approx(30000 / (5 * 8760) + 1.0 * 1.3 * 0.08 + 4500 / 8760)

    def test_reservation_discount(self):
        full = plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5).best
        off = plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5, reservation_discount=0.3).best
        assert off.monthly_usd == pytest.approx(full.monthly_usd * 0.7)

    def test_to_dict_and_rows(self):
        p = plan("llama-3.1-70b", H100, **CHECK, **TARGET)
        d = p.to_dict()
        assert d["best"]["num_gpus"] == 8 and len(d["rows"]) == len(p.rows)
        assert d["engine"] == "vllm" and d["percentile"] == 90.0
        assert set(p.to_rows()[0]) >= {"model", "gpu", "tp", "dtype", "concurrency", "replicas", "monthly_usd",
                                       "usd_per_1m_blended", "reason"}  # fmt: skip


class TestBadInput:
    @pytest.mark.parametrize(
        ("change", "field", "text"),
        [
            ({"requests_per_s": 0}, "requests_per_s", "must be > 0"),
            ({"requests_per_s": -1}, "requests_per_s", "must be > 0"),
            ({"peak_requests_per_s": 4}, "peak_requests_per_s", "below the average"),
            ({"ttft_s_max": 0}, "ttft_s_max", "must be > 0"),
            ({"itl_s_max": -0.1}, "itl_s_max", "must be > 0"),
            ({"reservation_discount": 1.0}, "reservation_discount", r"in \[0, 1\)"),
            ({"reservation_discount": -0.1}, "reservation_discount", r"in \[0, 1\)"),
            ({"gpu_hour_usd": None, "gpus": "a100-sxm-40gb"}, "gpu_hour_usd", "no catalog price"),
            ({"requests_per_s": None}, "requests_per_s", "requests_per_s or as tokens_per_day"),
        ],
    )
    def test_one_line_naming_the_field(self, change, field, text):
        kw = {"gpus": "h100-sxm-80gb", **SHAPE, **TARGET, **change}
        gpus = kw.pop("gpus")
        with pytest.raises(InvalidInputError, match=text) as info:
            plan("llama-3.1-8b", gpus, **kw)
        assert info.value.field == field and "\n" not in str(info.value)

    def test_unknown_provider_suggests(self):
        with pytest.raises(UnknownNameError, match="did you mean 'together'"):
            llmxl.api_price("llama-3.3-70b", "togethr")

    def test_model_the_api_catalog_lacks(self):
        with pytest.raises(UnknownNameError, match=r"has no price for qwen2\.5-72b"):
            breakeven("qwen2.5-72b", "h200", tp=4, **SHAPE, api="together")
        # Together's own API does not list DeepSeek-V3; the Hugging Face router's Together route does
        with pytest.raises(UnknownNameError, match=r"providers with a price for it: deepinfra, deepseek, .*, "
                           r"huggingface-together, novita, openrouter$"):  # fmt: skip
            llmxl.api_price("deepseek-v3", "groq")

    def test_owned_arguments(self):
        with pytest.raises(InvalidInputError, match="pue must be ≥ 1"):
            owned_gpu_hour_usd(30000, 5, 1, 0.9, 0.08)
        with pytest.raises(InvalidInputError, match="years must be > 0"):
            owned_gpu_hour_usd(30000, 0, 1, 1.3, 0.08)

    def test_no_break_even_says_why(self):
        b = breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, api=(0.0001, 0.0001), gpu_hour_usd=4.0)
        assert b.requests_per_s is None and "the API costs less at every traffic level" in b.reason


# --- properties ---------------------------------------------------------------------------------

settings_ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
case = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["llama-3.1-8b", "mixtral-8x7b", "qwen3-30b-a3b", "gpt-oss-20b"]),
        "gpu": st.sampled_from(["h100-sxm-80gb", "h200-sxm-141gb", "l40s"]),
        "prompt_tokens": st.integers(16, 4000),
        "completion_tokens": st.integers(2, 1000),
        "requests_per_s": st.floats(0.01, 50),
        "ttft_s_max": st.one_of(st.none(), st.floats(0.05, 5)),
        "itl_s_max": st.one_of(st.none(), st.floats(0.01, 0.5)),
    }
)


def _plan(c, **over):
    kw = {**c, "gpu_hour_usd": 3.0, **over}
    return plan(kw.pop("model"), kw.pop("gpu"), **kw)


@settings_
@given(c=case, more=st.floats(1.0, 10.0))
def test_more_traffic_never_needs_fewer_gpus(c, more):
    a, b = _plan(c).best, _plan(c, requests_per_s=c["requests_per_s"] * more).best
    if a is not None:
        assert b is not None and b.num_gpus >= a.num_gpus


@settings_
@given(c=case, looser=st.floats(1.0, 5.0))
def test_a_looser_target_never_costs_more(c, looser):
    loose = {k: (None if c[k] is None else c[k] * looser) for k in ("ttft_s_max", "itl_s_max")}
    a, b = _plan(c).best, _plan(c, **loose).best
    if a is not None:
        assert b is not None and b.monthly_usd <= a.monthly_usd * (1 + 1e-12)


@settings_
@given(c=case, dearer=st.floats(1.0, 5.0))
def test_a_higher_gpu_price_never_lowers_the_break_even(c, dearer):
    kw = {k: v for k, v in c.items() if k not in ("model", "gpu", "requests_per_s")}
    a = breakeven(c["model"], c["gpu"], **kw, api=(0.5, 1.5), peak_factor=2, gpu_hour_usd=2.0)
    b = breakeven(c["model"], c["gpu"], **kw, api=(0.5, 1.5), peak_factor=2, gpu_hour_usd=2.0 * dearer)
    if a.requests_per_s is None:
        assert b.requests_per_s is None
    elif b.requests_per_s is not None:
        assert b.requests_per_s >= a.requests_per_s * (1 - 1e-12)


@settings_
@given(c=case)
def test_price_per_token_times_tokens_is_the_monthly_cost(c):
    for r in _plan(c).rows:
        if r.reason is not None:
            continue
        seconds = 730 * 3600 * c["requests_per_s"]
        served = (
            r.usd_per_1m_prompt_tokens * seconds * c["prompt_tokens"]
            + r.usd_per_1m_completion_tokens * seconds * c["completion_tokens"]
        ) / 1e6
        assert served == pytest.approx(r.monthly_usd, rel=1e-9)
        assert math.isfinite(r.usd_per_1m_blended)


def test_a_replica_that_cannot_keep_up_with_its_prompts_is_a_row_that_says_so():
    """1,000 prompt tokens to 2 output tokens: every concurrency takes prompts in faster than one H200 computes
    them, so that row cannot serve (and says why) while larger layouts still plan."""
    p = llmxl.plan("mixtral-8x7b", "h200-sxm-141gb", prompt_tokens=1000, completion_tokens=2, requests_per_s=1.0)
    stuck = [r for r in p.rows if r.reason is not None]
    assert stuck and all("saturates at every concurrency" in r.reason and r.monthly_usd is None for r in stuck)
    assert "estimate(" not in stuck[0].reason  # no Python argument in a message a cell or the CLI shows
    assert p.best is not None and p.best.monthly_usd > 0
