"""Energy and emissions of serving (llmxl/energy.py and the energy of plan rows).

Expected figures: the energy worked check of docs/methodology.md ("Worked check (energy)"), computed there by
hand from the planning worked check and the catalog's figures; every face is checked to 1e-6.
"""

from __future__ import annotations

import json
import math

import pytest

import llmxl
from llmxl import InvalidInputError, energy, plan

from .conftest import CHECK_GPU
from .test_plan import CHECK, H100, TARGET
from .xlwings_harness import MISSING, call_as_excel, windows_xlwings

# The worked check's GPU with the H100 SXM's board power (700 W, maximum TDP).
H100_POWERED = {**H100, "board_power_w": 700}
# The methodology's figures (docs/methodology.md, "Worked check (energy)").
POWER_KW = 1.02
KWH_PER_MONTH = 9411.744
KWH_PER_1M = 0.5509744
KG_CO2E_PER_1M = 0.2451836
OWNED = {"purchase_usd": 30000, "years": 5, "usd_per_kwh": 0.08, "other_usd_per_year": 4500}
OWNED_USD_PER_GPU_HOUR = 1.327558
OWNED_MONTHLY = 7752.940
ELECTRICITY_PER_1M = 0.04407795


def close(x: float, expected: float) -> bool:
    return x == pytest.approx(expected, rel=1e-6)


class TestServingPower:
    def test_h100_with_its_share_of_a_dgx_h100(self):
        # 700 W · 0.8 · 10,200 W / (8 · 700 W) = 1,020 W
        assert close(energy.serving_power_kw(llmxl.get_gpu("h100-sxm-80gb")), POWER_KW)

    def test_the_server_share_and_fraction_come_from_the_data_file_with_sources(self):
        e = energy.conventions()
        assert (e.server_power_w, e.server_gpus, e.server_gpu_board_power_w, e.serving_power_fraction) == (
            10200,
            8,
            700,
            0.8,
        )
        assert "ML.ENERGY" in e.serving_power_source and "DGX H100" in e.server_source
        assert e.pue == 1.58 and "Uptime" in e.pue_source

    def test_every_gpu_with_a_board_power_names_its_source_and_date(self):
        powered = [llmxl.get_gpu(g) for g in llmxl.gpus() if llmxl.get_gpu(g).board_power_w is not None]
        assert len(powered) >= 20
        for g in powered:
            assert g.board_power_source and g.board_power_checked and g.board_power_term, g.id
        # published figures (docs: facts B1)
        assert {g.id: g.board_power_w for g in powered if g.id in ("b200", "mi300x", "l4")} == {
            "b200": 1000,
            "mi300x": 750,
            "l4": 72,
        }

    def test_a_gpu_without_a_board_power_has_none(self):
        assert llmxl.get_gpu("a10").board_power_w is None
        assert energy.serving_power_kw(llmxl.get_gpu("a10")) is None

    def test_a_gpu_of_its_own_fraction(self):
        from llmxl.specs import GpuSpec

        g = GpuSpec(**{**H100_POWERED, "serving_power_fraction": 0.5})
        assert close(energy.serving_power_kw(g), 700 * 0.5 * 10200 / 5600 / 1000)


class TestGridIntensity:
    def test_default_regions_and_numbers(self):
        assert energy.grid_g_co2e_per_kwh() == 445
        assert energy.grid_g_co2e_per_kwh(" EU27 ") == 214
        assert energy.grid_g_co2e_per_kwh("50") == 50 and energy.grid_g_co2e_per_kwh(0) == 0

    @pytest.mark.parametrize(("value", "text"), [("mars", "neither a number"), (-1, "must be ≥ 0"),
                                                 (math.inf, "must be from 0 to 10000 g CO2e/kWh, got inf")])  # fmt: skip
    def test_bad_intensity_names_the_field_and_the_regions(self, value, text):
        with pytest.raises(InvalidInputError, match=text) as info:
            energy.grid_g_co2e_per_kwh(value)
        assert info.value.field == "grid_g_co2e_per_kwh"


class TestWorkedCheck:
    def test_plan_rows(self):
        best = plan("llama-3.1-70b", H100_POWERED, **CHECK, **TARGET).best
        assert best.num_gpus == 8 and close(best.power_kw_per_gpu, POWER_KW) and best.pue == 1.58
        assert close(best.kwh_per_month, KWH_PER_MONTH)
        assert close(best.kwh_per_1m_tokens, KWH_PER_1M)
        assert close(best.kg_co2e_per_1m_tokens, KG_CO2E_PER_1M)

    def test_owned_uses_the_same_power_and_pue(self):
        p = plan("llama-3.1-70b", H100_POWERED, **CHECK, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
                 itl_s_max=0.05, owned=OWNED)  # fmt: skip
        best = p.best
        assert best.price_basis == "owned" and close(best.gpu_hour_usd, OWNED_USD_PER_GPU_HOUR)
        assert close(best.monthly_usd, OWNED_MONTHLY)
        assert close(best.kwh_per_1m_tokens * OWNED["usd_per_kwh"], ELECTRICITY_PER_1M)
        # the same as the library's own owned price at the GPU's power
        assert close(llmxl.owned_gpu_hour_usd(**OWNED, gpu=llmxl.GpuSpec(**H100_POWERED)), OWNED_USD_PER_GPU_HOUR)

    def test_other_pue_power_and_grid(self):
        best = plan(
            "llama-3.1-70b", H100_POWERED, **CHECK, **TARGET, pue=1.2, power_kw=0.9, grid_g_co2e_per_kwh="us"
        ).best
        assert close(best.kwh_per_1m_tokens, 8 * 0.9 * 1.2 * 730 / 17082)
        assert close(best.kg_co2e_per_1m_tokens, 8 * 0.9 * 1.2 * 730 / 17082 * 0.367)

    def test_excel(self, monkeypatch, tmp_path):
        cat = tmp_path / "check.toml"
        cat.write_text(CHECK_GPU + "board_power_w = 700\n")
        monkeypatch.setenv("LLMXL_CATALOG", str(cat))
        llmxl.catalog.reset()
        args = ("llama-3.1-70b", "h100-check", 5.0, 15.0, 1000.0, 300.0)
        tail = (3.99, 0.5, 0.05, 2.0, "fp8")
        with windows_xlwings() as (xl, _):
            kwh = call_as_excel(xl.LLM_ENERGY_PER_1M, *args, MISSING, *tail)
            co2 = call_as_excel(xl.LLM_ENERGY_PER_1M, *args, "co2e", *tail)
            table = call_as_excel(xl.LLM_PLAN, "llama-3.1-70b", "h100-check", 5.0, 15.0, 1000.0, 300.0, 3.99, 0.5,
                                  0.05, 2.0, "fp8")  # fmt: skip
            owned = call_as_excel(xl.LLM_OWNED_GPU_HOUR, 30000.0, 5.0, MISSING, MISSING, 0.08, 4500.0, "h100-check")
            other = call_as_excel(xl.LLM_ENERGY_PER_1M, *args, "kwh", *tail, MISSING, MISSING, 2.0, 1.2, "eu27")
        assert close(kwh, KWH_PER_1M) and close(co2, KG_CO2E_PER_1M)
        row = dict(zip(table[0], table[1], strict=True))
        assert close(row["kWh per 1M tokens"], KWH_PER_1M) and close(row["kg CO2e per 1M tokens"], KG_CO2E_PER_1M)
        assert close(row["kWh per month"], KWH_PER_MONTH) and close(row["Power per GPU [kW]"], POWER_KW)
        assert close(owned, OWNED_USD_PER_GPU_HOUR)
        assert close(other, 8 * 2.0 * 1.2 * 730 / 17082)

    def test_cli_json(self, capsys, monkeypatch, tmp_path):
        from llmxl.cli import main

        cat = tmp_path / "check.toml"
        cat.write_text(CHECK_GPU + "board_power_w = 700\n")
        monkeypatch.setenv("LLMXL_CATALOG", str(cat))
        llmxl.catalog.reset()
        base = ["plan", "--model", "llama-3.1-70b", "--gpu", "h100-check", "--tp", "2", "--dtype", "fp8", "--prompt",
                "1000", "--completion", "300", "--rps", "5", "--peak-rps", "15", "--ttft", "0.5", "--itl", "0.05"]  # fmt: skip
        assert main([*base, "--gpu-hour-usd", "3.99", "--json", "-"]) == 0
        best = json.loads(capsys.readouterr().out)["best"]
        assert close(best["kwh_per_1m_tokens"], KWH_PER_1M) and close(best["kg_co2e_per_1m_tokens"], KG_CO2E_PER_1M)
        assert close(best["kwh_per_month"], KWH_PER_MONTH)
        assert main([*base, "--owned", "30000,5,,,0.08,4500", "--json", "-"]) == 0
        best = json.loads(capsys.readouterr().out)["best"]
        assert close(best["usd_per_gpu_hour"], OWNED_USD_PER_GPU_HOUR) and close(best["monthly_usd"], OWNED_MONTHLY)
        assert main([*base, "--gpu-hour-usd", "3.99"]) == 0
        out = capsys.readouterr().out
        assert "Energy: 0.5510 kWh and 0.2452 kg CO2e per 1M tokens, 9,412 kWh per month (8 × 1.02 kW" in out


class TestEnergyInputs:
    def test_a_gpu_without_power_plans_but_has_no_energy(self):
        p = plan("llama-3.1-8b", "a10", prompt_tokens=500, completion_tokens=100, requests_per_s=1, gpu_hour_usd=1.0)
        assert p.best is not None and p.best.kwh_per_1m_tokens is None and p.best.power_kw_per_gpu is None
        given = plan("llama-3.1-8b", "a10", prompt_tokens=500, completion_tokens=100, requests_per_s=1,
                     gpu_hour_usd=1.0, power_kw={"a10": 0.3}).best  # fmt: skip
        assert close(given.kwh_per_1m_tokens, given.num_gpus * 0.3 * 1.58 / (1 * 3600 * 600) * 1e6)

    def test_owned_without_power_on_a_gpu_without_one_says_how(self):
        with pytest.raises(InvalidInputError, match="'a10' has no board power in the catalog; give power_kw"):
            plan("llama-3.1-8b", "a10", prompt_tokens=500, completion_tokens=100, requests_per_s=1, owned=OWNED)

    @pytest.mark.parametrize(
        ("kw", "text"),
        [
            ({"pue": 0.9}, "pue must be ≥ 1"),
            ({"power_kw": -1}, "power_kw must be ≥ 0"),
            (
                {"owned": {**OWNED, "pue": 1.3}, "pue": 1.5},
                "pue for h100-sxm-80gb is given twice, 1.3 in owned and 1.5",
            ),
            ({"owned": {**OWNED, "power_kw": 1.0}, "power_kw": 1.2}, "power_kw for h100-sxm-80gb is given twice"),
        ],
    )
    def test_bad_energy_input_is_one_line(self, kw, text):
        with pytest.raises(InvalidInputError, match=text):
            plan("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=500, completion_tokens=100, requests_per_s=1, **kw)

    def test_pue_scales_energy_and_the_owned_electricity_only(self):
        a = plan("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=500, completion_tokens=100, requests_per_s=2,
                 owned=OWNED, pue=1.2).best  # fmt: skip
        b = plan("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=500, completion_tokens=100, requests_per_s=2,
                 owned=OWNED, pue=1.8).best  # fmt: skip
        assert b.kwh_per_1m_tokens / a.kwh_per_1m_tokens == pytest.approx(1.5, rel=1e-12)
        assert b.gpu_hour_usd - a.gpu_hour_usd == pytest.approx(POWER_KW * 0.6 * 0.08, rel=1e-12)
