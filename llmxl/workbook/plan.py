"""``llmxl workbook plan``: a capacity plan whose cells are live, native formulas.

Sheets:

* **Plan**: the inputs (traffic, request shape, latency targets, price basis, an API's
  prices), one row per candidate configuration (GPU × tp × dtype) with its concurrency,
  replicas, GPUs, monthly cost, cost per 1M tokens and why it cannot serve when it cannot,
  the break-even against the API, and a chart of monthly cost against average traffic.
* **Grid**: the concurrency search. For each configuration, the operating point at each
  concurrency of a grid (1, 2, 3, 4, 6, 8, 12 ... up to what fits), and whether it meets
  the target. The plan takes the largest grid point that does. The grid holds the exact
  answer of :func:`llmxl.plan` for the inputs it was built with (and the point after it);
  when edited inputs move the answer between two grid points, the row says so.
* **Chart data**: self-hosted and API cost at 121 traffic levels, for the chart.
* **Calc** and **Catalog**: the `serving` method as formulas over the catalog, as in every
  llmxl workbook.

Formulas use INDEX, MATCH, MIN, MAX, IF, ROUNDUP, SUMPRODUCT and arithmetic only, so
Excel and LibreOffice compute them alike with no add-in.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter

from .. import catalog, prices
from ..plan import Plan

if TYPE_CHECKING:
    from ..specs import ApiPrice
from .build import (
    HEADER_FONT,
    TITLE_FONT,
    define,
    header_row,
    input_block,
    put,
    put_formula,
    write_calc_sheet,
    write_catalog_sheet,
)
from .calc import Formula
from .files import gc_paused, save_workbook

__all__ = ["build_plan_workbook", "concurrency_grid", "write_plan_workbook"]

TRAFFIC_LEVELS = 121
WRAP = Alignment(wrap_text=True, vertical="top")
REASON_WIDTH = 60  # column T, in characters of the default font
REASON_CHARS_PER_LINE = 55  # what fits on one line of it, leaving room for word breaks
_BIG = "1E+300"


def concurrency_grid(top: int, exact: int | None = None) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12, 16 ... (×1.5 and ×2 alternately) up to ``top``, with ``top`` itself,
    and ``exact`` and ``exact + 1`` when given (so the engine's answer is on the grid)."""
    points = {1}
    a, b = 2, 3
    while a <= top:
        points.add(a)
        if b <= top:
            points.add(b)
        a, b = a * 2, b * 2
    points.add(top)
    if exact:
        points.update(p for p in (exact, exact + 1) if p <= top)
    return sorted(p for p in points if 1 <= p <= top)


# Inputs of the Plan sheet: name -> (label, value from the plan).
def _inputs(p: Plan, api: tuple[str, float | None, float | None], price: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    # Owned hardware: the given figures, else the example of llmxl/data/finance.toml (sourced there).
    owned = {**catalog.get_catalog().finance.owned_example, **price["owned"]}
    return {
        "plan_model": ("Model", p.model),
        "plan_rps": ("Average traffic [requests/s]", p.requests_per_s),
        "plan_peak_rps": ("Peak traffic [requests/s]", p.peak_requests_per_s),
        "plan_prompt": ("Prompt tokens per request", p.prompt_tokens),
        "plan_completion": ("Completion tokens per request", p.completion_tokens),
        "plan_ttft_max": ("Target time to first token [s] (blank: none)", p.ttft_s_max),
        "plan_itl_max": ("Target inter-token latency [s] (blank: none)", p.itl_s_max),
        "plan_max_concurrency": ("Cap on concurrency per replica (blank: none)", price["max_concurrency"]),
        "plan_gpu_hour_usd": ("Rented price per GPU-hour [USD] (blank: each GPU's catalog price)", price["rented"]),
        "plan_discount": ("Reservation discount (fraction off)", price["discount"]),
        "plan_owned": ("Price basis: owned (1) or rented (0)", 1 if price["owned"] else 0),
        "plan_purchase_usd": ("Owned: purchase price per GPU [USD]", owned["purchase_usd"]),
        "plan_years": ("Owned: depreciation [years]", owned["years"]),
        "plan_power_kw": ("Owned: power per GPU [kW]", owned["power_kw"]),
        "plan_pue": ("Owned: PUE", owned["pue"]),
        "plan_usd_per_kwh": ("Owned: electricity [USD/kWh]", owned["usd_per_kwh"]),
        "plan_other_usd": ("Owned: other cost per GPU per year [USD]", owned["other_usd_per_year"]),
        "plan_api_name": ("API compared with", api[0]),
        "plan_api_prompt": ("API price, prompt [USD per 1M tokens]", api[1]),
        "plan_api_completion": ("API price, completion [USD per 1M tokens]", api[2]),
    }


def _api_price_rows(price: ApiPrice | None) -> list[tuple[str, str]]:
    """The date and source of the catalog API price the plan compares with, as text rows (none without one)."""
    if price is None:
        return []
    today = _dt.date.today()
    days = prices.price_age_days(price, today)
    flag = ": check it with the provider" if days > prices.STALE_AFTER_DAYS else ""
    source = "; ".join(x for x in (", ".join(y for y in (price.source, price.source_url) if y), price.note) if x)
    return [
        ("API price dated (as built, for the prices above)",
         f"{prices.date_text(price)}, {days} days old on {today.isoformat()}{flag}"),
        ("API price source (as built)", f"{price.provider} {price.provider_model or price.model}: {source}"),
    ]  # fmt: skip


def build_plan_workbook(
    p: Plan,
    *,
    api: tuple[str, float | None, float | None] = ("", None, None),
    gpu_hour_usd: float | None = None,
    reservation_discount: float = 0.0,
    owned: dict[str, Any] | None = None,
    max_concurrency: int | None = None,
    model: Any = None,
    api_price: ApiPrice | None = None,
) -> Workbook:
    """The capacity plan ``p`` (from :func:`llmxl.plan`) as live formulas.

    ``owned`` holds the arguments of :func:`llmxl.owned_gpu_hour_usd` when the price basis is owned;
    ``model`` the ModelSpec the plan used when it is not a catalog entry (a config.json).
    ``api_price`` is the catalog price ``api`` was read from: the Plan sheet shows its date and source.
    """
    owned = dict(owned or {})
    hours = prices.hours_per_month()
    finance = catalog.get_catalog().finance
    wb = Workbook()
    ws = wb.active
    ws.title = "Plan"
    grid_ws = wb.create_sheet("Grid")
    chart_ws = wb.create_sheet("Chart data")
    known = catalog.get_catalog().entries["models"].get(p.model)
    write_catalog_sheet(wb, extra_models=[model] if model is not None and model is not known else [])

    configs = list(p.rows)
    # Calc: one configuration row per candidate; scenario rows: b = 1 (T1, what fits), then the grid.
    calc_configs, scenarios, blocks = [], [], []
    grid_first = 4
    gr = grid_first
    for k, row in enumerate(configs, start=1):
        calc_configs.append(
            {
                "model": Formula("=plan_model"),
                "gpu": row.gpu,
                "dtype": row.dtype,
                "method": "serving",
                "tp": row.tp,
                "pp": row.pp,
                "fe": "",
                "he": "",
                "price_in": "",
            }
        )
        scenarios.append((k, 1, Formula("=plan_prompt"), Formula("=plan_completion")))
        top = row.max_concurrency or 1
        points = concurrency_grid(max(2 * top, 2), row.concurrency)
        blocks.append((len(scenarios) - 1, gr, points))
        for _ in points:  # b of each grid row is the Grid sheet's concurrency cell
            scenarios.append(
                (k, Formula.of("=Grid!$B${r}", r=gr), Formula("=plan_prompt"), Formula("=plan_completion"))
            )
            gr += 1
    layout = write_calc_sheet(wb, calc_configs, scenarios, methods=frozenset({"serving"}))

    # --- Plan sheet: inputs -------------------------------------------------------------------
    put(ws, 1, 1, f"llmxl capacity plan: {p.model}, live formulas").font = TITLE_FONT
    put(
        ws,
        2,
        1,
        "Change the yellow inputs; every cell recalculates (Excel or LibreOffice, no add-in). "
        "Concurrency is searched on the Grid sheet; the arithmetic is on Calc, the figures on Catalog.",
    )
    price_info = {
        "rented": gpu_hour_usd,
        "discount": reservation_discount,
        "owned": owned,
        "max_concurrency": max_concurrency,
    }
    inputs = _inputs(p, api, price_info)
    input_block(wb, ws, 4, inputs)
    row0 = 4 + len(inputs) + 1
    derived = [
        ("plan_owned_usd", "Owned cost per GPU-hour [USD]",
         f"=plan_purchase_usd/(plan_years*{12 * hours:g})+plan_power_kw*plan_pue*plan_usd_per_kwh"
         f"+plan_other_usd/{12 * hours:g}", "$#,##0.000"),
        ("plan_api_per_rps", "API cost per month per request/s [USD]",
         f'=IF(OR(plan_api_prompt="",plan_api_completion=""),"",{hours:g}*3600*(plan_prompt*plan_api_prompt'
         "+plan_completion*plan_api_completion)/1E+6)", "$#,##0.00"),
        ("plan_api_monthly", "API cost per month at the average traffic [USD]",
         '=IF(plan_api_per_rps="","",plan_api_per_rps*plan_rps)', "$#,##0.00"),
        ("plan_peak_factor", "Peak / average", "=plan_peak_rps/plan_rps", "0.00"),
    ]  # fmt: skip
    for i, (name, label, formula, fmt) in enumerate(derived):
        put(ws, row0 + i, 1, label)
        put_formula(ws, row0 + i, 2, formula, number_format=fmt)
        define(wb, name, f"'Plan'!$B${row0 + i}")
    about = _api_price_rows(api_price)
    for i, (label, text) in enumerate(about):
        put(ws, row0 + len(derived) + i, 1, label)
        put(ws, row0 + len(derived) + i, 2, text)

    # --- Grid sheet ----------------------------------------------------------------------------
    put(grid_ws, 1, 1, "Concurrency search: the operating point of one replica at each grid point").font = TITLE_FONT
    grid_headers = [
        "Configuration",
        "Concurrency B",
        "Decode step DB [s]",
        "Time to first token T1 + DB [s]",
        "Inter-token latency DB + B·T1/(n-1) [s]",
        "Requests/s of one replica μB",
        "Prompt share φ",
        "Meets the target and fits (1/0)",
    ]
    header_row(grid_ws, 3, grid_headers)
    table_first = row0 + len(derived) + len(about) + 2
    first = table_first + 1  # first candidate row on the Plan sheet
    for k, (s_index, g_first, points) in enumerate(blocks):
        r_plan = first + k
        t1 = f"Plan!$F${r_plan}"
        fit = f"Plan!$G${r_plan}"
        for j, b in enumerate(points):
            r = g_first + j
            db = layout.scenario_ref(s_index + 1 + j, "tpot")
            put(grid_ws, r, 1, k + 1)
            put(grid_ws, r, 2, b)
            put_formula(grid_ws, r, 3, f"={db}", number_format="0.00000")
            put_formula(grid_ws, r, 4, f"={t1}+C{r}", number_format="0.0000")
            put_formula(grid_ws, r, 5, f'=IF(plan_completion>1,C{r}+B{r}*{t1}/(plan_completion-1),"")',
                        number_format="0.0000")  # fmt: skip
            put_formula(grid_ws, r, 6, f"=B{r}/(B{r}*{t1}+(plan_completion-1)*C{r})", number_format="0.000")
            put_formula(grid_ws, r, 7, f"=B{r}*{t1}/(B{r}*{t1}+(plan_completion-1)*C{r})", number_format="0.000")
            put_formula(
                grid_ws,
                r,
                8,
                f'=IF(AND(B{r}<={fit},OR(plan_max_concurrency="",B{r}<=plan_max_concurrency),'
                f'OR(plan_ttft_max="",D{r}<=plan_ttft_max),OR(plan_itl_max="",E{r}="",E{r}<=plan_itl_max)),1,0)',
            )
    grid_ws.freeze_panes = "C4"
    for j, width in enumerate((14, 14, 16, 18, 20, 18, 14, 16)):
        grid_ws.column_dimensions[get_column_letter(j + 1)].width = width

    # --- Plan sheet: candidates ----------------------------------------------------------------
    put(
        ws, table_first - 1, 1, "Candidate configurations (cheapest that meets the target first, as built)"
    ).font = HEADER_FONT
    headers = [
        "GPU",
        "tp",
        "pp",
        "Dtype",
        "Configuration status",
        "Prefill of one prompt T1 [s]",
        "Largest concurrency that fits",
        "Concurrency B* (largest grid point meeting the target)",
        "Requests/s of one replica",
        "Time to first token [s]",
        "Inter-token latency [s]",
        "Replicas",
        "GPUs",
        "Utilisation",
        "USD per GPU-hour",
        "Monthly cost [USD]",
        "USD per 1M prompt tokens",
        "USD per 1M completion tokens",
        "USD per 1M blended (3:1)",
        "Why it cannot serve",
        "Grid note",
        "Break-even traffic vs the API [requests/s]",
    ]
    header_row(ws, table_first, headers)
    ws.row_dimensions[table_first].height = 75  # the longest header wraps to five lines at width 14
    wp, wc = finance.blend_prompt_weight, finance.blend_completion_weight
    for k, ((s_index, g_first, points), row) in enumerate(zip(blocks, configs, strict=True)):
        r = first + k
        g_last = g_first + len(points) - 1
        B = f"Grid!$B${g_first}:$B${g_last}"
        ok = f"Grid!$H${g_first}:$H${g_last}"
        cfg = layout.config_ref(k, "status")
        put(ws, r, 1, row.gpu)
        put(ws, r, 2, row.tp)
        put(ws, r, 3, row.pp)
        put(ws, r, 4, row.dtype)
        cells = {
            5: (f'=IF({cfg}="ok","ok","cannot serve")', None),  # the reason, in full, is in column T
            6: (f"={layout.scenario_ref(s_index, 'ttft')}", "0.0000"),
            7: (f"=MAX(0,{layout.scenario_ref(s_index, 'max_batch')})", "#,##0"),
            8: (f'=IF(E{r}<>"ok",0,SUMPRODUCT(MAX({ok}*{B})))', "#,##0"),
            9: (f'=IF(H{r}=0,"",INDEX(Grid!$F${g_first}:$F${g_last},MATCH(H{r},{B},0)))', "0.000"),
            10: (f'=IF(H{r}=0,IF(E{r}="ok",F{r}+Grid!$C${g_first},""),INDEX(Grid!$D${g_first}:$D${g_last},'
                 f"MATCH(H{r},{B},0)))", "0.0000"),
            11: (f'=IF(H{r}=0,IF(E{r}="ok",Grid!$E${g_first},""),INDEX(Grid!$E${g_first}:$E${g_last},'
                 f"MATCH(H{r},{B},0)))", "0.0000"),
            12: (f'=IF(H{r}=0,"",ROUNDUP(plan_peak_rps/I{r},0))', "#,##0"),
            13: (f'=IF(H{r}=0,"",L{r}*B{r}*C{r})', "#,##0"),
            14: (f'=IF(H{r}=0,"",plan_rps/(L{r}*I{r}))', "0.0%"),
            15: (
                f'=IF(plan_owned=1,plan_owned_usd,IF(plan_gpu_hour_usd="",'
                f'IF(INDEX(cat_gpu_usd_per_hour,MATCH(SUBSTITUTE(SUBSTITUTE(SUBSTITUTE(A{r},"~","~~"),"*","~*"),"?","~?"),cat_gpu_id,0))="","",'
                f'INDEX(cat_gpu_usd_per_hour,MATCH(SUBSTITUTE(SUBSTITUTE(SUBSTITUTE(A{r},"~","~~"),"*","~*"),"?","~?"),cat_gpu_id,0))),plan_gpu_hour_usd)*(1-plan_discount))',
                "$#,##0.000",
            ),
            16: (f'=IF(OR(H{r}=0,O{r}=""),"",M{r}*O{r}*{hours:g})', "$#,##0.00"),
            17: (f'=IF(P{r}="","",INDEX(Grid!$G${g_first}:$G${g_last},MATCH(H{r},{B},0))*P{r}'
                 f"/(plan_rps*{hours:g}*3600*plan_prompt)*1E+6)", "$#,##0.000"),
            18: (f'=IF(P{r}="","",(1-INDEX(Grid!$G${g_first}:$G${g_last},MATCH(H{r},{B},0)))*P{r}'
                 f"/(plan_rps*{hours:g}*3600*plan_completion)*1E+6)", "$#,##0.000"),
            19: (f'=IF(P{r}="","",({wp:g}*Q{r}+{wc:g}*R{r})/{wp + wc:g})', "$#,##0.000"),
            20: (
                f'=IF(E{r}<>"ok",{cfg},IF(G{r}<1,"the KV cache of one sequence does not fit",IF(H{r}>0,'
                f'IF(O{r}="","no price for "&A{r}&"; give a rented price per GPU-hour",""),'
                f'"even at concurrency 1, "&IF(AND(plan_ttft_max<>"",J{r}>plan_ttft_max),"time to first token "'
                f'&ROUND(J{r},4)&" s exceeds the "&plan_ttft_max&" s target","")&IF(AND(plan_itl_max<>"",'
                f'K{r}<>"",K{r}>plan_itl_max),IF(AND(plan_ttft_max<>"",J{r}>plan_ttft_max)," and ","")'
                f'&"inter-token latency "&ROUND(K{r},4)&" s exceeds the "&plan_itl_max&" s target",""))))',
                None,
            ),
            21: (
                f'=IF(H{r}=0,"",IF(SUMPRODUCT(MIN({B}+({B}<=H{r})*{_BIG}))>H{r}+1,"grid: "&H{r}&" meets the target, "'
                f'&SUMPRODUCT(MIN({B}+({B}<=H{r})*{_BIG}))&" does not; the exact best lies between",""))',
                None,
            ),
            22: (
                f'=IF(OR(P{r}="",plan_api_per_rps=""),"",IF(plan_api_per_rps*I{r}/plan_peak_factor>=B{r}*C{r}*O{r}'
                f'*{hours:g},B{r}*C{r}*O{r}*{hours:g}/plan_api_per_rps,"never"))',
                "0.000",
            ),
        }  # fmt: skip
        for col, (formula, fmt) in cells.items():
            cell = put_formula(ws, r, col, formula, number_format=fmt)
            if col in (20, 21):  # reasons and notes wrap within their columns instead of being cut
                cell.alignment = WRAP
        if row.reason:  # rows are as tall as the reason the plan gives now (readers do not grow rows themselves)
            ws.row_dimensions[r].height = 15 * math.ceil(len(row.reason) / REASON_CHARS_PER_LINE)
    last = first + len(configs) - 1
    for name, col in (("plan_cost", "P"), ("plan_bstar", "H"), ("plan_mu", "I"), ("plan_gpus_per_replica", "B")):
        define(wb, name, f"'Plan'!${col}${first}:${col}${last}")
    # Summary: the cheapest feasible configuration and the break-even
    s0 = last + 2
    put(ws, s0, 1, "Cheapest configuration that meets the target").font = HEADER_FONT
    best_row = f"MATCH(MIN(P{first}:P{last}),P{first}:P{last},0)"
    summary = [
        ("Configuration", f'=IF(COUNT(P{first}:P{last})=0,"none meets the target",INDEX(A{first}:A{last},{best_row})'
                          f'&" tp="&INDEX(B{first}:B{last},{best_row})&" "&INDEX(D{first}:D{last},{best_row}))', None),
        ("GPUs", f'=IF(COUNT(P{first}:P{last})=0,"",INDEX(M{first}:M{last},{best_row}))', "#,##0"),
        ("Monthly cost [USD]", f'=IF(COUNT(P{first}:P{last})=0,"",MIN(P{first}:P{last}))', "$#,##0.00"),
        ("USD per 1M blended", f'=IF(COUNT(P{first}:P{last})=0,"",INDEX(S{first}:S{last},{best_row}))', "$#,##0.000"),
        ("API cost per month at the average traffic [USD]", "=plan_api_monthly", "$#,##0.00"),
        ("Break-even traffic vs the API [requests/s]",
         f'=IF(COUNT(V{first}:V{last})=0,IF(plan_api_per_rps="","","never: the API costs less at every traffic"),'
         f"MIN(V{first}:V{last}))", "0.000"),
    ]  # fmt: skip
    for i, (label, formula, fmt) in enumerate(summary):
        put(ws, s0 + 1 + i, 1, label)
        put_formula(ws, s0 + 1 + i, 2, formula, number_format=fmt)
    define(wb, "plan_best_monthly", f"'Plan'!$B${s0 + 3}")
    define(wb, "plan_breakeven", f"'Plan'!$B${s0 + 6}")

    # --- Chart data: monthly cost against average traffic ---------------------------------------
    put(
        chart_ws, 1, 1, "Monthly cost against average traffic (peak = average × the plan's peak factor)"
    ).font = TITLE_FONT
    n_cfg = len(configs)
    header_row(
        chart_ws,
        3,
        ["Average traffic [requests/s]", "Self-hosted, cheapest [USD/month]", "API [USD/month]",
         "Break-even traffic", "Break-even cost [USD/month]"]
        + [f"{c.gpu} tp={c.tp} {c.dtype}" for c in configs],
    )  # fmt: skip
    c_first = 4
    for i in range(TRAFFIC_LEVELS):
        r = c_first + i
        put_formula(chart_ws, r, 1, f"=2*plan_rps*{i}/{TRAFFIC_LEVELS - 1}", number_format="0.000")
        for k in range(n_cfg):
            pr = first + k
            put_formula(
                chart_ws,
                r,
                6 + k,
                f'=IF(OR(Plan!$P${pr}="",A{r}<=0),IF(A{r}<=0,0,""),ROUNDUP(plan_peak_factor*A{r}/Plan!$I${pr},0)'
                f"*Plan!$B${pr}*Plan!$C${pr}*Plan!$O${pr}*{hours:g})",
                number_format="$#,##0",
            )
        last_col = get_column_letter(5 + n_cfg)
        put_formula(chart_ws, r, 2, f'=IF(COUNT(F{r}:{last_col}{r})=0,NA(),MIN(F{r}:{last_col}{r}))',
                    number_format="$#,##0")  # fmt: skip
        put_formula(chart_ws, r, 3, f'=IF(plan_api_per_rps="",NA(),plan_api_per_rps*A{r})', number_format="$#,##0")
    put_formula(chart_ws, c_first, 4, "=IF(ISNUMBER(plan_breakeven),plan_breakeven,NA())", number_format="0.000")
    put_formula(chart_ws, c_first, 5, "=IF(ISNUMBER(plan_breakeven),plan_breakeven*plan_api_per_rps,NA())",
                number_format="$#,##0")  # fmt: skip
    c_last = c_first + TRAFFIC_LEVELS - 1
    chart = ScatterChart(scatterStyle="line")
    chart.title = "Monthly cost against average traffic"
    chart.style = 13
    chart.x_axis.title = "Average traffic [requests/s]"
    chart.y_axis.title = "USD per month"
    chart.y_axis.number_format = "$#,##0"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    x = Reference(chart_ws, min_col=1, min_row=c_first, max_row=c_last)
    for col, colour in ((2, "1F77B4"), (3, "D62728")):
        series = Series(Reference(chart_ws, min_col=col, min_row=3, max_row=c_last), x, title_from_data=True)
        series.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.width = 22000
        series.marker.symbol = "none"
        series.smooth = False  # a staircase, not a curve
        chart.series.append(series)
    mark = Series(
        Reference(chart_ws, min_col=5, min_row=c_first, max_row=c_first),
        Reference(chart_ws, min_col=4, min_row=c_first, max_row=c_first),
        title="Break-even",
    )
    mark.marker.symbol = "diamond"
    mark.marker.size = 10
    mark.marker.graphicalProperties.solidFill = "2CA02C"
    mark.graphicalProperties.line.noFill = True
    chart.series.append(mark)
    chart.legend.position = "b"
    chart.width, chart.height = 24, 12
    ws.add_chart(chart, f"A{s0 + len(summary) + 3}")

    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.column_dimensions["A"].width = 58
    ws.column_dimensions["B"].width = 16
    for j in range(3, len(headers) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 14
    ws.column_dimensions["T"].width = REASON_WIDTH
    ws.column_dimensions["U"].width = 40
    for j in range(1, 6 + n_cfg):
        chart_ws.column_dimensions[get_column_letter(j)].width = 18
    return wb


def write_plan_workbook(path: str | os.PathLike[str], p: Plan, *, force: bool = False, **options: Any) -> Path:
    """Build the plan workbook and write it atomically (refusing to overwrite a file llmxl did not write)."""
    with gc_paused():
        return save_workbook(build_plan_workbook(p, **options), path, force=force)
