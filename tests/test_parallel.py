"""Expert parallelism with data-parallel attention, systems and their links (llmxl/parallel.py, llmxl/systems.py).

docs/methodology.md, "Expert and data parallelism, and the links collectives cross": the worked check
through estimate(), the Excel functions, the command line's JSON and a recalculated plan workbook; dp = ep = 1
equal to tp and pp alone on every face; a faster scale-out link never slows a cross-node layout; the refusals.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import InvalidInputError
from llmxl.cli import main
from llmxl.resolve import resolve_gpu

ROOT = Path(__file__).resolve().parents[1]
KW = dict(batch_size=64, prompt_tokens=1000, completion_tokens=1000)
LAM = 2e-5  # λ of the worked check, set on the GPU so a refit of the defaults does not move it


def _gpu(name: str, **update) -> dict:
    """A system's (or GPU's) fields as a dict GPU, with λ = 2e-5 and any update."""
    fields = resolve_gpu(name).model_dump()
    return {**fields, "allreduce_latency_s": LAM, **update}


def _comm(gpu, **layout) -> float:
    return llmxl.estimate("deepseek-v3", gpu, tp=1, **KW, **layout).breakdown.decode.communication_s


# --- the worked check ------------------------------------------------------------------------------------


class TestWorkedCheck:
    def test_the_communication_of_each_layout(self):
        assert _comm(_gpu("hgx-h200"), dp=8) == pytest.approx(0.00242347406, rel=1e-6)
        assert _comm(_gpu("hgx-h200"), dp=16) == pytest.approx(0.00374607616, rel=1e-6)
        assert _comm(_gpu("hgx-h200", scaleout_gbs=100.0), dp=16) == pytest.approx(0.00361303808, rel=1e-6)
        assert _comm(_gpu("h200-sxm-141gb"), dp=16) == pytest.approx(0.00237543253, rel=1e-6)
        nvl72 = _comm(_gpu("gb200-nvl72"), dp=72, ep=72, redundant_experts=32)
        assert nvl72 == pytest.approx(0.00232647853, rel=1e-6)

    def test_crossing_two_nodes_costs_what_the_doc_works_out_whatever_lambda(self):
        on = llmxl.estimate("deepseek-v3", "hgx-h200", tp=1, dp=16, **KW)
        bare = llmxl.estimate("deepseek-v3", "h200-sxm-141gb", tp=1, dp=16, **KW)
        assert on.tpot_s - bare.tpot_s == pytest.approx(0.00137064363, rel=1e-6)
        assert any("more than one 8-GPU node" in w for w in bare.warnings)
        assert not any("node" in w for w in on.warnings)  # the system knows its network

    def test_weights_and_experts_per_gpu(self):
        e8 = llmxl.estimate("deepseek-v3", "hgx-h200", tp=1, dp=8, **KW)
        e16 = llmxl.estimate("deepseek-v3", "hgx-h200", tp=1, dp=16, **KW)
        assert e8.weight_bytes_per_gpu - e16.weight_bytes_per_gpu == 40_869_298_176
        assert e8.experts_per_decode_step == pytest.approx(27.8053109606888, rel=1e-9)
        e72 = llmxl.estimate("deepseek-v3", "gb200-nvl72", tp=1, dp=72, redundant_experts=32, **KW)
        assert e72.experts_per_decode_step == pytest.approx(3.4756638700861, rel=1e-9)
        assert e72.num_gpus == 72 and (e72.dp, e72.ep) == (72, 72)
        assert any("256 + 32 redundant routed experts, 4 per GPU" in w for w in e72.warnings)
        # the routed weights of a GPU: 58 MoE layers · Le experts · 3 h fE bytes, Le = 32, 16, 4
        e64 = llmxl.estimate("deepseek-v3", "gb200-nvl72", tp=1, dp=64, **KW)
        assert e72.weight_bytes_per_gpu - e64.weight_bytes_per_gpu == 0  # 288 / 72 = 256 / 64 = 4 experts

    def test_the_cli_json(self, capsys):
        def run(*extra):
            assert main(["estimate", "--model", "deepseek-v3", "--batch", "64", "--prompt", "1000", "--completion",
                         "1000", "--tp", "1", "--json", *extra]) == 0  # fmt: skip
            return json.loads(capsys.readouterr().out)

        on, bare = run("--gpu", "hgx-h200", "--dp", "16"), run("--gpu", "h200-sxm-141gb", "--dp", "16")
        assert (on["dp"], on["ep"], on["num_gpus"]) == (16, 16, 16)
        assert on["tpot_s"] - bare["tpot_s"] == pytest.approx(0.00137064363, rel=1e-6)
        d = on["breakdown"]["decode"]["communication_s"] - bare["breakdown"]["decode"]["communication_s"]
        assert d == pytest.approx(0.00137064363, rel=1e-6)
        e8 = run("--gpu", "hgx-h200", "--dp", "8")
        assert e8["weight_bytes_per_gpu"] - on["weight_bytes_per_gpu"] == 40_869_298_176
        e72 = run("--gpu", "gb200-nvl72", "--dp", "72", "--redundant-experts", "32")
        assert e72["experts_per_decode_step"] == pytest.approx(3.4756638700861, rel=1e-9)

    def test_the_excel_functions(self):
        from .xlwings_harness import call_as_excel, windows_xlwings

        with windows_xlwings() as (module, _):
            if not hasattr(module.LLM_TPOT, "__xlfunc__") or "dp" not in [
                a["name"] for a in module.LLM_TPOT.__xlfunc__["args"]
            ]:
                pytest.skip("llmxl_udfs is imported from another checkout; run with PYTHONPATH=udfs")

            def cell(name, gpu, dp, redundant=None):
                return call_as_excel(getattr(module, name), "deepseek-v3", gpu, 64.0, 1000.0, 1000.0, 1.0, None, None,
                                     None, None, None, None, float(dp), None, redundant)  # fmt: skip

            step = cell("LLM_TPOT", "hgx-h200", 16) - cell("LLM_TPOT", "h200-sxm-141gb", 16)
            assert step == pytest.approx(0.00137064363, rel=1e-6)
            weights = cell("LLM_WEIGHTS_GIB", "hgx-h200", 8) - cell("LLM_WEIGHTS_GIB", "hgx-h200", 16)
            assert weights == pytest.approx(38.0625, rel=1e-9)
            spill = dict(map(tuple, cell("LLM_ESTIMATE", "gb200-nvl72", 72, 32.0)))
            assert any(isinstance(k, str) and k.startswith("Warning") for k in spill)
            plan = call_as_excel(module.LLM_PLAN, "deepseek-v3", "hgx-h200", 20.0, None, 1000.0, 1000.0, 3.5,
                                 None, 0.05, 1.0, None, None, 512.0, None, None, None, None, None, 8.0, None)  # fmt: skip
            assert plan[0][-2:] == ["dp", "ep"] and plan[1][-2:] == [8, 8]


def test_the_plan_workbook_recalculated(tmp_path):
    """A plan of expert-parallel rows: the recalculated Plan sheet counts replicas · tp · dp GPUs and prices them."""
    import openpyxl

    from llmxl.workbook.plan import write_plan_workbook
    from llmxl.workbook.recalc import recalculate

    p = llmxl.plan("deepseek-v3", "hgx-h200", prompt_tokens=1000, completion_tokens=1000, requests_per_s=20,
                   itl_s_max=0.05, tp=1, dp=[8, 16], max_concurrency=512)  # fmt: skip
    assert [(r.dp, r.ep) for r in p.rows] and all(r.num_gpus == r.replicas * r.dp for r in p.rows if r.replicas)
    path = write_plan_workbook(tmp_path / "plan.xlsx", p, max_concurrency=512)
    ws = openpyxl.load_workbook(recalculate(path, tmp_path / "lo"), data_only=True)["Plan"]
    found = {}
    for row in ws.iter_rows(values_only=True):
        if isinstance(row[0], str) and " dp=" in row[0] and isinstance(row[12], (int, float)):
            found[row[0]] = row
    assert len(found) == len(p.rows)
    for r in p.rows:
        got = found[f"{r.gpu} dp={r.dp} ep={r.ep} (tp={r.tp} per rank)"]
        assert got[1] == r.tp * r.dp and got[12] == r.num_gpus
        assert got[16] == pytest.approx(r.monthly_usd, rel=1e-6)
        assert got[10] == pytest.approx(r.itl_s, rel=1e-6)


# --- dp = ep = 1 is tp and pp alone ------------------------------------------------------------------------

CASES = [
    ("llama-3.1-70b", "h100-sxm-80gb", 2, "serving"),
    ("llama-2-70b", "a100-sxm-80gb", 2, "reference"),
    ("llama-2-70b", "a100-sxm-80gb", 4, "standard"),
    ("mixtral-8x7b", "h100-sxm-80gb", 2, "serving"),
    ("deepseek-v3", "h200-sxm-141gb", 8, "serving"),
    ("gpt-oss-120b", "h100-sxm-80gb", 1, "serving"),
]


@pytest.mark.parametrize(("model", "gpu", "tp", "method"), CASES)
def test_dp_and_ep_of_one_are_tp_alone_to_the_last_digit(model, gpu, tp, method):
    kw = dict(tp=tp, batch_size=8, prompt_tokens=512, completion_tokens=256, method=method)
    today = llmxl.estimate(model, gpu, **kw).to_dict()
    assert llmxl.estimate(model, gpu, dp=1, ep=1, redundant_experts=0, **kw).to_dict() == today
    assert llmxl.estimate(model, gpu, dp=1, **kw).to_dict() == today
    assert "dp" not in today and "ep" not in today  # the dict a caller had before layouts is the same


@pytest.mark.parametrize(("gpu", "system"), [("h200-sxm-141gb", "hgx-h200"), ("b200", "hgx-b200"),
                                             ("gb200", "gb200-nvl72"), ("mi300x", "mi300x-platform")])  # fmt: skip
def test_a_system_within_its_domain_is_its_gpu(gpu, system):
    kw = dict(tp=8, batch_size=16, prompt_tokens=1000, completion_tokens=500)
    a = llmxl.estimate("deepseek-v3", gpu, **kw).to_dict()
    b = llmxl.estimate("deepseek-v3", system, **kw).to_dict()
    assert b.pop("gpu") == system and a.pop("gpu") == gpu
    b["warnings"] = [w.replace(system, gpu) for w in b["warnings"]]
    assert a == b


def test_the_load_faces_with_dp_and_ep_of_one():
    kw = dict(prompt_tokens=1000, completion_tokens=300)
    a = llmxl.operating_point("mixtral-8x7b", "h100-sxm-80gb", 16, tp=2, **kw)
    assert llmxl.operating_point("mixtral-8x7b", "h100-sxm-80gb", 16, tp=2, dp=1, ep=1, **kw) == a
    s = dict(prompt_tokens=500, completion_tokens=100, max_concurrency=8, num_requests=32)
    r = llmxl.simulate("mixtral-8x7b", "h100-sxm-80gb", tp=2, **s)
    assert llmxl.simulate("mixtral-8x7b", "h100-sxm-80gb", tp=2, dp=1, ep=1, **s) == r
    p = dict(prompt_tokens=1000, completion_tokens=300, requests_per_s=5, itl_s_max=0.05, gpu_hour_usd=3.0)
    assert llmxl.plan("mixtral-8x7b", "h100-sxm-80gb", tp=[2, 4], dp=1, ep=1, **p) == llmxl.plan(
        "mixtral-8x7b", "h100-sxm-80gb", tp=[2, 4], **p
    )
    dense = llmxl.plan("llama-3.1-70b", "h100-sxm-80gb", **p)  # a dense model is planned as before
    assert all((r.dp, r.ep) == (1, 1) for r in dense.rows)


def test_plan_searches_expert_parallel_layouts_of_a_moe_model():
    p = llmxl.plan("deepseek-v3", ["hgx-h200", "gb200-nvl72"], prompt_tokens=1000, completion_tokens=1000,
                   requests_per_s=20, itl_s_max=0.05, gpu_hour_usd={"hgx-h200": 3.5, "gb200-nvl72": 6.0})  # fmt: skip
    layouts = {(r.gpu, r.tp, r.dp, r.ep) for r in p.rows}
    assert ("hgx-h200", 1, 32, 32) in layouts and ("hgx-h200", 1, 64, 64) not in layouts  # 4 nodes at most
    assert ("gb200-nvl72", 1, 64, 64) in layouts and ("hgx-h200", 8, 1, 1) in layouts
    assert p.best is not None and p.best.num_gpus == p.best.replicas * p.best.tp * p.best.dp


# --- properties --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    dp=st.sampled_from([16, 32]),
    b=st.integers(1, 512),
    s=st.integers(1, 4096),
    slow=st.floats(1.0, 200.0),
    faster=st.floats(1.0, 4.0),
    lat=st.floats(0.0, 1e-4),
)
def test_a_faster_scale_out_link_never_slows_a_cross_node_layout(dp, b, s, slow, faster, lat):
    base = resolve_gpu("hgx-h200").model_dump()
    kw = dict(tp=1, dp=dp, batch_size=b, prompt_tokens=s, completion_tokens=64)
    a = llmxl.estimate("deepseek-v3", {**base, "scaleout_gbs": slow, "scaleout_latency_s": lat}, **kw)
    f = llmxl.estimate("deepseek-v3", {**base, "scaleout_gbs": slow * faster, "scaleout_latency_s": lat}, **kw)
    assert f.ttft_s <= a.ttft_s and f.tpot_s <= a.tpot_s
    lower = llmxl.estimate("deepseek-v3", {**base, "scaleout_gbs": slow, "scaleout_latency_s": lat / 2}, **kw)
    assert lower.tpot_s <= a.tpot_s


def test_within_one_nvl72_domain_the_network_is_not_charged():
    base = resolve_gpu("gb200-nvl72").model_dump()
    kw = dict(tp=1, dp=64, batch_size=256, prompt_tokens=1000, completion_tokens=100)
    a = llmxl.estimate("deepseek-v3", base, **kw)
    b = llmxl.estimate("deepseek-v3", {**base, "scaleout_gbs": 1.0, "scaleout_latency_s": 1e-3}, **kw)
    assert a.to_dict() == b.to_dict()


# --- refusals ----------------------------------------------------------------------------------------------

REFUSALS = [
    (dict(model="llama-3.1-70b", dp=8), "dp", "dense"),
    (dict(model="llama-3.1-70b", ep=8, tp=8), "ep", "dense"),
    (dict(dp=72), "ep", "redundant_experts=32"),
    (dict(dp=2, ep=4), "ep", "more than the tp × dp = 2 GPUs"),
    (dict(tp=2, dp=4, ep=4), "ep", "must be 1"),
    (dict(redundant_experts=3), "redundant_experts", "needs expert parallelism"),
    (dict(dp=8, redundant_experts=-1), "redundant_experts", "redundant_experts"),
    (dict(dp=0), "dp", "dp"),
    (dict(dp=8, method="standard"), "method", "serving"),
    (dict(tp=72), "tp", "does not divide"),
]


@pytest.mark.parametrize(("change", "field", "text"), REFUSALS)
def test_invalid_layouts_are_refused_naming_the_constraint(change, field, text):
    kw = dict(model="deepseek-v3", gpu="gb200-nvl72", tp=1, batch_size=8, prompt_tokens=100, completion_tokens=100)
    kw.update(change)
    with pytest.raises(InvalidInputError) as info:
        llmxl.estimate(kw.pop("model"), kw.pop("gpu"), **kw)
    assert info.value.field == field and text in info.value.message and "\n" not in info.value.message


def test_tp72_is_refused_but_dp72_with_redundant_experts_works():
    with pytest.raises(InvalidInputError, match="tp=72 does not divide"):
        llmxl.estimate("deepseek-v3", "gb200-nvl72", tp=72, batch_size=8, prompt_tokens=100, completion_tokens=100)
    e = llmxl.estimate("deepseek-v3", "gb200-nvl72", dp=72, redundant_experts=32, batch_size=8, prompt_tokens=100,
                       completion_tokens=100)  # fmt: skip
    assert e.num_gpus == 72 and math.isfinite(e.tpot_s)


# --- the systems' data -------------------------------------------------------------------------------------


def test_every_system_names_a_catalog_gpu_with_a_source_and_date():
    data = tomllib.loads((ROOT / "llmxl" / "data" / "systems.toml").read_text(encoding="utf-8"))
    ids = [s["id"] for s in data["systems"]]
    assert {"gb200-nvl72", "gb300-nvl72", "hgx-h100", "hgx-h200", "hgx-b200", "hgx-b300", "mi300x-platform",
            "mi325x-platform", "mi355x-platform"} <= set(ids)  # fmt: skip
    for s in data["systems"]:
        g = resolve_gpu(s["id"])
        assert g.system_gpu == s["gpu"] and g.domain_gpus == s["domain_gpus"] and g.scaleout_gbs > 0
        assert s["source"] and isinstance(s["checked"], _dt.date)
    assert resolve_gpu("gb200-nvl72").domain_gpus == 72 and resolve_gpu("hgx-b200").domain_gpus == 8


def test_the_cli_lists_systems_and_takes_layouts(capsys):
    assert main(["catalog", "systems"]) == 0
    out = capsys.readouterr().out
    assert "gb200-nvl72" in out and "72" in out and "hgx-h200" in out
    assert main(["simulate", "--model", "deepseek-v3", "--gpu", "hgx-h200", "--tp", "1", "--dp", "8", "--prompt",
                 "500", "--completion", "50", "--max-concurrency", "16", "--num-prompts", "32", "--json"]) == 0  # fmt: skip
    r = json.loads(capsys.readouterr().out)
    assert (r["dp"], r["ep"]) == (8, 8)
    assert main(["estimate", "--model", "deepseek-v3", "--gpu", "gb200-nvl72", "--tp", "1", "--dp", "72", "--prompt",
                 "100", "--completion", "10"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "redundant_experts=32" in err and err.count("\n") == 1


def test_the_plan_cli_takes_dp_lists(capsys):
    assert main(["plan", "--model", "deepseek-v3", "--gpu", "hgx-h200", "--gpu-hour-usd", "3.5", "--prompt", "1000",
                 "--completion", "1000", "--rps", "20", "--itl", "0.05", "--tp", "1", "--dp", "8,16",
                 "--json", "-"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {(r["dp"], r["ep"]) for r in rows} == {(8, 8), (16, 16)}
    assert all(r["num_gpus"] == r["replicas"] * r["dp"] for r in rows if r["replicas"])
