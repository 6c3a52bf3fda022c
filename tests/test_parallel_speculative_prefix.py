"""Expert/data parallelism, speculative decoding and prefix caching together on a MoE model (docs/methodology.md,
"Expert and data parallelism", "Speculative decoding", "Prefix caching"): DeepSeek-V3 on an HGX H200 node as
tp=1, dp=ep=8 (each rank 1/8 of the sequences, 32 whole experts per GPU, the all-to-all on NVLink), its MTP
module at the published acceptance, half of each prompt from the prefix cache. The layout rewrites the serving
terms the prefill and the speculative step both run on; the hit changes the prefill alone and the speculative
decoder the decoding alone, so each face gives the prefill of layout + hit and the decoding of layout + decoder,
and with one feature off the numbers of the other two alone."""

from __future__ import annotations

import json

import pytest

import llmxl
from llmxl.resolve import configuration, speculative_terms

MODEL, SYSTEM = "deepseek-v3", "hgx-h200"
LAYOUT = dict(tp=1, dp=8, ep=8)
SPEC = dict(speculative="mtp")  # the published acceptance (0.85 at k = 1)
H = 0.5
SHAPE = dict(prompt_tokens=2000, completion_tokens=500)
TARGETS = dict(requests_per_s=5, itl_s_max=0.05)


def _estimate(**kw):
    return llmxl.estimate(MODEL, SYSTEM, batch_size=32, **SHAPE, **kw)


def test_an_estimate_composes_the_three_and_each_off_is_the_other_two():
    full = _estimate(**LAYOUT, **SPEC, prefix_cache_hit=H)
    assert (full.num_gpus, full.dp, full.ep, full.prefix_cache_hit) == (8, 8, 8, H)
    layout_hit = _estimate(**LAYOUT, prefix_cache_hit=H)
    layout_spec = _estimate(**LAYOUT, **SPEC)
    # the prefill is the layout's with the hit, the decoding the layout's with the decoder (and its memory)
    assert full.ttft_s == pytest.approx(layout_hit.ttft_s, rel=1e-12)
    assert full.tpot_s == pytest.approx(layout_spec.tpot_s, rel=1e-12)
    assert full.max_batch_size == layout_spec.max_batch_size < layout_hit.max_batch_size  # the MTP block's weights
    assert full.ttft_s < layout_spec.ttft_s and full.tpot_s < layout_hit.tpot_s
    # each feature off: the numbers of the other two alone, to the last digit
    assert _estimate(**LAYOUT, speculative=None, prefix_cache_hit=H).to_dict() == layout_hit.to_dict()
    assert _estimate(**LAYOUT, **SPEC, prefix_cache_hit=0.0).to_dict() == layout_spec.to_dict()
    no_layout = _estimate(tp=8, dp=1, ep=1, **SPEC, prefix_cache_hit=H)
    assert no_layout.to_dict() == _estimate(tp=8, **SPEC, prefix_cache_hit=H).to_dict()
    assert (no_layout.dp, no_layout.ep, no_layout.num_gpus) == (1, 1, 8)
    assert no_layout.tpot_s != full.tpot_s  # the layout does change the step


def test_the_mtp_block_runs_as_a_moe_layer_of_the_layout():
    """The draft's MoE block is one more MoE layer of the layout: at tp = 1 (no attention all-reduce) its
    communication is the target's per MoE layer, the dispatch and combine over ep = 8; it holds the 32 experts a
    GPU of the layout holds, not all 256."""
    m, _, _, T, _, _, _ = configuration(MODEL, SYSTEM, None, 1, 1, "serving", 8, 8, 0)
    T2, sp = speculative_terms(m, T, "mtp", None, None, [])
    assert sp.draft.coefficients[18] == pytest.approx(T.coefficients[18] / T.n_moe, rel=1e-12)
    assert sp.draft.coefficients[19] == pytest.approx(T.coefficients[19] / T.n_moe, rel=1e-12)
    PA = T.attn_params + 2 * T.h * T.h / T.t  # the target's attention and MTP's projection of [hidden; embedding]
    assert sp.draft.coefficients[3] == pytest.approx(2 * PA / 8, rel=1e-12)  # its FLOPs per rank, as the target's
    moe = T.local_experts * T.coefficients[15] + T.moe_fixed_params * T.weight_bytes
    assert T.local_experts == 32
    assert sp.draft_weight_bytes < T.experts * T.expert_params * T.weight_bytes  # far below all 256 experts
    assert sp.draft_weight_bytes > moe
    assert T2.free_bytes == pytest.approx(T.free_bytes - sp.draft_weight_bytes, rel=1e-12)


def _plan(**kw):
    return llmxl.plan(MODEL, SYSTEM, **SHAPE, **TARGETS, **kw)


def test_plan_composes_the_three_and_each_off_is_the_other_two():
    full = _plan(**LAYOUT, **SPEC, prefix_cache_hit=H)
    assert (full.speculative, full.prefix_cache_hit) == ("mtp", H)
    (row,) = full.rows
    assert (row.tp, row.dp, row.ep, row.reason) == (1, 8, 8, None) and row.num_gpus % 8 == 0
    assert full.best == row
    # the search of a MoE model tries the dp = ep layouts with the decoder and the hit too: the same row
    searched = _plan(**SPEC, prefix_cache_hit=H)
    assert [r for r in searched.rows if (r.tp, r.dp, r.ep) == (1, 8, 8)] == [row]
    # each feature off: the plan of the other two alone
    assert _plan(**LAYOUT, speculative=None, prefix_cache_hit=H).rows == _plan(**LAYOUT, prefix_cache_hit=H).rows
    assert _plan(**LAYOUT, **SPEC, prefix_cache_hit=0.0).rows == _plan(**LAYOUT, **SPEC).rows
    assert _plan(tp=8, dp=1, ep=1, **SPEC, prefix_cache_hit=H).rows == _plan(tp=8, **SPEC, prefix_cache_hit=H).rows


def test_operating_point_cli_and_udfs_take_all_three(capsys):
    from llmxl.cli import main

    from .xlwings_harness import MISSING, call_as_excel, windows_xlwings

    op = llmxl.operating_point(MODEL, SYSTEM, 16, **SHAPE, **LAYOUT, **SPEC, prefix_cache_hit=H)
    alone = llmxl.operating_point(MODEL, SYSTEM, 16, **SHAPE, **LAYOUT, **SPEC)
    assert (op.dp, op.ep, op.prefix_cache_hit) == (8, 8, H)
    assert op.ttft_s < alone.ttft_s
    e = _estimate(**LAYOUT, **SPEC, prefix_cache_hit=H)
    args = ["estimate", "--model", MODEL, "--gpu", SYSTEM, "--batch", "32", "--prompt", "2000", "--completion", "500",
            "--tp", "1", "--dp", "8", "--ep", "8", "--speculative", "mtp", "--prefix-cache-hit", "0.5", "--json"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["dp"], doc["ep"], doc["prefix_cache_hit"]) == (8, 8, 0.5)
    assert doc["tpot_s"] == pytest.approx(e.tpot_s, rel=1e-12) and doc["ttft_s"] == pytest.approx(e.ttft_s, rel=1e-12)
    with windows_xlwings() as (xl, _):
        # scenario functions: ..., method, pp, dp, ep, redundant_experts, speculative, prefix_cache_hit
        tpot = call_as_excel(xl.LLM_TPOT, MODEL, SYSTEM, 32.0, 2000.0, 500.0, 1.0, *[MISSING] * 6, 8.0, 8.0,
                             MISSING, "mtp", H)  # fmt: skip
        ttft = call_as_excel(xl.LLM_TTFT, MODEL, SYSTEM, 32.0, 2000.0, 500.0, 1.0, *[MISSING] * 6, 8.0, 8.0,
                             MISSING, "mtp", H)  # fmt: skip
        assert (tpot, ttft) == (pytest.approx(e.tpot_s, rel=1e-12), pytest.approx(e.ttft_s, rel=1e-12))
        # LLM_OPERATING_POINT: ..., engine, percentile, dp, ep, speculative, prefix_cache_hit
        spill = call_as_excel(xl.LLM_OPERATING_POINT, MODEL, SYSTEM, 16.0, 2000.0, 500.0, 1.0, MISSING, MISSING,
                              MISSING, MISSING, 8.0, 8.0, "mtp", H)  # fmt: skip
        assert dict(spill)["Requests/s of one replica"] == pytest.approx(op.requests_per_s, rel=1e-12)
        assert (dict(spill)["dp"], dict(spill)["ep"]) == (8, 8)


def test_the_plan_workbook_of_all_three_recalculated(tmp_path):
    """The plan workbook's load model of a dp = ep = 8 row with MTP and the hit, recalculated by LibreOffice,
    gives plan()'s GPUs, cost and latencies (its Load sheet is configured with the layout, the decoder and h)."""
    import openpyxl

    from llmxl.workbook.plan import write_plan_workbook
    from llmxl.workbook.recalc import recalculate

    p = _plan(**LAYOUT, **SPEC, prefix_cache_hit=H, max_concurrency=256)
    (r,) = p.rows
    path = write_plan_workbook(tmp_path / "plan.xlsx", p, max_concurrency=256)
    ws = openpyxl.load_workbook(recalculate(path, tmp_path / "lo"), data_only=True)["Plan"]
    (got,) = [row for row in ws.iter_rows(values_only=True) if row[0] == f"{SYSTEM} dp=8 ep=8 (tp=1 per rank)"]
    assert got[1] == 8 and got[12] == r.num_gpus
    assert got[16] == pytest.approx(r.monthly_usd, rel=1e-6)
    assert got[10] == pytest.approx(r.itl_s, rel=1e-6)
