"""Prefix caching (llmxl/prefix.py; docs/methodology.md, "Prefix caching"): today's numbers at h = 0 on every face,
the worked check by hand through estimate, the load model, plan, breakeven, an Excel function, the CLI's JSON and
the recalculated plan workbook, the properties, and the refusals."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import InvalidInputError
from llmxl.load.steps import step_time

from .conftest import CHECK_GPU
from .test_load_worked import S, by_hand, six
from .test_plan import CHECK, H100, TARGET

H = 0.5
API = (0.88, 0.88, 0.22)  # prompt, completion, cached prompt: prices given for the check

# --- h = 0 is today's llmxl, to the last digit ---------------------------------------------------------------

ESTIMATES = [
    ("llama-3.1-8b", "h100-sxm-80gb", dict(batch_size=1, prompt_tokens=1000, completion_tokens=300)),
    ("llama-3.1-70b", "h100-sxm-80gb", dict(tp=2, dtype="fp8", batch_size=8, prompt_tokens=4000, completion_tokens=500)),
    ("mixtral-8x7b", "h100-sxm-80gb", dict(tp=2, batch_size=16, prompt_tokens=2000, completion_tokens=256)),
    ("deepseek-v3", "h200-sxm-141gb", dict(tp=8, batch_size=4, prompt_tokens=8000, completion_tokens=512)),
    ("gemma-3-27b", "h100-sxm-80gb", dict(batch_size=4, prompt_tokens=8192, completion_tokens=1024)),
    ("llama-2-70b", "a100-sxm-80gb", dict(tp=2, batch_size=1, prompt_tokens=128, completion_tokens=242,
                                          method="reference")),
]  # fmt: skip
E_FIELDS = ("ttft_s", "tpot_s", "usd_per_1k_prompt_tokens", "usd_per_1k_completion_tokens", "kv_cache_bytes_per_gpu",
            "activation_bytes_per_gpu", "max_batch_size")  # fmt: skip
OPS = [
    ("llama-3.1-70b", "h100-sxm-80gb", dict(tp=2, dtype="fp8", prompt_tokens=1000, completion_tokens=300)),
    ("mixtral-8x7b", "h100-sxm-80gb", dict(tp=2, prompt_tokens=2000, completion_tokens=256)),
    ("gpt-oss-120b", "h100-sxm-80gb", dict(prompt_tokens=4000, completion_tokens=500)),
]
O_FIELDS = ("requests_per_s", "ttft_s", "ttft_mean_s", "itl_s", "itl_mean_s", "prompt_share", "capacity_requests_per_s")
P_FIELDS = ("concurrency", "num_gpus", "monthly_usd", "usd_per_1m_prompt_tokens", "usd_per_1m_completion_tokens",
            "usd_per_1m_blended", "ttft_s", "itl_s")  # fmt: skip


def _faces(**kw):
    """The numbers tests/data/prefix_cache_hit_0.json holds, computed now (kw: prefix_cache_hit=0 or nothing)."""
    out = {"estimate": [], "operating": [], "plan": []}
    for m, g, a in ESTIMATES:
        e = llmxl.estimate(m, g, **a, **kw)
        out["estimate"].append([getattr(e, f) for f in E_FIELDS])
    for m, g, a in OPS:
        for eng in ("vllm", "sglang"):
            for load in (dict(concurrency=16), dict(request_rate=1.5)):
                op = llmxl.operating_point(m, g, **load, **a, engine=eng, **kw)
                out["operating"].append([getattr(op, f) for f in O_FIELDS])
    for m, g, a in OPS:
        p = llmxl.plan(m, g, **a, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=1.0, itl_s_max=0.05, **kw)
        # the tp layouts b0b4abd planned (a MoE model's plan also tries dp = ep layouts since expert parallelism)
        out["plan"].append([[getattr(r, f) for f in P_FIELDS] for r in p.rows if r.dp == 1 and r.ep == 1])
    b = llmxl.breakeven("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
                        completion_tokens=300, peak_factor=1.5, api="together", ttft_s_max=0.5, itl_s_max=0.05,
                        gpu_hour_usd=3.99, **kw)  # fmt: skip
    out["breakeven"] = [b.requests_per_s, b.monthly_usd, b.api_usd_per_request_per_s]
    f = llmxl.frontier("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000, completion_tokens=300,
                       gpu_hour_usd=3.99, **kw)  # fmt: skip
    out["frontier"] = [[q.concurrency, q.usd_per_1m_blended, q.ttft_s, q.itl_mean_s] for q in f.points]
    s = llmxl.simulate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=1000, completion_tokens=200, max_concurrency=16,
                       num_requests=200, range_ratio=0.5, **kw)  # fmt: skip
    out["simulate"] = [s.ttft_s, s.tpot_s, s.itl_p90_s, s.requests_per_s, s.steps]
    return out


def test_no_hits_are_todays_numbers_on_every_face():
    """tests/data/prefix_cache_hit_0.json holds these figures as llmxl computed them before prefix caching
    (commit b0b4abd, the same calls without the argument; pinned again when the load model's κP and closed loop
    by engine came in, in the same merge, and when κD, a vLLM client's own gaps and the simulator's stalls did):
    equal to the last digit, given 0 or left out."""
    before = json.loads((Path(__file__).parent / "data" / "prefix_cache_hit_0.json").read_text())
    assert json.loads(json.dumps(_faces(prefix_cache_hit=0.0))) == before
    assert json.loads(json.dumps(_faces())) == before


def test_no_hits_with_arrays_and_the_step_model():
    b = np.array([1, 4, 32])
    kw = dict(tp=2, dtype="fp8", batch_size=b, prompt_tokens=np.array([[100], [5000]]), completion_tokens=300)
    e0, e = llmxl.estimate("llama-3.1-70b", H100, **kw), llmxl.estimate("llama-3.1-70b", H100, **kw, prefix_cache_hit=0)
    assert np.array_equal(e0.ttft_s, e.ttft_s) and np.array_equal(e0.max_batch_size, e.max_batch_size)
    assert llmxl.prefix.split(1000, 0.0) == (1000, 0)


# --- the worked check -----------------------------------------------------------------------------------------

F, M = 1979e12 * 0.7, 3350e9 * 0.9
PA, PD, KAPPA, CS = 75_497_472, 352_321_536, 1024, 4 * 32 * 128
CAR = 8192 / 450e9  # 2 (t − 1) / t · h Ba / NVL at t = 2, 8-bit activations


def _ttft(b, u, c):
    """fwd(b, u, c) of the check's configuration, as docs/methodology.md writes it."""
    N = b * u
    att = 80 * max((2 * N * PA + CS * N * (c + (u + 1) / 2)) / F, (PA + b * KAPPA * (c + u)) / M)
    mlp = 80 * max(2 * N * PD / F, PD / M)
    comm = 160 * (2e-5 + CAR * N)
    head = max(2 * 128256 * 8192 / 2 * b / F, 128256 * 8192 * 2 / 2 / M)
    return att, mlp, comm, head, 80 * 1e-5 + 8e-3


def test_the_worked_check_by_hand():
    u, c = llmxl.prefix.split(S, H)
    assert (u, c) == (500, 500)
    parts = _ttft(1, u, c)
    assert [six(x) for x in parts] == [0.00471497, 0.0203463, 0.00465636, 0.000348482, 0.0088]
    assert six(sum(parts)) == 0.0388661 and six(sum(_ttft(1, S, 0))) == 0.0651472
    assert six(sum(_ttft(8, u, c))) == 0.224489 and six(sum(_ttft(8, S, 0))) == 0.434738
    assert 2 * u * PA + CS * u * (c + (u + 1) / 2) == 81_645_568_000 and PA + KAPPA * (c + u) == 76_521_472


def test_the_worked_check_through_estimate():
    kw = dict(tp=2, dtype="fp8", prompt_tokens=S, completion_tokens=300, gpu_hour_usd=3.99)
    for b in (1, 8):
        e = llmxl.estimate("llama-3.1-70b", H100, batch_size=b, **kw, prefix_cache_hit=H)
        e0 = llmxl.estimate("llama-3.1-70b", H100, batch_size=b, **kw)
        assert e.ttft_s == pytest.approx(sum(_ttft(b, 500, 500)), rel=1e-9)
        assert e.prefix_cache_hit == H and e.to_dict()["prefix_cache_hit"] == H
        assert (e.tpot_s, e.kv_cache_bytes_per_gpu, e.max_batch_size) == (e0.tpot_s, e0.kv_cache_bytes_per_gpu,
                                                                          e0.max_batch_size)  # fmt: skip
        assert e.activation_bytes_per_gpu == e0.activation_bytes_per_gpu / 2
    e = llmxl.estimate("llama-3.1-70b", H100, batch_size=1, **kw, prefix_cache_hit=H)
    assert (six(e.ttft_s), six(e.tpot_s), six(e.usd_per_1k_prompt_tokens)) == (0.0388661, 0.0162344, 8.61532e-05)
    assert (e.kv_cache_bytes_per_gpu, e.activation_bytes_per_gpu) == (106_496_000, 7_168_000)
    t_c = 80 * CS * 500 * 500 / F
    assert six(t_c) == 0.000236541 and e.prefill_cached_s == pytest.approx(t_c, rel=1e-9)
    per_s = 3.99 * 2 / 3600
    assert e.usd_per_1k_cached_prompt_tokens == pytest.approx(1000 * per_s * t_c / 500, rel=1e-9)
    assert e.usd_per_1k_uncached_prompt_tokens == pytest.approx(1000 * per_s * (e.ttft_s - t_c) / 500, rel=1e-9)
    assert (six(e.usd_per_1k_cached_prompt_tokens), six(e.usd_per_1k_uncached_prompt_tokens)) == (1.04866e-06,
                                                                                                  0.000171258)  # fmt: skip
    split = (500 * e.usd_per_1k_uncached_prompt_tokens + 500 * e.usd_per_1k_cached_prompt_tokens) / 1000
    assert split == pytest.approx(e.usd_per_1k_prompt_tokens, rel=1e-12)
    e0 = llmxl.estimate("llama-3.1-70b", H100, batch_size=1, **kw)
    assert (e0.usd_per_1k_cached_prompt_tokens, e0.prefill_cached_s) == (None, 0.0)
    assert e0.usd_per_1k_uncached_prompt_tokens == e0.usd_per_1k_prompt_tokens


def _prefix_steps(r, b, u=500.0, c=500.0, n=300):
    ctx = S + (n - 1) / 2
    attend = u * (c + (u + 1) / 2)
    a = step_time(r, b, b * ctx)
    L1 = step_time(r, b, b * ctx, u, attend, c, 1.0)
    one = step_time(r, 0.0, 0.0, u, attend, c, 1.0)
    two = step_time(r, 0.0, 0.0, 2 * u, 2 * attend, 2 * c, 1.0)
    return a, L1, one, two


PRINTED = dict(a=0.016747, L1=0.0397207, d1=0.0229737, d=0.0265176, t=0.0179814, lam=2.97595, phi=0.0686489,
               ttft_mean=0.0514655, ttft_p=0.0642129, itl_p=0.016747)  # fmt: skip


def test_the_worked_check_through_the_load_model():
    want = by_hand(16, steps=_prefix_steps)
    assert {k: six(want[k]) for k in PRINTED} == PRINTED
    op = llmxl.operating_point("llama-3.1-70b", H100, request_rate=want["lam"], **CHECK, prefix_cache_hit=H)
    assert op.decode_concurrency == pytest.approx(16, rel=1e-9) and op.prefix_cache_hit == H
    for got, key in ((op.prefill_s, "L1"), (op.decode_step_s, "a"), (op.itl_mean_s, "t"), (op.itl_s, "itl_p"),
                     (op.ttft_mean_s, "ttft_mean"), (op.prompt_share, "phi")):  # fmt: skip
        assert got == pytest.approx(want[key], rel=1e-9), key
    assert op.ttft_s == pytest.approx(want["ttft_p"], rel=1e-8)
    assert (op.capacity_concurrency, six(op.capacity_requests_per_s)) == (288, 16.9987)


def test_the_worked_check_through_plan_and_breakeven():
    p = llmxl.plan("llama-3.1-70b", H100, **CHECK, **TARGET, prefix_cache_hit=H)
    best = p.best
    assert p.prefix_cache_hit == H and p.to_dict()["prefix_cache_hit"] == H
    assert (best.concurrency, best.replicas, best.num_gpus) == (159, 2, 4)
    assert (six(best.requests_per_s), six(best.monthly_usd), six(best.prompt_share)) == (14.8924, 11650.8, 0.394146)
    assert (six(best.usd_per_1m_prompt_tokens), six(best.usd_per_1m_completion_tokens),
            six(best.usd_per_1m_blended)) == (0.349476, 1.79064, 0.709766)  # fmt: skip
    at, above = by_hand(159, steps=_prefix_steps), by_hand(160, steps=_prefix_steps)
    assert best.requests_per_s == pytest.approx(at["lam"], rel=1e-9) and at["itl_p"] <= 0.05 < above["itl_p"]
    seconds = 730 * 3600
    assert best.usd_per_1m_prompt_tokens == pytest.approx(at["phi"] * 11650.8 / (5 * seconds * S) * 1e6, rel=1e-9)
    args = dict(**CHECK, ttft_s_max=0.5, itl_s_max=0.05, gpu_hour_usd=3.99, prefix_cache_hit=H)
    for factor in (2, 3):
        b = llmxl.breakeven("llama-3.1-70b", H100, api=API, peak_factor=factor, **args)
        assert b.api_usd_per_request_per_s == pytest.approx(730 * 3600 * (1000 * 0.55 + 300 * 0.88) / 1e6, rel=1e-12)
        assert six(b.api_usd_per_request_per_s) == 2139.19 and b.cached_prompt_usd_per_1m == 0.22
        assert b.requests_per_s == pytest.approx(5825.4 / 2139.192, rel=1e-9) and b.warnings == ()
    assert llmxl.breakeven("llama-3.1-70b", H100, api=API, peak_factor=3, **{**args, "prefix_cache_hit": 0}).reason


def test_an_api_without_a_cached_price_bills_hits_at_the_prompt_price_and_says_so():
    args = dict(**CHECK, ttft_s_max=0.5, itl_s_max=0.05, gpu_hour_usd=3.99, peak_factor=2, prefix_cache_hit=H)
    b = llmxl.breakeven("llama-3.1-70b", H100, api=(0.88, 0.88), **args)
    assert b.cached_prompt_usd_per_1m is None
    assert b.api_usd_per_request_per_s == pytest.approx(730 * 3600 * (1000 * 0.88 + 300 * 0.88) / 1e6, rel=1e-12)
    (warning,) = b.warnings
    assert (
        "no cached-input price" in warning
        and "$0.88 per 1M" in warning
        and "api=(prompt, completion, cached)" in warning
    )


def test_a_catalog_api_brings_its_cached_price():
    deepseek = llmxl.api_price("deepseek-v3", "deepseek")
    if deepseek.cached_input_usd_per_1m is None:
        pytest.skip("genai-prices is not installed: no cached prices")
    b = llmxl.breakeven("deepseek-v3", "h200-sxm-141gb", tp=8, prompt_tokens=1000, completion_tokens=300,
                        api="deepseek", gpu_hour_usd=3.99, prefix_cache_hit=0.8)  # fmt: skip
    pin = 0.2 * deepseek.prompt_usd_per_1m + 0.8 * deepseek.cached_input_usd_per_1m
    assert b.cached_prompt_usd_per_1m == deepseek.cached_input_usd_per_1m and b.warnings == ()
    assert b.api_usd_per_request_per_s == pytest.approx(
        730 * 3600 * (1000 * pin + 300 * deepseek.completion_usd_per_1m) / 1e6, rel=1e-12
    )


# --- the other faces ---------------------------------------------------------------------------------------------


@pytest.fixture
def check_catalog(tmp_path, monkeypatch):
    path = tmp_path / "check.toml"
    path.write_text(CHECK_GPU + "usd_per_hour = 3.99\n")
    monkeypatch.setenv("LLMXL_CATALOG", str(path))
    llmxl.catalog.reset()
    yield path
    llmxl.catalog.reset()


def test_the_worked_check_through_excel_functions(check_catalog):
    from .xlwings_harness import MISSING, call_as_excel, windows_xlwings

    with windows_xlwings() as (xl, _):
        ttft = call_as_excel(xl.LLM_TTFT, "llama-3.1-70b", "h100-check", 1.0, 1000.0, 300.0, 2.0, MISSING, MISSING,
                             MISSING, "fp8", MISSING, MISSING, *[MISSING] * 3, MISSING, H)  # fmt: skip
        assert ttft == pytest.approx(sum(_ttft(1, 500, 500)), rel=1e-9)
        blank = call_as_excel(xl.LLM_TTFT, "llama-3.1-70b", "h100-check", 1.0, 1000.0, 300.0, 2.0, *[MISSING] * 3,
                              "fp8", MISSING, MISSING, *[MISSING] * 3, MISSING, MISSING)  # fmt: skip
        assert blank == pytest.approx(0.0651472, rel=1e-6)
        tail = (MISSING, 0.5, 0.05, 2.0, "fp8", MISSING, MISSING, MISSING, MISSING, MISSING, H)  # speculative blank
        gpus = call_as_excel(xl.LLM_GPUS_NEEDED, "llama-3.1-70b", "h100-check", 5.0, 15.0, 1000.0, 300.0, *tail)
        assert gpus == 4
        rate = call_as_excel(xl.LLM_BREAKEVEN, "llama-3.1-70b", "h100-check", 1000.0, 300.0, 3.0, 0.88, 0.88,
                             MISSING, 0.5, 0.05, 2.0, "fp8", MISSING, MISSING, H)  # fmt: skip
        hosted = llmxl.breakeven("llama-3.1-70b", "h100-check", **CHECK, api=(0.88, 0.88), peak_factor=3,
                                 ttft_s_max=0.5, itl_s_max=0.05, prefix_cache_hit=H)  # fmt: skip
        assert rate == pytest.approx(hosted.requests_per_s, rel=1e-12)
        spill = call_as_excel(xl.LLM_OPERATING_POINT, "llama-3.1-70b", "h100-check", 16.0, 1000.0, 300.0, 2.0, "fp8",
                              MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, H)  # fmt: skip
        op = llmxl.operating_point("llama-3.1-70b", "h100-check", 16, **CHECK, prefix_cache_hit=H)
        assert dict(spill)["Requests/s of one replica"] == pytest.approx(op.requests_per_s, rel=1e-12)
        api = llmxl.api_price("deepseek-v3", "deepseek")
        cached = call_as_excel(xl.LLM_API_PRICE, "deepseek-v3", "deepseek", "cached")
        assert cached == api.cached_input_usd_per_1m or cached.startswith("#N/A deepseek publishes no cached-input")
        none = call_as_excel(xl.LLM_API_PRICE, "llama-3.1-70b", "deepinfra", "cached")
        assert none.startswith("#N/A deepinfra publishes no cached-input price for llama-3.1-70b")
        bad = call_as_excel(xl.LLM_TTFT, "llama-3.1-70b", "h100-check", 1.0, 1000.0, 300.0, *[MISSING] * 11, 1.0)
        assert bad.startswith("#VALUE!") and "prefix_cache_hit must be in [0, 1)" in bad and "got 1" in bad


def test_the_worked_check_through_the_cli_json(check_catalog, capsys):
    from llmxl.cli import main

    assert main(["estimate", "--model", "llama-3.1-70b", "--gpu", "h100-check", "--tp", "2", "--dtype", "fp8",
                 "--prompt", "1000", "--completion", "300", "--prefix-cache-hit", "0.5", "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["prefix_cache_hit"] == 0.5
    assert data["ttft_s"] == pytest.approx(sum(_ttft(1, 500, 500)), rel=1e-9)
    plan = ["plan", "--model", "llama-3.1-70b", "--gpu", "h100-check", "--tp", "2", "--dtype", "fp8", "--prompt",
            "1000", "--completion", "300", "--rps", "5", "--peak-rps", "10", "--ttft", "0.5", "--itl", "0.05",
            "--prefix-cache-hit", "0.5"]  # fmt: skip
    assert main([*plan, "--api", "0.88,0.88,0.22", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["prefix_cache_hit"] == 0.5 and doc["best"]["num_gpus"] == 2  # one replica takes the peak of 10
    assert doc["best"]["monthly_usd"] == pytest.approx(5825.4, rel=1e-9)
    assert doc["breakeven"]["requests_per_s"] == pytest.approx(5825.4 / 2139.192, rel=1e-9)
    assert doc["breakeven"]["cached_prompt_usd_per_1m"] == 0.22
    assert main([*plan, "--api", "0.88,0.88"]) == 0
    out = capsys.readouterr().out
    assert "prefix cache: 0.5 of each prompt's tokens served from it" in out
    assert "Note: the API (at the given prices) publishes no cached-input price" in out
    assert main(["estimate", "--model", "llama-3.1-70b", "--gpu", "h100-check", "--prompt", "1000", "--completion",
                 "300", "--prefix-cache-hit", "1"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "prefix_cache_hit must be in [0, 1)" in err and "got 1" in err and "give e.g. 0.5" in err


def test_the_worked_check_through_the_recalculated_plan_workbook(check_catalog, tmp_path, capsys):
    import openpyxl

    from llmxl.cli import main
    from llmxl.workbook.recalc import recalculate_many

    from .conftest import require_soffice
    from .test_workbook_plan import _edit, _names, _rows, _value

    require_soffice()
    path = tmp_path / "plan.xlsx"
    assert main(["workbook", "plan", "-o", str(path), "--model", "llama-3.1-70b", "--gpu", "h100-check", "--tp", "2",
                 "--dtype", "fp8", "--prompt", "1000", "--completion", "300", "--rps", "5", "--peak-rps", "15",
                 "--ttft", "0.5", "--itl", "0.05", "--prefix-cache-hit", "0.5", "--api", "0.88,0.88,0.22"]) == 0  # fmt: skip
    capsys.readouterr()
    cheaper = _edit(path, tmp_path / "cheaper.xlsx", {"plan_api_cached": 0.11, "plan_peak_rps": 10})
    blank = _edit(path, tmp_path / "blank.xlsx", {"plan_api_cached": None})
    shape = _edit(path, tmp_path / "shape.xlsx", {"plan_prefix_hit": 0.25})
    books = [openpyxl.load_workbook(f, data_only=True) for f in recalculate_many([path, cheaper, blank, shape],
                                                                                   tmp_path / "lo")]  # fmt: skip
    wb = books[0]
    names = _names(wb)
    (row,) = _rows(wb)
    p = llmxl.plan("llama-3.1-70b", "h100-check", **CHECK, **TARGET, prefix_cache_hit=H)
    want = p.best
    assert (row["concurrency"], row["num_gpus"]) == (want.concurrency, want.num_gpus) == (159, 4)
    for field in ("requests_per_s", "monthly_usd", "prompt_share", "usd_per_1m_prompt_tokens",
                  "usd_per_1m_completion_tokens", "usd_per_1m_blended", "ttft_s", "itl_s"):  # fmt: skip
        assert row[field] == pytest.approx(getattr(want, field), rel=1e-9), field
    assert _value(wb, names, "plan_api_per_rps") == pytest.approx(2139.192, rel=1e-9)
    assert _value(wb, names, "plan_stale") in ("", None)
    b = llmxl.breakeven("llama-3.1-70b", "h100-check", **CHECK, api=API, peak_factor=3, ttft_s_max=0.5,
                        itl_s_max=0.05, prefix_cache_hit=H)  # fmt: skip
    assert row["breakeven"] == pytest.approx(b.requests_per_s, rel=1e-9)
    # an edited cached price recalculates the API's side: 730 · 3600 · (1000 (0.44 + 0.055) + 264) / 1e6
    wb = books[1]
    assert _value(wb, names, "plan_api_per_rps") == pytest.approx(730 * 3600 * (1000 * 0.495 + 264) / 1e6, rel=1e-9)
    b = llmxl.breakeven("llama-3.1-70b", "h100-check", **CHECK, api=(0.88, 0.88, 0.11), peak_factor=2,
                        ttft_s_max=0.5, itl_s_max=0.05, prefix_cache_hit=H)  # fmt: skip
    assert _rows(wb)[0]["breakeven"] == pytest.approx(b.requests_per_s, rel=1e-9)
    # a blank cached price bills the hits at the prompt price
    assert _value(books[2], names, "plan_api_per_rps") == pytest.approx(730 * 3600 * 1300 * 0.88 / 1e6, rel=1e-9)
    # another hit fraction needs another Load sheet: every result says how to rebuild it
    message = _value(books[3], names, "plan_stale")
    assert "0.5 of each prompt from the prefix cache" in message
    assert "rebuild with llmxl workbook plan --prompt 1000 --completion 300 --prefix-cache-hit 0.25" in message
    assert _rows(books[3])[0]["monthly_usd"] == message


# --- properties ----------------------------------------------------------------------------------------------

HITS = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
MODELS = [("llama-3.1-8b", "h100-sxm-80gb", 1, None), ("llama-3.1-70b", "h100-sxm-80gb", 2, "fp8"),
          ("mixtral-8x7b", "h100-sxm-80gb", 2, None), ("deepseek-v3", "h200-sxm-141gb", 8, None),
          ("gemma-3-27b", "h100-sxm-80gb", 1, None), ("gpt-oss-120b", "h100-sxm-80gb", 1, None)]  # fmt: skip


def _non_increasing(values, rel=1e-12):
    return all(b <= a * (1 + rel) for a, b in itertools.pairwise(values))


def _non_decreasing(values, rel=1e-12):
    return all(b >= a * (1 - rel) for a, b in itertools.pairwise(values))


@settings(max_examples=60, deadline=None)
@given(
    config=st.sampled_from(MODELS),
    b=st.integers(1, 64),
    s=st.integers(1, 16000),
    n=st.integers(1, 2000),
    hits=st.lists(st.floats(0, 0.999), min_size=2, max_size=5),
)
def test_more_hits_never_raise_ttft_or_the_prompt_cost_of_an_estimate(config, b, s, n, hits):
    m, g, tp, dtype = config
    out = [llmxl.estimate(m, g, tp=tp, dtype=dtype, batch_size=b, prompt_tokens=s, completion_tokens=n,
                          prefix_cache_hit=h, on_error="nan") for h in sorted(hits)]  # fmt: skip
    ttft = [e.ttft_s for e in out]
    if any(math.isnan(x) for x in ttft):  # does not fit: with or without hits alike
        return
    assert _non_increasing(ttft)
    assert _non_increasing([e.usd_per_1k_prompt_tokens for e in out])
    assert len({e.tpot_s for e in out}) == 1 and len({e.kv_cache_bytes_per_gpu for e in out}) == 1


@pytest.mark.parametrize("config", MODELS, ids=[c[0] for c in MODELS])
def test_more_hits_never_raise_a_plans_gpus_or_cost(config):
    m, g, tp, dtype = config
    for s, n in ((1000, 300), (8000, 500), (200, 1000)):
        for engine in ("vllm", "sglang"):
            rows = [llmxl.plan(m, g, tp=tp, dtype=dtype, prompt_tokens=s, completion_tokens=n, requests_per_s=5,
                               peak_requests_per_s=15, ttft_s_max=2.0, itl_s_max=0.08, engine=engine,
                               prefix_cache_hit=h).best for h in HITS]  # fmt: skip
            served = [r for r in rows if r is not None]
            assert served == rows[len(rows) - len(served) :]  # once a plan serves, more hits serve too
            assert _non_increasing([r.num_gpus for r in served]) and _non_increasing([r.monthly_usd for r in served])


@pytest.mark.parametrize("config", MODELS, ids=[c[0] for c in MODELS])
def test_more_hits_never_raise_ttft_at_a_request_rate(config):
    """At a traffic (the planning load model), for prompts of at least 64 computed tokens; the replica's capacity
    never falls, and in a closed loop of clients the requests they complete never fall."""
    m, g, tp, dtype = config
    for s, n in ((1000, 300), (8000, 500), (200, 1000)):
        hits = [h for h in HITS if (1 - h) * s >= 64]
        for engine in ("vllm", "sglang"):
            kw = dict(tp=tp, dtype=dtype, prompt_tokens=s, completion_tokens=n, engine=engine)
            ops = [llmxl.operating_point(m, g, request_rate=2.0, **kw, prefix_cache_hit=h) for h in hits]
            assert _non_increasing([o.ttft_mean_s for o in ops], 1e-9) and _non_increasing(
                [o.ttft_s for o in ops], 1e-9
            )
            assert _non_decreasing([o.capacity_requests_per_s for o in ops], 1e-9)
            loop = [llmxl.operating_point(m, g, 16, **kw, prefix_cache_hit=h) for h in hits]
            assert _non_decreasing([o.requests_per_s for o in loop], 1e-9)


@given(pin=st.floats(0, 100), cached_share=st.floats(0, 1), h1=st.floats(0, 0.999), h2=st.floats(0, 0.999))
def test_more_hits_never_raise_an_apis_bill(pin, cached_share, h1, h2):
    from llmxl.breakeven import api_monthly_usd  # what breakeven, the CLI and the plan workbook's formula compute

    lo, hi = sorted((h1, h2))
    cached = pin * cached_share
    more, fewer = (api_monthly_usd(1.0, 1000, 300, pin, 1.0, cached, h) for h in (hi, lo))
    assert more <= fewer * (1 + 1e-12)
    assert api_monthly_usd(1.0, 1000, 300, pin, 1.0, None, hi) == api_monthly_usd(1.0, 1000, 300, pin, 1.0)


# --- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1, 1.0, 1.5, -0.1, float("nan"), float("inf"), "half", True])
def test_a_hit_fraction_outside_zero_to_one_is_refused_naming_field_value_and_fix(bad):
    calls = [
        lambda: llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=100, completion_tokens=10,
                               prefix_cache_hit=bad),
        lambda: llmxl.operating_point("llama-3.1-8b", "h100-sxm-80gb", 4, prompt_tokens=100, completion_tokens=10,
                                      prefix_cache_hit=bad),
        lambda: llmxl.plan("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=100, completion_tokens=10, requests_per_s=1,
                           prefix_cache_hit=bad),
        lambda: llmxl.breakeven("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=100, completion_tokens=10,
                                api=(0.1, 0.1), prefix_cache_hit=bad),
        lambda: llmxl.frontier("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=100, completion_tokens=10,
                               prefix_cache_hit=bad),
        lambda: llmxl.simulate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=100, completion_tokens=10,
                               num_requests=4, prefix_cache_hit=bad),
    ]  # fmt: skip
    for call in calls:
        with pytest.raises(InvalidInputError) as exc:
            call()
        assert exc.value.field == "prefix_cache_hit"
        message = str(exc.value)
        assert "\n" not in message and "prefix_cache_hit" in message
        if not isinstance(bad, (bool, str)):
            assert "must be in [0, 1)" in message and "give e.g. 0.5" in message


def test_hits_are_the_serving_methods_only():
    with pytest.raises(InvalidInputError, match=r"prefix_cache_hit 0\.5 is modelled by the serving method only") as exc:
        llmxl.estimate("llama-2-70b", "a100-sxm-80gb", tp=2, prompt_tokens=128, completion_tokens=2, method="standard",
                       prefix_cache_hit=0.5)  # fmt: skip
    assert exc.value.field == "prefix_cache_hit"


def test_workbook_compare_refuses_hits_it_cannot_price(capsys, tmp_path):
    from llmxl.cli import main

    code = main(["workbook", "compare", "-o", str(tmp_path / "c.xlsx"), "--example", "--prefix-cache-hit", "0.5"])
    assert code == 2 and "workbook compare does not take --prefix-cache-hit" in capsys.readouterr().err
