"""The procurement comparison workbook (llmxl/workbook/compare.py), recalculated by LibreOffice."""

from __future__ import annotations

import random
import zipfile

import openpyxl
import pytest

import llmxl
from llmxl import catalog
from llmxl.cli import main
from llmxl.workbook.compare import write_compare_workbook
from llmxl.workbook.recalc import recalculate_many

from .conftest import CHECK_GPU, require_soffice

MODEL = "llama-3.1-70b"
GPUS = ["h100-sxm-80gb", "b200"]
SHAPE = dict(prompt_tokens=1000, completion_tokens=300, dtype="fp8")
TRAFFIC = dict(requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5, itl_s_max=0.05)
OWNED_H100 = {"purchase_usd": 30000.0, "years": 5.0, "power_kw": 1.02, "pue": 1.3, "usd_per_kwh": 0.08,
              "other_usd_per_year": 4500.0}  # fmt: skip
OWNED_COLUMNS = dict(
    zip(("purchase_usd", "years", "power_kw", "pue", "usd_per_kwh", "other_usd_per_year"), "DEFGHI", strict=True)
)
COLUMNS = {"E": "tp", "F": "replicas", "G": "num_gpus", "H": "monthly_usd", "I": "usd_per_1m_blended",
           "J": "utilisation", "K": "peak_utilisation", "L": "concurrency"}  # fmt: skip


def _names(wb):
    out = {}
    for name, dn in wb.defined_names.items():
        sheet, ref = next(iter(dn.destinations))
        out[name] = (sheet, ref.replace("$", ""))
    return out


def _sheet_rows(ws):
    """Row number by the text in column A."""
    return {ws[f"A{r}"].value: r for r in range(1, ws.max_row + 1) if ws[f"A{r}"].value}


def _inputs(wb):
    """The inputs a copy holds: traffic, targets, discount, each GPU's prices and each API's prices."""
    names = _names(wb)

    def value(name):
        sheet, cell = names[name]
        return wb[sheet][cell].value

    ws = wb["Prices"]
    rows = _sheet_rows(ws)
    gpus = {}
    for g in GPUS:
        r = rows[g]
        costs = {k: ws[f"{c}{r}"].value for k, c in OWNED_COLUMNS.items()}
        given = ws[f"J{r}"].value
        gpus[g] = {"on_demand": ws[f"B{r}"].value, "owned": given if given is not None else costs}
    header = next(r for r in range(1, ws.max_row + 1) if ws[f"A{r}"].value == "API provider")
    apis = {}
    r = header + 1
    while ws[f"A{r}"].value:
        apis[ws[f"A{r}"].value] = (ws[f"B{r}"].value, ws[f"C{r}"].value)
        r += 1
    return {k: value(k) for k in ("plan_rps", "plan_peak_rps", "plan_ttft_max", "plan_itl_max", "plan_discount")} | {
        "gpus": gpus,
        "apis": apis,
    }


def _edit(src, out, edits):
    """A copy of ``src`` with named cells and (sheet, cell) cells edited."""
    wb = openpyxl.load_workbook(src)
    names = _names(wb)
    for key, value in edits.items():
        sheet, cell = names[key] if isinstance(key, str) else key
        wb[sheet][cell].value = value
    wb.save(out)
    return out


def _compare_rows(wb):
    """(GPU, basis) -> the Compare sheet's row as PlanRow fields, and the break-even cells by API."""
    ws = wb["Compare"]
    header = next(r for r in range(1, 60) if ws[f"A{r}"].value == "GPU")
    rows = {}
    r = header + 1
    while ws[f"A{r}"].value:
        rows[(ws[f"A{r}"].value, ws[f"B{r}"].value)] = {f: ws[f"{c}{r}"].value for c, f in COLUMNS.items()}
        r += 1
    b_header = next(q for q in range(r, r + 40) if ws[f"A{q}"].value == "GPU")
    apis = [ws.cell(b_header, c).value.removeprefix("vs ") for c in range(4, ws.max_column + 1)
            if isinstance(ws.cell(b_header, c).value, str) and ws.cell(b_header, c).value.startswith("vs ")]  # fmt: skip
    breakeven = {}
    for q in range(b_header + 2, b_header + 2 + len(rows)):
        key = (ws[f"A{q}"].value, ws[f"B{q}"].value)
        breakeven[key] = {api: ws.cell(q, 4 + k).value for k, api in enumerate(apis)}
    return rows, breakeven


def _basis_options(inputs, basis, gpus=GPUS):
    """plan()'s price options for a basis, for ``gpus``."""
    prices = {g: inputs["gpus"][g]["on_demand"] for g in gpus}
    if basis == "on demand":
        return {"gpu_hour_usd": prices}
    if basis == "reserved":
        return {"gpu_hour_usd": prices, "reservation_discount": inputs["plan_discount"]}
    return {"owned": {g: inputs["gpus"][g]["owned"] for g in gpus}}


def _assert_equal_to_plan(wb, where=""):
    """Every Compare row equals plan()'s cheapest row of its GPU under its basis; every break-even breakeven()'s."""
    inputs = _inputs(wb)
    rows, breakevens = _compare_rows(wb)
    assert len(rows) == len(GPUS) * 3, where
    targets = dict(ttft_s_max=inputs["plan_ttft_max"], itl_s_max=inputs["plan_itl_max"])
    factor = inputs["plan_peak_rps"] / inputs["plan_rps"]
    cheapest = []
    for basis in ("on demand", "reserved", "owned"):
        options = {**SHAPE, **targets, **_basis_options(inputs, basis)}
        q = llmxl.plan(MODEL, GPUS, requests_per_s=inputs["plan_rps"], peak_requests_per_s=inputs["plan_peak_rps"],
                       **options)  # fmt: skip
        for g in GPUS:
            got, key = rows[(g, basis)], (where, g, basis)
            want = next((r for r in q.rows if r.gpu == g and r.reason is None), None)
            if want is None:
                assert got["tp"] is None and got["monthly_usd"].startswith("no tp meets"), key
            else:
                cheapest.append(want.monthly_usd)
                for field, value in got.items():
                    assert value == pytest.approx(getattr(want, field), rel=1e-9), (key, field)
            for api, cell in breakevens[(g, basis)].items():
                one = {**SHAPE, **targets, **_basis_options(inputs, basis, [g])}
                b = llmxl.breakeven(MODEL, g, api=inputs["apis"][api], peak_factor=factor, **one)
                if want is None:
                    assert cell == "cannot serve", (key, api)
                elif b.requests_per_s is None:
                    assert cell == "never", (key, api, cell)
                else:
                    assert cell == pytest.approx(b.requests_per_s, rel=1e-9), (key, api)
    names = _names(wb)
    best = wb["Compare"][names["cmp_best_monthly"][1]].value
    if cheapest:
        assert best == pytest.approx(min(cheapest), rel=1e-9), where
    else:
        assert best in ("", None), where


def _random_edits(rng, prices_rows, api_rows):
    rps = 10 ** rng.uniform(-1, 1.7)
    edits = {"plan_rps": rps, "plan_peak_rps": rps * rng.choice([1, 1.5, 3, 3.7])}
    # targets: none, within reach of some configurations, or beyond every one (a row that cannot serve)
    edits["plan_ttft_max"] = rng.choices([None, 10 ** rng.uniform(-1, 0.3), 0.001], [3, 6, 1])[0]
    edits["plan_itl_max"] = rng.choices([None, 10 ** rng.uniform(-1.6, -1), 0.0003], [3, 6, 1])[0]
    edits["plan_discount"] = round(rng.uniform(0, 0.6), 3)
    for g, r in prices_rows.items():
        edits[("Prices", f"B{r}")] = round(rng.uniform(1, 9), 2)
        if g == "b200":
            edits[("Prices", f"J{r}")] = round(rng.uniform(0.8, 3), 3)
        else:
            for k, lo, hi in (("D", 20000, 45000), ("E", 3, 6), ("F", 0.8, 1.6), ("G", 1.1, 1.6), ("H", 0.05, 0.2)):
                edits[("Prices", f"{k}{r}")] = round(rng.uniform(lo, hi), 3)
            edits[("Prices", f"I{r}")] = rng.choice([0, 4500])
    for r in api_rows:
        edits[("Prices", f"B{r}")] = round(rng.uniform(0.1, 3), 2)
        edits[("Prices", f"C{r}")] = round(rng.uniform(0.1, 3), 2)
    return edits


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """The workbook as built, ten randomly edited copies and one whose prompt no longer fits the Load sheet,
    recalculated in one LibreOffice run."""
    require_soffice()
    tmp = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(llmxl.catalog.ENV_VAR, "")
        llmxl.catalog.reset()
        path = write_compare_workbook(tmp / "compare.xlsx", MODEL, GPUS, **SHAPE, **TRAFFIC,
                                      owned={"h100-sxm-80gb": OWNED_H100, "b200": 2.1})  # fmt: skip
        wb = openpyxl.load_workbook(path)
        prices = wb["Prices"]
        rows = _sheet_rows(prices)
        price_rows = {g: rows[g] for g in GPUS}
        header = next(r for r in range(1, prices.max_row + 1) if prices[f"A{r}"].value == "API provider")
        api_rows = list(range(header + 1, header + 1 + len(llmxl.api_prices(MODEL))))
        rng = random.Random(20261207)
        copies = [_edit(path, tmp / f"edit{i}.xlsx", _random_edits(rng, price_rows, api_rows)) for i in range(10)]
        stale = _edit(path, tmp / "stale.xlsx", {"plan_prompt": 2000})
        out = recalculate_many([path, *copies, stale], tmp / "lo")
        books = [openpyxl.load_workbook(f, data_only=True) for f in out]
        yield books[0], books[1:-1], books[-1]
    llmxl.catalog.reset()


def test_the_built_workbook_equals_plan_and_breakeven(recalculated):
    wb, _, _ = recalculated
    _assert_equal_to_plan(wb, "as built")
    rows, breakevens = _compare_rows(wb)
    assert set(next(iter(breakevens.values()))) == {p.provider for p in llmxl.api_prices(MODEL)}  # every provider
    reserved = rows[("b200", "reserved")]
    assert reserved["monthly_usd"] == pytest.approx(reserved["num_gpus"] * 6.69 * 0.7 * 730)  # 0.3 off on demand
    names = _names(wb)
    # the cheapest row of the sheet (equal to plan's, above), named by GPU, tp and price basis
    (gpu, basis), cheapest = min(((k, r) for k, r in rows.items() if isinstance(r["monthly_usd"], (int, float))),
                                 key=lambda kr: (kr[1]["monthly_usd"], kr[1]["usd_per_1m_blended"]))  # fmt: skip
    best = wb["Compare"][names["cmp_best"][1]].value
    assert best.startswith(f"{gpu} tp={cheapest['tp']} ") and best.endswith(f", {basis}"), best
    assert wb["Compare"][names["plan_stale"][1]].value in ("", None)


def test_ten_edited_copies_equal_plan_and_breakeven(recalculated):
    _, copies, _ = recalculated
    for i, wb in enumerate(copies):
        _assert_equal_to_plan(wb, f"copy {i}")


def test_an_edited_shape_asks_for_a_rebuild(recalculated):
    _, _, wb = recalculated
    rows, breakevens = _compare_rows(wb)
    message = wb["Compare"][_names(wb)["plan_stale"][1]].value
    assert message.startswith("the Load sheet was computed for 1,000 prompt")
    assert "llmxl workbook compare --model llama-3.1-70b --gpu h100-sxm-80gb --gpu b200 --prompt 2000" in message
    assert all(row["monthly_usd"] == message for row in rows.values())
    assert all(cell == message for row in breakevens.values() for cell in row.values())


def test_the_cli_writes_it_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "c.xlsx"
    base = ["workbook", "compare", "--model", MODEL, "--gpu", "h100-sxm-80gb", "--prompt", "1000", "--completion",
            "300", "--rps", "5", "--dtype", "fp8"]  # fmt: skip
    assert main([*base, "--api", "together", "--api", "0.5,0.6", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    wb = openpyxl.load_workbook(out)
    assert _names(wb)["plan_discount"] and wb["Compare"][_names(wb)["plan_discount"][1]].value == 0.3
    ws = wb["Prices"]
    assert [ws[f"A{r}"].value for r in range(1, ws.max_row + 1) if ws[f"A{r}"].value in ("together", "given 0.5 / 0.6")]
    owned = next(r for r in range(1, ws.max_row + 1) if ws[f"A{r}"].value == "h100-sxm-80gb")
    assert ws[f"D{owned}"].value is None  # no owned costs of llmxl's own: the owned rows wait for them
    for bad, field in ((["--discount", "1"], "reservation_discount"), (["--api", "1,2,3"], "--api"),
                       (["--ttft", "-1"], "ttft_s_max"), (["--owned", "30000,5"], "--owned")):  # fmt: skip
        assert main([*base, *bad, "-o", str(tmp_path / "bad.xlsx")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("llmxl: error: ") and field.lstrip("-") in err, err
    assert not (tmp_path / "bad.xlsx").exists()
    (tmp_path / "mine.xlsx").write_text("not a workbook")
    assert main([*base, "-o", str(tmp_path / "mine.xlsx")]) == 2
    assert "not a workbook written by llmxl" in capsys.readouterr().err


def test_a_provider_with_no_price_for_the_model_is_named(tmp_path, capsys):
    argv = ["workbook", "compare", "--model", MODEL, "--gpu", "b200", "--prompt", "1000", "--completion", "300",
            "--rps", "5", "--api", "groq", "-o", str(tmp_path / "c.xlsx")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'groq' has no price for llama-3.1-70b" in err and "together" in err


def test_catalog_strings_stay_text(tmp_path, monkeypatch):
    evil = '=HYPERLINK("http://example.com","x")'
    user = tmp_path / "catalog.toml"
    user.write_text(CHECK_GPU + f"usd_per_hour = 3.99\nusd_per_hour_source = '{evil}'\n")
    monkeypatch.setenv(catalog.ENV_VAR, str(user))
    catalog.reset()
    path = write_compare_workbook(tmp_path / "c.xlsx", MODEL, ["h100-check"], **SHAPE, **TRAFFIC,
                                  apis=[("0.88", "0.88")])  # fmt: skip
    wb = openpyxl.load_workbook(path)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and "HYPERLINK" in c.value]  # fmt: skip
    assert cells and all(c.data_type == "s" for c in cells)
    zf = zipfile.ZipFile(path)
    sheets = "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" in sheets and "<f>HYPERLINK" not in sheets and "<f>=HYPERLINK" not in sheets


def test_every_sheet_has_a_page_setup(tmp_path):
    path = write_compare_workbook(tmp_path / "c.xlsx", MODEL, GPUS, **SHAPE, **TRAFFIC)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Compare", "Prices", "Configurations", "Load"]
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
