"""Disaggregated prefill/decode fleets (llmxl/disaggregated.py, llmxl/load/disaggregated.py, plan's faces).

The worked check of docs/methodology.md, "Disaggregated prefill and decode", through plan, LLM_PLAN, the CLI's JSON
and the recalculated plan workbook; its arithmetic recomputed here with the math module from the pieces the
serving model gives (L1, a); and the properties: a fleet costs exactly its pools, aggregated rows are today's,
a faster scale-out link never slows the transfer, bad values are refused naming the field.
"""

from __future__ import annotations

import json
import math

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmxl
from llmxl.cli import main
from llmxl.errors import InvalidInputError
from llmxl.resolve import resolve_gpu

from .conftest import CHECK_GPU, require_soffice

SYSTEM = "hgx-h100-check"
# the check GPU of the planning worked check, built as llmxl/data/systems.toml builds hgx-h100
CHECK_SYSTEM = (
    CHECK_GPU.replace('id = "h100-check"', f'id = "{SYSTEM}"')
    + "usd_per_hour = 3.99\ndomain_gpus = 8\nscaleout_gbs = 50.0\nscaleout_latency_s = 1e-5\n"
)
ARGS = dict(tp=[1, 2], prompt_tokens=1000, completion_tokens=300, requests_per_s=20, peak_requests_per_s=60,
            ttft_s_max=0.5, itl_s_max=0.02)  # fmt: skip
HOURS = 730
# what the serving model gives (docs/methodology.md prints them to six figures)
L1 = 0.0292102266744038  # step(0, 1000) on one GPU
A497 = 0.0199772233778762  # a step of 497 decodes at tp 2


@pytest.fixture(autouse=True)
def check_system(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(CHECK_SYSTEM)
    llmxl.add_catalog_file(path)
    yield
    llmxl.catalog.reset()


def _plan(**more):
    return llmxl.plan("llama-3.1-8b", SYSTEM, **{**ARGS, **more})


def _wait_pct(rho: float, L1: float, p: float) -> float:
    return 0.0 if rho <= 1 - p else L1 / (2 * (1 - rho)) * math.log(rho / (1 - p))


def _rho_at(wait: float, L1: float, p: float) -> float:
    """ρ whose p-th wait is ``wait``: Newton's method on ln, from near 1 (independent of the library's bisection)."""
    rho = 0.999
    for _ in range(200):
        f = _wait_pct(rho, L1, p) - wait
        df = L1 / 2 * (math.log(rho / (1 - p)) / (1 - rho) ** 2 + 1 / (rho * (1 - rho)))
        rho = min(max(rho - f / df, 1 - p + 1e-12), 1 - 1e-15)
    return rho


def _disaggregated(p, tp):
    return next(r for r in p.rows if r.mode == "disaggregated" and r.tp == tp)


# --- the worked check ------------------------------------------------------------------------------------------


class TestWorkedCheck:
    def test_the_numbers_of_the_methodology(self):
        p = _plan(disaggregated="both")
        best = p.best
        assert (best.mode, best.tp, best.prefill_tp, best.prefill_replicas, best.decode_replicas) == (
            "disaggregated", 2, 1, 2, 1)  # fmt: skip
        assert (best.concurrency, best.num_gpus, best.kv_link) == (497, 4, "scale-up")
        # by hand: the KV cache of 1000 tokens, 32 layers of 2 · 8 · 128 · 2 bytes, over NVLink at 450 GB/s
        kv = 32 * 2 * 8 * 128 * 2 * 1000
        assert kv == 131_072_000 and best.kv_transfer_bytes == kv
        X = kv / 450e9 + 2e-5
        assert best.kv_transfer_s == pytest.approx(X, rel=1e-12)
        assert best.prefill_s == pytest.approx(L1, rel=1e-12)
        assert best.itl_s == pytest.approx(A497, rel=1e-12)
        lam_d = 497 / (299 * A497)
        assert best.requests_per_s == pytest.approx(lam_d, rel=1e-12)
        w = 0.5 - (0.0 + L1 + X + A497)  # vLLM's front end is 0
        rho = _rho_at(w, L1, 0.9)
        lam_p = rho / L1
        assert best.prefill_requests_per_s == pytest.approx(lam_p, rel=1e-9)
        assert best.ttft_s == pytest.approx(0.5, rel=1e-9)
        assert best.ttft_mean_s == pytest.approx(L1 + X + A497 + rho * L1 / (2 * (1 - rho)), rel=1e-9)
        x, y = math.ceil(60 / lam_p), math.ceil(60 / lam_d)
        assert (x, y) == (2, 1)
        monthly = (x * 1 + y * 2) * 3.99 * HOURS
        assert best.monthly_usd == pytest.approx(monthly, rel=1e-12)
        prompt = 0.5 * monthly / (20 * HOURS * 3600 * 1000) * 1e6
        completion = 0.5 * monthly / (20 * HOURS * 3600 * 300) * 1e6
        assert best.usd_per_1m_prompt_tokens == pytest.approx(prompt, rel=1e-12)
        assert best.usd_per_1m_completion_tokens == pytest.approx(completion, rel=1e-12)
        assert best.usd_per_1m_blended == pytest.approx((3 * prompt + completion) / 4, rel=1e-12)
        assert best.utilisation == pytest.approx(20 / min(x / L1, y * best.capacity_requests_per_s), rel=1e-12)
        # as the methodology prints them
        for got, want in ((X, 0.000311271), (L1, 0.0292102), (A497, 0.0199772), (lam_d, 83.2051), (w, 0.450501),
                          (rho, 0.927781), (lam_p, 31.7622), (rho * L1 / (2 * (1 - rho)), 0.187629),
                          (best.ttft_mean_s, 0.237127), (monthly, 11650.8), (prompt, 0.110833),
                          (completion, 0.369444), (best.usd_per_1m_blended, 0.175486),
                          (best.utilisation, 0.292102), (best.capacity_requests_per_s, 86.1347)):  # fmt: skip
            assert got == pytest.approx(want, rel=5e-6)
        # B* is the last B within the target: 498 decodes take longer than 0.02 s
        c = llmxl.operating.configured("llama-3.1-8b", SYSTEM, 2, 1, None, 1000, 300, None, None, None,
                                       capacity=False)  # fmt: skip
        assert c.replica.decode_step_s(1000, 300, 498) > 0.02 >= c.replica.decode_step_s(1000, 300, 497)
        other = _disaggregated(p, 1)  # a decode instance of tp 1: 2P2D, also 4 GPUs
        assert (other.prefill_replicas, other.decode_replicas, other.num_gpus) == (2, 2, 4)

    def test_the_aggregated_rows_and_the_note(self):
        p = _plan(disaggregated="both")
        agg = next(r for r in p.rows if r.mode == "aggregated" and r.reason is None)
        assert (agg.tp, agg.concurrency, agg.replicas, agg.num_gpus) == (1, 31, 6, 6)
        assert agg.requests_per_s == pytest.approx(10.7074, rel=5e-6)
        assert agg.monthly_usd == pytest.approx(6 * 3.99 * HOURS, rel=1e-12)
        note = p.mode_note
        assert note.startswith("disaggregated costs $5,825 a month less: disaggregated 2P1D"), note
        assert "B=497" in note and "B=31" in note and "0.000311 s" in note

    def test_a_decode_instance_beyond_the_domain_crosses_the_network(self):
        p = _plan(tp=[1, 8], disaggregated=True)
        row = _disaggregated(p, 8)
        assert (row.prefill_tp, row.kv_link) == (1, "scale-out")  # 1 + 8 GPUs > 8 per domain
        assert row.kv_transfer_s == pytest.approx(131_072_000 / 50e9 + 1e-5, rel=1e-12)
        assert row.kv_transfer_s == pytest.approx(0.00263144, rel=5e-6)
        fast = resolve_gpu(SYSTEM).model_dump() | {"scaleout_gbs": 100.0}
        fast_row = _disaggregated(llmxl.plan("llama-3.1-8b", fast, **{**ARGS, "tp": [1, 8]}, disaggregated=True), 8)
        assert fast_row.kv_transfer_s == pytest.approx(0.00132072, rel=5e-6)

    def test_the_excel_function(self):
        from .xlwings_harness import MISSING, call_as_excel, windows_xlwings

        p = _plan(disaggregated="both", tp=None)  # every tp up to 8: the worked check's rows lead
        with windows_xlwings() as (module, _):
            out = call_as_excel(module.LLM_PLAN, "llama-3.1-8b", SYSTEM, 20.0, 60.0, 1000.0, 300.0, MISSING, 0.5, 0.02,
                                *[MISSING] * 13, "both")  # fmt: skip
            refused = call_as_excel(module.LLM_PLAN, "llama-3.1-8b", SYSTEM, 20.0, 60.0, 1000.0, 300.0, MISSING, 0.5,
                                    0.02, *[MISSING] * 13, "maybe")  # fmt: skip
        rows = [dict(zip(out[0], row, strict=True)) for row in out[1:]]
        assert len(rows) == len(p.rows)
        for got, want in zip(rows, p.rows, strict=True):
            assert (got["Mode"], got["tp"]) == (want.mode, want.tp)
            assert got["Monthly cost [USD]"] == pytest.approx(want.monthly_usd, rel=1e-6)
        first = rows[0]
        assert (first["Prefill instances"], first["Decode instances"], first["GPUs"]) == (2, 1, 4)
        assert first["KV transfer [s]"] == pytest.approx(0.000311271, rel=5e-6)
        assert first["Prefill requests/s per instance"] == pytest.approx(31.7622, rel=5e-6)
        assert first["Monthly cost [USD]"] == pytest.approx(11650.8, rel=1e-6)
        assert isinstance(refused, str) and refused.startswith("#VALUE!") and "disaggregated" in refused

    def test_the_cli_json(self, capsys):
        assert main(["plan", "--model", "llama-3.1-8b", "--gpu", SYSTEM, "--tp", "1,2", "--prompt", "1000",
                     "--completion", "300", "--rps", "20", "--peak-rps", "60", "--ttft", "0.5", "--itl", "0.02",
                     "--disaggregated", "both", "--json", "-"]) == 0  # fmt: skip
        doc = json.loads(capsys.readouterr().out)
        best = doc["best"]
        assert doc["disaggregated"] == "both" and doc["mode_note"].startswith("disaggregated costs $5,825 a month less")
        assert (best["mode"], best["prefill_replicas"], best["decode_replicas"], best["num_gpus"]) == (
            "disaggregated", 2, 1, 4)  # fmt: skip
        for field, want in (("monthly_usd", 11650.8), ("prefill_requests_per_s", 31.7622),
                            ("requests_per_s", 83.2051), ("kv_transfer_s", 0.000311271),
                            ("usd_per_1m_blended", 0.175486)):  # fmt: skip
            assert best[field] == pytest.approx(want, rel=5e-6), field
        assert {r["mode"] for r in doc["rows"]} == {"aggregated", "disaggregated"}

    def test_the_cli_table_names_the_modes(self, capsys):
        assert main(["plan", "--model", "llama-3.1-8b", "--gpu", SYSTEM, "--tp", "1,2", "--prompt", "1000",
                     "--completion", "300", "--rps", "20", "--peak-rps", "60", "--ttft", "0.5", "--itl", "0.02",
                     "--disaggregated", "both"]) == 0  # fmt: skip
        out = capsys.readouterr().out
        assert "2 prefill instances of tp=1 and 1 decode instance of tp=2" in out
        assert "  mode " in out and " 2P1D " in out and " aggregated " in out
        assert "Aggregated or disaggregated: disaggregated costs $5,825 a month less" in out

    def test_the_recalculated_workbook(self, tmp_path):
        require_soffice()
        from llmxl.workbook.plan import write_plan_workbook
        from llmxl.workbook.recalc import recalculate_many

        p = _plan(disaggregated="both")
        path = write_plan_workbook(tmp_path / "plan.xlsx", p)
        edits = {"peak": ("B", "plan_peak_rps", 100), "target": ("B", "plan_ttft_max", 0.6)}
        copies = []
        for name, (_, defined, value) in edits.items():
            wb = openpyxl.load_workbook(path)
            sheet, ref = next(iter(wb.defined_names[defined].destinations))
            wb[sheet][ref.replace("$", "")].value = value
            wb.save(tmp_path / f"{name}.xlsx")
            copies.append(tmp_path / f"{name}.xlsx")
        books = [openpyxl.load_workbook(f, data_only=True) for f in recalculate_many([path, *copies], tmp_path / "lo")]
        base, peak, target = (b["Pools"] for b in books)
        header = [c.value for c in base[5]]
        rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in base.iter_rows(min_row=6)]
        rows = [r for r in rows if r["GPU"]]
        want = [r for r in p.rows if r.mode == "disaggregated"]
        assert len(rows) == len(want) == 2
        for got, r in zip(rows, want, strict=True):
            assert got["Decode layout"] == f"tp={r.tp}" and got["Prefill layout"] == f"tp={r.prefill_tp}"
            assert (got["Prefill instances x"], got["Decode instances y"], got["GPUs"]) == (
                r.prefill_replicas, r.decode_replicas, r.num_gpus)  # fmt: skip
            for col, field in (("Monthly cost [USD]", "monthly_usd"), ("USD per 1M prompt tokens",
                               "usd_per_1m_prompt_tokens"), ("USD per 1M completion tokens",
                               "usd_per_1m_completion_tokens"), ("USD per 1M blended (3:1)", "usd_per_1m_blended"),
                               ("Utilisation", "utilisation"), ("Peak utilisation", "peak_utilisation"),
                               ("Prompt share (prefill GPUs)", "prompt_share")):  # fmt: skip
                assert got[col] == pytest.approx(getattr(r, field), rel=1e-6), col
        assert base["B4"].value == pytest.approx(11650.8, rel=1e-6)
        assert base["B3"].value in ("", None)
        # a higher peak: the instances follow ROUNDUP(100 / λ) live
        first = next(iter(peak.iter_rows(min_row=6, max_row=6, values_only=True)))
        x, y = math.ceil(100 / want[0].prefill_requests_per_s), math.ceil(100 / want[0].requests_per_s)
        assert (first[15], first[16], first[17]) == (x, y, x * 1 + y * 2)
        assert first[19] == pytest.approx((x + 2 * y) * 3.99 * HOURS, rel=1e-9)
        # another target: the rates were found for 0.5 s, so the sheet asks for a rebuild
        assert "rebuild" in target["B3"].value
        assert "rebuild" in next(iter(target.iter_rows(min_row=6, max_row=6, values_only=True)))[15]


# --- properties ------------------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(
    peak=st.floats(1.0, 200.0),
    ttft=st.floats(0.1, 3.0),
    itl=st.one_of(st.none(), st.floats(0.01, 0.1)),
    s=st.integers(100, 8000),
)
def test_a_fleet_costs_exactly_its_pools_and_never_less(peak, ttft, itl, s):
    p = llmxl.plan("llama-3.1-8b", SYSTEM, tp=[1, 2], prompt_tokens=s, completion_tokens=200, requests_per_s=peak / 2,
                   peak_requests_per_s=peak, ttft_s_max=ttft, itl_s_max=itl, disaggregated=True)  # fmt: skip
    for r in p.rows:
        assert r.mode == "disaggregated"
        if r.reason is not None:
            continue
        gp, gd = r.prefill_tp * r.prefill_dp * r.pp, r.tp * r.dp * r.pp
        prefill_pool = r.prefill_replicas * gp * r.gpu_hour_usd * HOURS
        decode_pool = r.decode_replicas * gd * r.gpu_hour_usd * HOURS
        assert r.num_gpus == r.prefill_replicas * gp + r.decode_replicas * gd
        assert r.monthly_usd == pytest.approx(prefill_pool + decode_pool, rel=1e-12)
        assert r.monthly_usd >= (prefill_pool + decode_pool) * (1 - 1e-12)
        # each pool carries the peak: the prefill instances' work and the decode instances' rate
        assert r.prefill_replicas >= peak * r.prefill_s * (1 - 1e-12)
        assert r.prefill_replicas * r.prefill_requests_per_s >= peak * (1 - 1e-12)
        assert r.decode_replicas * r.requests_per_s >= peak * (1 - 1e-12)
        assert r.ttft_s <= ttft * (1 + 1e-9) and (itl is None or r.itl_s <= itl)


@pytest.mark.parametrize(
    "case",
    [
        dict(model="llama-3.1-70b", gpus="h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000, completion_tokens=300,
             requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.05, gpu_hour_usd=3.99),
        dict(model="deepseek-v3", gpus="hgx-h200", tp=1, dp=[8, 16], prompt_tokens=1000, completion_tokens=1000,
             requests_per_s=20, ttft_s_max=3.5, itl_s_max=0.05, max_concurrency=512),
    ],
    ids=["planning check", "expert parallel"],
)  # fmt: skip
def test_the_aggregated_rows_are_todays(case):
    base = llmxl.plan(**case)
    both = llmxl.plan(**case, disaggregated="both")
    assert [r for r in both.rows if r.mode == "aggregated"] == list(base.rows)
    assert all(r.mode == "aggregated" and r.prefill_replicas is None for r in base.rows)
    assert "disaggregated" not in base.to_dict() and "mode_note" not in base.to_dict()
    assert both.best.monthly_usd <= base.best.monthly_usd  # "both" chooses among more fleets
    if case["model"] == "llama-3.1-70b":  # plan()'s docstring example, as main gives it
        assert (base.best.concurrency, base.best.num_gpus, round(base.best.monthly_usd, 1)) == (31, 10, 29127.0)


@settings(max_examples=10, deadline=None)
@given(slow=st.floats(5.0, 400.0), faster=st.floats(1.0, 4.0))
def test_a_faster_scale_out_link_never_slows_the_transfer(slow, faster):
    def transfer(bw):
        gpu = resolve_gpu(SYSTEM).model_dump() | {"scaleout_gbs": bw}
        p = llmxl.plan("llama-3.1-8b", gpu, **{**ARGS, "tp": 8, "itl_s_max": None, "ttft_s_max": 2.0},
                       disaggregated=True)  # fmt: skip
        (row,) = p.rows
        assert row.kv_link == "scale-out"  # two instances of 8 GPUs are more than one domain
        return row

    a, b = transfer(slow), transfer(slow * faster)
    assert b.kv_transfer_s <= a.kv_transfer_s
    if a.reason is None and b.reason is None:
        assert b.prefill_requests_per_s >= a.prefill_requests_per_s * (1 - 1e-12)
        assert b.monthly_usd <= a.monthly_usd


class TestRefusals:
    @pytest.mark.parametrize("value", ["maybe", 1, 0, None, "yes"])
    def test_a_value_that_is_not_a_choice(self, value):
        with pytest.raises(InvalidInputError) as exc:
            _plan(disaggregated=value)
        assert exc.value.field == "disaggregated" and "\n" not in str(exc.value)
        assert "'both'" in str(exc.value)

    def test_a_disaggregated_fleet_needs_a_ttft_target(self):
        with pytest.raises(InvalidInputError) as exc:
            _plan(disaggregated=True, ttft_s_max=None)
        assert exc.value.field == "ttft_s_max" and "--ttft" in str(exc.value)

    def test_the_cli_refuses_other_choices_and_other_templates(self, capsys, tmp_path):
        common = ["--model", "llama-3.1-8b", "--gpu", SYSTEM, "--prompt", "1000", "--completion", "300"]
        with pytest.raises(SystemExit) as stop:  # argparse's own refusal of a choice it does not offer
            main(["plan", *common, "--rps", "5", "--ttft", "0.5", "--disaggregated", "perhaps"])
        assert stop.value.code == 2 and "invalid choice: 'perhaps'" in capsys.readouterr().err
        assert main(["plan", *common, "--frontier", "--disaggregated", "yes"]) == 2
        assert "--disaggregated" in capsys.readouterr().err
        assert main(["workbook", "compare", "-o", str(tmp_path / "c.xlsx"), "--disaggregated", "yes"]) == 2
        assert "--disaggregated" in capsys.readouterr().err

    def test_a_target_no_prefill_instance_meets_says_why(self):
        p = _plan(disaggregated=True, ttft_s_max=0.03)  # L1 + transfer + a decode step is more
        assert p.best is None
        for r in p.rows:
            assert r.reason.startswith("even an idle prefill instance, p90 time to first token")
            assert "exceeds the 0.03 s target" in r.reason
