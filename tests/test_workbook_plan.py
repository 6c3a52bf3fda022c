"""The capacity-plan workbook (llmxl/workbook/plan.py), recalculated by LibreOffice."""

from __future__ import annotations

import random

import openpyxl
import pytest

import llmxl
from llmxl.cli import main
from llmxl.errors import InvalidInputError
from llmxl.resolve import resolve_model
from llmxl.workbook import plan as plan_workbook
from llmxl.workbook.plan import write_plan_workbook
from llmxl.workbook.recalc import recalculate_many

from .conftest import CHECK_GPU as CONFTEST_CHECK_GPU
from .conftest import require_soffice

CHECK_GPU = CONFTEST_CHECK_GPU + "usd_per_hour = 3.99\n"
COLUMNS = {  # Plan sheet column -> PlanRow field
    "A": "gpu", "B": "tp", "D": "dtype", "E": "max_concurrency", "G": "capacity_requests_per_s",
    "H": "concurrency", "I": "requests_per_s", "J": "ttft_s", "K": "itl_s", "L": "replicas", "M": "num_gpus",
    "N": "utilisation", "O": "peak_utilisation", "P": "gpu_hour_usd", "Q": "monthly_usd", "R": "prompt_share",
    "S": "usd_per_1m_prompt_tokens", "T": "usd_per_1m_completion_tokens", "U": "usd_per_1m_blended", "V": "reason",
}  # fmt: skip
NUMBERS = [f for f in COLUMNS.values() if f not in ("gpu", "tp", "dtype", "reason")]
EXAMPLE = dict(prompt_tokens=1000, completion_tokens=300, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
               itl_s_max=0.05)  # fmt: skip
GPUS = ["h100-sxm-80gb", "b200"]


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


def _value(wb, names, name):
    sheet, cell = names[name]
    return wb[sheet][cell].value


def _rows(wb):
    """The Plan sheet's candidate rows (PlanRow fields, "" and None alike as None) and its break-even column."""
    ws = wb["Plan"]
    header = next(r for r in range(1, 80) if ws[f"A{r}"].value == "GPU")
    rows = []
    r = header + 1
    while ws[f"A{r}"].value:
        row = {field: ws[f"{col}{r}"].value for col, field in COLUMNS.items()} | {"breakeven": ws[f"W{r}"].value}
        rows.append({k: (None if v == "" else v) for k, v in row.items()})
        r += 1
    return rows


def _edit(path, out, edits):
    wb = openpyxl.load_workbook(path)
    names = _names(wb)
    for name, value in edits.items():
        sheet, cell = names[name]
        wb[sheet][cell].value = value
    wb.save(out)
    return out


def _assert_rows_equal(rows, q, where=""):
    """Every workbook row equals plan()'s row of the same configuration, to 1e-9."""
    assert len(rows) == len(q.rows), where
    for row in rows:
        want = next(r for r in q.rows if (r.gpu, r.tp, r.dtype) == (row["gpu"], row["tp"], row["dtype"]))
        key = (where, row["gpu"], row["tp"])
        assert row["reason"] == want.reason, key
        if want.concurrency is None and want.ttft_s is not None:  # even B = 1 misses a target
            assert row["concurrency"] == 0, key
        for field in NUMBERS:
            got, exp = row[field], getattr(want, field)
            if field == "concurrency" and exp is None and got == 0:
                continue
            if exp is None:
                assert got is None, (key, field, got)
            else:
                assert got == pytest.approx(exp, rel=1e-9), (key, field)


def _assert_summary_equal(wb, names, q, b):
    best = q.best
    if best is None:
        assert _value(wb, names, "plan_best") == "none meets the targets"
    else:
        assert _value(wb, names, "plan_best") == f"{best.gpu} tp={best.tp} {best.dtype}"
        assert _value(wb, names, "plan_best_gpus") == best.num_gpus
        assert _value(wb, names, "plan_best_monthly") == pytest.approx(best.monthly_usd, rel=1e-9)
        assert _value(wb, names, "plan_best_blended") == pytest.approx(best.usd_per_1m_blended, rel=1e-9)
    got = _value(wb, names, "plan_breakeven")
    if b.requests_per_s is None:
        assert isinstance(got, str) and got.startswith("never" if best is not None else "none"), got
    else:
        assert got == pytest.approx(b.requests_per_s, rel=1e-9)


def test_the_planning_worked_check_through_the_workbook(tmp_path, check_catalog):
    """docs/methodology.md, "Worked check (planning)", after LibreOffice recalculates; at peak factors 3 and 2."""
    require_soffice()
    args = dict(tp=2, dtype="fp8", prompt_tokens=1000, completion_tokens=300, ttft_s_max=0.5, itl_s_max=0.05)
    p = llmxl.plan("llama-3.1-70b", "h100-check", requests_per_s=5, peak_requests_per_s=15, **args)
    path = write_plan_workbook(tmp_path / "plan.xlsx", p, api=("", 0.88, 0.88))
    twice = _edit(path, tmp_path / "twice.xlsx", {"plan_peak_rps": 10})
    wb, wb2 = (openpyxl.load_workbook(f, data_only=True) for f in recalculate_many([path, twice], tmp_path / "lo"))
    names = _names(wb)
    (row,) = _rows(wb)
    assert (row["concurrency"], row["max_concurrency"], row["replicas"], row["num_gpus"]) == (31, 328, 4, 8)
    for field, want in (("requests_per_s", 4.62575), ("capacity_requests_per_s", 12.2157), ("utilisation", 0.102328),
                        ("peak_utilisation", 0.306983), ("monthly_usd", 23301.6), ("prompt_share", 0.229944),
                        ("usd_per_1m_prompt_tokens", 0.407767), ("usd_per_1m_completion_tokens", 4.55189),
                        ("usd_per_1m_blended", 1.4438), ("itl_s", 0.0172596), ("ttft_s", 0.1317)):  # fmt: skip
        assert row[field] == pytest.approx(want, rel=1e-4), field  # as the methodology prints them
    _assert_rows_equal([row], p)
    assert row["breakeven"] == "never"  # at a peak three times the average
    assert _value(wb, names, "plan_api_monthly") == pytest.approx(15032.16)
    assert _value(wb, names, "plan_stale") in ("", None)
    # The B* column reads the Load sheet: 32 is the first concurrency that misses (p90 ITL a + Δ1 = 0.0668564 s)
    load = wb["Load"]
    assert [load[f"{c}36"].value for c in "BI"] == [31, 1] and [load[f"{c}37"].value for c in "BI"] == [32, 0]
    assert load["E37"].value == pytest.approx(0.0668564, abs=5e-8)
    # at a peak twice the average: the break-even of the check, 5,825.4 / 3,006.432 requests/s
    (row2,) = _rows(wb2)
    assert row2["breakeven"] == pytest.approx(5825.4 / 3006.432, rel=1e-9)
    b = llmxl.breakeven("llama-3.1-70b", "h100-check", api=(0.88, 0.88), peak_factor=2, **args)
    assert row2["breakeven"] == pytest.approx(b.requests_per_s, rel=1e-9)


def _random_edits(rng, n_copies):
    """Edits of traffic, peak, targets (blank included), price basis, owned costs, discount and API prices."""
    copies = []
    for _ in range(n_copies):
        rps = 10 ** rng.uniform(-1, 1.7)
        edits = {"plan_rps": rps, "plan_peak_rps": rps * rng.choice([1, 1.5, 2, 3.7])}
        edits["plan_ttft_max"] = rng.choice([None, 10 ** rng.uniform(-1.3, 0.3), 0.001])
        edits["plan_itl_max"] = rng.choice([None, 10 ** rng.uniform(-1.8, -1), 0.0003])
        basis = rng.choice(["catalog", "rented", "owned"])
        edits["plan_discount"] = rng.choice([0, round(rng.uniform(0, 0.6), 3)])
        edits["plan_owned"] = 1 if basis == "owned" else 0
        edits["plan_gpu_hour_usd"] = round(rng.uniform(1, 9), 2) if basis == "rented" else None
        if basis == "owned":
            edits |= {"plan_purchase_usd": rng.choice([25000, 40000]), "plan_years": rng.choice([3, 4, 5]),
                      "plan_power_kw": round(rng.uniform(0.8, 1.6), 2), "plan_pue": round(rng.uniform(1.1, 1.6), 2),
                      "plan_usd_per_kwh": round(rng.uniform(0.05, 0.2), 3), "plan_other_usd": rng.choice([0, 4500])}  # fmt: skip
        edits["plan_api_prompt"] = round(rng.uniform(0.1, 3), 2)
        edits["plan_api_completion"] = round(rng.uniform(0.1, 3), 2)
        copies.append(edits)
    return copies


def _plan_of(edits, **extra):
    """plan() and breakeven() with a copy's edited inputs."""
    owned = None
    if edits["plan_owned"]:
        owned = {"purchase_usd": edits["plan_purchase_usd"], "years": edits["plan_years"],
                 "power_kw": edits["plan_power_kw"], "pue": edits["plan_pue"],
                 "usd_per_kwh": edits["plan_usd_per_kwh"], "other_usd_per_year": edits["plan_other_usd"]}  # fmt: skip
    options = dict(prompt_tokens=1000, completion_tokens=300, dtype="fp8", ttft_s_max=edits["plan_ttft_max"],
                   itl_s_max=edits["plan_itl_max"], gpu_hour_usd=edits["plan_gpu_hour_usd"],
                   reservation_discount=edits["plan_discount"], owned=owned, **extra)  # fmt: skip
    q = llmxl.plan("llama-3.1-70b", GPUS, requests_per_s=edits["plan_rps"],
                   peak_requests_per_s=edits["plan_peak_rps"], **options)  # fmt: skip
    b = llmxl.breakeven("llama-3.1-70b", GPUS, api=(edits["plan_api_prompt"], edits["plan_api_completion"]),
                        peak_factor=edits["plan_peak_rps"] / edits["plan_rps"], **options)  # fmt: skip
    return q, b


STALE_EDITS = {"prompt": {"plan_prompt": 2000}, "completion": {"plan_completion": 301},
               "engine": {"plan_engine": "sglang"}}  # fmt: skip


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """The README's plan workbook, fifty randomly edited copies and three that no longer fit the Load sheet,
    recalculated in one LibreOffice run."""
    require_soffice()
    tmp = tmp_path_factory.mktemp("edited")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(llmxl.catalog.ENV_VAR, "")
        llmxl.catalog.reset()
        p = llmxl.plan("llama-3.1-70b", GPUS, dtype="fp8", **EXAMPLE)
        path = write_plan_workbook(tmp / "plan.xlsx", p, api=("together", 0.88, 0.88))
        copies = _random_edits(random.Random(20261206), 50)
        files = [_edit(path, tmp / f"copy{i}.xlsx", e) for i, e in enumerate(copies)]
        files += [_edit(path, tmp / f"stale_{k}.xlsx", e) for k, e in STALE_EDITS.items()]
        done = recalculate_many(files, tmp / "lo")
        expected = [_plan_of(e) for e in copies]
    llmxl.catalog.reset()
    books = [openpyxl.load_workbook(f, data_only=True) for f in done]
    return p, copies, expected, books[: len(copies)], dict(zip(STALE_EDITS, books[len(copies) :], strict=True))


def test_edited_inputs_recalculate_to_the_engine(edited):
    """Fifty randomly edited copies of one workbook (over 400 cells): every row and the summary equal plan()'s."""
    _, copies, expected, books, _ = edited
    assert len(copies) == 50 and sum(len(e) for e in copies) >= 400
    misses = feasible = 0
    for i, (edits, (q, b), wb) in enumerate(zip(copies, expected, books, strict=True)):
        names = _names(wb)
        assert _value(wb, names, "plan_stale") in ("", None)
        rows = _rows(wb)
        _assert_rows_equal(rows, q, where=f"copy {i}: {edits}")
        _assert_summary_equal(wb, names, q, b)
        misses += sum(1 for r in q.rows if r.reason and r.reason.startswith("even at"))
        feasible += sum(1 for r in q.rows if r.reason is None)
    assert misses and feasible  # the edits reach both kinds of row


def test_a_changed_request_shape_or_engine_turns_every_result_into_the_rebuild_message(edited):
    _, _, _, _, stale = edited
    for what, wb in stale.items():
        names = _names(wb)
        message = _value(wb, names, "plan_stale")
        assert message.startswith("the Load sheet was computed for 1,000 prompt and 300 completion tokens under "
                                  "vllm 0.11.0 at p90"), what  # fmt: skip
        prompt = STALE_EDITS[what].get("plan_prompt", 1000)
        completion = STALE_EDITS[what].get("plan_completion", 300)
        assert f"rebuild with llmxl workbook plan --prompt {prompt} --completion {completion}" in message
        for row in _rows(wb):
            for field in [*NUMBERS, "reason"]:
                if field in ("gpu_hour_usd",):  # the price does not depend on the Load sheet
                    continue
                assert row[field] == message, (what, row["gpu"], row["tp"], field)
            assert row["breakeven"] == message
        for name in ("plan_best", "plan_best_gpus", "plan_best_monthly", "plan_best_blended", "plan_breakeven"):
            assert _value(wb, names, name) == message, (what, name)
        assert wb["Load"]["A4"].value == message


def test_the_cli_passes_engine_and_percentile_to_the_workbook(tmp_path, capsys):
    """--engine (with a setting) and --percentile reach the Load sheet; the file's own values equal plan()'s."""
    out = tmp_path / "plan.xlsx"
    args = ["workbook", "plan", "-o", str(out), "--example", "--gpu", "h100-sxm-80gb", "--tp", "2,4", "--api",
            "0.88,0.88"]  # fmt: skip
    assert main([*args, "--engine", "sglang:max_running_requests=200", "--percentile", "75"]) in (0, 1)
    capsys.readouterr()
    wb = openpyxl.load_workbook(out, data_only=True)  # the values llmxl wrote with the formulas
    names = _names(wb)
    assert _value(wb, names, "plan_engine") == "sglang 0.5.4 (max_running_requests=200)"
    assert _value(wb, names, "plan_percentile") == "p75"
    assert wb["Load"]["D5"].value == "Time to first token p75 [s]"
    q = llmxl.plan("llama-3.1-70b", "h100-sxm-80gb", tp=[2, 4], dtype="fp8", engine="sglang:max_running_requests=200",
                   percentile=75, **EXAMPLE)  # fmt: skip
    assert q.engine == "sglang" and all(r.max_concurrency <= 200 for r in q.rows)
    _assert_rows_equal(_rows(wb), q)
    with pytest.raises(InvalidInputError, match="other engine settings"):  # the plan's engine, not another's
        write_plan_workbook(tmp_path / "x.xlsx", q, engine="sglang")


def test_the_cli_writes_the_plan_workbook_and_refuses_to_overwrite_a_foreign_file(tmp_path, capsys):
    out = tmp_path / "plan.xlsx"
    assert main(["workbook", "plan", "-o", str(out), "--example"]) == 0
    assert "wrote" in capsys.readouterr().out
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Plan", "Load", "Chart data"]  # no second model beside the load model
    assert len(wb["Plan"]._charts) == 1
    foreign = tmp_path / "mine.xlsx"
    openpyxl.Workbook().save(foreign)
    assert main(["workbook", "plan", "-o", str(foreign), "--example"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_the_plan_workbook_answers_what_was_asked_and_nothing_else(tmp_path, capsys):
    """Issue 18: no peak, targets, GPUs or API from the built-in example unless --example is asked for."""
    out = tmp_path / "t1.xlsx"
    asked = ["--model", "llama-3.3-70b", "--gpu", "h200", "--prompt", "1000", "--completion", "300", "--rps", "5",
             "--dtype", "fp8"]  # fmt: skip
    assert main(["workbook", "plan", "-o", str(out), *asked]) == 0
    printed = capsys.readouterr().out
    assert "target" not in printed.split("\n")[0] or "no latency target" in printed
    wb = openpyxl.load_workbook(out, data_only=True)
    names = _names(wb)
    p = llmxl.plan("llama-3.3-70b", "h200", dtype="fp8", prompt_tokens=1000, completion_tokens=300, requests_per_s=5)
    rows = _rows(wb)
    assert {r["gpu"] for r in rows} == {"h200-sxm-141gb"} and len(rows) == len(p.rows)
    _assert_rows_equal(rows, p)
    assert _value(wb, names, "plan_peak_rps") == 5 and _value(wb, names, "plan_ttft_max") in (None, "")
    assert _value(wb, names, "plan_api_prompt") in (None, "")
    twice = tmp_path / "t2.xlsx"
    assert main(["workbook", "plan", "-o", str(twice), *asked, "--gpu", "b200", "--gpu", "h200"]) in (0, 1)
    capsys.readouterr()
    rows = _rows(openpyxl.load_workbook(twice, data_only=True))
    assert len({(r["gpu"], r["tp"], r["dtype"]) for r in rows}) == len(rows)  # each configuration once
    assert main(["workbook", "plan", "-o", str(tmp_path / "t3.xlsx"), "--model", "llama-3.3-70b"]) == 2
    err = capsys.readouterr().err
    assert "needs --gpu, --prompt, --completion, --rps (or --tokens-per-day)" in err and "--example" in err
    assert not (tmp_path / "t3.xlsx").exists()


def test_the_load_sheet_holds_each_configuration_up_to_its_capacity_and_refuses_too_many_rows(tmp_path, monkeypatch):
    p = llmxl.plan("llama-3.1-70b", GPUS, dtype="fp8", tp=[1, 2], **EXAMPLE)
    wb = plan_workbook.build_plan_workbook(p)
    ws = wb["Load"]
    blocks, _ = plan_workbook._blocks(p, resolve_model(p.model), llmxl.engine(), None, None, None)
    assert [b is None for b in blocks] == [r.capacity_requests_per_s is None for r in p.rows]
    total = sum(b.b_max for b in blocks if b is not None)
    assert ws.max_row == plan_workbook.LOAD_FIRST + total - 1
    monkeypatch.setattr(plan_workbook, "MAX_LOAD_ROWS", total - 1)
    with pytest.raises(InvalidInputError, match="plan fewer GPUs, tp sizes or dtypes"):
        plan_workbook.build_plan_workbook(p)


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


def test_numbers_in_the_reasons_read_as_python_formats_them(tmp_path):
    """The reason's numbers are f"{x:.3g}" and f"{x:g}" in formulas (LibreOffice agrees: checked by hand over
    the same values); here the values llmxl's own evaluator writes into the file."""
    from llmxl.workbook.build import put_formula
    from llmxl.workbook.files import save_workbook

    rng = random.Random(7)
    values = [10 ** rng.uniform(-7, 5) for _ in range(200)] + [0.001, 1000, 999.6, 9.996, 9.996e-5, 1e-4, 0.169]
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, v in enumerate(values, start=1):
        ws.cell(i, 1).value = v
        put_formula(ws, i, 2, "=" + plan_workbook._g(f"A{i}", 3))
        put_formula(ws, i, 3, "=" + plan_workbook._g(f"-A{i}", 6))
    ws = openpyxl.load_workbook(save_workbook(wb, tmp_path / "g.xlsx", force=False), data_only=True).active
    assert [ws.cell(i, 2).value for i in range(1, len(values) + 1)] == [f"{v:.3g}" for v in values]
    assert [ws.cell(i, 3).value for i in range(1, len(values) + 1)] == [f"{-v:.6g}" for v in values]
