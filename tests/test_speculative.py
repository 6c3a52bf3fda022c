"""Speculative decoding (llmxl/speculative.py, llmxl/speculation.py): docs/methodology.md, "Speculative decoding"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmxl
from llmxl.errors import InvalidInputError
from llmxl.speculation import AcceptanceFigure, SpeculativeData, parse_speculative, resolve_speculative
from llmxl.speculative import MAX_SPECULATIVE_TOKENS, acceptance_from_length, tokens_per_step

from .conftest import CHECK_GPU

OFF = json.loads((Path(__file__).parent / "data" / "speculative_off_b0b4abd.json").read_text())
NONE = dict(speculative=None, num_speculative_tokens=None, acceptance_rate=None)


@pytest.fixture
def check_catalog(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(CHECK_GPU + "usd_per_hour = 3.99\n")
    llmxl.add_catalog_file(path)
    yield
    llmxl.catalog.reset()


# --- speculative=None is today's arithmetic, to the last digit ---------------------------------------------

CASES = {
    "llama-3.1-8b": dict(model="llama-3.1-8b", gpu="h100-sxm-80gb", batch_size=8, prompt_tokens=1000,
                         completion_tokens=500),
    "deepseek-v3": dict(model="deepseek-v3", gpu="h200-sxm-141gb", tp=8, batch_size=32, prompt_tokens=1024,
                        completion_tokens=512),
    "mixtral": dict(model="mixtral-8x7b", gpu="h100-sxm-80gb", tp=2, batch_size=64, prompt_tokens=512,
                    completion_tokens=256),
    "gemma": dict(model="gemma-3-27b", gpu="h100-sxm-80gb", batch_size=4, prompt_tokens=8192, completion_tokens=1024),
    "standard": dict(model="llama-2-70b", gpu="a100-sxm-80gb", tp=2, batch_size=1, prompt_tokens=128,
                     completion_tokens=242, method="standard"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_speculation_is_the_base_commits_estimate_exactly(case):
    """The figures of b0b4abd's calls (before speculative decoding), pinned again when the load model changed
    (κP and the closed loop by engine, in the same merge; κD, a vLLM client's own gaps and the simulator's
    stalls later), computed again with speculative=None."""
    c = dict(CASES[case])
    e = llmxl.estimate(c.pop("model"), c.pop("gpu"), **c, **NONE)
    got = [e.ttft_s, e.tpot_s, e.tokens_per_s, e.kv_cache_bytes_per_gpu, e.max_batch_size, e.weight_bytes_per_gpu,
           e.kv_bytes_per_token]  # fmt: skip
    assert got == OFF[f"estimate/{case}"]


def test_no_speculation_is_the_base_commits_load_model_and_plan_exactly():
    op = llmxl.operating_point("llama-3.1-70b", "h100-sxm-80gb", 16, tp=2, dtype="fp8", prompt_tokens=1000,
                               completion_tokens=300, **NONE)  # fmt: skip
    got = [op.requests_per_s, op.ttft_s, op.itl_s, op.itl_mean_s, op.decode_step_s, float(op.max_concurrency),
           op.capacity_requests_per_s]  # fmt: skip
    assert got == OFF["op/closed"]
    op = llmxl.operating_point("deepseek-v3", "h200-sxm-141gb", request_rate=2.0, tp=8, prompt_tokens=1000,
                               completion_tokens=300, engine="sglang", **NONE)  # fmt: skip
    got = [op.requests_per_s, op.ttft_s, op.itl_s, op.itl_mean_s, op.decode_step_s, float(op.max_concurrency),
           op.capacity_requests_per_s]  # fmt: skip
    assert got == OFF["op/rate-sglang"]
    op = llmxl.operating_point("llama-3.1-8b", "h100-sxm-80gb", 64, prompt_tokens=2000, completion_tokens=200,
                               engine="sglang", **NONE)  # fmt: skip
    assert [op.requests_per_s, op.ttft_s, op.itl_s, op.itl_mean_s] == OFF["op/closed-sglang"]
    p = llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], dtype="fp8", prompt_tokens=1000, completion_tokens=300,
                   requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.05, **NONE)  # fmt: skip
    assert [[r.gpu, r.tp, r.concurrency, r.requests_per_s, r.itl_s, r.ttft_s, r.monthly_usd] for r in p.rows] == OFF[
        "plan"
    ]
    # a plan without speculation reads as it always has (prefix caching, merged later, adds its own key)
    assert [k for k in p.to_dict() if k != "prefix_cache_hit"] == OFF["plan/keys"]


# --- tokens per step ---------------------------------------------------------------------------------------


def test_tokens_per_step_is_the_geometric_sum_and_inverts():
    assert tokens_per_step(0.0, 3) == 1.0
    assert tokens_per_step(0.5, 1) == pytest.approx(1.5)
    assert tokens_per_step(0.7, 3) == pytest.approx(1 + 0.7 + 0.49 + 0.343)
    for k in (1, 3, 7):
        for a in (0.1, 0.5, 0.85):
            assert acceptance_from_length(tokens_per_step(a, k), k) == pytest.approx(a, abs=1e-12)


def test_the_published_figures_load_with_sources():
    data = llmxl.catalog.get_catalog().speculative
    assert isinstance(data, SpeculativeData) and data.draft_vocab == 32000
    methods = {f.method for f in data.figure}
    assert methods == {"mtp", "eagle3"}  # no n-gram figure was found (see the data file)
    for f in data.figure:
        assert f.source.startswith("https://") and f.date.year >= 2024 and 0 < f.alpha < 1
        for model in f.models:
            llmxl.catalog.get_model(model)  # every id is a catalog model
    mtp = data.find("mtp", "deepseek-v3")
    assert mtp.alpha == 0.85 and mtp.measured_k == 1  # DeepSeek-V3 report: 85 % to 90 % for the second token
    eagle = data.find("eagle3", "llama-3.1-8b")
    assert tokens_per_step(eagle.alpha, 7) == pytest.approx(2.77)


def test_a_figure_needs_one_of_rate_and_length():
    base = dict(method="mtp", models=["x"], measured_k=1, workload="w", source="https://x", published="p",
                date="2026-01-01")  # fmt: skip
    for bad in ({}, {"acceptance_rate": 0.5, "acceptance_length": 1.5}, {"acceptance_length": 2.5},
                {"acceptance_rate": 1.0}):  # fmt: skip
        with pytest.raises(ValueError):
            AcceptanceFigure(**base, **bad)
    with pytest.raises(ValueError):
        AcceptanceFigure(**{**base, "source": "arxiv"}, acceptance_rate=0.5)


# --- properties --------------------------------------------------------------------------------------------

GRID = [
    ("llama-3.1-8b", "h100-sxm-80gb", 1, "eagle3"),
    ("llama-3.1-8b", "h100-sxm-80gb", 1, "ngram"),
    ("mixtral-8x7b", "h100-sxm-80gb", 2, "eagle3"),
    ("deepseek-v3", "h200-sxm-141gb", 8, "mtp"),
    ("gemma-3-27b", "h100-sxm-80gb", 2, "eagle3"),
]


@pytest.mark.parametrize("model,gpu,tp,method", GRID)
def test_a_higher_acceptance_rate_never_slows_decoding(model, gpu, tp, method):
    import numpy as np

    batch = np.array([1, 4, 16, 64, 128])
    for k in (1, 2, 3, 5, 8):
        prev = None
        for a in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.99):
            e = llmxl.estimate(model, gpu, tp=tp, batch_size=batch, prompt_tokens=1000, completion_tokens=300,
                               speculative=method, num_speculative_tokens=k, acceptance_rate=a)  # fmt: skip
            if prev is not None:
                assert np.all(e.tpot_s <= prev.tpot_s) and np.all(e.decode_tokens_per_s >= prev.decode_tokens_per_s)
                assert np.all(e.tokens_per_s >= prev.tokens_per_s)
            prev = e


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize("model,gpu,tp,method", [GRID[0], GRID[3]])
def test_a_higher_acceptance_rate_never_slows_a_replica(model, gpu, tp, method, engine):
    for C in (1, 8, 64):
        prev = None
        for a in (0.0, 0.3, 0.6, 0.8, 0.9):
            op = llmxl.operating_point(model, gpu, C, tp=tp, prompt_tokens=1000, completion_tokens=300, engine=engine,
                                       speculative=method, num_speculative_tokens=2, acceptance_rate=a)  # fmt: skip
            if prev is not None:
                assert op.itl_mean_s <= prev.itl_mean_s * (1 + 1e-12)
                assert op.output_tokens_per_s >= prev.output_tokens_per_s * (1 - 1e-12)
            prev = op


def _gain(model, gpu, tp, b, **spec):
    kw = dict(tp=tp, batch_size=b, prompt_tokens=1000, completion_tokens=500)
    return llmxl.estimate(model, gpu, **kw).tpot_s / llmxl.estimate(model, gpu, **kw, **spec).tpot_s


def test_the_gain_at_batch_one_is_the_published_range_and_shrinks_as_the_batch_grows():
    """1.5 to 2.5 times at batch 1 for typical settings (DeepSeek reports 1.8 times TPS with one MTP token);
    toward or below 1 once the verification pass is compute-bound."""
    eagle = dict(speculative="eagle3", num_speculative_tokens=3)  # the published acceptance of each model
    for model, tp in (("llama-3.1-8b", 1), ("llama-3.3-70b", 2)):
        gains = [_gain(model, "h200-sxm-141gb", tp, b, **eagle) for b in (1, 16, 64, 256)]
        assert 1.5 <= gains[0] <= 2.5, (model, gains)
        assert gains[3] < gains[2] < gains[0] and gains[3] < 1.15, (model, gains)
    assert 1.5 <= _gain("deepseek-v3", "h200-sxm-141gb", 8, 1, speculative="mtp") <= 2.5
    # with nothing accepted a step verifies and drafts for one token: slower at every batch
    for b in (1, 64):
        assert _gain("llama-3.1-8b", "h200-sxm-141gb", 1, b, **eagle, acceptance_rate=0.0) < 1


def test_the_draft_is_in_memory():
    kw = dict(batch_size=4, prompt_tokens=1000, completion_tokens=500)
    e0 = llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", **kw)
    e1 = llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", **kw, speculative="eagle3", num_speculative_tokens=3)
    e2 = llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", **kw, speculative="ngram", num_speculative_tokens=3,
                        acceptance_rate=0.5)  # fmt: skip
    assert (
        e1.weight_bytes_per_gpu > e0.weight_bytes_per_gpu and e1.kv_bytes_per_token == e0.kv_bytes_per_token * 33 / 32
    )
    assert e2.weight_bytes_per_gpu == e0.weight_bytes_per_gpu and e2.kv_bytes_per_token == e0.kv_bytes_per_token
    assert e1.ttft_s == e0.ttft_s  # prefill is the target's alone
    assert any("published figure" in w for w in e1.warnings) and not e2.warnings


# --- the worked check (docs/methodology.md, "Worked check (speculative decoding)") ------------------------

WORKED = dict(batch_size=1, prompt_tokens=1000, completion_tokens=501, dtype="bf16", speculative="eagle3",
              num_speculative_tokens=3, acceptance_rate=0.7)  # fmt: skip
TAU = 2.533
VERIFY_S = 0.00585273  # 32 (2.95265e-5 + 1.16856e-4) + 3.48482e-4 + 32e-5 + 5e-4
DRAFT_S = 2.76713e-4  # 6.29099e-5 + 1.16856e-4 + 8.69466e-5 + 1e-5
TPOT_S = (VERIFY_S + 3 * DRAFT_S) / TAU  # 0.00263832


def test_the_worked_check_by_hand(check_catalog):
    assert tokens_per_step(0.7, 3) == pytest.approx(TAU, rel=1e-12)
    M, F = 3350e9 * 0.9, 989e12 * 0.7
    PA, PD, kappa = 41943040, 176160768, 4096  # Llama-3.1-8B per layer: 2 h a d + 2 h k d, 3 h f; 2 k d Bkv
    attn = (2 * PA + kappa * (1250 + 4)) / M
    mlp = 2 * PD / M
    head = 128256 * 4096 * 2 / M
    assert 32 * (attn + mlp) + head + 32 * 1e-5 + 5e-4 == pytest.approx(VERIFY_S, rel=1e-6)
    draft = 2 * (PA + 3 * 4096**2) / M + kappa * 1251 / M + mlp + 32000 * 4096 * 2 / M + 1e-5
    assert draft == pytest.approx(DRAFT_S, rel=1e-5)
    assert max(2 * 4 * PA / F, 2 * 4 * PD / F) < attn  # memory-bound: four tokens cost what one does


def test_the_worked_check_through_estimate(check_catalog):
    e = llmxl.estimate("llama-3.1-8b", "h100-check", **WORKED)
    assert e.tpot_s == pytest.approx(TPOT_S, rel=1e-6)
    assert e.tpot_s == pytest.approx(0.00263832, rel=1e-6)
    assert e.ttft_s == pytest.approx(0.0292102, rel=1e-6)
    assert e.completion_time_s == pytest.approx(500 * 0.00263832, rel=1e-6)
    assert e.weight_bytes_per_gpu == 16059998208 + 799014912  # the draft head: (PA + 3 h² + 3 h f) 2 + 32000 h 2
    base = llmxl.estimate("llama-3.1-8b", "h100-check", **{k: WORKED[k] for k in list(WORKED)[:4]})
    assert base.tpot_s / e.tpot_s == pytest.approx(2.21830, rel=1e-5)
    assert sum(e.breakdown.decode.to_dict().values()) == pytest.approx(e.tpot_s, rel=1e-12)


def test_the_worked_check_through_a_replica(check_catalog):
    """A step of one decoding sequence under the engine is estimate()'s verification step and drafts; a plan
    records the decoder it priced."""
    from llmxl.operating import configured

    spec = {k: WORKED[k] for k in ("speculative", "num_speculative_tokens", "acceptance_rate")}
    c = configured("llama-3.1-8b", "h100-check", 1, 1, "bf16", 1000, 501, None, None, None, None, 90.0,
                   **spec)  # fmt: skip
    assert c.replica.decode_step_s(1000, 501, 1.0) == pytest.approx(VERIFY_S + 3 * DRAFT_S, rel=1e-6)
    p = llmxl.plan("llama-3.1-8b", "h100-check", tp=1, dtype="bf16", prompt_tokens=1000, completion_tokens=501,
                   requests_per_s=1, ttft_s_max=0.5, itl_s_max=0.01, **spec)  # fmt: skip
    assert (p.speculative, p.num_speculative_tokens, p.acceptance_rate) == ("eagle3", 3, 0.7)
    assert p.to_dict()["speculative"] == "eagle3"
    assert p.best is not None and p.best.itl_mean_s < 0.01


def test_the_worked_check_through_the_cli_json(check_catalog, capsys):
    from llmxl.cli import main

    code = main(["estimate", "--model", "llama-3.1-8b", "--gpu", "h100-check", "--prompt", "1000", "--completion",
                 "501", "--dtype", "bf16", "--speculative", "eagle3", "--num-speculative-tokens", "3",
                 "--acceptance-rate", "0.7", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["tpot_s"] == pytest.approx(TPOT_S, rel=1e-6)
    assert out["speculative"] == {"method": "eagle3", "num_speculative_tokens": 3, "acceptance_rate": 0.7,
                                  "tokens_per_step": pytest.approx(TAU)}  # fmt: skip
    main(["estimate", "--model", "llama-3.1-8b", "--gpu", "h100-check", "--prompt", "1000", "--completion", "501",
          "--json"])  # fmt: skip
    assert "speculative" not in json.loads(capsys.readouterr().out)


def test_the_worked_check_through_a_udf(check_catalog):
    from .xlwings_harness import MISSING, call_as_excel, windows_xlwings

    with windows_xlwings() as (xl, _):
        args = ("llama-3.1-8b", "h100-check", 1.0, 1000.0, 501.0, MISSING, MISSING, MISSING, MISSING, "bf16",
                MISSING, MISSING, *[MISSING] * 3)  # fmt: skip  # method, pp; dp, ep, redundant_experts
        got = call_as_excel(xl.LLM_TPOT, *args, "eagle3:num_speculative_tokens=3,acceptance_rate=0.7")
        assert got == pytest.approx(TPOT_S, rel=1e-6)
        assert call_as_excel(xl.LLM_TPOT, *args, "eagle3:k=3,acceptance=0.7") == got
        assert call_as_excel(xl.LLM_TPOT, *args, MISSING) == pytest.approx(0.00585260, rel=1e-5)  # none
        bad = call_as_excel(xl.LLM_TPOT, *args, "eagle:k=3")
        assert bad.startswith("#VALUE!") and "did you mean 'eagle3'" in bad
        point = call_as_excel(xl.LLM_OPERATING_POINT, "llama-3.1-8b", "h100-check", 1.0, 1000.0, 501.0, MISSING,
                              "bf16", MISSING, MISSING, MISSING, MISSING, MISSING, "eagle3:k=3,acceptance=0.7")  # fmt: skip
        op = llmxl.operating_point(
            "llama-3.1-8b",
            "h100-check",
            1,
            prompt_tokens=1000,
            completion_tokens=501,
            dtype="bf16",
            speculative="eagle3",
            num_speculative_tokens=3,
            acceptance_rate=0.7,
        )
        cells = dict((row[0], row[1]) for row in point)
        assert cells["Decode step of B sequences [s]"] == op.decode_step_s
        assert cells["Inter-token latency, mean [s]"] == op.itl_mean_s


def test_the_worked_check_through_the_plan_workbook(check_catalog, tmp_path):
    """The Load sheet holds the speculative load model; after LibreOffice recalculates, every Plan row equals
    plan()'s; the as-built speculative row is in the stale check."""
    import openpyxl

    from llmxl.workbook.plan import write_plan_workbook
    from llmxl.workbook.recalc import recalculate_many

    from .conftest import require_soffice
    from .test_workbook_plan import _assert_rows_equal, _edit, _names, _rows, _value

    require_soffice()
    spec = {k: WORKED[k] for k in ("speculative", "num_speculative_tokens", "acceptance_rate")}
    p = llmxl.plan("llama-3.1-8b", "h100-check", tp=1, dtype="bf16", prompt_tokens=1000, completion_tokens=501,
                   requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.01, **spec)  # fmt: skip
    path = write_plan_workbook(tmp_path / "spec.xlsx", p, api=("", 0.1, 0.1))
    names = _names(openpyxl.load_workbook(path))
    assert "plan_speculative" in names
    stale = _edit(path, tmp_path / "stale.xlsx", {"plan_speculative": "none"})
    wb, wb2 = (openpyxl.load_workbook(f, data_only=True) for f in recalculate_many([path, stale], tmp_path / "lo"))
    assert _value(wb, names, "plan_stale") in ("", None)
    _assert_rows_equal(_rows(wb), p)
    load = wb["Load"]
    assert load["B6"].value == 1 and load["G6"].value == pytest.approx(_first_itl(p), rel=1e-9)
    assert "speculative decoding: eagle3" in _value(wb2, names, "plan_stale")
    assert _value(wb, names, "plan_speculative").startswith("eagle3, 3 draft tokens, acceptance rate 0.7")


def _first_itl(p):
    from llmxl.operating import configured

    c = configured("llama-3.1-8b", "h100-check", 1, 1, "bf16", 1000, 501, None, None, None, None, 90.0,
                   speculative=p.speculative, num_speculative_tokens=p.num_speculative_tokens,
                   acceptance_rate=p.acceptance_rate)  # fmt: skip
    return float(c.sweep.itl_s[0])


# --- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,field,words",
    [
        (
            dict(speculative="eagle", num_speculative_tokens=3, acceptance_rate=0.7),
            "speculative",
            "did you mean 'eagle3'",
        ),
        (
            dict(speculative="medusa", num_speculative_tokens=3, acceptance_rate=0.7),
            "speculative",
            "mtp, eagle3, ngram",
        ),
        (dict(speculative="mtp", num_speculative_tokens=0, acceptance_rate=0.7), "num_speculative_tokens", "1 to 16"),
        (dict(speculative="mtp", num_speculative_tokens=17, acceptance_rate=0.7), "num_speculative_tokens", "got 17"),
        (dict(speculative="mtp", num_speculative_tokens=2.5, acceptance_rate=0.7), "num_speculative_tokens", "2.5"),
        (dict(speculative="mtp", num_speculative_tokens=2, acceptance_rate=1.0), "acceptance_rate", "[0, 1)"),
        (dict(speculative="mtp", num_speculative_tokens=2, acceptance_rate=-0.1), "acceptance_rate", "-0.1"),
        (dict(speculative="mtp", num_speculative_tokens=2, acceptance_rate="high"), "acceptance_rate", "'high'"),
        (dict(speculative="ngram", num_speculative_tokens=3), "acceptance_rate", "give acceptance_rate"),
        (dict(speculative="ngram", acceptance_rate=0.5), "num_speculative_tokens", "give the draft tokens"),
        (dict(num_speculative_tokens=3), "num_speculative_tokens", "without a speculative decoder"),
        (dict(acceptance_rate=0.5), "acceptance_rate", "without a speculative decoder"),
        (dict(speculative=3), "speculative", "got 3"),
    ],
)
def test_bad_speculative_inputs_are_refused_naming_field_value_and_fix(kw, field, words):
    with pytest.raises(InvalidInputError) as info:
        llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=100, completion_tokens=100, **kw)
    assert info.value.field == field and words in info.value.message and "\n" not in info.value.message


def test_the_other_faces_refuse_alike():
    with pytest.raises(InvalidInputError, match="serving method only") as info:
        llmxl.estimate(
            "llama-2-70b",
            "a100-sxm-80gb",
            tp=2,
            prompt_tokens=100,
            completion_tokens=100,
            method="standard",
            speculative="ngram",
            num_speculative_tokens=3,
            acceptance_rate=0.5,
        )
    assert info.value.field == "speculative"
    with pytest.raises(InvalidInputError) as info:
        llmxl.plan(
            "llama-3.1-8b",
            "h100-sxm-80gb",
            prompt_tokens=100,
            completion_tokens=100,
            requests_per_s=1,
            speculative="ngram",
            num_speculative_tokens=MAX_SPECULATIVE_TOKENS + 1,
            acceptance_rate=0.5,
        )
    assert info.value.field == "num_speculative_tokens"
    with pytest.raises(InvalidInputError) as info:
        llmxl.operating_point(
            "llama-3.1-8b",
            "h100-sxm-80gb",
            4,
            prompt_tokens=100,
            completion_tokens=100,
            speculative="egale3",
            num_speculative_tokens=3,
            acceptance_rate=0.5,
        )
    assert "did you mean 'eagle3'" in info.value.message


def test_the_text_form_of_one_cell():
    assert parse_speculative(None) == {} and parse_speculative("  ") == {}
    assert parse_speculative("mtp") == {"speculative": "mtp"}
    assert parse_speculative("eagle3:k=3, acceptance=0.7") == {"speculative": "eagle3", "num_speculative_tokens": 3,
                                                              "acceptance_rate": 0.7}  # fmt: skip
    with pytest.raises(InvalidInputError, match="did you mean 'acceptance_rate'"):
        parse_speculative("mtp:acceptance_rat=0.7")
    with pytest.raises(InvalidInputError, match="must be a number"):
        parse_speculative("mtp:k=three")
    assert (
        resolve_speculative("deepseek-v3", "MTP", None, None, llmxl.catalog.get_catalog().speculative).k == 1
    )  # the figure's k, named in any case


# --- the simulator ---------------------------------------------------------------------------------------------


def test_no_speculation_is_the_base_commits_simulation_exactly():
    from llmxl.load.simulate import simulate

    r = simulate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=1000, completion_tokens=300, max_concurrency=16,
                 num_requests=200, range_ratio=0.5, **NONE)  # fmt: skip
    r2 = simulate("gemma-3-27b", "h100-sxm-80gb", tp=2, prompt_tokens=3000, completion_tokens=500, request_rate=3,
                  num_requests=100, engine="sglang", range_ratio=0.3, **NONE)  # fmt: skip
    for got, key in ((r, "sim/closed"), (r2, "sim/rate-window")):
        d = got.to_dict()
        assert d.pop("prefix_cache_hit") == 0.0  # prefix caching's field (merged later), none here
        assert (d.pop("dp"), d.pop("ep")) == (1, 1)  # expert parallelism's fields (merged later), no layout here
        assert _same(json.loads(json.dumps(d, default=list)), OFF[key]), key


def _same(got, want):
    """Equal to the last digit but one: the simulator's sums over thousands of steps round differently by
    an ulp between numpy releases; anything the arithmetic changes is far larger."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, float) and not isinstance(got, bool):
        return got == pytest.approx(want, rel=1e-12, abs=0)
    return got == want


def test_the_simulator_agrees_with_the_load_model_and_acceptance_never_slows_it():
    from llmxl.load.simulate import simulate

    spec = dict(speculative="eagle3", num_speculative_tokens=3)
    for C in (1, 16):
        prev = None
        for a in (0.0, 0.5, 0.7, 0.9):
            r = simulate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=1000, completion_tokens=300, max_concurrency=C,
                         num_requests=200, **spec, acceptance_rate=a)  # fmt: skip
            op = llmxl.operating_point("llama-3.1-8b", "h100-sxm-80gb", C, prompt_tokens=1000, completion_tokens=300,
                                       **spec, acceptance_rate=a)  # fmt: skip
            assert r.requests_per_s == pytest.approx(op.requests_per_s, rel=0.05), (C, a)
            if C == 1:  # one sequence: every gap is a step over its tokens; the closed form (vLLM's clients as
                # independent) spreads the request's own prompt over its gaps too, about 1 % here
                assert r.itl_s == pytest.approx(op.itl_mean_s, rel=0.02), (C, a)
            if prev is not None:
                assert r.output_tokens_per_s >= prev.output_tokens_per_s and r.tpot_s <= prev.tpot_s
            prev = r


def test_the_worked_check_through_the_simulator(check_catalog):
    """One request alone: 500 tokens after the first in ceil-ish(500 / τ) = 198 steps of about the estimate's."""
    from llmxl.load.simulate import simulate

    r = simulate("llama-3.1-8b", "h100-check", prompt_tokens=1000, completion_tokens=501, dtype="bf16",
                 max_concurrency=1, num_requests=1, **{k: WORKED[k] for k in list(WORKED)[4:]})  # fmt: skip
    assert r.steps == 1 + 198  # floor(2.533 · 198) = 501 ≥ 500 > floor(2.533 · 197) = 499
    assert r.ttft_s == pytest.approx(0.0292102, rel=1e-6)
    assert r.tpot_s == pytest.approx(TPOT_S, rel=5e-3)
