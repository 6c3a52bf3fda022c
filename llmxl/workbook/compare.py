"""``llmxl workbook compare``: GPUs against each other and against hosted APIs, for a procurement decision.

Sheets:

* **Compare**: the traffic, targets and reservation discount (editable), what the Load sheet was built for, one
  row per GPU × price basis (on demand, reserved, owned) × dtype with the cheapest tensor-parallel size that
  meets the targets, its replicas, GPUs, monthly cost, cost per 1M tokens (blended 3 : 1) and utilisation; the
  cheapest row; and per API provider the average traffic above which each row costs less than the provider.
* **Prices**: each GPU's on-demand price (the catalog's, or the one given), the reserved price it gives and the
  owned costs (purchase, depreciation, power, PUE, electricity, other), and each API provider's prices with
  their date and source as text; every price is an input.
* **Configurations**: one row per GPU × tp × dtype: B*, λ(B*), latencies, replicas and GPUs, as the plan
  workbook computes them (a price basis changes the cost of a configuration, not its load).
* **Load**: the load model of each configuration, B = 1 ... B_max, as values (the plan workbook's Load sheet).

Each row of the Compare sheet equals the cheapest row :func:`llmxl.plan` gives for that GPU and dtype under
that price basis (on demand: ``gpu_hour_usd`` the on-demand price, no discount; reserved: the discount; owned:
``owned`` the costs), and each break-even :func:`llmxl.breakeven` for that GPU, dtype and basis; with the same
limit as the plan workbook: the request shape, engine, percentile and cap fix the Load sheet, and every result
names the command that rebuilds it when they are edited.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter

from .. import prices
from ..checks import check_range
from ..errors import InvalidInputError, UnknownNameError
from .build import (
    HEADER_FONT,
    INPUT_FILL,
    TITLE_FONT,
    define,
    fit_header_rows,
    header_row,
    input_block,
    put,
    put_formula,
)
from .files import gc_paused, save_workbook
from .plan import (
    _INPUT_FORMATS,
    LOAD_PRINTED,
    STALE,
    WRAP,
    _blocks,
    _catalog_prices,
    _clean,
    _engine_text,
    _g,
    _inputs,
    _literal,
    _write_load_sheet,
)

__all__ = ["DEFAULT_DISCOUNT", "ApiColumn", "build_compare_workbook", "write_compare_workbook"]

#: The reservation discount of the reserved rows when none is given (a fraction off the on-demand price).
DEFAULT_DISCOUNT = 0.3
BASES = ("on demand", "reserved", "owned")
NONE = "1E+300"  # what an order column holds for a row that does not count
GUARD = f'IF({STALE}<>"",{STALE},'
TOP = Alignment(vertical="top")
CENTRE = Alignment(horizontal="center", vertical="top")
VALUE_COL, VALUE_LETTER = 4, "D"  # the Compare sheet's inputs: labels in A to C, values in D
CONF_FIRST = 4  # first configuration row of the Configurations sheet
PRICE_FIRST = 6  # first GPU row of the Prices sheet
OWNED_FIELDS = ("purchase_usd", "years", "power_kw", "pue", "usd_per_kwh", "other_usd_per_year")


class ApiColumn(NamedTuple):
    """One API the workbook compares with: its name, prices [USD per 1M tokens] and catalog entry (None: given)."""

    name: str
    prompt_usd_per_1m: float
    completion_usd_per_1m: float
    price: Any = None


def api_columns(model_id: str, apis: Sequence[Any] | None) -> list[ApiColumn]:
    """The APIs to compare with: the providers named (or (prompt, completion) pairs), else every provider the
    catalog prices the model at. A provider with no price for the model is refused, naming it."""
    if apis is None:
        try:
            found = prices.api_prices(model_id)
        except UnknownNameError:  # a model from a config.json: no catalog price
            found = []
        return [ApiColumn(p.provider, p.prompt_usd_per_1m, p.completion_usd_per_1m, p) for p in found]
    out: list[ApiColumn] = []
    for api in apis:
        if isinstance(api, str):
            p = prices.api_price(model_id, api)
            column = ApiColumn(p.provider, p.prompt_usd_per_1m, p.completion_usd_per_1m, p)
        else:
            if len(api) != 2:
                raise InvalidInputError(
                    f"api {api!r}: give a provider name or (prompt, completion) USD per 1M tokens", field="api"
                )
            pin, pout = (check_range(x, f"api {k} price") for x, k in zip(api, ("prompt", "completion"), strict=True))
            column = ApiColumn(f"given {pin:g} / {pout:g}", pin, pout)
        if any(c.name == column.name for c in out):
            raise InvalidInputError(f"api {column.name!r} is given twice; give it once", field="api")
        out.append(column)
    return out


class _GpuPrices(NamedTuple):
    """One GPU's inputs on the Prices sheet."""

    spec: Any
    on_demand: float | None
    owned_usd: float | None  # owned given as one USD per GPU-hour
    owned: dict[str, float]  # owned given as costs (power_kw and pue always filled), else {}
    power_kw: float | None
    pue: float


def _gpu_prices(gpus: Sequence[Any], gpu_hour_usd: Any, owned: Any, power_kw: Any, pue: Any) -> list[_GpuPrices]:
    """Each GPU's on-demand price and owned costs, checked as :func:`llmxl.plan` checks them."""
    rents = prices.per_gpu(gpu_hour_usd, gpus, "gpu_hour_usd")
    owns = prices.per_gpu(owned, gpus, "owned")
    powers = prices.per_gpu(power_kw, gpus, "power_kw")
    out = []
    for g, rent, own, kw in zip(gpus, rents, owns, powers, strict=True):
        # refuses what plan() refuses; a GPU without a catalog price is priced at a placeholder for its power
        basis = prices.price_basis(g, None if own is not None else 1.0, 0.0, own, kw, pue)
        on_demand = g.usd_per_hour if rent is None else check_range(rent, "gpu_hour_usd")
        costs: dict[str, float] = {}
        owned_usd = None
        if isinstance(own, Mapping):
            costs = {k: float(check_range(v, k)) for k, v in own.items() if k not in ("power_kw", "pue")}
            costs |= {"power_kw": basis.power_kw, "pue": basis.pue}
            costs.setdefault("other_usd_per_year", 0.0)
        elif own is not None:
            owned_usd = basis.usd_per_gpu_hour
        out.append(_GpuPrices(g, on_demand, owned_usd, costs, basis.power_kw, basis.pue))
    return out


# --- the workbook ----------------------------------------------------------------------------------------


def build_compare_workbook(
    model: Any,
    gpus: Any,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    requests_per_s: Any,
    peak_requests_per_s: Any = None,
    ttft_s_max: Any = None,
    itl_s_max: Any = None,
    tp: Any = None,
    dtype: Any = None,
    max_concurrency: Any = None,
    engine: Any = None,
    percentile: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    gpu_hour_usd: Any = None,
    reservation_discount: Any = DEFAULT_DISCOUNT,
    owned: Any = None,
    power_kw: Any = None,
    pue: Any = None,
    apis: Sequence[Any] | None = None,
) -> Workbook:
    """The comparison workbook of ``gpus`` for ``model``; the arguments are :func:`llmxl.plan`'s (prices as it
    takes them: ``gpu_hour_usd`` the on-demand price, ``owned`` the owned costs, by GPU or for all), with
    ``reservation_discount`` the reserved rows' discount (default 0.3) and ``apis`` the providers (or
    (prompt, completion) prices) to compare with, by default every provider the catalog prices the model at."""
    from ..checks import check_count
    from ..plan import plan
    from ..resolve import resolve_engine, resolve_gpu, resolve_model

    spec = resolve_model(model)
    eng = resolve_engine(engine)
    cap = None if max_concurrency is None else check_count(max_concurrency, "max_concurrency")
    discount = prices.check_fraction_below_one(reservation_discount, "reservation_discount")
    options = dict(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, requests_per_s=requests_per_s,
                   peak_requests_per_s=peak_requests_per_s, ttft_s_max=ttft_s_max, itl_s_max=itl_s_max, tp=tp,
                   dtype=dtype, max_concurrency=cap, engine=eng, flops_efficiency=flops_efficiency,
                   hbm_efficiency=hbm_efficiency)  # fmt: skip
    if percentile is not None:
        options["percentile"] = percentile
    # The load of a configuration does not depend on its price: one plan at a placeholder price gives every row.
    p = plan(spec, gpus, gpu_hour_usd=1.0, **{"dp": 1, "ep": 1, **options})  # procurement compares tp layouts
    specs = list(dict.fromkeys(resolve_gpu(g) for g in (gpus if isinstance(gpus, (list, tuple)) else [gpus])))
    gpu_prices = _gpu_prices(specs, gpu_hour_usd, owned, power_kw, pue)
    columns = api_columns(p.model, apis)
    dtypes = list(dict.fromkeys(r.dtype for r in p.rows))
    order = {g.id: i for i, g in enumerate(specs)}
    rows = sorted(p.rows, key=lambda r: (order[r.gpu], dtypes.index(r.dtype), r.tp, r.pp))
    p = replace(p, rows=tuple(rows))
    blocks, _ = _blocks(p, spec, eng, cap, flops_efficiency, hbm_efficiency)
    at = f"p{p.percentile:g}"
    engine_text = _engine_text(eng, engine)

    wb = Workbook()
    ws = wb.active
    ws.title = "Compare"
    price_ws = wb.create_sheet("Prices")
    conf_ws = wb.create_sheet("Configurations")
    load_ws = wb.create_sheet("Load")
    row0 = _write_inputs(wb, ws, p, discount, engine_text, cap, specs)
    price_rows, api_rows = _write_prices(wb, price_ws, gpu_prices, columns)
    groups = _write_configurations(conf_ws, p, blocks, at, engine_text)
    labels = [_clean(f"{r.gpu} tp={r.tp}{f' pp={r.pp}' if r.pp > 1 else ''} {r.dtype}") for r in p.rows]
    _write_load_sheet(load_ws, p, blocks, labels, at)
    # the plan workbook's Load sheet, its notes naming this workbook's sheets
    put(load_ws, 2, 1, "Columns B to H are the closed-form load model (docs/methodology.md, \"Engines and load\"), "
        f"computed by llmxl for {p.prompt_tokens:,} prompt and {p.completion_tokens:,} completion tokens")  # fmt: skip
    put(load_ws, 3, 1, f"per request, under the engine and at the percentile ({at}) the Compare sheet shows; B runs "
        "from 1 to B_max. Column I recalculates from the Compare sheet's targets.")  # fmt: skip
    put_formula(load_ws, 4, 1, f'=IF({STALE}="","The Load sheet matches the Compare sheet\'s inputs. Printed: its '
                f'first {LOAD_PRINTED} rows; the whole table is here on screen.",{STALE})')  # fmt: skip
    priced = {(gp.spec.id, "on demand"): gp.on_demand is not None for gp in gpu_prices}
    priced |= {(g, "reserved"): v for (g, _), v in priced.items()}
    priced |= {(gp.spec.id, "owned"): bool(gp.owned) or gp.owned_usd is not None for gp in gpu_prices}
    _write_comparison(wb, ws, row0, specs, dtypes, groups, price_rows, api_rows, columns, priced)
    for sheet in (ws, price_ws, conf_ws):
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    return wb


def _write_inputs(wb: Workbook, ws: Any, p: Any, discount: float, engine_text: str, cap: int | None,
                  specs: list[Any]) -> int:  # fmt: skip
    """The Compare sheet's inputs, what the Load sheet was built for and the stale check; returns the next row."""
    put(ws, 1, 1, f"llmxl procurement comparison: {p.model}, live formulas").font = TITLE_FONT
    put(
        ws,
        2,
        1,
        "Change the yellow inputs here and on the Prices sheet: every result recalculates (Excel or "
        "LibreOffice, no add-in). Each configuration's load model is on the Load sheet,",
    )
    put(
        ws,
        3,
        1,
        "computed for the request shape, engine and percentile below: changing those needs a rebuild "
        "(llmxl workbook compare).",
    )
    pct = f"p{p.percentile:g}"
    # the plan workbook's inputs (names and labels) that a comparison has; the discount is the reserved rows'
    plan_inputs = _inputs(p, ("", None, None), {"rented": None, "discount": discount, "owned": {}})
    keep = ("plan_rps", "plan_peak_rps", "plan_prompt", "plan_completion", "plan_ttft_max", "plan_itl_max")
    inputs = {k: plan_inputs[k] for k in keep}
    inputs["plan_discount"] = (f"Reserved: discount off on demand (default {DEFAULT_DISCOUNT:g})", discount)
    input_block(wb, ws, 5, inputs, value_col=VALUE_COL)
    for i, name in enumerate(inputs):
        ws.cell(5 + i, VALUE_COL).number_format = _INPUT_FORMATS[name]
    r = 5 + len(inputs) + 1
    cap_text = "none" if cap is None else str(cap)
    fixed = [
        ("plan_model", "Model (as built)", p.model),
        ("plan_engine", "Serving engine (as built: --engine)", engine_text),
        ("plan_percentile", "Percentile of latencies and targets (as built)", pct),
        ("plan_cap", "Cap on concurrency per replica (as built)", "none" if cap is None else cap),
    ]
    for i, (name, label, value) in enumerate(fixed):
        put(ws, r + i, 1, label)
        put(ws, r + i, VALUE_COL, value)
        define(wb, name, f"'Compare'!${VALUE_LETTER}${r + i}")
    r += len(fixed)
    gpu_flags = " ".join(f"--gpu {g.id}" for g in specs)
    stale = (
        f"=IF(AND(plan_prompt={p.prompt_tokens},plan_completion={p.completion_tokens},"
        f"plan_engine={_literal(engine_text)},plan_percentile={_literal(pct)},"
        f'plan_cap={_literal(cap_text) if cap is None else cap_text}),"",'
        + _literal(f"the Load sheet was computed for {p.prompt_tokens:,} prompt and {p.completion_tokens:,} "
                   f"completion tokens under {engine_text} at {pct} (cap on concurrency: {cap_text}); rebuild with "
                   f"llmxl workbook compare --model {p.model} {gpu_flags} --prompt ")
        + '&plan_prompt&" --completion "&plan_completion&'
        + _literal(" (and --engine, --percentile, --max-concurrency as wanted) for other ones")
        + ")"
    )  # fmt: skip
    put(ws, r, 1, "Load sheet check (blank: it matches the inputs)")
    put_formula(ws, r, VALUE_COL, stale)
    define(wb, STALE, f"'Compare'!${VALUE_LETTER}${r}")
    put(ws, r + 1, 1, "Peak / average")
    put_formula(ws, r + 1, VALUE_COL, "=plan_peak_rps/plan_rps", number_format="0.00")
    define(wb, "plan_peak_factor", f"'Compare'!${VALUE_LETTER}${r + 1}")
    return r + 3


def _write_prices(wb: Workbook, ws: Any, gpu_prices: list[_GpuPrices], columns: list[ApiColumn]
                  ) -> tuple[dict[str, int], list[int]]:  # fmt: skip
    """The Prices sheet; returns each GPU's row and each API's row."""
    hours = prices.hours_per_month()
    put(ws, 1, 1, "Prices: every figure in yellow is an input of the Compare sheet").font = TITLE_FONT
    put(
        ws,
        2,
        1,
        "On demand: the catalog's price (or --gpu-hour-usd). Reserved: on demand less the Compare sheet's "
        "discount. Owned: purchase / (years × 8,760 h) + power × PUE × electricity + other / 8,760 h,",
    )
    put(
        ws,
        3,
        1,
        "or the USD per GPU-hour typed in column J. llmxl has no owned costs of its own: without --owned "
        "the owned rows wait for them here.",
    )
    header_row(ws, PRICE_FIRST - 1, [
        "GPU", "On-demand USD per GPU-hour", "Reserved USD per GPU-hour", "Owned: purchase per GPU [USD]",
        "Owned: depreciation [years]", "Owned: power per GPU with its share of the server [kW]", "Owned: PUE",
        "Owned: electricity [USD/kWh]", "Owned: other cost per GPU per year [USD]",
        "Owned: USD per GPU-hour given (blank: from the costs)", "Owned USD per GPU-hour", "On-demand price source",
    ])  # fmt: skip
    formats = ["$#,##0.00##", None, "$#,##0", "0.##", "0.0##", "0.0#", "$0.000#", "$#,##0", "$#,##0.00##"]
    rows: dict[str, int] = {}
    for k, gp in enumerate(gpu_prices):
        r = PRICE_FIRST + k
        rows[gp.spec.id] = r
        put(ws, r, 1, gp.spec.id)
        values = [gp.on_demand, None, *(gp.owned.get(f) for f in OWNED_FIELDS), gp.owned_usd]
        if not gp.owned and gp.owned_usd is None:  # the GPU's power and PUE, ready for its owned costs
            values[4], values[5] = gp.power_kw, gp.pue
        for j, (value, fmt) in enumerate(zip(values, formats, strict=True), start=2):
            if j == 3:
                continue
            cell = put(ws, r, j, value, number_format=fmt)
            cell.fill = INPUT_FILL
        put_formula(ws, r, 3, f'=IF(B{r}="","",B{r}*(1-plan_discount))', number_format="$#,##0.00##")
        per_year = f"{12 * hours:g}"
        put_formula(ws, r, 11, f'=IF(J{r}<>"",J{r},IF(OR(D{r}="",E{r}="",H{r}=""),"",D{r}/(E{r}*{per_year})'
                    f"+F{r}*G{r}*H{r}+I{r}/{per_year}))", number_format="$#,##0.000")  # fmt: skip
        put(ws, r, 12, _catalog_prices([gp.spec]) if gp.on_demand == gp.spec.usd_per_hour else "given (--gpu-hour-usd)")
    a0 = PRICE_FIRST + len(gpu_prices) + 2
    put(ws, a0 - 1, 1, "API prices (prompt and completion USD per 1M tokens; dated as built)").font = HEADER_FONT
    header_row(ws, a0, ["API provider", "Prompt USD per 1M tokens", "Completion USD per 1M tokens",
                        "API cost per month per request/s [USD]", "API cost per month at the average traffic [USD]",
                        "Provider's model", "Price dated (as built)"])  # fmt: skip
    header_row(ws, a0, ["Source of the price (as built)"], first_col=12)
    api_rows = []
    today = _dt.date.today()
    for k, col in enumerate(columns):
        r = a0 + 1 + k
        api_rows.append(r)
        put(ws, r, 1, col.name)
        for j, v in ((2, col.prompt_usd_per_1m), (3, col.completion_usd_per_1m)):
            put(ws, r, j, v, number_format="$#,##0.00##").fill = INPUT_FILL
        put_formula(ws, r, 4, f'=IF(OR(B{r}="",C{r}=""),"",{hours:g}*3600*(plan_prompt*B{r}+plan_completion*C{r})'
                    "/1E+6)", number_format="$#,##0.00")  # fmt: skip
        put_formula(ws, r, 5, f'=IF(D{r}="","",D{r}*plan_rps)', number_format="$#,##0.00")
        price = col.price
        if price is not None:
            flag = ": check it with the provider" if prices.price_is_stale(price, today) else ""
            put(ws, r, 6, price.provider_model or price.model)
            put(ws, r, 7, f"{prices.date_text(price)}, {prices.price_age_days(price, today)} days old on "
                f"{today.isoformat()}{flag}")  # fmt: skip
            put(ws, r, 12, "; ".join(x for x in (", ".join(y for y in (price.source, price.source_url) if y),
                                                 price.note) if x))  # fmt: skip
        else:
            put(ws, r, 7, "given when the file was built")
    if not columns:
        put(ws, a0 + 1, 1, "no provider in the catalog prices this model; rebuild with --api PROMPT,COMPLETION")
    widths = [18, 13, 13, 13, 13, 15, 26, 13, 13, 15, 12, 60]
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w
    for r in range(PRICE_FIRST, PRICE_FIRST + len(gpu_prices)):
        _wrap(ws, r, [12])
    for r in api_rows:
        _wrap(ws, r, [6, 7, 12])  # the source in column L, beside the GPUs' price sources
    ws.print_area = f"A1:L{max([a0 + 1, *api_rows])}"
    fit_header_rows(ws, [PRICE_FIRST - 1, a0])
    return rows, api_rows


def _wrap(ws: Any, r: int, cols: list[int]) -> None:
    """Wrap the text of row ``r`` in ``cols`` and make the row tall enough for the longest (a reader does not)."""
    lines = 1
    for col in cols:
        cell = ws.cell(r, col)
        cell.alignment = WRAP
        width = ws.column_dimensions[get_column_letter(col)].width
        if isinstance(cell.value, str):
            lines = max(lines, math.ceil(len(cell.value) / max(width * 0.9 - 1, 1)))
    for col in range(1, ws.max_column + 1):
        if col not in cols and ws.cell(r, col).alignment.vertical != "top":
            ws.cell(r, col).alignment = TOP
    ws.row_dimensions[r].height = 15 * lines


class _Group(NamedTuple):
    """The Configurations rows of one GPU and dtype (its tp sizes), first to last."""

    gpu: str
    dtype: str
    first: int
    last: int
    tps: list[tuple[int, int]]  # (row, tp) of each
    serves: bool = False  # whether one of them meets the targets as built


def _write_configurations(ws: Any, p: Any, blocks: list[Any], at: str, engine_text: str) -> list[_Group]:
    """One row per GPU × tp × dtype: what the price basis does not change. Returns the groups by GPU and dtype."""
    put(ws, 1, 1, f"Each configuration's design load under {engine_text}, at {at} (the plan workbook's "
        "columns; the price basis changes its cost, not its load)").font = HEADER_FONT  # fmt: skip
    headers = ["GPU", "tp", "pp", "Dtype", "Sequences the engine runs at once", "Capacity B_max (mean concurrency)",
               "Capacity λ_max [requests/s]", "Concurrency B* (largest meeting the targets)",
               "Requests/s of one replica λ(B*)", f"Time to first token {at} [s]", f"Inter-token latency {at} [s]",
               "Replicas", "GPUs", "Prompt share φ at B*", "Why it cannot serve", "Order: GPUs",
               "Order: then TTFT"]  # fmt: skip
    header_row(ws, CONF_FIRST - 1, headers)
    groups: list[_Group] = []
    for k, (row, block) in enumerate(zip(p.rows, blocks, strict=True)):
        r = CONF_FIRST + k
        if not groups or (groups[-1].gpu, groups[-1].dtype) != (row.gpu, row.dtype):
            groups.append(_Group(row.gpu, row.dtype, r, r, []))
        groups[-1] = groups[-1]._replace(last=r)
        groups[-1].tps.append((r, row.tp))
        if row.reason is None:
            groups[-1] = groups[-1]._replace(serves=True)
        for j, v in enumerate((row.gpu, row.tp, row.pp, row.dtype), start=1):
            put(ws, r, j, v).alignment = CENTRE if j in (2, 3) else TOP
        if block is None:
            cells: dict[int, tuple[str, str | None]] = {c: (f'={GUARD}"")', None) for c in range(5, 15)}
            cells[15] = (f"={GUARD}{_literal(row.reason or '')})", None)
        else:
            rng = {c: f"Load!${c}${block.first}:${c}${block.last}" for c in "BCDEFGHI"}
            miss = (f'"misses the targets even at concurrency 1: {at} time to first token "&{_g(f"J{r}", 3)}'
                    f'&" s, inter-token latency "&{_g(f"K{r}", 3)}&" s"')  # fmt: skip
            cells = {
                5: (f"={GUARD}{block.fit})", "#,##0"),
                6: (f"={GUARD}{block.b_max})", "#,##0"),
                7: (f"={GUARD}INDEX({rng['C']},F{r}))", "0.000"),
                8: (f"={GUARD}IFERROR(MATCH(0,{rng['I']},0)-1,F{r}))", "#,##0"),
                9: (f'={GUARD}IF(H{r}=0,"",INDEX({rng["C"]},H{r})))', "0.000"),
                10: (f"={GUARD}INDEX({rng['D']},MAX(H{r},1)))", "0.0000"),
                11: (f"={GUARD}INDEX({rng['E']},MAX(H{r},1)))", "0.0000"),
                12: (f'={GUARD}IF(H{r}=0,"",ROUNDUP(plan_peak_rps/I{r},0)))', "#,##0"),
                13: (f'={GUARD}IF(H{r}=0,"",L{r}*B{r}*C{r}))', "#,##0"),
                14: (f'={GUARD}IF(H{r}=0,"",INDEX({rng["H"]},H{r})))', "0.000"),
                15: (f'={GUARD}IF(H{r}=0,{miss},""))', None),
            }  # fmt: skip
        for col, (formula, fmt) in cells.items():
            cell = put_formula(ws, r, col, formula, number_format=fmt)
            cell.alignment = WRAP if col == 15 else TOP
        if row.reason:  # as tall as the reason the plan gives now (readers do not grow rows themselves)
            ws.row_dimensions[r].height = 15 * math.ceil(len(row.reason) / 45)
    for g in groups:  # the cheapest tp of a GPU and dtype: fewest GPUs, then the lowest TTFT, then the first
        for r, _ in g.tps:
            put_formula(ws, r, 16, f"=IF(ISNUMBER(M{r}),M{r},{NONE})", number_format="#,##0")
            put_formula(ws, r, 17, f"=IF(AND(P{r}<{NONE},P{r}=MIN(P${g.first}:P${g.last})),J{r},{NONE})",
                        number_format="0.0000")  # fmt: skip
    widths = [16, 6, 6, 14] + [12] * 10 + [50, 10, 10]
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w
    for letter in "PQ":  # working columns of the pick
        ws.column_dimensions[letter].hidden = True
    fit_header_rows(ws, [CONF_FIRST - 1])
    ws.freeze_panes = f"E{CONF_FIRST}"
    ws.print_title_rows = f"{CONF_FIRST - 1}:{CONF_FIRST - 1}"
    return groups


def _write_comparison(wb: Workbook, ws: Any, row0: int, specs: list[Any], dtypes: list[str], groups: list[_Group],
                      price_rows: dict[str, int], api_rows: list[int], columns: list[ApiColumn],
                      priced: dict[tuple[str, str], bool]) -> None:  # fmt: skip
    """The Compare sheet's table, its cheapest row and the break-even table; ``priced`` says which GPU and basis
    has a price as built (the rows without one, or without a tp that serves, are two lines tall for the note)."""
    from .. import catalog

    hours = prices.hours_per_month()
    finance = catalog.get_catalog().finance
    wp, wc = finance.blend_prompt_weight, finance.blend_completion_weight
    seconds = f"{hours * 3600:g}"
    visible = max(12, 3 + len(columns))  # the last column either table shows; working columns follow, hidden
    o1, o2, pk = (get_column_letter(visible + k) for k in (2, 3, 4))
    put(ws, row0, 1, "Each GPU, price basis and dtype at its cheapest tp that meets the targets").font = HEADER_FONT
    headers = ["GPU", "Price basis", "Dtype", "USD per GPU-hour", "tp (cheapest meeting the targets)", "Replicas",
               "GPUs", "Monthly cost [USD]", "USD per 1M tokens, blended (3:1)", "Utilisation", "Peak utilisation",
               "Concurrency B* per replica"]  # fmt: skip
    header_row(ws, row0 + 1, headers)
    header_row(ws, row0 + 1, ["Order: monthly cost", "Order: then GPUs", "Pick (row of the tp)"], visible + 2)
    first = row0 + 2
    by_key = {(g.gpu, g.dtype): g for g in groups}
    table = [(g.id, basis, by_key[(g.id, d)]) for g in specs for basis in BASES for d in dtypes if (g.id, d) in by_key]
    last = first + len(table) - 1
    conf = "Configurations!"
    no_price = {
        "on demand": "no price: see Prices",
        "reserved": "no price: see Prices",
        "owned": "no owned costs: see Prices",
    }
    for i, (gpu, basis, grp) in enumerate(table):
        r = first + i
        pr = price_rows[gpu]
        rng = {c: f"{conf}${c}${grp.first}:${c}${grp.last}" for c in "BCGHLMNPQ"}

        def at(c: str, rng: dict[str, str] = rng, r: int = r) -> str:
            return f"INDEX({rng[c]},${pk}{r})"

        for j, v in enumerate((gpu, basis, grp.dtype), start=1):
            put(ws, r, j, v).alignment = TOP
        price = {"on demand": "B", "reserved": "C", "owned": "K"}[basis]
        serves = f'${pk}{r}<>""'
        cells: dict[int, tuple[str, str | None]] = {
            4: (f'=IF(Prices!${price}${pr}="","",Prices!${price}${pr})', "$#,##0.000"),
            5: (f'={GUARD}IF({serves},{at("B")},""))', "0"),
            6: (f'={GUARD}IF({serves},{at("L")},""))', "#,##0"),
            7: (f'={GUARD}IF({serves},{at("M")},""))', "#,##0"),
            8: (f'={GUARD}IF({serves},IF(D{r}="",{_literal(no_price[basis])},G{r}*D{r}*{hours:g}),'
                '"no tp meets the targets"))', "$#,##0"),
            9: (f'={GUARD}IF(ISNUMBER(H{r}),({wp:g}*({at("N")}*H{r}/(plan_rps*{seconds}*plan_prompt)*1E+6)'
                f'+{wc:g}*((1-{at("N")})*H{r}/(plan_rps*{seconds}*plan_completion)*1E+6))/{wp + wc:g},""))',
                "$#,##0.000"),
            10: (f'={GUARD}IF({serves},plan_rps/(F{r}*{at("G")}),""))', "0.0%"),
            11: (f'={GUARD}IF({serves},plan_peak_rps/(F{r}*{at("G")}),""))', "0.0%"),
            12: (f'={GUARD}IF({serves},{at("H")},""))', "#,##0"),
            visible + 2: (f"=IF(ISNUMBER(H{r}),H{r},{NONE})", "$#,##0"),
            visible + 3: (f"=IF({o1}{r}=MIN({o1}${first}:{o1}${last}),G{r},{NONE})", "#,##0"),
            visible + 4: (f'=IF(MIN({rng["P"]})<{NONE},MATCH(MIN({rng["Q"]}),{rng["Q"]},0),"")', "0"),
        }  # fmt: skip
        for col, (formula, fmt) in cells.items():
            cell = put_formula(ws, r, col, formula, number_format=fmt)
            cell.alignment = WRAP if col == 8 else TOP
        if not (grp.serves and priced[(gpu, basis)]):
            ws.row_dimensions[r].height = 30
    define(wb, "cmp_monthly", f"'Compare'!$H${first}:$H${last}")

    # The cheapest row: the lowest monthly cost, then the fewest GPUs, then the first
    s0 = last + 2
    put(ws, s0, 1, "Recommendation: the cheapest row").font = HEADER_FONT
    best = f"MATCH(MIN({o2}{first}:{o2}{last}),{o2}{first}:{o2}{last},0)"
    none = f"COUNT(H{first}:H{last})=0"

    def pick(col: str) -> str:
        return f"INDEX({col}{first}:{col}{last},{best})"

    summary = [
        ("cmp_best", "Configuration", f'={GUARD}IF({none},"no row meets the targets at a price",{pick("A")}&" tp="'
         f'&{pick("E")}&" "&{pick("C")}&", "&{pick("B")}))', None),
        ("cmp_best_gpus", "GPUs", f'={GUARD}IF({none},"",{pick("G")}))', "#,##0"),
        ("cmp_best_monthly", "Monthly cost [USD]", f'={GUARD}IF({none},"",{pick("H")}))', "$#,##0"),
        ("cmp_best_blended", "USD per 1M tokens, blended (3:1)", f'={GUARD}IF({none},"",{pick("I")}))', "$#,##0.000"),
    ]  # fmt: skip
    for i, (name, label, formula, fmt) in enumerate(summary):
        put(ws, s0 + 1 + i, 1, label)
        put_formula(ws, s0 + 1 + i, VALUE_COL, formula, number_format=fmt)
        define(wb, name, f"'Compare'!${VALUE_LETTER}${s0 + 1 + i}")

    # Break-even per API (llmxl.breakeven): the lowest traffic at which one of the row's tp sizes, fully used at
    # the peak factor, costs less than the API; "never" when none does.
    b0 = s0 + len(summary) + 2
    put(ws, b0, 1, "Break-even: the average traffic [requests/s] above which each row costs less than the API, at "
        "the peak / average above").font = HEADER_FONT  # fmt: skip
    header_row(ws, b0 + 1, ["GPU", "Price basis", "Dtype", *(f"vs {c.name}" for c in columns)])
    put(ws, b0 + 2, 1, "The API's cost per month at the average traffic [USD]")
    for k, ar in enumerate(api_rows):
        put_formula(ws, b0 + 2, 4 + k, f"=Prices!$E${ar}", number_format="$#,##0")
    for i, (_, _, grp) in enumerate(table):
        r, br = first + i, b0 + 3 + i
        for j, col in enumerate("ABC", start=1):
            put_formula(ws, br, j, f"={col}{r}")
        for k, ar in enumerate(api_rows):
            a = f"Prices!$D${ar}"
            terms = []
            for cr, _ in grp.tps:
                replica = f"{conf}$B${cr}*{conf}$C${cr}*$D${r}*{hours:g}"
                lam = f"{conf}$I${cr}"
                terms.append(f"IF(ISNUMBER({lam}),IF({a}*{lam}/plan_peak_factor>={replica},{replica}/{a},{NONE}),"
                             f"{NONE})")  # fmt: skip
            low = f"MIN({','.join(terms)})"
            formula = (f'={GUARD}IF(OR({a}="",$D${r}=""),"",IF(${pk}${r}="","cannot serve",IF({a}=0,"never",'
                       f'IF({low}<{NONE},{low},"never")))))')  # fmt: skip
            put_formula(ws, br, 4 + k, formula, number_format="0.000").alignment = Alignment(horizontal="right")
    if not columns:
        put(ws, b0 + 2, 4, "no API: no provider in the catalog prices this model (rebuild with --api)")
    if columns:
        define(wb, "cmp_breakeven", f"'Compare'!$D${b0 + 3}:${get_column_letter(3 + len(columns))}$"
               f"{b0 + 2 + len(table)}")  # fmt: skip
    ws.column_dimensions["A"].width = 25  # with B and C: the inputs' labels
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 14
    for j in range(4, visible + 5):
        ws.column_dimensions[get_column_letter(j)].width = 12
    ws.column_dimensions["H"].width = 15  # the monthly cost, or why there is none
    for letter in (o1, o2, pk):
        ws.column_dimensions[letter].hidden = True
    fit_header_rows(ws, [row0 + 1, b0 + 1])
    ws.print_area = f"A1:{get_column_letter(visible)}{b0 + 2 + len(table)}"


def write_compare_workbook(path: str | os.PathLike[str], model: Any, gpus: Any, *, force: bool = False,
                           **options: Any) -> Path:  # fmt: skip
    """Build the comparison workbook and write it atomically (refusing to overwrite a file llmxl did not write)."""
    with gc_paused():
        return save_workbook(build_compare_workbook(model, gpus, **options), path, force=force)
