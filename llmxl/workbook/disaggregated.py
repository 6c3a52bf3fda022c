"""The Pools sheet of the plan workbook: a plan's disaggregated fleets (xPyD) as live formulas.

Each disaggregated row of :func:`llmxl.plan` (docs/methodology.md, "Disaggregated prefill and decode") holds,
as values, what its pools' load model gives: the prefill and decode layouts, GPUs per instance, the time of a
prompt L1, the KV transfer, and the rates λ_p and λ_d one prefill and one decode instance take within the
targets. What follows from them is formulas over the Plan sheet's inputs: x = ROUNDUP(peak / λ_p),
y = ROUNDUP(peak / λ_d), GPUs x G_p + y G_d, the price, the monthly cost and the cost per 1M tokens (the
prefill pool's share of the GPUs is the prompts' share of the cost), utilisation. The rates were found for
the targets and request shape the plan was made with: when those cells change, every result says to rebuild.
"""

from __future__ import annotations

from typing import Any

from openpyxl.styles import Alignment

from .. import catalog, prices
from ..plan import Plan, PlanRow
from ..resolve import resolve_gpu
from .build import HEADER_FONT, TITLE_FONT, define, finance_print, fit_header_rows, header_row, put, put_formula

__all__ = ["write_pools_sheet"]

HEADERS = (
    "GPU", "Dtype", "Prefill layout", "Decode layout", "GPUs per prefill instance G_p",
    "GPUs per decode instance G_d", "Prompt on a prefill instance L1 [s]", "KV transfer [s]", "KV link",
    "Prefill requests/s per instance λ_p", "Decode concurrency B*", "Decode requests/s per instance λ_d",
    "Decode capacity [requests/s]", "Time to first token [s]", "Inter-token latency [s]",
    "Prefill instances x", "Decode instances y", "GPUs", "USD per GPU-hour", "Monthly cost [USD]",
    "Prompt share (prefill GPUs)", "USD per 1M prompt tokens", "USD per 1M completion tokens",
    "USD per 1M blended (3:1)", "Utilisation", "Peak utilisation", "Why it cannot serve",
)  # fmt: skip
FIRST = 6  # first fleet row
#: How each value column reads (columns E to O): counts whole, seconds and rates to four or five figures
FORMATS = {5: "#,##0", 6: "#,##0", 7: "0.0000", 8: "0.000000", 10: "#,##0.000", 11: "#,##0", 12: "#,##0.000",
           13: "#,##0.000", 14: "0.000", 15: "0.0000"}  # fmt: skip
LABEL_WIDTH = 46  # column A: the labels above the table, and its GPU column


def _layout(tp: Any, dp: Any, ep: Any, pp: int) -> str:
    return (
        f"tp={tp}" + (f" dp={dp} ep={ep}" if (dp or 1) > 1 or (ep or 1) > 1 else "") + (f" pp={pp}" if pp > 1 else "")
    )


def _target(name: str, value: float | None) -> str:
    return f'{name}<>""' if value is None else f'OR({name}="",{name}<>{value!r})'


def write_pools_sheet(wb: Any, p: Plan, rows: list[PlanRow], stale: str) -> None:
    """Add the Pools sheet for the disaggregated ``rows`` of ``p`` (``stale``: the Plan sheet's rebuild check)."""
    ws = wb.create_sheet("Pools")
    hours = prices.hours_per_month()
    finance = catalog.get_catalog().finance
    wp, wc = finance.blend_prompt_weight, finance.blend_completion_weight
    seconds = f"{hours * 3600:g}"
    put(ws, 1, 1, f"Disaggregated prefill/decode fleets (xPyD): {p.model}").font = TITLE_FONT
    put(ws, 2, 1, "Each fleet's per-instance rates (columns E to M) are llmxl.plan's, for the targets and request "
            "shape it was made with; the instances, GPUs and costs are formulas over the Plan sheet's traffic and "
            "prices. Changing a target needs a rebuild (llmxl workbook plan --disaggregated).")  # fmt: skip
    built = f"OR({_target('plan_ttft_max', p.ttft_s_max)},{_target('plan_itl_max', p.itl_s_max)})"
    put(ws, 3, 1, "Pools check (blank: sized for these targets)")
    message = (
        f"the pools were sized for a time to first token of {p.ttft_s_max:g} s and "
        + ("no inter-token target" if p.itl_s_max is None else f"an inter-token latency of {p.itl_s_max:g} s")
        + "; rebuild with llmxl workbook plan --disaggregated for other targets"
    )
    put_formula(ws, 3, 2, f'=IF({stale}<>"",{stale},IF({built},"{message}",""))')
    define(wb, "pools_stale", "'Pools'!$B$3")
    header_row(ws, FIRST - 1, HEADERS)
    guard = 'IF(pools_stale<>"",pools_stale,'
    for k, row in enumerate(rows):
        r = FIRST + k
        g = resolve_gpu(row.gpu)
        values = [row.gpu, row.dtype, _layout(row.prefill_tp, row.prefill_dp, row.prefill_ep, row.pp),
                  _layout(row.tp, row.dp, row.ep, row.pp)]  # fmt: skip
        for col, value in enumerate(values, start=1):
            put(ws, r, col, value)
        catalog_price = "" if g.usd_per_hour is None else f"{g.usd_per_hour!r}"
        put_formula(ws, r, 19, '=IF(plan_owned=1,plan_owned_usd,IF(plan_gpu_hour_usd="",'
                    + ('"",' if not catalog_price else f"{catalog_price}*(1-plan_discount),")
                    + "plan_gpu_hour_usd*(1-plan_discount)))", number_format="$#,##0.000")  # fmt: skip
        if row.reason is not None:
            put(ws, r, 27, row.reason)
            continue
        gp = row.prefill_tp * row.prefill_dp * row.pp
        gd = row.tp * row.dp * row.pp
        numbers = {5: gp, 6: gd, 7: row.prefill_s, 8: row.kv_transfer_s, 9: row.kv_link,
                   10: row.prefill_requests_per_s, 11: row.concurrency, 12: row.requests_per_s,
                   13: row.capacity_requests_per_s, 14: row.ttft_s, 15: row.itl_s}  # fmt: skip
        for col, value in numbers.items():
            put(ws, r, col, value, number_format=FORMATS.get(col))
        formulas = {
            16: (f"={guard}ROUNDUP(plan_peak_rps/J{r},0))", "#,##0"),
            17: (f"={guard}ROUNDUP(plan_peak_rps/L{r},0))", "#,##0"),
            18: (f"={guard}P{r}*E{r}+Q{r}*F{r})", "#,##0"),
            20: (f'={guard}IF(S{r}="","",R{r}*S{r}*{hours:g}))', "$#,##0.00"),
            21: (f"={guard}P{r}*E{r}/R{r})", "0.000"),
            22: (f'={guard}IF(T{r}="","",U{r}*T{r}/(plan_rps*{seconds}*plan_prompt)*1E+6))', "$#,##0.000"),
            23: (f'={guard}IF(T{r}="","",(1-U{r})*T{r}/(plan_rps*{seconds}*plan_completion)*1E+6))', "$#,##0.000"),
            24: (f'={guard}IF(T{r}="","",({wp:g}*V{r}+{wc:g}*W{r})/{wp + wc:g}))', "$#,##0.000"),
            25: (f"={guard}plan_rps/MIN(P{r}/G{r},Q{r}*M{r}))", "0.0%"),
            26: (f"={guard}plan_peak_rps/MIN(P{r}/G{r},Q{r}*M{r}))", "0.0%"),
        }
        for col, (formula, fmt) in formulas.items():
            put_formula(ws, r, col, formula, number_format=fmt)
    last = FIRST + len(rows) - 1
    for name, col in (("pools_prefill", "P"), ("pools_decode", "Q"), ("pools_gpus", "R"), ("pools_cost", "T")):
        define(wb, name, f"'Pools'!${col}${FIRST}:${col}${last}")
    put(ws, 4, 1, "Cheapest disaggregated fleet [USD per month]").font = HEADER_FONT
    put_formula(ws, 4, 2, f'=IF(COUNT(T{FIRST}:T{last})=0,"none meets the targets",MIN(T{FIRST}:T{last}))',
                number_format="$#,##0.00")  # fmt: skip
    define(wb, "pools_best_monthly", "'Pools'!$B$4")
    _print_setup(ws, rows, last)


def _print_setup(ws: Any, rows: list[PlanRow], last: int) -> None:
    """Columns sized to what they hold, the notes wrapped across the table, two landscape pages wide with the
    fleet's GPU and layouts repeated on each."""
    ws.column_dimensions["A"].width = LABEL_WIDTH
    ws.column_dimensions["B"].width = max([16] + [len(r.dtype) + 2 for r in rows])
    for col in ("C", "D"):
        ws.column_dimensions[col].width = max([12] + [len(str(ws[f"{col}{r}"].value or "")) + 2
                                                     for r in range(FIRST, last + 1)])  # fmt: skip
    ws.column_dimensions["AA"].width = 40  # why a fleet cannot serve
    ws.column_dimensions["T"].width = 13  # a month's cost in dollars and cents
    for r in range(FIRST, last + 1):
        ws[f"AA{r}"].alignment = Alignment(wrap_text=True, vertical="top")
    fit_header_rows(ws, [FIRST - 1])
    ws.merge_cells("A2:O2")
    ws["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[2].height = 30
    ws.merge_cells("B3:O3")
    ws["B3"].alignment = Alignment(wrap_text=True, vertical="top")
    finance_print(ws, f"A1:AA{last}", title_rows=f"{FIRST - 1}:{FIRST - 1}", title_cols="A:D", wide=2)
