"""The capacity-plan workbook (llmxl/workbook/plan.py), recalculated by LibreOffice."""

from __future__ import annotations

import openpyxl
import pytest

import llmxl
from llmxl.cli import main
from llmxl.plan import _candidate, _Target  # the engine's row for one configuration
from llmxl.workbook.plan import concurrency_grid, write_plan_workbook
from llmxl.workbook.recalc import recalculate

from .conftest import CHECK_GPU as CONFTEST_CHECK_GPU
from .conftest import require_soffice

CHECK_GPU = CONFTEST_CHECK_GPU + "usd_per_hour = 3.99\n"
COLUMNS = {  # Plan sheet column -> PlanRow field
    "A": "gpu", "B": "tp", "D": "dtype", "G": "max_concurrency", "H": "concurrency", "I": "requests_per_s",
    "J": "ttft_s", "K": "itl_s", "L": "replicas", "M": "num_gpus", "N": "utilisation", "O": "gpu_hour_usd",
    "P": "monthly_usd", "Q": "usd_per_1m_prompt_tokens", "R": "usd_per_1m_completion_tokens",
    "S": "usd_per_1m_blended",
}  # fmt: skip


@pytest.fixture
def check_catalog(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(CHECK_GPU)
    llmxl.add_catalog_file(path)
    yield
    llmxl.catalog.reset()


def _names(wb):
    """Defined name -> (sheet, cell)."""
    out = {}
    for name, dn in wb.defined_names.items():
        sheet, ref = next(iter(dn.destinations))
        out[name] = (sheet, ref.replace("$", ""))
    return out


def _read(path, tmp_path):
    require_soffice()
    wb = openpyxl.load_workbook(recalculate(path, tmp_path / "recalc"), data_only=True)
    names = _names(wb)
    ws = wb["Plan"]
    header = next(r for r in range(1, 80) if ws[f"A{r}"].value == "GPU")
    rows = []
    r = header + 1
    while ws[f"A{r}"].value:
        rows.append({field: ws[f"{col}{r}"].value for col, field in COLUMNS.items()} | {
            "reason": ws[f"T{r}"].value, "note": ws[f"U{r}"].value, "breakeven": ws[f"V{r}"].value})  # fmt: skip
        r += 1
    return wb, names, rows


def test_the_planning_worked_check_through_the_workbook(tmp_path, check_catalog):
    p = llmxl.plan("llama-3.1-70b", "h100-check", tp=2, dtype="fp8", prompt_tokens=1000, completion_tokens=300,
                   requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.05)  # fmt: skip
    path = write_plan_workbook(tmp_path / "plan.xlsx", p, api=("", 0.88, 0.88))
    wb, names, rows = _read(path, tmp_path)
    (row,) = rows
    assert (row["concurrency"], row["max_concurrency"], row["replicas"], row["num_gpus"]) == (134, 465, 2, 4)
    for field, want in (("requests_per_s", 8.96756), ("ttft_s", 0.0859266), ("itl_s", 0.0499758),
                        ("utilisation", 0.278783), ("monthly_usd", 11650.8), ("usd_per_1m_prompt_tokens", 0.518),
                        ("usd_per_1m_completion_tokens", 1.22889), ("usd_per_1m_blended", 0.695722)):  # fmt: skip
        assert float(f"{row[field]:.6g}") == want, field
    assert row["breakeven"] == pytest.approx(5825.4 / 3006.432, rel=1e-9)
    sheet, cell = names["plan_api_monthly"]
    assert wb[sheet][cell].value == pytest.approx(15032.16)
    assert row["reason"] in ("", None) and row["note"] in ("", None)


def _engine_on_grid(p, gpu, tp, dtype, grid, **inputs):
    """What the workbook must show for one configuration: the engine's row at the largest grid point ≤ B*."""
    exact = next(r for r in p.rows if r.gpu == gpu and r.tp == tp and r.dtype == dtype)
    if exact.concurrency is None:
        return exact, exact
    on_grid = max(b for b in grid if b <= exact.concurrency)
    target = _Target(p.prompt_tokens, p.completion_tokens, p.requests_per_s, p.peak_requests_per_s, p.ttft_s_max,
                     p.itl_s_max, on_grid, None, None)  # fmt: skip
    return exact, _candidate(p.model, gpu, tp, 1, dtype, exact.gpu_hour_usd, target)


def test_edited_inputs_recalculate_to_the_engine(tmp_path):
    base = dict(prompt_tokens=1000, completion_tokens=300, requests_per_s=5, peak_requests_per_s=15,
                ttft_s_max=0.5, itl_s_max=0.05)  # fmt: skip
    gpus = ["h100-sxm-80gb", "b200"]
    p = llmxl.plan("llama-3.1-70b", gpus, dtype="fp8", **base)
    path = write_plan_workbook(tmp_path / "plan.xlsx", p, api=("together", 0.88, 0.88))
    grids = {(r.gpu, r.tp): concurrency_grid(max(2 * (r.max_concurrency or 1), 2), r.concurrency) for r in p.rows}
    # Edit traffic, targets, request shape and price as a user would, in the file.
    wb = openpyxl.load_workbook(path)
    names = _names(wb)
    edits = {"plan_rps": 12, "plan_peak_rps": 30, "plan_ttft_max": 0.3, "plan_itl_max": 0.035,
             "plan_completion": 500, "plan_gpu_hour_usd": 2.5, "plan_discount": 0.2}  # fmt: skip
    for name, value in edits.items():
        sheet, cell = names[name]
        wb[sheet][cell].value = value
    wb.save(tmp_path / "edited.xlsx")
    _, _, rows = _read(tmp_path / "edited.xlsx", tmp_path)
    q = llmxl.plan("llama-3.1-70b", gpus, dtype="fp8", prompt_tokens=1000, completion_tokens=500,
                   requests_per_s=12, peak_requests_per_s=30, ttft_s_max=0.3, itl_s_max=0.035, gpu_hour_usd=2.5,
                   reservation_discount=0.2)  # fmt: skip
    assert len(rows) == len(q.rows)
    off_grid = 0
    for row in rows:
        exact, want = _engine_on_grid(q, row["gpu"], row["tp"], row["dtype"], grids[(row["gpu"], row["tp"])])
        if exact.concurrency is None:
            assert row["concurrency"] == 0 and row["reason"], row
            continue
        assert row["concurrency"] == want.concurrency
        if want.concurrency != exact.concurrency:  # the exact answer lies between two grid points: said so
            off_grid += 1
            assert row["note"].startswith(f"grid: {want.concurrency} meets the target")
        else:
            assert row["note"] in ("", None)
        for field in COLUMNS.values():
            if field in ("gpu", "tp", "dtype", "max_concurrency"):
                continue
            assert row[field] == pytest.approx(getattr(want, field), rel=1e-9), (row["gpu"], row["tp"], field)
    assert any(r["concurrency"] for r in rows)


def test_the_cli_writes_the_plan_workbook_and_refuses_to_overwrite_a_foreign_file(tmp_path, capsys):
    out = tmp_path / "plan.xlsx"
    assert main(["workbook", "plan", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    wb = openpyxl.load_workbook(out)
    assert {"Plan", "Grid", "Chart data", "Calc", "Catalog"} <= set(wb.sheetnames)
    assert len(wb["Plan"]._charts) == 1
    foreign = tmp_path / "mine.xlsx"
    openpyxl.Workbook().save(foreign)
    assert main(["workbook", "plan", "-o", str(foreign)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_concurrency_grid_holds_the_exact_answer_and_the_next_integer():
    g = concurrency_grid(500, 134)
    assert g[:8] == [1, 2, 3, 4, 6, 8, 12, 16] and 134 in g and 135 in g and g[-1] == 500
    assert concurrency_grid(1) == [1]


def test_the_plan_sheet_names_the_api_price_source_and_date(tmp_path, capsys):
    """Issue 18: the workbooks show each API price's source and date (as text, beside the price inputs)."""
    args = ["plan", "--model", "llama-3.3-70b", "--gpu", "h100-sxm-80gb", "--tp", "2", "--prompt", "1000",
            "--completion", "300", "--rps", "5"]  # fmt: skip
    assert main([*args, "--api", "together", "-o", str(tmp_path / "p.xlsx")]) == 0
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx")["Plan"]
    rows = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(1, 60) if ws.cell(r, 1).value}
    price = llmxl.api_price("llama-3.3-70b", "together")
    dated = rows["API price dated (as built, for the prices above)"]
    source = rows["API price source (as built)"]
    assert dated.data_type == "s" and dated.value.startswith(llmxl.prices.date_text(price) + ", ")
    assert "genai-prices 0.2.3" in source.value and "https://www.together.ai/pricing" in source.value
    assert "FP8" in source.value  # the note: Together's Turbo endpoint serves FP8
    assert main([*args, "--api", "0.88,0.88", "-o", str(tmp_path / "q.xlsx")]) == 0  # given prices: no source
    ws = openpyxl.load_workbook(tmp_path / "q.xlsx")["Plan"]
    assert not any(str(ws.cell(r, 1).value).startswith("API price dated") for r in range(1, 60))
    capsys.readouterr()
