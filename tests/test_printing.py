"""Workbooks print legibly (page setup on every sheet, few pages) and their charts read right."""

from __future__ import annotations

import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest

from llmxl.cli.main import main
from llmxl.workbook.build import MAX_SERIES
from llmxl.workbook.recalc import _XCU

from .conftest import require_soffice

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "workbooks" / "llama2-70b-a100-reference.xlsx"
QUICK_START = "--model llama-2-70b --gpu a100-sxm-80gb --gpu h100-sxm-80gb --tp 2 --batch 1,8,32 --prompt 512,2048 "
PLAN_12 = (
    "plan --model llama-3.1-70b --gpu h100-sxm-80gb,b200,h200 --tp 1,2,4,8 --prompt 1000 --completion 300 "
    "--rps 5 --peak-rps 15 --dtype fp8"
)


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory):
    """The README's quick-start report and a 12-configuration plan."""
    out = tmp_path_factory.mktemp("printing")
    report, plan = out / "report.xlsx", out / "plan12.xlsx"
    assert main(["report", *QUICK_START.split(), "--completion", "512", "-o", str(report), "--no-progress"]) == 0
    assert main([*PLAN_12.split(), "-o", str(plan)]) == 0
    return report, plan


def _pages(pdf: Path) -> int:
    data = pdf.read_bytes()
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def test_the_quick_start_report_and_a_12_configuration_plan_print_in_a_few_pages(workbooks, tmp_path):
    exe = require_soffice()
    with tempfile.TemporaryDirectory(prefix="llmxl-lo-") as profile:
        (Path(profile) / "user").mkdir()
        (Path(profile) / "user" / "registrymodifications.xcu").write_text(_XCU, encoding="utf-8")
        done = subprocess.run(
            [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--convert-to", "pdf",
             "--outdir", str(tmp_path), *map(str, workbooks)],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report, plan = (tmp_path / (p.stem + ".pdf") for p in workbooks)
    # 51 pages before the Catalog and Calc sheets printed only their first page
    assert 1 <= _pages(report) <= 6
    assert 1 <= _pages(plan) <= 12


def test_every_sheet_has_a_page_setup(workbooks):
    for path in (*workbooks, TEMPLATE):
        for ws in openpyxl.load_workbook(path):
            where = (path.name, ws.title)
            assert ws.page_setup.orientation in ("landscape", "portrait"), where
            assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, where
            # a long sheet repeats its header rows or prints its first page only, saying so on the sheet
            assert ws.print_title_rows or ws.print_area or ws.max_row < 60, where
    plan = openpyxl.load_workbook(workbooks[1])["Plan"]
    # the table's last columns print on a page of their own, after the configuration (GPU, tp, pp, dtype)
    assert plan.print_title_cols == "$A:$D" and len(plan.print_area.split(",")) == 2


def _charts(path: Path) -> list[str]:
    z = zipfile.ZipFile(path)
    return [z.read(n).decode() for n in sorted(z.namelist()) if n.startswith("xl/charts/chart")]


def test_no_chart_is_smoothed_and_lines_start_at_the_first_traffic_level(workbooks):
    for path in (*workbooks, TEMPLATE):
        for xml in _charts(path):
            assert "smoothMarker" not in xml and 'smooth val="1"' not in xml, path.name
            assert xml.count("<smooth ") + xml.count("<c:smooth ") == xml.count("<ser>") + xml.count("<c:ser>")
            assert 'scatterStyle val="lineMarker"' in xml, path.name
    report = _charts(workbooks[0])
    assert len(report) == 2 and all('logBase val="2"' in xml for xml in report)
    (plan,) = _charts(workbooks[1])
    assert plan.count("<ser>") == 11 + 2  # every configuration that serves, the API and the break-even
    wb = openpyxl.load_workbook(workbooks[1])
    assert wb["Chart data"]["A4"].value.startswith("=2*plan_rps*1/")  # not $0 at 0 requests/s


def test_charts_hold_at_most_max_series_and_name_the_rest(tmp_path):
    out = tmp_path / "many.xlsx"
    models = "llama-2-7b,llama-2-13b,llama-2-70b,llama-3.1-8b,llama-3.1-70b,qwen3-4b-2507,gemma-2-9b"
    args = ["report", "--model", models, "--gpu", "h100-sxm-80gb,a100-sxm-80gb", "--batch", "1,8", "--prompt",
            "512", "--completion", "128", "-o", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    charts = _charts(out)
    assert [xml.count("<ser>") for xml in charts] == [MAX_SERIES, MAX_SERIES]
    ws = openpyxl.load_workbook(out)["Summary"]
    notes = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "not charted" in c.value]
    assert len(notes) == 1 and f"first {MAX_SERIES} of 14 configurations" in notes[0]
    assert "gemma-2-9b · a100-sxm-80gb" in notes[0]
