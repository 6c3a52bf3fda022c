"""The planning functions' GPU argument (udfs/llmxl_udfs/planning.py): comma lists in a cell, a price column."""

from __future__ import annotations

import pytest

import llmxl

from .xlwings_harness import MISSING, call_as_excel, com_column, windows_xlwings

LIB = dict(dtype="fp8", prompt_tokens=1000, completion_tokens=300, requests_per_s=5, peak_requests_per_s=15,
           ttft_s_max=0.5, itl_s_max=0.05)  # fmt: skip
HEAD = ("llama-3.1-70b",)
TRAFFIC = (5.0, 15.0, 1000.0, 300.0)
TAIL = (0.5, 0.05, MISSING, "fp8")  # ttft, itl, tp, dtype


@pytest.fixture(scope="module")
def xl():
    with windows_xlwings() as (module, _):
        yield module


def spill(xl, gpus, price=MISSING, *more):
    return call_as_excel(xl.LLM_PLAN, *HEAD, gpus, *TRAFFIC, price, *TAIL, *more)


def table(out):
    return [dict(zip(out[0], row, strict=True)) for row in out[1:]]


class TestGpuRange:
    def test_a_comma_list_in_one_cell_is_the_range_of_names(self, xl):
        one_cell = spill(xl, "h100-sxm-80gb, b200")
        assert one_cell == spill(xl, (("h100-sxm-80gb",), ("b200",))) == spill(xl, (("h100-sxm-80gb", "b200"),))
        p = llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **LIB)
        assert [(r["GPU"], r["tp"], r["Monthly cost [USD]"]) for r in table(one_cell)] == [
            (r.gpu, r.tp, r.monthly_usd if r.monthly_usd is not None else "") for r in p.rows
        ]

    def test_the_other_planning_functions_read_it_too(self, xl):
        best = llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **LIB).best
        got = call_as_excel(xl.LLM_GPUS_NEEDED, *HEAD, "h100-sxm-80gb,b200", *TRAFFIC, MISSING, *TAIL)
        cost = call_as_excel(xl.LLM_MONTHLY_COST, *HEAD, (("h100-sxm-80gb", 2.0), ("b200", 7.0)), *TRAFFIC, MISSING,
                             *TAIL)  # fmt: skip
        priced = llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **LIB,
                            gpu_hour_usd={"h100-sxm-80gb": 2.0, "b200": 7.0}).best  # fmt: skip
        assert got == best.num_gpus and cost == priced.monthly_usd

    def test_breakeven_takes_the_gpus_of_a_plan_too(self, xl):
        kw = dict(prompt_tokens=1000, completion_tokens=300, dtype="fp8", peak_factor=2, api=(0.88, 0.88))
        lib = llmxl.breakeven("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **kw,
                              gpu_hour_usd={"h100-sxm-80gb": 1.0, "b200": 9.0})  # fmt: skip
        args = (1000.0, 300.0, 2.0, 0.88, 0.88, MISSING, MISSING, MISSING, MISSING, "fp8")
        got = call_as_excel(xl.LLM_BREAKEVEN, *HEAD, (("h100-sxm-80gb", 1.0), ("b200", 9.0)), *args)
        listed = call_as_excel(xl.LLM_BREAKEVEN, *HEAD, "h100-sxm-80gb, b200", *args)
        assert got == lib.requests_per_s and lib.row.gpu == "h100-sxm-80gb"
        assert listed == llmxl.breakeven("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **kw).requests_per_s

    def test_a_price_column_beside_the_names(self, xl):
        out = spill(xl, (("h100-sxm-80gb", 2.0), ("b200", 7.0)))
        p = llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **LIB,
                       gpu_hour_usd={"h100-sxm-80gb": 2.0, "b200": 7.0})  # fmt: skip
        rows = table(out)
        assert [(r["GPU"], r["USD per GPU-hour"], r["Price basis"]) for r in rows] == [
            (r.gpu, r.usd_per_gpu_hour, "rented") for r in p.rows
        ]
        assert rows[0]["Monthly cost [USD]"] == p.best.monthly_usd

    def test_a_blank_price_keeps_the_catalog_price(self, xl):
        rows = table(spill(xl, (("h100-sxm-80gb", None), ("b200", 7.0))))
        h100 = {r["USD per GPU-hour"] for r in rows if r["GPU"] == "h100-sxm-80gb"}
        assert h100 == {llmxl.get_gpu("h100-sxm-80gb").usd_per_hour}
        assert {r["Price basis"] for r in rows if r["GPU"] == "h100-sxm-80gb"} == {"catalog"}

    def test_a_range_of_traffic_with_a_price_column(self, xl):
        out = call_as_excel(xl.LLM_MONTHLY_COST, *HEAD, (("h100-sxm-80gb", 2.0), ("b200", 7.0)),
                            com_column([1.0, 5.0]), MISSING, 1000.0, 300.0, MISSING, *TAIL)  # fmt: skip
        lib = [llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], **{**LIB, "requests_per_s": r,
                          "peak_requests_per_s": None}, gpu_hour_usd={"h100-sxm-80gb": 2.0, "b200": 7.0}).best.monthly_usd
               for r in (1.0, 5.0)]  # fmt: skip
        assert [row[0] for row in out] == lib

    @pytest.mark.parametrize(
        ("gpus", "price", "text"),
        [
            ((("h100-sxm-80gb", 2.0), ("b200", 7.0)), 3.0,
             "#VALUE! give the prices in the GPU range's second column or in gpu_hour_usd, not both"),
            ((("h100-sxm-80gb, b200", 2.0),), MISSING, "#VALUE! 'h100-sxm-80gb, b200' has a price beside it"),
            ((("h100-sxm-80gb", 2.0), (None, 7.0)), MISSING, "#VALUE! row 2 of the GPU range has a price but no GPU"),
            ((("b200", 2.0), ("b200", 7.0)), MISSING, "#VALUE! 'b200' is in the GPU range twice"),
            ((("h100-sxm-80gb", 2.0), ("b200", "#N/A")), MISSING, "#VALUE! gpu price points at a cell showing #N/A"),
            ("h100-sxm-80gb, b2000", MISSING, "#N/A unknown gpu 'b2000'; did you mean 'b200'"),
        ],
    )  # fmt: skip
    def test_bad_ranges_say_why_in_the_cell(self, xl, gpus, price, text):
        out = spill(xl, gpus, price)
        assert isinstance(out, str) and out.startswith(text) and "\n" not in out


class TestEnergyColumns:
    def test_plan_table_equals_the_library(self, xl):
        out = spill(xl, "h100-sxm-80gb", MISSING, MISSING, MISSING, 1.0, 1.2, "us")
        p = llmxl.plan("llama-3.1-70b", "h100-sxm-80gb", **LIB, power_kw=1.0, pue=1.2, grid_g_co2e_per_kwh="us")
        assert out[0][-7:] == ["Price basis", "Power per GPU [kW]", "PUE", "kWh per month", "kWh per 1M tokens",
                               "kg CO2e per 1M tokens", "Why not"]  # fmt: skip
        for got, r in zip(table(out), p.rows, strict=True):
            assert got["kWh per 1M tokens"] == ("" if r.kwh_per_1m_tokens is None else r.kwh_per_1m_tokens)
            assert got["kg CO2e per 1M tokens"] == ("" if r.kg_co2e_per_1m_tokens is None else r.kg_co2e_per_1m_tokens)
            assert got["Power per GPU [kW]"] == 1.0 and got["PUE"] == 1.2

    def test_energy_per_1m_without_a_power_says_how(self, xl):
        out = call_as_excel(xl.LLM_ENERGY_PER_1M, "llama-3.1-8b", "a10", 1.0, MISSING, 500.0, 100.0, MISSING, 1.0)
        assert out == "#N/A a10 has no board power in the catalog; give power_kw"
        bad = call_as_excel(xl.LLM_ENERGY_PER_1M, "llama-3.1-8b", "l4", 1.0, MISSING, 500.0, 100.0, "joules")
        assert bad == '#VALUE! kind must be "kwh" or "co2e", got \'joules\''
        grid = call_as_excel(xl.LLM_ENERGY_PER_1M, "llama-3.1-8b", "l4", 1.0, MISSING, 500.0, 100.0, "co2e",
                             *([MISSING] * 9), "moon")  # fmt: skip
        assert grid.startswith("#VALUE! grid intensity 'moon' is neither a number")
