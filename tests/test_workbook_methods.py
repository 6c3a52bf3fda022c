"""The Calc sheet computes every method with native formulas: equal to the engine after LibreOffice
recalculation, and equal to the serving worked checks of docs/methodology.md."""

from __future__ import annotations

import itertools

import openpyxl
import pytest
from openpyxl import Workbook

import llmxl
from llmxl.workbook.build import write_calc_sheet, write_catalog_sheet
from llmxl.workbook.files import save_workbook
from llmxl.workbook.recalc import recalculate

from .conftest import require_soffice
from .test_serving import WORKED, _printed

# The worked checks' GPUs, as user catalog entries (a Catalog sheet row each).
_CHECK_GPUS = {
    "A100": ("a100-check", 80, 2039, 312, None, 300),
    "H100": ("h100-check", 80, 3350, 989, 1979, 450),
    "H200": ("h200-check", 141, 4800, 989, 1979, 450),
}


def _gpu_toml(gpu: dict) -> tuple[str, str]:
    """A catalog entry for a worked check's GPU dict, and its id."""
    name = next(
        k for k, v in _CHECK_GPUS.items() if v[1:4] == (gpu["memory_gib"], gpu["hbm_bandwidth_gbs"], gpu["fp16_tflops"])
    )
    ident = (
        f"{_CHECK_GPUS[name][0]}-{gpu['allreduce_latency_s']:g}-{gpu['layer_overhead_s']:g}-"
        f"{gpu['prefill_overhead_s']:g}-{gpu['decode_overhead_s']:g}"
    )
    lines = [f'[[gpus]]\nid = "{ident}"']
    lines += [f"{k} = {v!r}" for k, v in gpu.items()]
    return "\n".join(lines) + "\n", ident


def _cases():
    """(config inputs, scenario, expected printed values or None) for every row of the workbook."""
    toml, rows = {}, []
    for case, expected in WORKED:
        model, gpu, t, p, dtype, b, s, n, price = case
        text, ident = _gpu_toml(gpu)
        toml[ident] = text
        cfg = {
            "model": model,
            "gpu": ident,
            "dtype": dtype,
            "method": "serving",
            "tp": t,
            "pp": p,
            "fe": 0.7,
            "he": 0.9,
            "price_in": price,
        }
        rows.append((cfg, (b, s, n), expected))
    # Every method over catalog models and GPUs, with blank efficiencies (the method's defaults).
    for method, (model, gpu, t, dtype) in itertools.product(
        ("reference", "standard", "serving"),
        [
            ("llama-3.1-70b", "h100-sxm-80gb", 2, "fp8-kv16"),
            ("qwen2.5-7b", "l40s", 1, "int8-weight-only"),
            ("mistral-7b", "a100-sxm-80gb", 1, "bf16"),
            ("llama-3.1-8b", "b200", 1, "nvfp4"),
        ],
    ):
        cfg = {
            "model": model,
            "gpu": gpu,
            "dtype": dtype,
            "method": method,
            "tp": t,
            "pp": 1,
            "fe": "",
            "he": "",
            "price_in": 2.5,
        }
        for b, s, n in ((1, 128, 64), (16, 2048, 512), (12, 6000, 1)):
            rows.append((cfg, (b, s, n), None))
    for model, gpu, t, dtype in [
        ("gpt-oss-20b", "rtx-pro-6000-blackwell-server", 1, "mxfp4"),
        ("llama-4-scout", "h200-sxm-141gb", 4, "fp8"),
        ("qwen3-235b-a22b", "mi355x", 4, "fp8"),
        ("gemma-2-27b", "gaudi-3", 2, "bf16"),
    ]:
        cfg = {
            "model": model,
            "gpu": gpu,
            "dtype": dtype,
            "method": "serving",
            "tp": t,
            "pp": 2,
            "fe": "",
            "he": 0.8,
            "price_in": "",
        }
        for b, s, n in ((1, 1, 1), (8, 4096, 1024), (3, 300, 7)):
            rows.append((cfg, (b, s, n), None))
    return "".join(toml.values()), rows


_QUANTITIES = {
    "ttft": "ttft_s",
    "tpot": "tpot_s",
    "completion": "completion_time_s",
    "tps": "tokens_per_s",
    "usd_prompt": "usd_per_1k_prompt_tokens",
    "usd_completion": "usd_per_1k_completion_tokens",
    "max_batch": "max_batch_size",
    "kv_used": "kv_cache_bytes_per_gpu",
}


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    require_soffice()
    tmp = tmp_path_factory.mktemp("methods")
    toml, rows = _cases()
    cat = tmp / "check-gpus.toml"
    cat.write_text(toml)
    llmxl.catalog.reset()
    llmxl.add_catalog_file(cat)
    try:
        configs, keys, scenarios = [], {}, []
        for cfg, (b, s, n), _ in rows:
            key = tuple(sorted(cfg.items()))
            if key not in keys:
                keys[key] = len(configs) + 1
                configs.append(cfg)
            scenarios.append((keys[key], b, s, n))
        wb = Workbook()
        write_catalog_sheet(wb)
        layout = write_calc_sheet(wb, configs, scenarios)
        del wb["Sheet"]
        path = save_workbook(wb, tmp / "methods.xlsx", force=False)
        got = openpyxl.load_workbook(recalculate(path, tmp / "out"), data_only=True)["Calc"]
        engine = []
        for cfg, (b, s, n), _ in rows:
            kw = {
                "flops_efficiency": cfg["fe"] or None,
                "hbm_efficiency": cfg["he"] or None,
                "gpu_hour_usd": cfg["price_in"] if cfg["price_in"] != "" else None,
            }
            engine.append(
                llmxl.estimate(
                    cfg["model"],
                    cfg["gpu"],
                    tp=cfg["tp"],
                    pp=cfg["pp"],
                    dtype=cfg["dtype"],
                    method=cfg["method"],
                    batch_size=b,
                    prompt_tokens=s,
                    completion_tokens=n,
                    **kw,
                )
            )
    finally:
        llmxl.catalog.reset()
    cells = []
    for i in range(len(rows)):
        row = {q: got[layout.scenario_ref(i, q).split("!")[1].replace("$", "")].value for q in (*_QUANTITIES, "status")}
        cells.append(row)
    return rows, cells, engine


def test_every_row_computes(recalculated):
    rows, cells, _ = recalculated
    assert all(c["status"] == "ok" for c in cells), [
        (r[0]["model"], c["status"]) for r, c in zip(rows, cells, strict=True)
    ]


def test_the_serving_worked_checks_through_the_workbook(recalculated):
    rows, cells, _ = recalculated
    checked = 0
    for (_, _, expected), c in zip(rows, cells, strict=True):
        if expected is None:
            continue
        for name, want in expected.items():
            if name == "weight_bytes_per_gpu":
                continue  # a configuration-level quantity, checked below through the engine
            q = next(k for k, v in _QUANTITIES.items() if v == name)
            assert _printed(c[q], want), (name, c[q], want)
            checked += 1
    assert checked >= 40


def test_the_workbook_equals_the_engine_for_every_method(recalculated):
    rows, cells, engine = recalculated
    methods = set()
    for (cfg, _, _), c, e in zip(rows, cells, engine, strict=True):
        methods.add(cfg["method"])
        for q, attr in _QUANTITIES.items():
            want = getattr(e, attr)
            if want is None:  # no price: the cell is blank, never 0
                assert c[q] in (None, ""), (cfg["model"], q)
                continue
            assert c[q] == pytest.approx(want, rel=1e-9), (cfg["model"], cfg["method"], q)
    assert methods == {"reference", "standard", "serving"}


def test_a_serving_report_recalculates_to_the_engine_and_refuses_other_methods(tmp_path, capsys):
    import json

    from llmxl.cli import main

    out, js = tmp_path / "serving.xlsx", tmp_path / "rows.json"
    argv = ["report", "--model", "mixtral-8x7b", "--model", "gpt-oss-20b", "--gpu", "h100-sxm-80gb", "--tp", "2",
            "--method", "serving", "--batch", "1,16", "--prompt", "1000", "--completion", "200", "--no-progress",
            "-o", str(out), "--json", str(js)]  # fmt: skip
    assert main(argv) == 0
    require_soffice()
    got = openpyxl.load_workbook(recalculate(out, tmp_path / "r1"), data_only=True)["Report"]
    rows = [r for r in got.iter_rows(min_row=4, values_only=True) if r[0]]
    engine = json.loads(js.read_text())
    assert len(rows) == len(engine) == 4
    for row, e in zip(rows, engine, strict=True):
        assert row[11] == e["status"] == "ok"
        assert row[5] == pytest.approx(e["ttft_s"], rel=1e-9) and row[7] == pytest.approx(e["tokens_per_s"], rel=1e-9)
    # The workbook computes what it was built for; another method is refused in words.
    wb = openpyxl.load_workbook(out)
    dn = wb.defined_names["llm_method"]
    sheet, cell = next(iter(dn.destinations))
    wb[sheet][cell.replace("$", "")].value = "standard"
    wb.save(tmp_path / "edited.xlsx")
    got = openpyxl.load_workbook(recalculate(tmp_path / "edited.xlsx", tmp_path / "r2"), data_only=True)["Report"]
    status = [r[11] for r in got.iter_rows(min_row=4, values_only=True) if r[0]]
    assert status and all(s.startswith("this workbook computes method serving; rebuild it with --method standard")
                          or "cannot model" in s for s in status)  # fmt: skip


def test_a_batch_just_too_large_reads_as_two_different_figures_in_the_workbook(tmp_path, capsys):
    import re

    from llmxl.cli import main

    kw = dict(tp=2, prompt_tokens=16, completion_tokens=1)  # a few MiB per sequence: the edge is fine-grained
    with pytest.raises(llmxl.DoesNotFitError) as info:
        llmxl.estimate("llama-2-70b", "a100-sxm-80gb", batch_size=100_000, **kw)
    first = int(re.search(r"batch_size ≤ (\d+)", str(info.value)).group(1)) + 1  # the first batch that does not fit
    out = tmp_path / "edge.xlsx"
    argv = ["report", "--model", "llama-2-70b", "--gpu", "a100-sxm-80gb", "--tp", "2", "--method", "serving",
            "--batch", str(first), "--prompt", "16", "--completion", "1", "--no-progress", "-o", str(out)]  # fmt: skip
    assert main(argv) == 2 and out.exists()  # no scenario computed: the file still says why
    cached = [r[11] for r in openpyxl.load_workbook(out, data_only=True)["Report"].iter_rows(min_row=4, values_only=True) if r[0]]  # fmt: skip
    require_soffice()
    got = openpyxl.load_workbook(recalculate(out, tmp_path / "r"), data_only=True)["Report"]
    (status,) = [r[11] for r in got.iter_rows(min_row=4, values_only=True) if r[0]]
    assert cached == [status]
    need, left = (float(x) for x in re.findall(r"([\d.]+) GiB", status)[:2])
    assert need > left, status  # one decimal would print the same figure twice
