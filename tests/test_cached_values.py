"""Every formula cell of a generated workbook carries its value (llmxl/workbook/evaluate.py): equal to the
engine, and to LibreOffice's recalculation, so a file opened without recalculation shows the right numbers."""

from __future__ import annotations

import math
import re
import warnings
import zipfile

import numpy as np
import openpyxl
import pytest
from openpyxl import Workbook

import llmxl
from llmxl.cli import main
from llmxl.outputs import written_by_llmxl_unchanged
from llmxl.workbook.build import put, put_formula
from llmxl.workbook.evaluate import number_text
from llmxl.workbook.files import save_workbook
from llmxl.workbook.recalc import recalculate
from llmxl.workbook.reference import TABLE_HEADER_ROW

from .conftest import PUBLISHED_COLUMNS, ROOT, published_rows, require_soffice

TEMPLATE = ROOT / "workbooks" / "llama2-70b-a100-reference.xlsx"

# Formulas whose value Excel and LibreOffice agree on (over the cells of _semantics_book).
AGREED = [
    "=ROUND(2.675,2)", "=ROUND(-2.5,0)", "=ROUND(0.5,0)", "=ROUND(1.005,2)", "=ROUNDUP(2.1,0)", "=ROUNDUP(-2.1,0)",
    "=ROUND(1234.5678,-2)", "=ROUNDUP(3,0)", "=ROUND(70/2-0.5,0)",
    '="x"&0.1+0.2', '="x"&1/3', '="x"&1E-05', '="x"&0.0005', '="x"&123456789012', '="x"&-0.0005', '="x"&2/3*1000',
    '="x"&1.5E-08', '="x"&12345.678901234567', '="x"&0.1234567890123456',
    "=1/0", '=IFERROR(1/0,"e")', "=NA()", '="a"+1', '="2"+1', "=POWER(-8,0.5)", "=POWER(2,10)", "=LN(10)",
    '=IF("abc",1,2)', "=IF(A1,1,2)", "=A1", '=A1=""', "=A1=0", '=IF(1,"",5)', "=IF(0,1)",
    "=MAX(B1:B6)", "=SUM(B1:B6)", "=COUNT(B1:B6)", "=MIN(B1:B6)", "=MAX(C1:C3)", "=MAX(1/0,2)", "=COUNT(1/0,B1:B6)",
    "=0.1+0.2=0.3", '="ABC"="abc"', '=1<"a"', '="b">"A"', "=1E+300*1E+300",
    "=SUMPRODUCT(MAX((B1:B6>2)*B1:B6))", "=SUMPRODUCT(MIN(B1:B6+(B1:B6<=3)*1E+300))",
    '=MATCH("a~*b",D1:D5,0)', '=MATCH("A?C",D1:D5,0)', '=MATCH("z*",D1:D5,0)', '=MATCH("nope",D1:D5,0)',
    "=MATCH(4,B1:B6,0)", '=INDEX(D1:D5,MATCH("ABC",D1:D5,0))', "=INDEX(B1:B6,2)", "=INDEX(B1:B6,0)",
    '=SUBSTITUTE(SUBSTITUTE(SUBSTITUTE("a*b?c~","~","~~"),"*","~*"),"?","~?")', '=SUBSTITUTE(12.5,".",",")',
    "=AND(1,2>1)", "=OR(0,1>2)", "=NOT(0)", "=AND(B1:B6)", "=ISNUMBER(B2)", "=ISNUMBER(B1)", "=ISNUMBER(1/0)",
    "=-2^2", "=2^3^2", "=10-2-3", "=2*3+4*5", "=-B2",
]  # fmt: skip
# Where LibreOffice departs from Excel, the cached value is Excel's (Excel's function reference says so).
EXCEL_ONLY = {
    "=LN(0)": "#NUM!",  # LibreOffice: #VALUE!
    "=POWER(0,-1)": "#DIV/0!",  # LibreOffice: #NUM!
    '=MAX("3",2)': 3,  # numbers typed as text in the argument list count; LibreOffice: #VALUE!
    "=TRUE>5": True,  # logical values sort after numbers; LibreOffice compares TRUE as 1
    "=INDEX(B1:B6,7)": "#REF!",  # LibreOffice: #VALUE!
    '="x"&TRUE': "xTRUE",  # LibreOffice: x1
    '="x"&1E+20': "x1E+20",  # LibreOffice: x1E+020
}


def _semantics_book(formulas, path):
    wb = Workbook()
    ws = wb.active
    ws.title = "S"
    for r, v in enumerate(["text", 4, 1, "7", 3, None], start=1):
        put(ws, r, 2, v)
    for r, v in enumerate([True, 2.5, "x"], start=1):
        put(ws, r, 3, v)
    for r, v in enumerate(["axb", "a*b", "abc", "zeta", 5], start=1):
        put(ws, r, 4, v)
    for i, f in enumerate(formulas):
        put(ws, i + 1, 6, f)  # the formula as text beside it, for a reader of the file
        put_formula(ws, i + 1, 7, f)
    save_workbook(wb, path, force=True)
    return [openpyxl.load_workbook(path, data_only=True)["S"].cell(i + 1, 7).value for i in range(len(formulas))]


def _recalc(path, out):
    require_soffice()
    return recalculate(path, out)


def _same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)
    return a == b


def test_the_evaluator_computes_as_libreoffice_does(tmp_path):
    path = tmp_path / "semantics.xlsx"
    cached = _semantics_book(AGREED, path)
    lo = openpyxl.load_workbook(_recalc(path, tmp_path / "recalc"), data_only=True)["S"]
    differ = [
        (f, a, lo.cell(i + 1, 7).value)
        for i, (f, a) in enumerate(zip(AGREED, cached, strict=True))
        if not _same(a, lo.cell(i + 1, 7).value)
    ]
    assert differ == []


def test_the_evaluator_follows_excel_where_libreoffice_departs_from_it(tmp_path):
    cached = _semantics_book(list(EXCEL_ONLY), tmp_path / "excel.xlsx")
    assert dict(zip(EXCEL_ONLY, cached, strict=True)) == EXCEL_ONLY


def test_numbers_joined_to_text_read_as_in_the_general_format():
    assert [number_text(x) for x in (3.0, -0.0, 0.1 + 0.2, 1 / 3, 1e-5, 2.5e-12, 1e15, 123456789012345.0)] == [
        "3", "0", "0.3", "0.333333333333333", "0.00001", "2.5E-12", "1E+15", "123456789012345",
    ]  # fmt: skip


def _workbooks(tmp_path, capsys):
    """The reference template, a report with scenarios that do not fit (both method families), a plan."""
    out = {"reference": TEMPLATE}
    report = tmp_path / "report.xlsx"
    main(["report", "--model", "llama-2-70b,qwen2.5-7b,deepseek-v3,mixtral-8x7b", "--gpu", "a100-sxm-80gb,h100-sxm-80gb",
          "--batch", "1,8,64,512", "--prompt", "512,4096", "--completion", "128", "--tp", "4", "--dtype", "fp8",
          "-o", str(report)])  # fmt: skip
    out["report"] = report
    standard = tmp_path / "standard.xlsx"
    main(["report", "--model", "llama-2-70b,llama-3-8b", "--gpu", "a100-sxm-80gb,l4", "--batch", "1,64,1024",
          "--prompt", "512", "--completion", "128", "--tp", "2", "--method", "standard", "-o", str(standard)])  # fmt: skip
    out["standard"] = standard
    plan = tmp_path / "plan.xlsx"
    main(["plan", "--model", "llama-3.1-70b", "--gpu", "a100-sxm-80gb,h100-sxm-80gb,l40s", "--prompt", "1000",
          "--completion", "300", "--rps", "5", "--peak-factor", "3", "--ttft", "1", "--itl", "0.05", "--api",
          "deepinfra", "-o", str(plan)])  # fmt: skip
    out["plan"] = plan
    capsys.readouterr()
    return out


def _formula_cells(path):
    wb = openpyxl.load_workbook(path)
    return [
        (ws.title, c.coordinate) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"
    ]


def test_every_formula_cell_carries_a_value(tmp_path, capsys):
    for name, path in _workbooks(tmp_path, capsys).items():
        with zipfile.ZipFile(path) as zf:
            sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
            for part in sheets:
                xml = zf.read(part).decode()
                cells = re.findall(r"<c [^>]*>(?:(?!</c>).)*<f>(?:(?!</c>).)*</c>", xml)
                missing = [c[:80] for c in cells if "<v>" not in c or ("<v></v>" in c and 't="str"' not in c)]
                assert missing == [], (name, part)
        assert written_by_llmxl_unchanged(path)[0], name


def test_cached_values_equal_libreoffice_recalculation_for_every_formula_cell(tmp_path, capsys):
    for name, path in _workbooks(tmp_path, capsys).items():
        cached = openpyxl.load_workbook(path, data_only=True)
        lo = openpyxl.load_workbook(_recalc(path, tmp_path / name), data_only=True)
        cells = _formula_cells(path)
        assert len(cells) > 500, name
        differ = [
            (s, c, cached[s][c].value, lo[s][c].value)
            for s, c in cells
            if not _same(cached[s][c].value, lo[s][c].value)
        ]
        assert differ == [], (name, differ[:5])


def test_the_committed_template_shows_the_published_table_without_recalculation():
    rows = published_rows()
    ws = openpyxl.load_workbook(TEMPLATE, data_only=True)["Reference"]
    b, s, n = (np.array([float(r[k]) for r in rows]) for k in ("batch_size", "prompt_tokens", "completion_tokens"))
    e = llmxl.estimate("llama-2-70b", "a100-sxm-80gb", tp=2, batch_size=b, prompt_tokens=s, completion_tokens=n,
                       gpu_hour_usd=2.21, method="reference")  # fmt: skip
    for i, row in enumerate(rows):
        r = TABLE_HEADER_ROW + 1 + i
        assert ws.cell(r, 9).value == "ok"
        for j, (column, (attr, decimals)) in enumerate(PUBLISHED_COLUMNS.items()):
            value = ws.cell(r, 4 + j).value
            assert f"{value:.{decimals}f}" == row[column], (i, column)
            assert value == pytest.approx(getattr(e, attr)[i], rel=1e-12)


def test_a_report_shows_the_engine_rows_without_recalculation(tmp_path, capsys):
    path = _workbooks(tmp_path, capsys)["report"]
    main(["report", "--model", "llama-2-70b,qwen2.5-7b,deepseek-v3,mixtral-8x7b", "--gpu", "a100-sxm-80gb,h100-sxm-80gb",
          "--batch", "1,8,64,512", "--prompt", "512,4096", "--completion", "128", "--tp", "4", "--dtype", "fp8",
          "--json", str(tmp_path / "rows.json")])  # fmt: skip
    import json

    rows = json.loads((tmp_path / "rows.json").read_text())
    ws = openpyxl.load_workbook(path, data_only=True)["Report"]
    keys = ["ttft_s", "completion_time_s", "tokens_per_s", "usd_per_1k_prompt_tokens", "usd_per_1k_completion_tokens",
            "max_batch_size", "status"]  # fmt: skip
    assert any(r["status"] != "ok" for r in rows) and any(r["status"] == "ok" for r in rows)
    for i, row in enumerate(rows):
        got = [ws.cell(4 + i, 6 + j).value for j in range(len(keys))]
        assert (got[-1] == "ok") == (row["status"] == "ok"), i  # the sheet words its reasons in its own formulas
        for key, value in zip(keys[:-1], got[:-1], strict=True):
            if row["status"] == "ok":
                assert value == pytest.approx(row[key], rel=1e-9), (i, key)
            else:
                assert value is None, (i, key)  # "" in the sheet: the row says why instead


def test_a_formula_the_evaluator_does_not_know_leaves_the_file_to_recalculate(tmp_path):
    wb = Workbook()
    ws = wb.active
    put(ws, 1, 1, 2)
    put_formula(ws, 1, 2, "=A1*2")
    put_formula(ws, 1, 3, "=VLOOKUP(A1,A1:B1,2,FALSE)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_workbook(wb, tmp_path / "unknown.xlsx", force=False)
    assert any("without cached values" in str(w.message) and "VLOOKUP" in str(w.message) for w in caught)
    values = openpyxl.load_workbook(tmp_path / "unknown.xlsx", data_only=True).active
    assert values["B1"].value is None and values["C1"].value is None  # never a guess
    assert openpyxl.load_workbook(tmp_path / "unknown.xlsx").active["C1"].value.startswith("=VLOOKUP")


def test_a_fault_in_the_evaluator_still_writes_the_file(tmp_path, monkeypatch):
    import llmxl.workbook.evaluate as evaluate

    def broken(wb):
        raise IndexError("a bug")

    monkeypatch.setattr(evaluate, "evaluate", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["workbook", "reference", "-o", str(tmp_path / "ref.xlsx")])
    assert any("IndexError: a bug" in str(w.message) for w in caught)
    ws = openpyxl.load_workbook(tmp_path / "ref.xlsx")["Reference"]
    assert str(ws.cell(TABLE_HEADER_ROW + 1, 4).value).startswith("=IF(")  # the formulas are all there
    assert written_by_llmxl_unchanged(tmp_path / "ref.xlsx")[0]


def test_a_sheet_with_a_hyperlink_or_a_comment_is_left_to_openpyxl_and_keeps_them(tmp_path):
    from openpyxl.comments import Comment

    wb = Workbook()
    ws = wb.active
    put(ws, 1, 1, 3)
    put_formula(ws, 1, 2, "=A1*2")
    ws["C1"].hyperlink = "https://example.com/"
    ws["D1"].comment = Comment("a note", "llmxl")
    other = wb.create_sheet("Other")
    put_formula(other, 1, 1, "=Sheet!A1+1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_workbook(wb, tmp_path / "links.xlsx", force=False)
    assert any("Sheet written without cached values" in str(w.message) for w in caught)
    back = openpyxl.load_workbook(tmp_path / "links.xlsx")
    assert back["Sheet"]["C1"].hyperlink.target == "https://example.com/"
    assert back["Sheet"]["D1"].comment.text == "a note"
    assert openpyxl.load_workbook(tmp_path / "links.xlsx", data_only=True)["Other"]["A1"].value == 4
