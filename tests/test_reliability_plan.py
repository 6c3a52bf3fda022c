"""Plans and break-evens from hostile callers (issue 19): breakeven's own arguments, incomplete owned costs,
empty tp lists, a tiny model's concurrency search (bounded, and equal to the old scan over every B)."""

from __future__ import annotations

import math
import time

import pytest

import llmxl
from llmxl import InvalidInputError
from llmxl.breakeven import breakeven
from llmxl.operating import DEFAULT_PERCENTILE, configured, load_at
from llmxl.plan import plan

SHAPE = dict(prompt_tokens=1000, completion_tokens=300)
TINY = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 4096, "_name_or_path": "tiny"}  # fmt: skip


class TestBreakeven:
    def test_a_free_gpu_and_a_free_api_give_a_reason_not_a_traceback(self):
        with pytest.raises(InvalidInputError, match="costs \\$0 per GPU-hour") as info:
            breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, gpu_hour_usd=0, api=(0.88, 0.88))
        assert info.value.field == "gpu_hour_usd"
        b = breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, gpu_hour_usd=0, api=(0, 0))  # was: ZeroDivisionError
        assert b.requests_per_s is None and "charges nothing" in b.reason
        b = breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, gpu_hour_usd=3.99, api=(0, 0))
        assert b.requests_per_s is None and "charges nothing" in b.reason

    @pytest.mark.parametrize(
        ("option", "said"),
        [({"requests_per_s": 5}, "breakeven finds the average traffic itself"),  # was: "got multiple values"
         ({"tokens_per_day": 1e9}, "breakeven finds the average traffic itself"),
         ({"peak_requests_per_s": 15}, "give peak_factor instead"),  # was: blamed "peak_factor, not both"
         ({"ttft_max": 0.5}, "did you mean 'ttft_s_max'"),
         ({"gpus": "b200"}, "second argument")],
    )  # fmt: skip
    def test_arguments_it_sets_itself_or_does_not_know_are_refused_by_name(self, option, said):
        with pytest.raises(InvalidInputError, match=said) as info:
            breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, api=(0.88, 0.88), gpu_hour_usd=3.99, **option)
        assert info.value.field == next(iter(option))

    def test_peak_factor_is_checked_before_anything_runs(self):
        for factor, said in ((0, "must be ≥ 1"), (0.5, "must be ≥ 1"), (1e300, r"from 1 to 1e\+06"), ("x", "'x'")):
            with pytest.raises(InvalidInputError, match=said):
                breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, api=(1, 1), peak_factor=factor)

    def test_api_prices_are_in_range(self):
        # (prompt, completion, cached) is an API price since prefix caching: four numbers are not
        for api in ((math.inf, 1), (-1, 1), (1, 1e300), ("a", 1), (1,), (1, 2, 3, 4), (1, 2, -1), (1, 2, math.inf)):
            with pytest.raises(InvalidInputError, match="api"):
                breakeven("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, api=api, gpu_hour_usd=3.99)


class TestPlanInputs:
    @pytest.mark.parametrize(
        ("owned", "said"),
        [({"purchase_usd": 30000}, "owned is missing years, usd_per_kwh"),  # was: TypeError
         ({"purchase_usd": 30000, "years": 5, "power_kw": 1, "pue": 1.3}, "owned is missing usd_per_kwh"),
         ({"purchase_usd": 1, "year": 5}, "unknown field 'year'"),
         ({"purchase_usd": 30000, "years": 5, "power_kw": 1, "pue": 1.3, "usd_per_kwh": None}, "usd_per_kwh is missing"),
         (1e300, r"owned must be from 0 to 1e\+06"), (-1, "owned must be ≥ 0")],
    )  # fmt: skip
    def test_an_incomplete_or_wrong_owned_cost_is_named(self, owned, said):
        with pytest.raises(InvalidInputError, match=said):
            plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5, owned=owned)

    def test_an_empty_tp_list_is_refused(self):
        with pytest.raises(InvalidInputError, match="tp is an empty list") as info:  # was: an empty plan
            plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5, tp=[])
        assert info.value.field == "tp"
        with pytest.raises(InvalidInputError, match="tp"):
            plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5, tp=[1, "x"])

    def test_max_concurrency_as_the_command_line_writes_it(self, capsys, tmp_path):
        from llmxl.cli import main

        for cap in ("8.0", "1e2"):  # was: ValueError writing the workbook
            code = main(["plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "1000",
                         "--completion", "300", "--rps", "5", "--max-concurrency", cap, "-o",
                         str(tmp_path / f"p{cap}.xlsx")])  # fmt: skip
            err = capsys.readouterr().err
            assert code == 0, err
        code = main(["plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "1000", "--completion",
                     "300", "--rps", "5", "--max-concurrency", "8.5"])  # fmt: skip
        assert code == 2 and "max_concurrency must be a whole number" in capsys.readouterr().err


# --- the concurrency search: bounded, and the answer of the scan over every concurrency -------------------


def _meets(model, gpu, tp, dtype, s, n, ttft_max, itl_max, cap, B):
    """Whether one replica meets the targets at mean concurrency B, from the load model at that one B (a
    scalar evaluation, where the plan reads an array sweep)."""
    c = configured(model, gpu, tp, 1, dtype, s, n, None, None, None, cap, DEFAULT_PERCENTILE)
    load = load_at(c, B, DEFAULT_PERCENTILE)
    ok = (ttft_max is None or load.ttft_pct_s <= ttft_max) and (itl_max is None or load.itl_pct_s <= itl_max)
    return ok, load, c


GRID = [
    (model, gpu, tp, dtype, s, n, ttft, itl, cap)
    for model, gpu, tp, dtype in (("llama-3.1-8b", "h100-sxm-80gb", 1, "bf16"), ("llama-3.1-70b", "h100-sxm-80gb", 2,
                                  "fp8"), ("mixtral-8x7b", "h200-sxm-141gb", 2, "bf16"), ("qwen3-30b-a3b", "l40s", 2,
                                  "fp8"), ("gpt-oss-20b", "b200", 1, "mxfp4"), ("deepseek-v3", "h200", 8, "fp8"),
                                  ("gemma-3-27b", "a100-sxm-80gb", 1, "bf16"))
    for s, n in ((1000, 300), (8000, 1000), (128, 1), (32, 2000))
    for ttft, itl in ((None, None), (0.5, 0.05), (2.0, None), (None, 0.02), (0.05, 0.005))
    for cap in (None, 64)
]  # fmt: skip


@pytest.mark.parametrize("case", GRID, ids=lambda c: "-".join(map(str, c)))
def test_the_design_concurrency_is_the_largest_that_meets_the_targets(case):
    """B* meets the targets and B* + 1 does not (or B* is the capacity), each checked by a scalar operating
    point: the plan's one array sweep over concurrency gives what point-by-point evaluation gives."""
    model, gpu, tp, dtype, s, n, ttft_max, itl_max, cap = case
    try:
        p = plan(model, gpu, tp=tp, dtype=dtype, prompt_tokens=s, completion_tokens=n, requests_per_s=3,
                 ttft_s_max=ttft_max, itl_s_max=itl_max, max_concurrency=cap, gpu_hour_usd=2.5)  # fmt: skip
    except llmxl.LlmxlError:
        with pytest.raises(llmxl.LlmxlError):
            _meets(model, gpu, tp, dtype, s, n, ttft_max, itl_max, cap, 1)
        return
    row = p.rows[0]
    if row.ttft_s is None:  # does not fit at all
        return
    ok1, load1, c = _meets(model, gpu, tp, dtype, s, n, ttft_max, itl_max, cap, 1)
    if row.concurrency is None:
        assert not ok1 and row.ttft_s == pytest.approx(float(load1.ttft_pct_s), rel=1e-12)
        return
    ok, load, c = _meets(model, gpu, tp, dtype, s, n, ttft_max, itl_max, cap, row.concurrency)
    assert ok
    assert (row.requests_per_s, row.ttft_s, row.itl_s, row.prompt_share) == pytest.approx(
        (load.requests_per_s, load.ttft_pct_s, load.itl_pct_s, load.prompt_share), rel=1e-12
    )
    # the public face agrees: at the rate λ(B*), the operating point runs B* sequences (near the capacity λ is
    # flat in B, so the B that serves λ(B*) is found to 3e-3, not to the bisection's 2^-60; where a prompt's
    # chunk count steps up with B, λ(B) jumps, and the bisection stops at the jump: 1e-4 above the rate, and
    # a B up to 4e-3 below B*)
    op = llmxl.operating_point(model, gpu, tp=tp, dtype=dtype, prompt_tokens=s, completion_tokens=n,
                               request_rate=row.requests_per_s, max_concurrency=cap)  # fmt: skip
    assert op.requests_per_s == pytest.approx(row.requests_per_s, rel=1e-4) and not op.saturated
    assert (op.decode_concurrency, op.ttft_s) == pytest.approx((row.concurrency, row.ttft_s), rel=5e-3)
    if row.concurrency < c.capacity_concurrency:
        assert not _meets(model, gpu, tp, dtype, s, n, ttft_max, itl_max, cap, row.concurrency + 1)[0]
    else:
        assert row.concurrency == c.capacity_concurrency


def test_a_tiny_model_plans_without_materialising_every_concurrency():
    import tracemalloc

    plan(
        TINY, "b200", prompt_tokens=1, completion_tokens=2, requests_per_s=5, gpu_hour_usd=2, tp=1
    )  # loads the catalog
    tracemalloc.start()
    start = time.perf_counter()
    p = plan(TINY, "b200", prompt_tokens=1, completion_tokens=2, requests_per_s=5, gpu_hour_usd=2)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best = p.best
    # the engine's cap bounds the sweep, however many sequences the KV cache would hold
    assert best.max_concurrency <= llmxl.engine().limits_for("b200", 192).max_num_seqs
    assert best.requests_per_s == pytest.approx(best.capacity_requests_per_s, rel=1e-12)
    assert seconds < 5 and peak < 100 * 2**20  # was: np.arange over 596 million (MemoryError at 6 GiB)
    wide = plan(TINY, "b200", prompt_tokens=1, completion_tokens=2, requests_per_s=5, gpu_hour_usd=2,
                engine="vllm:max_num_seqs=65536,max_num_batched_tokens=1000000")  # fmt: skip
    assert wide.best.max_concurrency == 65536
    capped = plan(TINY, "b200", prompt_tokens=1, completion_tokens=2, requests_per_s=5, gpu_hour_usd=2,
                  ttft_s_max=0.5, itl_s_max=0.5)  # fmt: skip
    assert capped.best.concurrency <= best.concurrency
    op = llmxl.operating_point(TINY, "b200", prompt_tokens=1, completion_tokens=2, request_rate=best.requests_per_s)
    assert op.decode_concurrency == pytest.approx(best.concurrency, rel=1e-3) and not op.saturated
