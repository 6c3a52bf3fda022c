"""``llmxl plan`` (llmxl/cli/plan.py): prices and owned costs by GPU, energy, and the exit status."""

from __future__ import annotations

import csv
import json

import pytest

import llmxl
from llmxl.cli import main

BASE = ["plan", "--model", "llama-3.1-70b", "--gpu", "h100-sxm-80gb,b200", "--dtype", "fp8", "--prompt", "1000",
        "--completion", "300", "--rps", "5", "--peak-rps", "15", "--ttft", "0.5", "--itl", "0.05"]  # fmt: skip
LIB = dict(dtype="fp8", prompt_tokens=1000, completion_tokens=300, requests_per_s=5, peak_requests_per_s=15,
           ttft_s_max=0.5, itl_s_max=0.05)  # fmt: skip
GPUS = ["h100-sxm-80gb", "b200"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestExitStatus:
    def test_0_when_a_configuration_meets_the_target(self, capsys):
        code, out, _ = run(capsys, *BASE)
        assert code == 0 and "Recommended:" in out

    def test_1_when_none_does_and_the_files_are_still_written(self, capsys, tmp_path):
        path = tmp_path / "none.json"
        code, out, err = run(capsys, *BASE[:-4], "--ttft", "0.001", "--json", str(path))
        assert code == 1 and "No configuration meets the target; each candidate below says why." in out
        assert not err and json.loads(path.read_text())["best"] is None

    def test_2_on_bad_input(self, capsys):
        code, out, err = run(capsys, *BASE, "--pue", "0.5")
        assert code == 2 and not out and "pue must be ≥ 1" in err and err.count("\n") == 1

    def test_help_says_so(self, capsys):
        with pytest.raises(SystemExit):
            main(["plan", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "Exit status: 0 when a configuration meets the target" in text and "1 when none does" in text
        assert "2 on bad input" in text

    def test_a_plan_needs_traffic(self, capsys):
        code, _, err = run(capsys, *BASE[: BASE.index("--rps")])
        assert code == 2 and "give the average traffic with --rps or --tokens-per-day" in err


class TestPricesByGpu:
    def test_a_price_per_gpu(self, capsys):
        code, out, _ = run(capsys, *BASE, "--gpu-hour-usd", "h100-sxm-80gb=2.0,b200=7.0", "--json", "-")
        lib = llmxl.plan("llama-3.1-70b", GPUS, **LIB, gpu_hour_usd={"h100-sxm-80gb": 2.0, "b200": 7.0})
        data = json.loads(out)
        assert code == 0 and data["rows"] == json.loads(json.dumps(lib.to_rows()))
        assert {(r["gpu"], r["usd_per_gpu_hour"]) for r in data["rows"]} == {("h100-sxm-80gb", 2.0), ("b200", 7.0)}

    def test_pairs_may_be_repeated_options(self, capsys):
        a = run(capsys, *BASE, "--gpu-hour-usd", "h100-sxm-80gb=2.0", "--gpu-hour-usd", "b200=7.0", "--json", "-")
        b = run(capsys, *BASE, "--gpu-hour-usd", "h100-sxm-80gb=2.0,b200=7.0", "--json", "-")
        assert a == b

    def test_a_bare_number_still_prices_every_gpu(self, capsys):
        _, out, _ = run(capsys, *BASE, "--gpu-hour-usd", "3", "--json", "-")
        assert {r["usd_per_gpu_hour"] for r in json.loads(out)["rows"]} == {3.0}

    def test_a_list_of_numbers_says_how_to_write_it(self, capsys):
        code, _, err = run(capsys, *BASE, "--gpu-hour-usd", "5,3")
        assert code == 2 and err.count("\n") == 1
        assert "--gpu-hour-usd takes one value for every GPU (3.99) or GPU=VALUE pairs" in err
        assert "for these GPUs: h100-sxm-80gb=5,b200=3" in err and "None" not in err

    def test_a_gpu_not_in_the_plan_is_refused(self, capsys):
        code, _, err = run(capsys, *BASE, "--gpu-hour-usd", "h200=4.59")
        assert code == 2 and "gpu_hour_usd names 'h200', which is not among the plan's GPUs" in err

    def test_the_table_shows_each_rows_price_and_energy(self, capsys):
        _, out, _ = run(capsys, *BASE, "--gpu-hour-usd", "h100-sxm-80gb=2.0,b200=7.0")
        header = next(line for line in out.splitlines() if line.strip().startswith("GPU "))
        assert "$/GPU-h" in header and "kWh/1M" in header and "kgCO2e/1M" in header
        b200 = next(line for line in out.splitlines() if line.strip().startswith("b200 "))
        assert "$7.00" in b200

    def test_csv_carries_the_price_basis_and_energy(self, capsys, tmp_path):
        path = tmp_path / "p.csv"
        run(capsys, *BASE, "--gpu-hour-usd", "b200=7.0", "--csv", str(path))
        rows = list(csv.DictReader(path.open()))
        for key in ("usd_per_gpu_hour", "gpu_hour_usd", "price_basis", "power_kw_per_gpu", "pue",
                    "kwh_per_1m_tokens", "kg_co2e_per_1m_tokens"):  # fmt: skip
            assert key in rows[0]
        assert {(r["gpu"], r["price_basis"]) for r in rows} == {("h100-sxm-80gb", "catalog"), ("b200", "rented")}


class TestOwnedByGpu:
    def test_once_per_gpu(self, capsys):
        code, out, _ = run(capsys, *BASE, "--owned", "h100-sxm-80gb=30000,5,,1.3,0.08,4500", "--owned", "b200=2.5",
                           "--json", "-")  # fmt: skip
        lib = llmxl.plan("llama-3.1-70b", GPUS, **LIB, owned={
            "h100-sxm-80gb": {"purchase_usd": 30000, "years": 5, "pue": 1.3, "usd_per_kwh": 0.08,
                              "other_usd_per_year": 4500},
            "b200": 2.5})  # fmt: skip
        rows = json.loads(out)["rows"]
        assert code == 0 and rows == json.loads(json.dumps(lib.to_rows()))
        h100 = next(r for r in rows if r["gpu"] == "h100-sxm-80gb")
        # power left empty: the GPU's serving power, 1.02 kW (docs/methodology.md)
        assert h100["usd_per_gpu_hour"] == pytest.approx(30000 / 43800 + 1.02 * 1.3 * 0.08 + 4500 / 8760, rel=1e-12)
        assert h100["pue"] == 1.3 and h100["price_basis"] == "owned"

    @pytest.mark.parametrize(
        ("owned", "text"),
        [
            (["30000,5,1"], "--owned takes USD per GPU-hour or"),
            (["30000,,1,1.3,0.08"], "--owned: YEARS is empty; only POWER_KW and PUE may be left empty"),
            (["2.0", "3.0"], "--owned is given more than once for every GPU"),
            (["2.0", "b200=3.0"], "--owned mixes costs for every GPU with costs by GPU"),
            (["b200=2", "b200=3"], "--owned names 'b200' twice"),
        ],
    )
    def test_bad_owned_is_one_line(self, capsys, owned, text):
        argv = [*BASE]
        for o in owned:
            argv += ["--owned", o]
        code, _, err = run(capsys, *argv)
        assert code == 2 and text in err and err.count("\n") == 1

    def test_the_workbook_refuses_what_it_cannot_hold(self, capsys, tmp_path):
        code, _, err = run(capsys, *BASE, "--gpu-hour-usd", "b200=7.0", "-o", str(tmp_path / "p.xlsx"))
        assert code == 2 and "the plan workbook takes one price basis for every GPU" in err
        assert not (tmp_path / "p.xlsx").exists()
        code, _, err = run(capsys, *BASE, "--owned", "1.85", "-o", str(tmp_path / "p.xlsx"))
        assert code == 2 and "not as one price per GPU-hour" in err

    def test_the_workbook_gets_the_power_the_plan_used(self, capsys, tmp_path):
        from openpyxl import load_workbook

        path = tmp_path / "p.xlsx"
        code, _, _ = run(capsys, *BASE[:4], "h100-sxm-80gb", *BASE[5:], "--owned", "30000,5,,,0.08", "-o", str(path))
        assert code == 0
        wb = load_workbook(path)
        names = {n: wb.defined_names[n].attr_text for n in ("plan_power_kw", "plan_pue")}
        values = {}
        for n, ref in names.items():
            sheet, cell = ref.split("!")
            values[n] = wb[sheet.strip("'")][cell.replace("$", "")].value
        assert values == {"plan_power_kw": pytest.approx(1.02, rel=1e-12), "plan_pue": 1.58}
