"""The template that reproduces the published Llama-2-70B table with live formulas."""

from __future__ import annotations

import csv
import os
from importlib import resources
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment

from .build import (
    INPUT_FILL,
    TITLE_FONT,
    add_throughput_chart,
    finance_print,
    header_row,
    input_block,
    put,
    put_formula,
    write_calc_sheet,
    write_catalog_sheet,
)
from .calc import Formula
from .files import save_workbook

# The published table's inputs (llm-analysis's Llama 2 examples; llmxl/data/published).
PUBLISHED_INPUTS = {
    "llm_model": ("Model", "llama-2-70b"),
    "llm_gpu": ("GPU", "a100-sxm-80gb"),
    "llm_tp": ("Tensor parallel GPUs (tp)", 2),
    "llm_pp": ("Pipeline parallel stages (pp)", 1),
    "llm_dtype": ("Dtype", "w16a16e16"),
    "llm_flops_efficiency": ("FLOPs efficiency (fraction of peak; blank: the method's)", 0.7),
    "llm_hbm_efficiency": ("HBM efficiency (fraction of peak; blank: the method's)", 0.9),
    "llm_gpu_hour_usd": ("Price per GPU-hour [USD] (blank: catalog price)", 2.21),
    "llm_method": ("Method (standard, serving or reference)", "reference"),
}
HEADERS = [
    "Batch size [sequences]",
    "Prompt [tokens]",
    "Completion [tokens]",
    "Time to first token [s]",
    "Time for completion [s]",
    "Throughput [tokens/s]",
    "Price per 1k prompt tokens [USD]",
    "Price per 1k completion tokens [USD]",
]
SHORT = ["TTFT [s]", "Completion [s]", "Tokens/s", "$/1k prompt", "$/1k completion"]
# computed column -> (Calc quantity, published CSV column, number format, decimals)
RESULTS = [
    ("ttft", "ttft_s", "0.000", 3),
    ("completion", "completion_time_s", "0.000", 3),
    ("tps", "tokens_per_s", "#,##0.000", 3),
    ("usd_prompt", "price_per_1k_prompt_usd", "$0.000000", 6),
    ("usd_completion", "price_per_1k_completion_usd", "$0.0000", 4),
]
INPUT_ROW = 4
INPUT_VALUE_COL = 4
TABLE_HEADER_ROW = 16


def published_rows() -> list[dict[str, str]]:
    """The published table, shipped with the package (llmxl/data/published)."""
    text = (resources.files("llmxl") / "data" / "published" / "llama2-70b-a100-fe0.7-hbm0.9.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def config_inputs_from_names() -> dict[str, str]:
    """A configuration row that reads the named input cells (blank price stays blank)."""
    return {
        "model": Formula("=llm_model"),
        "gpu": Formula("=llm_gpu"),
        **SHARED_NAMED_INPUTS,
    }


SHARED_NAMED_INPUTS = {
    "dtype": Formula("=llm_dtype"),
    "method": Formula("=llm_method"),
    "tp": Formula("=llm_tp"),
    "pp": Formula("=llm_pp"),
    "fe": Formula('=IF(llm_flops_efficiency="","",llm_flops_efficiency)'),
    "he": Formula('=IF(llm_hbm_efficiency="","",llm_hbm_efficiency)'),
    "price_in": Formula('=IF(llm_gpu_hour_usd="","",llm_gpu_hour_usd)'),
}


def build_reference_workbook() -> Workbook:
    """The published table as live formulas over the Catalog sheet."""
    rows = published_rows()
    wb = Workbook()
    ws = wb.active
    ws.title = "Reference"
    write_catalog_sheet(wb)
    first = TABLE_HEADER_ROW + 1
    scenarios = [(1, *(Formula.of(f"=Reference!${col}${{r}}", r=first + i) for col in "ABC")) for i in range(len(rows))]
    layout = write_calc_sheet(wb, [config_inputs_from_names()], scenarios)

    put(ws, 1, 1, "Llama-2-70B on A100-80GB: the published table, as live formulas").font = TITLE_FONT
    put(
        ws,
        2,
        1,
        "Change the yellow inputs and every row recalculates; the arithmetic is on the Calc sheet, "
        "the figures on the Catalog sheet. Source: llm-analysis, Llama 2 examples.",
    )
    input_block(wb, ws, INPUT_ROW, PUBLISHED_INPUTS, value_col=INPUT_VALUE_COL)  # labels overflow into B:C
    status_row = INPUT_ROW + len(PUBLISHED_INPUTS)
    put(ws, status_row, 1, "Configuration status")
    put_formula(ws, status_row, INPUT_VALUE_COL, f"={layout.config_ref(0, 'status')}")

    headers = (
        HEADERS
        + ["Status"]
        + [f"Published: {h}" for h in SHORT]
        + [f"Difference: {h}" for h in SHORT]
        + ["Chart: throughput", "Chart: price"]
    )
    header_row(ws, TABLE_HEADER_ROW, headers)
    n_res = len(RESULTS)
    status_col = 4 + n_res
    put(ws, TABLE_HEADER_ROW - 1, status_col + 1 + n_res, "Difference: computed, rounded as published, minus published")
    for i, row in enumerate(rows):
        r = first + i
        for j, key in enumerate(("batch_size", "prompt_tokens", "completion_tokens")):
            put(ws, r, 1 + j, int(row[key])).fill = INPUT_FILL
        status_ref = layout.scenario_ref(i, "status")
        put_formula(ws, r, status_col, f"={status_ref}").alignment = Alignment(horizontal="left", indent=1)
        for j, (qty, column, fmt, decimals) in enumerate(RESULTS):
            computed = ws.cell(row=r, column=4 + j).coordinate
            put_formula(ws, r, 4 + j, f'=IF({status_ref}="ok",{layout.scenario_ref(i, qty)},"")', number_format=fmt)
            published = put(ws, r, status_col + 1 + j, float(row[column]), number_format=fmt)
            put_formula(
                ws,
                r,
                status_col + 1 + n_res + j,
                f'=IF({computed}="","",ROUND({computed},{decimals})-{published.coordinate})',
                number_format=fmt,
            )
        chart_col = status_col + 1 + 2 * n_res
        put_formula(ws, r, chart_col, f'=IF({ws.cell(row=r, column=status_col).coordinate}="ok",F{r},NA())')
        put_formula(ws, r, chart_col + 1, f'=IF({ws.cell(row=r, column=status_col).coordinate}="ok",H{r},NA())')
    ws.column_dimensions["A"].width = 16
    for letter in "BCDEFGHI":
        ws.column_dimensions[letter].width = 16
    for j in range(status_col + 1, status_col + 1 + 2 * n_res):
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = 13
    chart_col = status_col + 1 + 2 * n_res
    for j in (chart_col, chart_col + 1):
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].hidden = True
    last = first + len(rows) - 1
    ws.freeze_panes = ws.cell(row=first, column=1).coordinate
    last_letter = ws.cell(row=1, column=chart_col - 1).column_letter
    ws.auto_filter.ref = f"A{TABLE_HEADER_ROW}:{last_letter}{last}"
    finance_print(ws, f"A1:{last_letter}{last + 30}", title_rows=f"{TABLE_HEADER_ROW}:{TABLE_HEADER_ROW}")
    runs: list[list] = []  # runs of rows of one request shape, batch increasing: a line each
    for i, row in enumerate(rows):
        key = f"{int(row['prompt_tokens']):,} prompt / {int(row['completion_tokens']):,} completion tokens"
        if runs and runs[-1][0] == key and int(row["batch_size"]) > int(rows[i - 1]["batch_size"]):
            runs[-1][2] = first + i
        else:
            runs.append([key, first + i, first + i])
    add_throughput_chart(
        ws,
        ws,
        [(key, a, z) for key, a, z in runs],
        batch_col=1,
        tps_col=chart_col,
        price_col=chart_col + 1,
        anchor=ws.cell(row=last + 2, column=1).coordinate,
    )
    return wb


def write_reference_workbook(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Build the template and write it atomically to ``path``."""
    return save_workbook(build_reference_workbook(), path, force=force)
