"""Speculative decoding and prefix caching together (docs/methodology.md, "Speculative decoding" and "Prefix
caching"): a prompt computes u = max((1 − h) s, 1) tokens over the cached rest, a decode step verifies k + 1
tokens per sequence and yields τ of them. The two touch different parts of a request, so each face gives the
prefill of the hit alone and the decoding of the speculative decoder alone, and the load model combines them."""

from __future__ import annotations

import json

import pytest

import llmxl
from llmxl.load import queueing
from llmxl.operating import configured

from .conftest import CHECK_GPU

SPEC = dict(speculative="eagle3", num_speculative_tokens=3, acceptance_rate=0.7)
H = 0.5
SHAPE = dict(prompt_tokens=2000, completion_tokens=300)
MODEL, GPU = "llama-3.1-8b", "h100-sxm-80gb"


@pytest.fixture
def check_catalog(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(CHECK_GPU + "usd_per_hour = 3.99\n")
    llmxl.add_catalog_file(path)
    yield
    llmxl.catalog.reset()


def test_an_estimate_takes_its_prefill_from_the_hit_and_its_decoding_from_the_speculative_decoder():
    both = llmxl.estimate(MODEL, GPU, batch_size=8, **SHAPE, **SPEC, prefix_cache_hit=H)
    hit = llmxl.estimate(MODEL, GPU, batch_size=8, **SHAPE, prefix_cache_hit=H)
    spec = llmxl.estimate(MODEL, GPU, batch_size=8, **SHAPE, **SPEC)
    assert both.prefix_cache_hit == H
    assert both.ttft_s == pytest.approx(hit.ttft_s, rel=1e-12)
    assert both.tpot_s == pytest.approx(spec.tpot_s, rel=1e-12)
    assert both.ttft_s < spec.ttft_s and both.tpot_s < hit.tpot_s


def test_the_load_model_counts_u_prompt_tokens_and_k_plus_1_tokens_per_decode():
    c = configured(MODEL, GPU, 1, 1, None, 2000, 300, None, None, None, **SPEC, prefix_cache_hit=H)
    r = c.replica
    sp = r.rates.spec
    assert r.prefix_cache_hit == H and sp is not None and sp.k == 3
    budget = r.memory.max_num_batched_tokens
    u = 1000  # max((1 - 0.5) 2000, 1)
    top = queueing.capacity_top(2000, 300, 10**6, budget=budget, mixed=True, spec=sp, hit=H)
    assert top == budget * 299 // (4 * 299 + u * sp.tau)  # B (k + 1) + B u τ / (n − 1) ≤ budget
    # a decode step does not depend on the prompt's hits; the speculative decoder's is the same step
    alone = configured(MODEL, GPU, 1, 1, None, 2000, 300, None, None, None, **SPEC)
    assert r.decode_step_s(2000, 300, 16.0) == alone.replica.decode_step_s(2000, 300, 16.0)


@pytest.mark.parametrize("load", [dict(concurrency=32), dict(request_rate=5.0)])
def test_hits_and_speculation_each_help_and_together_help_most(load):
    def point(**kw):
        return llmxl.operating_point(MODEL, GPU, **load, **SHAPE, **kw)

    none, hit, spec, both = point(), point(prefix_cache_hit=H), point(**SPEC), point(**SPEC, prefix_cache_hit=H)
    assert both.prefix_cache_hit == H
    assert both.capacity_requests_per_s > max(hit.capacity_requests_per_s, spec.capacity_requests_per_s)
    assert hit.capacity_requests_per_s > none.capacity_requests_per_s
    assert both.itl_mean_s < hit.itl_mean_s
    if "request_rate" in load:
        assert both.ttft_mean_s < spec.ttft_mean_s
    else:  # a closed loop serves more with either, and most with both
        assert both.requests_per_s > max(hit.requests_per_s, spec.requests_per_s) > none.requests_per_s


def test_the_simulator_runs_both():
    from llmxl.load.simulate import simulate

    kw = dict(max_concurrency=16, num_requests=120, **SHAPE)
    spec = simulate(MODEL, GPU, **kw, **SPEC)
    both = simulate(MODEL, GPU, **kw, **SPEC, prefix_cache_hit=H)
    assert both.prefix_cache_hit == H
    assert both.ttft_s < spec.ttft_s
    assert both.requests_per_s > spec.requests_per_s


def test_plan_cli_and_udfs_take_both(check_catalog, capsys):
    from llmxl.cli import main

    from .xlwings_harness import MISSING, call_as_excel, windows_xlwings

    target = dict(requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.05)
    p = llmxl.plan(MODEL, "h100-check", tp=1, dtype="bf16", **SHAPE, **target, **SPEC, prefix_cache_hit=H)
    assert (p.speculative, p.num_speculative_tokens, p.acceptance_rate, p.prefix_cache_hit) == ("eagle3", 3, 0.7, H)
    args = ["plan", "--model", MODEL, "--gpu", "h100-check", "--tp", "1", "--dtype", "bf16", "--prompt", "2000",
            "--completion", "300", "--rps", "5", "--peak-rps", "15", "--ttft", "0.5", "--itl", "0.05",
            "--speculative", "eagle3", "--num-speculative-tokens", "3", "--acceptance-rate", "0.7",
            "--prefix-cache-hit", "0.5", "--json", "-"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["speculative"], doc["prefix_cache_hit"]) == ("eagle3", 0.5)
    assert doc["best"]["monthly_usd"] == pytest.approx(p.best.monthly_usd, rel=1e-12)
    with windows_xlwings() as (xl, _):
        # the scenario functions' two trailing optional arguments: speculative, then prefix_cache_hit (after dp,
        # ep and redundant_experts)
        ttft = call_as_excel(xl.LLM_TTFT, MODEL, "h100-check", 1.0, 2000.0, 300.0, *[MISSING] * 4, "bf16",
                             MISSING, MISSING, *[MISSING] * 3, "eagle3:k=3,acceptance=0.7", H)  # fmt: skip
        tpot = call_as_excel(xl.LLM_TPOT, MODEL, "h100-check", 1.0, 2000.0, 300.0, *[MISSING] * 4, "bf16",
                             MISSING, MISSING, *[MISSING] * 3, "eagle3:k=3,acceptance=0.7", H)  # fmt: skip
        e = llmxl.estimate(MODEL, "h100-check", batch_size=1, dtype="bf16", **SHAPE, **SPEC, prefix_cache_hit=H)
        assert (ttft, tpot) == (pytest.approx(e.ttft_s, rel=1e-12), pytest.approx(e.tpot_s, rel=1e-12))
        gpus = call_as_excel(xl.LLM_GPUS_NEEDED, MODEL, "h100-check", 5.0, 15.0, 2000.0, 300.0, MISSING, 0.5, 0.05,
                             1.0, "bf16", *[MISSING] * 4, "eagle3:k=3,acceptance=0.7", H)  # fmt: skip
        assert gpus == p.best.num_gpus
        spill = call_as_excel(xl.LLM_OPERATING_POINT, MODEL, "h100-check", 16.0, 2000.0, 300.0, 1.0, "bf16",
                              MISSING, MISSING, MISSING, MISSING, MISSING, "eagle3:k=3,acceptance=0.7", H)  # fmt: skip
        op = llmxl.operating_point(MODEL, "h100-check", 16, tp=1, dtype="bf16", **SHAPE, **SPEC, prefix_cache_hit=H)
        assert dict(spill)["Requests/s of one replica"] == pytest.approx(op.requests_per_s, rel=1e-12)


def test_the_recalculated_plan_workbook_with_both(check_catalog, tmp_path):
    import openpyxl

    from llmxl.workbook.plan import write_plan_workbook
    from llmxl.workbook.recalc import recalculate_many

    from .conftest import require_soffice
    from .test_workbook_plan import _assert_rows_equal, _edit, _names, _rows, _value

    require_soffice()
    p = llmxl.plan(MODEL, "h100-check", tp=1, dtype="bf16", **SHAPE, requests_per_s=5, peak_requests_per_s=15,
                   ttft_s_max=0.5, itl_s_max=0.05, **SPEC, prefix_cache_hit=H)  # fmt: skip
    path = write_plan_workbook(tmp_path / "both.xlsx", p, api=("", 0.1, 0.1))
    names = _names(openpyxl.load_workbook(path))
    assert {"plan_speculative", "plan_prefix_hit"} <= set(names)
    stale = _edit(path, tmp_path / "stale.xlsx", {"plan_prefix_hit": 0.25})
    wb, wb2 = (openpyxl.load_workbook(f, data_only=True) for f in recalculate_many([path, stale], tmp_path / "lo"))
    assert _value(wb, names, "plan_stale") in ("", None)
    _assert_rows_equal(_rows(wb), p)
    message = _value(wb2, names, "plan_stale")
    assert "0.5 of each prompt from the prefix cache" in message and "speculative decoding: eagle3" in message
    assert "--prefix-cache-hit 0.25" in message
