"""The frontier workbook (llmxl/workbook/frontier.py, ``llmxl plan --frontier -o``): its values are frontier()'s,
cached and after LibreOffice recalculates; a price typed in gives frontier() at that price; the chart; the CLI."""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest

import llmxl
from llmxl.cli import main
from llmxl.workbook.build import MAX_SERIES
from llmxl.workbook.files import save_workbook
from llmxl.workbook.frontier import FRONTIER_PRINTED, build_frontier_workbook, charted_order, write_frontier_workbook

from .conftest import require_soffice

GPUS = ["h100-sxm-80gb", "b200"]
SHAPE = dict(prompt_tokens=1000, completion_tokens=300)
PRICES = {"h100-sxm-80gb": 3.99, "b200": 6.69}
EDITED = {"h100-sxm-80gb": 1.75, "b200": 9.5}  # moves points of both GPUs on and off the frontier
CLI = ["plan", "--frontier", "--model", "llama-3.1-70b", "--gpu", ",".join(GPUS), "--prompt", "1000",
       "--completion", "300", "--gpu-hour-usd", "h100-sxm-80gb=3.99,b200=6.69"]  # fmt: skip


def _frontier(prices=PRICES):
    return llmxl.frontier("llama-3.1-70b", GPUS, gpu_hour_usd=prices, **SHAPE)


def _table(ws):
    """The header row of the point table and the column of each header."""
    head = next(r for r in range(1, 80) if ws.cell(r, 1).value == "Configuration")
    cols = {ws.cell(head, c).value: c for c in range(1, ws.max_column + 1)}
    return head, cols


def _price_rows(ws):
    return {ws.cell(r, 1).value: r for r in range(1, 40) if ws.cell(r, 1).value in GPUS}


def _check(ws, f):
    head, cols = _table(ws)
    assert len(f.points) > 50 and 0 < sum(p.pareto for p in f.points) < len(f.points)
    for i, p in enumerate(f.points):
        row = {h: ws.cell(head + 1 + i, c).value for h, c in cols.items()}
        label = f"{p.gpu} tp={p.tp} {p.dtype}"
        assert row["Configuration"] == label
        assert row["Concurrency B (sequences decoding on average)"] == p.concurrency
        expect = {
            "Output tokens/s per user (1 / mean ITL)": p.output_tokens_per_s_per_user,
            "Output tokens/s per GPU": p.output_tokens_per_s_per_gpu,
            "Time to first token p90 [s]": p.ttft_s,
            "Inter-token latency p90 [s]": p.itl_s,
            "USD per GPU-hour": p.gpu_hour_usd,
            "USD per 1M prompt tokens": p.usd_per_1m_prompt_tokens,
            "USD per 1M completion tokens": p.usd_per_1m_completion_tokens,
            "USD per 1M blended (3:1)": p.usd_per_1m_blended,
        }
        for header, value in expect.items():
            assert row[header] == pytest.approx(value, rel=1e-9, abs=0), (label, p.concurrency, header)
        assert row["On the frontier (1/0)"] == int(p.pareto), (label, p.concurrency)
    assert ws.cell(head + 1 + len(f.points), 1).value is None


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """The workbook as written, a copy with the prices edited, and both recalculated by LibreOffice."""
    require_soffice()
    from llmxl.workbook.recalc import recalculate_many

    tmp = tmp_path_factory.mktemp("frontier")
    written = write_frontier_workbook(tmp / "frontier.xlsx", _frontier())
    wb = openpyxl.load_workbook(written)
    ws = wb["Frontier"]
    for gpu, r in _price_rows(ws).items():
        ws.cell(r, 2).value = EDITED[gpu]
    wb.save(tmp / "edited.xlsx")
    recalculated, edited = recalculate_many([written, tmp / "edited.xlsx"], tmp / "lo")
    return written, recalculated, edited


def test_cached_values_are_frontiers(books):
    _check(openpyxl.load_workbook(books[0], data_only=True)["Frontier"], _frontier())


def test_libreoffice_recalculates_to_frontiers(books):
    _check(openpyxl.load_workbook(books[1], data_only=True)["Frontier"], _frontier())


def test_a_price_typed_in_gives_frontier_at_that_price(books):
    before, after = _frontier(), _frontier(EDITED)
    assert [p.pareto for p in before.points] != [p.pareto for p in after.points]  # the edit matters
    _check(openpyxl.load_workbook(books[2], data_only=True)["Frontier"], after)


def test_the_costs_are_formulas_of_the_price_cells_and_strings_text(books):
    ws = openpyxl.load_workbook(books[0])["Frontier"]
    head, cols = _table(ws)
    prices = _price_rows(ws)
    assert ws.cell(prices["b200"], 2).fill.fgColor.rgb.endswith("FFF2CC")
    for header in ("USD per 1M prompt tokens", "USD per 1M blended (3:1)", "On the frontier (1/0)"):
        assert str(ws.cell(head + 1, cols[header]).value).startswith("=")
    assert ws.cell(head + 1, cols["USD per GPU-hour"]).value == f"=$B${prices['h100-sxm-80gb']}"
    for r in range(1, head + 40):
        cell = ws.cell(r, 1)
        assert cell.value is None or cell.data_type == "s"


def test_page_setup_on_every_sheet(books):
    wb = openpyxl.load_workbook(books[0])
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        assert ws.sheet_properties.pageSetUpPr.fitToPage
    ws = wb["Frontier"]
    head, _ = _table(ws)
    assert ws.print_title_rows == f"${head}:${head}"
    assert ws.print_area.endswith(f"$Q${head + FRONTIER_PRINTED}")  # its first page only, as the note says
    assert any(
        f"Printed: the first {FRONTIER_PRINTED} of {len(_frontier().points)} points" in str(c.value) for c in ws["A"]
    )


C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"


def _chart(path):
    """The one chart's XML text and its series (title, smooth flag) as the file holds them."""
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(names) == 1
        xml = z.read(names[0]).decode()
    root = ElementTree.fromstring(xml)
    series = [(s.find(f"{C}tx/{C}v").text, s.find(f"{C}smooth").get("val")) for s in root.iter(f"{C}ser")]
    return root, xml, series


def test_the_chart_has_a_straight_line_per_configuration(books):
    f = _frontier()
    configs = [label for label, _, _ in charted_order(f.points)]
    assert sorted(configs) == sorted({f"{p.gpu} tp={p.tp} {p.dtype}" for p in f.points})
    root, xml, series = _chart(books[0])
    assert series == [(t, "0") for t in [*configs, "On the frontier"]]  # and the frontier's markers
    assert root.find(f".//{C}scatterStyle").get("val") == "lineMarker"
    assert [a.find(f"{C}scaling/{C}logBase") is not None for a in root.iter(f"{C}valAx")] == [False, True]
    assert not re.search(r'smooth val="(1|true)"', xml)


def test_more_configurations_than_the_chart_shows_are_named(tmp_path):
    f = llmxl.frontier("llama-3.1-8b", GPUS, dtype=["bf16", "fp8"], tp=[1, 2, 4, 8], gpu_hour_usd=3.0, **SHAPE)
    configs = [label for label, _, _ in charted_order(f.points)]
    assert len(configs) > MAX_SERIES
    on_it = {f"{p.gpu} tp={p.tp} {p.dtype}" for p in f.pareto}
    assert on_it <= set(configs[:MAX_SERIES])  # the lines the frontier's points lie on are drawn
    path = tmp_path / "many.xlsx"
    save_workbook(build_frontier_workbook(f), path, force=False)
    _, _, series = _chart(path)
    assert series == [(t, "0") for t in [*configs[:MAX_SERIES], "On the frontier"]]
    notes = [c.value for c in openpyxl.load_workbook(path)["Chart"]["A"] if c.value]
    assert (
        f"The chart shows the first {MAX_SERIES} of {len(configs)} configurations; not charted: "
        + "; ".join(configs[MAX_SERIES:])
        + "."
    ) in notes


def test_cli_writes_it_and_refuses_a_foreign_file(capsys, tmp_path):
    path = tmp_path / "frontier.xlsx"
    assert main([*CLI, "-o", str(path)]) == 0
    out = capsys.readouterr().out
    f = _frontier()
    configs = len({(p.gpu, p.tp, p.dtype) for p in f.points})
    assert f"wrote {path} ({len(f.points)} points of {configs} configurations)" in out
    ws = openpyxl.load_workbook(path, data_only=True)["Frontier"]
    head, cols = _table(ws)
    assert ws.cell(head + len(f.points), cols["USD per 1M blended (3:1)"]).value == pytest.approx(
        f.points[-1].usd_per_1m_blended, rel=1e-9
    )
    assert main([*CLI, "-o", str(path)]) == 0  # its own, unchanged: overwritten
    capsys.readouterr()
    foreign = tmp_path / "mine.xlsx"
    openpyxl.Workbook().save(foreign)
    before = foreign.read_bytes()
    assert main([*CLI, "-o", str(foreign)]) == 2
    assert "refusing to overwrite it" in capsys.readouterr().err and foreign.read_bytes() == before
