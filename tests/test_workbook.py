"""Workbooks with live formulas, recalculated by LibreOffice headless."""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np
import openpyxl
import pytest

import llmxl
from llmxl import catalog
from llmxl.cli import main
from llmxl.workbook.recalc import recalculate
from llmxl.workbook.reference import RESULTS, TABLE_HEADER_ROW, build_reference_workbook

from .conftest import PUBLISHED_COLUMNS, ROOT, published_rows, require_soffice

TEMPLATE = ROOT / "workbooks" / "llama2-70b-a100-reference.xlsx"
FIRST = TABLE_HEADER_ROW + 1


def recalc(path, tmp_path):
    require_soffice()
    return openpyxl.load_workbook(recalculate(path, tmp_path / "recalc"), data_only=True)


def table(wb, n):
    ws = wb["Reference"]
    return [[ws.cell(row=FIRST + i, column=c).value for c in range(1, 10)] for i in range(n)]


def test_committed_template_reproduces_the_published_table(tmp_path):
    rows = published_rows()
    got = table(recalc(TEMPLATE, tmp_path), len(rows))
    b, s, n = (np.array([float(r[k]) for r in rows]) for k in ("batch_size", "prompt_tokens", "completion_tokens"))
    e = llmxl.estimate(
        "llama-2-70b",
        "a100-sxm-80gb",
        tp=2,
        batch_size=b,
        prompt_tokens=s,
        completion_tokens=n,
        gpu_hour_usd=2.21,
        method="reference",
    )
    for i, row in enumerate(rows):
        assert got[i][8] == "ok"
        for j, (column, (attr, decimals)) in enumerate(PUBLISHED_COLUMNS.items()):
            value = got[i][3 + j]
            assert f"{value:.{decimals}f}" == row[column], (i, column)
            assert value == pytest.approx(getattr(e, attr)[i], rel=1e-9)


def test_edited_inputs_recalculate_to_the_engine(tmp_path):
    wb = openpyxl.load_workbook(TEMPLATE)
    ws = wb["Reference"]
    names = {
        n: wb.defined_names[n].attr_text.split("!")[1].replace("$", "")
        for n in (
            "llm_gpu",
            "llm_tp",
            "llm_flops_efficiency",
            "llm_hbm_efficiency",
            "llm_gpu_hour_usd",
            "llm_method",
            "llm_model",
        )
    }
    ws[names["llm_gpu"]] = "h100-sxm-80gb"
    ws[names["llm_tp"]] = 4
    ws[names["llm_flops_efficiency"]] = 0.55
    ws[names["llm_hbm_efficiency"]] = 0.8
    ws[names["llm_gpu_hour_usd"]] = 3.99
    ws[names["llm_method"]] = "standard"
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    rows = published_rows()
    got = table(recalc(edited, tmp_path), len(rows))
    for i, row in enumerate(rows):
        e = llmxl.estimate(
            "llama-2-70b",
            "h100-sxm-80gb",
            tp=4,
            flops_efficiency=0.55,
            hbm_efficiency=0.8,
            gpu_hour_usd=3.99,
            method="standard",
            batch_size=int(row["batch_size"]),
            prompt_tokens=int(row["prompt_tokens"]),
            completion_tokens=int(row["completion_tokens"]),
        )
        for j, (_, (attr, _)) in enumerate(PUBLISHED_COLUMNS.items()):
            assert got[i][3 + j] == pytest.approx(getattr(e, attr), rel=1e-9), (i, attr)


def test_blank_price_uses_the_catalog_and_a_missing_price_stays_blank(tmp_path):
    wb = openpyxl.load_workbook(TEMPLATE)
    ws = wb["Reference"]
    ref = lambda n: wb.defined_names[n].attr_text.split("!")[1].replace("$", "")  # noqa: E731
    ws[ref("llm_gpu_hour_usd")] = None
    ws[ref("llm_gpu")] = "a100-sxm-40gb"
    ws[ref("llm_tp")] = 4
    path = tmp_path / "noprice.xlsx"
    wb.save(path)
    got = table(recalc(path, tmp_path), 2)
    assert llmxl.get_gpu("a100-sxm-40gb").usd_per_hour is None
    assert got[0][8] == "ok" and got[0][6] in ("", None) and got[0][7] in ("", None)
    assert got[0][3] == pytest.approx(
        llmxl.estimate(
            "llama-2-70b", "a100-sxm-40gb", tp=4, prompt_tokens=128, completion_tokens=242, method="reference"
        ).ttft_s,
        rel=1e-9,
    )


def _cells(wb):
    out = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.value is not None:
                    out[(ws.title, c.coordinate)] = (c.value, c.data_type, c.number_format)
    return out


def test_committed_template_is_current(tmp_path):
    built = tmp_path / "built.xlsx"
    build_reference_workbook().save(built)
    assert _cells(openpyxl.load_workbook(TEMPLATE)) == _cells(openpyxl.load_workbook(built)), (
        "regenerate: llmxl workbook reference -o workbooks/llama2-70b-a100-reference.xlsx --force"
    )
    a, b = openpyxl.load_workbook(TEMPLATE), openpyxl.load_workbook(built)
    assert {n: d.attr_text for n, d in a.defined_names.items()} == {n: d.attr_text for n, d in b.defined_names.items()}


def test_template_structure():
    wb = openpyxl.load_workbook(TEMPLATE)
    assert wb.sheetnames == ["Reference", "Catalog", "Calc"]
    for name in (
        "llm_model",
        "llm_gpu",
        "llm_tp",
        "llm_dtype",
        "llm_flops_efficiency",
        "llm_hbm_efficiency",
        "llm_gpu_hour_usd",
        "llm_method",
    ):
        assert name in wb.defined_names
    ws = wb["Reference"]
    headers = [ws.cell(row=TABLE_HEADER_ROW, column=c).value for c in range(1, 9)]
    assert headers == [  # the published table's columns, with their units
        "Batch size [sequences]",
        "Prompt [tokens]",
        "Completion [tokens]",
        "Time to first token [s]",
        "Time for completion [s]",
        "Throughput [tokens/s]",
        "Price per 1k prompt tokens [USD]",
        "Price per 1k completion tokens [USD]",
    ]
    formats = [ws.cell(row=FIRST, column=4 + j).number_format for j in range(5)]
    assert formats == [fmt for _, _, fmt, _ in RESULTS]
    assert len(ws.data_validations.dataValidation) == 4
    formulas = [
        c.value
        for s in wb.worksheets
        for row in s.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.data_type == "f"
    ]
    assert formulas
    for f in formulas:
        assert not any(bad in f.upper() for bad in ("XLOOKUP", "LET(", "LAMBDA", "[#", "FILTER(", "http"))
    catalog_ids = {c.value for c in wb["Catalog"]["A"] if c.value}
    assert set(llmxl.models()) <= catalog_ids and set(llmxl.gpus()) <= catalog_ids
    names = zipfile.ZipFile(TEMPLATE).namelist()
    assert any(n.startswith("xl/charts/") for n in names)


def _report_args(tmp_path, *extra):
    return [
        "report",
        "--model",
        "llama-2-70b",
        "--gpu",
        "a100-sxm-80gb",
        "--gpu",
        "h100-sxm-80gb",
        "--tp",
        "2",
        "--batch",
        "1,2,4,8,16,128",
        "--prompt",
        "512,2048",
        "--completion",
        "512",
        "--gpu-hour-usd",
        "2.21",
        "--no-progress",
        *extra,
    ]


def test_report_recalculates_to_the_engine(tmp_path, capsys):
    out = tmp_path / "report.xlsx"
    js = tmp_path / "rows.json"
    assert main(_report_args(tmp_path, "-o", str(out), "--json", str(js))) == 0
    wb = recalc(out, tmp_path)
    ws = wb["Report"]
    rows = [r for r in ws.iter_rows(min_row=4, values_only=True) if r[0]]
    assert len(rows) == 2 * 6 * 2
    engine = json.loads(js.read_text())
    assert [(r["model"], r["gpu"], r["batch_size"], r["prompt_tokens"]) for r in engine] == [r[:4] for r in rows]
    not_fit = 0
    for got, e in zip(rows, engine, strict=True):
        if e["status"] != "ok":
            not_fit += 1
            # The cell and the engine name the same cause: the prompt pass or the KV cache.
            prompt = e["status"].startswith("prompt activations")
            assert e["status"].startswith("prompt activations" if prompt else "KV cache for batch_size")
            assert got[11].startswith("prompt activations need" if prompt else "KV cache needs") and got[5] in (
                "",
                None,
            )
            continue
        assert got[11] == "ok"
        for j, key in enumerate(
            ("ttft_s", "completion_time_s", "tokens_per_s", "usd_per_1k_prompt_tokens", "usd_per_1k_completion_tokens")
        ):
            assert got[5 + j] == pytest.approx(e[key], rel=1e-9), key
        assert got[10] == e["max_batch_size"]
    assert not_fit >= 2


def test_formula_injection_stays_text(tmp_path, monkeypatch):
    evil = '=HYPERLINK("http://example.com","x")'
    user = tmp_path / "catalog.toml"
    user.write_text(
        "[[models]]\n"
        f"id = '{evil}'\n"
        "model_type = 'llama'\nnum_hidden_layers = 2\nhidden_size = 64\nnum_attention_heads = 4\n"
        "intermediate_size = 128\nvocab_size = 100\nmax_position_embeddings = 512\n"
        "source = '+cmd|calc!A1'\n"
    )
    monkeypatch.setenv(catalog.ENV_VAR, str(user))
    catalog.reset()
    out = tmp_path / "ref.xlsx"
    csv_path = tmp_path / "rows.csv"
    assert main(["workbook", "reference", "-o", str(out)]) == 0
    assert (
        main(
            [
                "report",
                "--model",
                evil,
                "--gpu",
                "a100-sxm-80gb",
                "--prompt",
                "16",
                "--completion",
                "4",
                "--no-progress",
                "-o",
                str(tmp_path / "rep.xlsx"),
                "--csv",
                str(csv_path),
            ]
        )
        == 0
    )
    for path in (out, tmp_path / "rep.xlsx"):
        wb = openpyxl.load_workbook(path)
        cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value in (evil, "+cmd|calc!A1")]
        assert cells and all(c.data_type == "s" for c in cells)
        zf = zipfile.ZipFile(path)
        sheets = "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/worksheets/"))
        assert "<t>=HYPERLINK(" in sheets  # stored as text ...
        assert "<f>HYPERLINK" not in sheets and "<f>=HYPERLINK" not in sheets  # ... never as a formula
    assert "'" + evil in csv_path.read_text().replace('""', '"')
    wb = recalc(tmp_path / "rep.xlsx", tmp_path)
    assert wb["Report"]["A4"].value == evil and wb["Report"]["L4"].value == "ok"


def test_refuses_to_overwrite_what_llmxl_did_not_write(tmp_path, capsys):
    path = tmp_path / "budget.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "the CFO's numbers"
    wb.save(path)
    before = path.read_bytes()
    assert main(["workbook", "reference", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert "was not written by llmxl" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert path.read_bytes() == before
    other = tmp_path / "notes.csv"
    other.write_text("keep me")
    assert main(_report_args(tmp_path, "--csv", str(other))) == 2
    assert other.read_text() == "keep me"
    assert main(["workbook", "reference", "-o", str(path), "--force"]) == 0
    assert path.read_bytes() != before


def test_overwrites_its_own_file_but_not_after_an_edit(tmp_path, capsys):
    path = tmp_path / "ref.xlsx"
    assert main(["workbook", "reference", "-o", str(path)]) == 0
    assert main(["workbook", "reference", "-o", str(path)]) == 0  # untouched llmxl file: fine
    wb = openpyxl.load_workbook(path)
    wb["Reference"]["A2"] = "my notes"
    wb.save(path)
    capsys.readouterr()
    assert main(["workbook", "reference", "-o", str(path)]) == 2
    assert "changed since" in capsys.readouterr().err
    assert openpyxl.load_workbook(path)["Reference"]["A2"].value == "my notes"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_written_files_are_compressed_and_get_the_usual_permissions(tmp_path):
    import os

    path = tmp_path / "ref.xlsx"
    assert main(["workbook", "reference", "-o", str(path)]) == 0
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    path.chmod(0o640)
    assert main(["workbook", "reference", "-o", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o640  # overwriting keeps the file's mode


def test_engine_rows_name_the_reason(tmp_path):
    from llmxl.workbook.report import Sweep

    class Args:
        model, gpu = ["llama-2-70b"], ["a100-sxm-80gb", "l4"]
        tp, pp, batch, prompt, completion = "2", "1", "1,4096", "512", "512"
        dtype, method, flops_efficiency, hbm_efficiency, gpu_hour_usd = "fp16", "standard", "0.7", "0.9", None

    rows = Sweep(Args()).engine_rows()
    assert rows[0]["status"] == "ok" and math.isfinite(rows[0]["ttft_s"])
    assert rows[1]["status"].startswith("prompt activations") or rows[1]["status"].startswith("KV cache")
    assert rows[2]["status"].startswith("weights need") and rows[2]["ttft_s"] is None


def _series_count(path) -> list[int]:
    import re

    z = zipfile.ZipFile(path)
    return [len(re.findall(r"<ser>", z.read(n).decode())) for n in z.namelist() if n.startswith("xl/charts/chart")]


def test_every_workbook_prints_filters_and_charts_one_series_per_configuration(tmp_path, capsys):
    from llmxl.workbook.plan import write_plan_workbook

    report = tmp_path / "report.xlsx"
    assert main(_report_args(tmp_path, "-o", str(report))) == 0
    p = llmxl.plan("llama-3.1-8b", "l40s", prompt_tokens=500, completion_tokens=100, requests_per_s=2)
    plan_path = write_plan_workbook(tmp_path / "plan.xlsx", p)
    # the template: one line per run of the published rows with one request shape and batch increasing
    cases = [(TEMPLATE, "Reference", 7), (report, "Report", 2 * 2), (plan_path, "Plan", None)]
    for path, sheet, groups in cases:
        ws = openpyxl.load_workbook(path)[sheet]
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1, sheet
        if sheet != "Plan":
            assert ws.auto_filter.ref and ws.freeze_panes and ws.print_title_rows, sheet
            # one series per configuration (model × GPU × prompt × completion): a tokens/s chart, a price chart
            assert _series_count(path) == [groups, groups], sheet
    ws = openpyxl.load_workbook(report)["Report"]
    assert ws["F3"].value == "Time to first token [s]" and ws["I4"].number_format.startswith("$")
    assert ws.column_dimensions["M"].hidden and ws["M4"].value.endswith(",H4,NA())")


@pytest.mark.parametrize("lxml", ["True", "False"])
def test_own_files_are_recognised_whichever_xml_writer_openpyxl_uses(tmp_path, lxml):
    """openpyxl serialises through lxml when it is installed (namespaces then sit on the elements)."""
    import subprocess
    import sys

    pytest.importorskip("lxml")  # in the test extra: both writers are tested
    out = tmp_path / "ref.xlsx"
    env = {**os.environ, "OPENPYXL_LXML": lxml, "LLMXL_CATALOG": ""}
    cmd = [sys.executable, "-m", "llmxl.cli", "workbook", "reference", "-o", str(out)]
    for _ in range(2):  # the second run overwrites the first: llmxl wrote it and nobody changed it
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    probe = "import openpyxl.xml as x, sys; sys.exit(0 if x.LXML == (sys.argv[1] == 'True') else 1)"
    assert subprocess.run([sys.executable, "-c", probe, lxml], env=env).returncode == 0
