"""``llmxl workbook plan``: a capacity plan whose cells are live, native formulas over the load model.

Sheets:

* **Plan**: the inputs (traffic, request shape, latency targets, price basis, an API's prices), what the
  workbook was built for (model, engine, percentile, cap on concurrency), one row per candidate configuration
  (GPU × tp × dtype) with its design concurrency B*, requests/s per replica, latency at the percentile,
  replicas, GPUs, utilisation, monthly cost, cost per 1M tokens and why it cannot serve when it cannot, the
  cheapest configuration, the break-even against the API, and a chart of monthly cost against average
  traffic. Every result is a formula, and equals :func:`llmxl.plan` for the inputs in the yellow cells.
* **Load**: the closed-form load model (docs/methodology.md, "Engines and load"; llmxl.load.queueing) of each
  configuration at mean concurrency B = 1, 2, ... up to its capacity B_max: requests/s λ(B), time to first
  token and inter-token latency at the percentile and their means, and the prompts' share φ of the replica's
  time, as values llmxl computed when it wrote the file; beside them a formula per row says whether B meets
  the Plan sheet's targets. B* is the first B that misses, less one (B_max when none misses), read with MATCH.
* **Chart data**: self-hosted and API cost at 121 traffic levels, for the chart.

The limit: the Load sheet holds the model for the request shape (prompt and completion tokens), engine,
percentile and cap on concurrency the file was built with. Traffic, targets, prices, the owned-hardware
costs, the discount and the API prices recalculate; when the prompt or completion cell no longer holds what
the sheet was computed for (or the engine, percentile or cap cell is changed), every result says so and
names the ``llmxl workbook plan`` command that rebuilds it, rather than showing a number for another shape.
The sheet holds B up to each configuration's B_max only; a plan needing more than :data:`MAX_LOAD_ROWS`
rows in all (small models under a high cap on sequences, many configurations) is refused.

Formulas use INDEX, MATCH, MIN, MAX, IF, IFERROR, ROUND, ROUNDUP, INT, LOG10, ABS, POWER, ISNUMBER and
arithmetic only, so Excel and LibreOffice compute them alike with no add-in.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter

from .. import catalog, prices
from ..errors import InvalidInputError, LlmxlError
from ..plan import Plan

if TYPE_CHECKING:
    from ..specs import ApiPrice
from .build import (
    HEADER_FONT,
    MAX_SERIES,
    TITLE_FONT,
    define,
    finance_print,
    fit_header_rows,
    header_row,
    input_block,
    not_charted_note,
    put,
    put_formula,
    series_style,
)
from .files import gc_paused, save_workbook

__all__ = ["MAX_LOAD_ROWS", "build_plan_workbook", "write_plan_workbook"]

TRAFFIC_LEVELS = 121
#: Most rows the Load sheet holds (every configuration's B = 1 ... B_max); a plan needing more is refused.
MAX_LOAD_ROWS = 200_000
LABEL_WIDTH = 46  # the labels of the inputs (and the GPU column of the table)
WRAP = Alignment(wrap_text=True, vertical="top")
TOP = Alignment(vertical="top")
RIGHT = Alignment(horizontal="right", vertical="top")
REASON_WIDTH = 40  # the reason column, in characters of the default font
REASON_CHARS_PER_LINE = 36  # what fits on one line of it, leaving room for word breaks
LOAD_FIRST = 6  # first data row of the Load sheet
LOAD_PRINTED = 40  # rows of it that print (the table runs to thousands: one page shows what it is)
STALE = "plan_stale"  # the defined name of the check that the Load sheet fits the inputs ("" when it does)


class _Block(NamedTuple):
    """One configuration's rows on the Load sheet (None for a configuration the engine cannot run)."""

    first: int
    last: int
    fit: int
    b_max: int
    load: Any  # the sweep (llmxl.load.queueing.ReplicaLoad) up to B_max


# --- text in formulas ----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """``text`` with the characters a workbook cannot hold replaced, as :func:`.build.put` does."""
    from .build import _UNWRITABLE, ILLEGAL_CHARACTERS_RE

    return _UNWRITABLE.sub("\ufffd", ILLEGAL_CHARACTERS_RE.sub("?", text))


def _literal(text: str) -> str:
    """``text`` as a formula's string constant (quotes doubled; chunks of at most 250 characters, joined with
    ``&``, since a spreadsheet takes no longer constant)."""
    text = _clean(text)
    chunks = [text[i : i + 250] for i in range(0, len(text), 250)] or [""]
    return "&".join('"' + c.replace('"', '""') + '"' for c in chunks)


def _g(x: str, digits: int) -> str:
    """A formula giving the text Python's ``f"{x:.{digits}g}"`` gives for the number ``x`` (an expression):
    ``digits`` significant digits, positional for exponents from -4 to digits - 1, else as 1.23e-05."""
    a = f"ABS({x})"
    e0 = f"INT(LOG10({a}))"
    r = f"ROUND({a},{digits - 1}-{e0})"
    e = f"INT(LOG10({r}))"
    sci = f'ROUND({r}/POWER(10,{e}),{digits - 1})&"e"&IF({e}<0,"-","+")&IF(ABS({e})<10,"0","")&ABS({e})'
    body = f'IF(AND({e}>=-4,{e}<{digits}),{r}&"",{sci})'
    return f'IF({x}=0,"0",IF({x}<0,"-","")&{body})'


# --- inputs ----------------------------------------------------------------------------------------------


def _inputs(p: Plan, api: tuple[str, float | None, float | None], price: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    # Owned hardware: the given figures, else the example of llmxl/data/finance.toml (sourced there).
    owned = {**catalog.get_catalog().finance.owned_example, **price["owned"]}
    return {
        "plan_rps": ("Average traffic [requests/s]", p.requests_per_s),
        "plan_peak_rps": ("Peak traffic [requests/s]", p.peak_requests_per_s),
        "plan_prompt": ("Prompt tokens per request (the Load sheet's: see below)", p.prompt_tokens),
        "plan_completion": ("Completion tokens per request (the Load sheet's: see below)", p.completion_tokens),
        "plan_ttft_max": (f"Target time to first token, p{p.percentile:g} [s] (blank: none)", p.ttft_s_max),
        "plan_itl_max": (f"Target inter-token latency, p{p.percentile:g} [s] (blank: none)", p.itl_s_max),
        "plan_gpu_hour_usd": ("Rented price per GPU-hour [USD] (blank: each GPU's catalog price)", price["rented"]),
        "plan_discount": ("Reservation discount on the rented price (fraction off)", price["discount"]),
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
        "plan_api_cached": (
            "API price, cached prompt [USD per 1M tokens] (blank: the prompt price)",
            price.get("cached"),
        ),
        "plan_prefix_hit": (
            "Prefix cache hit: share of prompt tokens served from it (the Load sheet's: see below)",
            p.prefix_cache_hit,
        ),
    }


_INPUT_FORMATS = {
    "plan_rps": "#,##0.####", "plan_peak_rps": "#,##0.####", "plan_prompt": "#,##0", "plan_completion": "#,##0",
    "plan_ttft_max": "0.000###", "plan_itl_max": "0.000###", "plan_gpu_hour_usd": "$#,##0.00##",
    "plan_discount": "0.0##", "plan_purchase_usd": "$#,##0", "plan_years": "0.##", "plan_power_kw": "0.0##",
    "plan_pue": "0.0#", "plan_usd_per_kwh": "$0.000#", "plan_other_usd": "$#,##0",
    "plan_api_prompt": "$#,##0.00##", "plan_api_completion": "$#,##0.00##", "plan_api_cached": "$#,##0.00##",
    "plan_prefix_hit": "0.0##",
}  # fmt: skip


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


def _engine_text(eng: Any, given: Any) -> str:
    """The engine as the sheet names it: its id, the release its profile holds and the settings given."""
    text = f"{eng.id} {eng.version}" if getattr(eng, "version", None) else eng.id
    settings = given.partition(":")[2].strip() if isinstance(given, str) else ""
    return f"{text} ({settings})" if settings else text


def _catalog_prices(gpus: list[Any]) -> str:
    parts = []
    for g in gpus:
        if g.usd_per_hour is None:
            parts.append(f"{g.id}: none")
            continue
        when = f", checked {g.usd_per_hour_checked.isoformat()}" if g.usd_per_hour_checked else ""
        source = f", {g.usd_per_hour_source}" if g.usd_per_hour_source else ""
        parts.append(f"{g.id}: ${g.usd_per_hour:g}{source}{when}")
    return "; ".join(parts)


# --- the load model of each configuration ----------------------------------------------------------------


def _dp_ep(row: Any) -> str:
    """ " dp=8 ep=8" for a row of an expert/data-parallel layout (llmxl.parallel); nothing for tp and pp alone."""
    return f" dp={row.dp} ep={row.ep}" if row.dp > 1 or row.ep > 1 else ""


def _blocks(p: Plan, spec: Any, eng: Any, cap: int | None, fe: Any, he: Any) -> tuple[list[_Block | None], list[Any]]:
    """Each row's load model (as plan() computed it), with its rows on the Load sheet; and each row's GPU."""
    from ..operating import DEFAULT_PERCENTILE, configured
    from ..resolve import resolve_gpu

    pct = DEFAULT_PERCENTILE if p.percentile is None else p.percentile
    out: list[_Block | None] = []
    gpus = []
    row_at = LOAD_FIRST
    for row in p.rows:
        g = resolve_gpu(row.gpu)
        gpus.append(g)
        if row.capacity_requests_per_s is None:  # the engine cannot run it: the row's reason says why
            out.append(None)
            continue
        try:
            c = configured(spec, g, row.tp, row.pp, row.dtype, p.prompt_tokens, p.completion_tokens, fe, he, eng,
                           cap, pct, row.dp, row.ep, 0, *_speculative_args(p),
                           prefix_cache_hit=p.prefix_cache_hit)  # fmt: skip
        except LlmxlError as exc:
            raise InvalidInputError(
                f"{row.gpu} tp={row.tp} {row.dtype} no longer builds ({exc.message}); plan and write the workbook "
                "with the same inputs",
                field="engine",
            ) from exc
        if (c.fit, c.capacity_requests_per_s) != (row.max_concurrency, row.capacity_requests_per_s):
            raise InvalidInputError(
                f"{row.gpu} tp={row.tp} {row.dtype}: the plan was made under other engine settings, cap or "
                "efficiencies than the workbook is given; pass the plan's engine, max_concurrency, "
                "flops_efficiency and hbm_efficiency",
                field="engine",
            )
        b_max = c.capacity_concurrency
        out.append(_Block(row_at, row_at + b_max - 1, c.fit, b_max, c.sweep))
        row_at += b_max
    total = row_at - LOAD_FIRST
    if total > MAX_LOAD_ROWS:
        raise InvalidInputError(
            f"the Load sheet would hold {total:,} rows of the load model (B = 1 up to each configuration's "
            f"capacity), over the {MAX_LOAD_ROWS:,} a workbook takes; plan fewer GPUs, tp sizes or dtypes per "
            "workbook (or a lower --max-concurrency)",
            field="gpus",
        )
    return out, gpus


def _speculative_args(p: Plan) -> tuple[Any, ...]:
    """(method, k, acceptance rate) of the plan's speculative decoder, () without one."""
    return () if p.speculative is None else (p.speculative, p.num_speculative_tokens, p.acceptance_rate)


def _speculative_text(p: Plan) -> str:
    """The plan's speculative decoder as the Plan sheet names it (and the stale check compares)."""
    from ..speculative import tokens_per_step

    alpha, k = p.acceptance_rate, p.num_speculative_tokens
    tau = tokens_per_step(alpha, k)  # type: ignore[arg-type]
    tokens = f"{k} draft token" + ("s" if k != 1 else "")
    return f"{p.speculative}, {tokens}, acceptance rate {alpha:.6g} ({tau:.4g} tokens per step)"


def _write_load_sheet(ws: Any, p: Plan, blocks: list[_Block | None], labels: list[str], at: str) -> None:
    """The Load sheet: the sweep as values, one formula per row for the targets; cells made directly (many)."""
    put(ws, 1, 1, "The load model of one replica of each configuration, at mean concurrency B").font = TITLE_FONT
    notes = [
        'Columns B to H are the closed-form load model (docs/methodology.md, "Engines and load"), computed by '
        f"llmxl when this file was written for {p.prompt_tokens:,} prompt and {p.completion_tokens:,} completion"
        + (f" ({p.prefix_cache_hit:g} of each prompt from the prefix cache)" if p.prefix_cache_hit else ""),
        f"tokens per request, under the engine and at the percentile ({at}) the Plan sheet shows; B runs from 1 to "
        "B_max. Column I recalculates from the Plan sheet's targets.",
    ]
    for i, text in enumerate(notes):
        put(ws, 2 + i, 1, text)
    put_formula(ws, 4, 1, f'=IF({STALE}="","The Load sheet matches the Plan sheet\'s inputs. Printed: its first '
                f'{LOAD_PRINTED} rows; the whole table is here on screen.",{STALE})')  # fmt: skip
    headers = [
        "Configuration",
        "Concurrency B (sequences decoding on average)",
        "Requests/s of one replica λ(B)",
        f"Time to first token {at} [s]",
        f"Inter-token latency {at} [s]",
        "Time to first token, mean [s]",
        "Inter-token latency, mean [s]",
        "Prompt share of the replica's time φ",
        "Meets the targets (1/0)",
    ]
    header_row(ws, LOAD_FIRST - 1, headers)
    formats = ["General", "#,##0", "0.000", "0.0000", "0.0000", "0.0000", "0.0000", "0.000", "0"]
    styles = []
    for j, fmt in enumerate(formats):  # one styled cell per column; the rest copy its style
        cell = put(ws, LOAD_FIRST, j + 1, None, number_format=fmt)
        styles.append(cell._style)
    cells = ws._cells
    meets = '=IF(AND(OR(plan_ttft_max="",D{r}<=plan_ttft_max),OR(plan_itl_max="",E{r}<=plan_itl_max)),1,0)'
    for block, label in zip(blocks, labels, strict=True):
        if block is None:
            continue
        load = block.load
        n = block.b_max
        columns = [
            load.concurrency[:n].astype(int).tolist(),
            load.requests_per_s[:n].tolist(),
            load.ttft_pct_s[:n].tolist(),
            load.itl_pct_s[:n].tolist(),
            load.ttft_s[:n].tolist(),
            load.itl_s[:n].tolist(),
            load.prompt_share[:n].tolist(),
        ]
        for i, values in enumerate(zip(*columns, strict=True)):
            r = block.first + i
            cell = Cell(ws, row=r, column=1, style_array=StyleArray(styles[0]))
            cell._value, cell.data_type = label, "s"
            cells[(r, 1)] = cell
            for j, v in enumerate(values, start=2):
                cell = Cell(ws, row=r, column=j, style_array=StyleArray(styles[j - 1]))
                cell._value = v
                cells[(r, j)] = cell
            cell = Cell(ws, row=r, column=9, style_array=StyleArray(styles[8]))
            cell._value, cell.data_type = meets.format(r=r), "f"
            cells[(r, 9)] = cell
    ws.freeze_panes = f"C{LOAD_FIRST}"
    ws.column_dimensions["A"].width = 30
    for j in range(2, len(headers) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 15
    fit_header_rows(ws, [LOAD_FIRST - 1])
    last = max((b.last for b in blocks if b is not None), default=LOAD_FIRST)
    ws.auto_filter.ref = f"A{LOAD_FIRST - 1}:I{last}"
    ws.print_title_rows = f"{LOAD_FIRST - 1}:{LOAD_FIRST - 1}"
    ws.print_area = f"A1:I{min(last, LOAD_FIRST + LOAD_PRINTED - 1)}"  # one page, not one per 40 of B
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


# --- the workbook ----------------------------------------------------------------------------------------


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
    engine: Any = None,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    api_cached: float | None = None,
) -> Workbook:
    """The capacity plan ``p`` (from :func:`llmxl.plan`) as live formulas over its load model.

    Give the ``engine``, ``max_concurrency``, ``flops_efficiency`` and ``hbm_efficiency`` the plan was made
    with (the engine as :func:`llmxl.plan` takes it, settings included: ``"vllm:max_num_seqs=512"``); the Load
    sheet is computed again from them, for the plan's request shape and percentile, and refused when it does
    not give the plan's capacities. ``owned`` holds the arguments of :func:`llmxl.owned_gpu_hour_usd` when the
    price basis is owned; ``model`` the ModelSpec the plan used when it is not a catalog entry (a config.json).
    ``api_price`` is the catalog price ``api`` was read from: the Plan sheet shows its date and source.
    ``api_cached`` is the API's price of 1M cached prompt tokens (None: ``api_price``'s, else blank: the prompt
    price); the API's bill prices the plan's prefix-cache hit share of prompt tokens at it.
    """
    from ..resolve import resolve_engine, resolve_model

    pools = [r for r in p.rows if r.mode == "disaggregated"]  # on their own sheet (llmxl.workbook.disaggregated)
    p = replace(p, rows=tuple(r for r in p.rows if r.mode == "aggregated"))
    owned = dict(owned or {})
    hours = prices.hours_per_month()
    finance = catalog.get_catalog().finance
    spec = resolve_model(p.model if model is None else model)
    eng = resolve_engine(engine)
    if p.engine is not None and eng.id != p.engine:
        raise InvalidInputError(
            f"the plan was made under {p.engine}, the workbook is given {eng.id}; pass the plan's engine",
            field="engine",
        )
    pct = 90.0 if p.percentile is None else p.percentile
    at = f"p{pct:g}"
    blocks, gpu_specs = _blocks(p, spec, eng, max_concurrency, flops_efficiency, hbm_efficiency)
    configs = list(p.rows)
    labels = [_clean(f"{c.gpu} tp={c.tp}{f' pp={c.pp}' if c.pp > 1 else ''}{_dp_ep(c)} {c.dtype}") for c in configs]
    layouts = any(c.dp > 1 or c.ep > 1 for c in configs)  # tp is then the GPUs of a pipeline stage, tp × dp

    wb = Workbook()
    ws = wb.active
    ws.title = "Plan"
    load_ws = wb.create_sheet("Load")
    chart_ws = wb.create_sheet("Chart data")

    # --- Plan sheet: inputs, what the Load sheet was built for, derived figures ----------------------
    put(ws, 1, 1, f"llmxl capacity plan: {p.model}, live formulas").font = TITLE_FONT
    put(
        ws,
        2,
        1,
        "Change the yellow inputs; every cell recalculates (Excel or LibreOffice, no add-in). Each "
        "configuration's load model is on the Load sheet, computed for the request shape, engine and "
        "percentile below: changing those needs a rebuild (llmxl workbook plan).",
    )
    if api_cached is None and api_price is not None:
        api_cached = api_price.cached_input_usd_per_1m
    price_info = {"rented": gpu_hour_usd, "discount": reservation_discount, "owned": owned, "cached": api_cached}
    inputs = _inputs(p, api, price_info)
    input_block(wb, ws, 4, inputs)
    for i, name in enumerate(inputs):  # numbers as they read, not as typed
        if name in _INPUT_FORMATS:
            ws.cell(4 + i, 2).number_format = _INPUT_FORMATS[name]
    row0 = 4 + len(inputs) + 1
    engine_text = _engine_text(eng, engine)
    cap_text = "none" if max_concurrency is None else str(max_concurrency)
    cap_cell: Any = "none" if max_concurrency is None else max_concurrency
    cap_check = _literal(cap_text) if max_concurrency is None else cap_text
    fixed = [
        ("plan_model", "Model (as built)", p.model),
        ("plan_engine", "Serving engine (as built: rebuild with --engine to change)", engine_text),
        ("plan_percentile", "Percentile of the latencies and targets (as built: --percentile)", at),
        ("plan_cap", "Cap on concurrency per replica (as built: --max-concurrency)", cap_cell),
        (None, "Catalog price per GPU-hour (as built)", _catalog_prices(_unique(gpu_specs))),
    ]
    spec_check = ""
    if p.speculative is not None:  # only then: a plan without one is laid out as it always was
        spec_text = _speculative_text(p)
        label = (
            "Speculative decoding (as built: rebuild with --speculative, --num-speculative-tokens, --acceptance-rate)"
        )
        fixed.insert(4, ("plan_speculative", label, spec_text))
        spec_check = f",plan_speculative={_literal(spec_text)}"
    for i, (name, label, text) in enumerate(fixed):
        put(ws, row0 + i, 1, label)
        put(ws, row0 + i, 2, text)
        if name:
            define(wb, name, f"'Plan'!$B${row0 + i}")
    row0 += len(fixed) + 1
    hit = p.prefix_cache_hit
    hit_text = f", {hit:g} of each prompt from the prefix cache," if hit else ""
    stale = (
        f"=IF(AND(plan_prompt={p.prompt_tokens},plan_completion={p.completion_tokens},"
        f"plan_prefix_hit={repr(hit).upper()},"
        f'plan_engine={_literal(engine_text)},plan_percentile={_literal(at)},plan_cap={cap_check}{spec_check}),"",'
        + _literal(
            f"the Load sheet was computed for {p.prompt_tokens:,} prompt and {p.completion_tokens:,} completion "
            f"tokens{hit_text} under {engine_text} at {at} (cap on concurrency: {cap_text}"
            + ("" if p.speculative is None else f"; speculative decoding: {_speculative_text(p)}")
            + "); rebuild with llmxl workbook plan --prompt "
        )
        + '&plan_prompt&" --completion "&plan_completion&IF(plan_prefix_hit=0,""," --prefix-cache-hit "'
        + "&plan_prefix_hit)&"
        + _literal(" (and --engine, --percentile, --max-concurrency as wanted) for other ones")
        + ")"
    )
    derived = [
        (STALE, "Load sheet check (blank: it matches the inputs)", stale, None),
        ("plan_owned_usd", "Owned cost per GPU-hour [USD]",
         f"=plan_purchase_usd/(plan_years*{12 * hours:g})+plan_power_kw*plan_pue*plan_usd_per_kwh"
         f"+plan_other_usd/{12 * hours:g}", "$#,##0.000"),
        ("plan_api_per_rps", "API cost per month per request/s [USD]",
         f'=IF(OR(plan_api_prompt="",plan_api_completion=""),"",{hours:g}*3600*(plan_prompt*IF(plan_api_cached="",'
         'plan_api_prompt,(1-plan_prefix_hit)*plan_api_prompt+plan_prefix_hit*plan_api_cached)'
         "+plan_completion*plan_api_completion)/1E+6)", "$#,##0.00"),
        ("plan_api_monthly", "API cost per month at the average traffic [USD]",
         '=IF(plan_api_per_rps="","",plan_api_per_rps*plan_rps)', "$#,##0.00"),
        ("plan_peak_factor", "Peak / average", "=plan_peak_rps/plan_rps", "0.00"),
    ]  # fmt: skip
    for i, (name, label, formula, fmt) in enumerate(derived):
        put(ws, row0 + i, 1, label)
        cell = put_formula(ws, row0 + i, 2, formula, number_format=fmt)
        if name == STALE:
            cell.alignment = Alignment(wrap_text=False, vertical="top")
        define(wb, name, f"'Plan'!$B${row0 + i}")
    about = _api_price_rows(api_price)
    for i, (label, text) in enumerate(about):
        put(ws, row0 + len(derived) + i, 1, label)
        put(ws, row0 + len(derived) + i, 2, text)

    _write_load_sheet(load_ws, p, blocks, labels, at)

    # --- Plan sheet: candidates ----------------------------------------------------------------------
    table_first = row0 + len(derived) + len(about) + 2
    first = table_first + 1  # first candidate row
    put(
        ws, table_first - 1, 1, f"Candidate configurations (cheapest that meets the targets first, as built; "
        f"latencies at {at} under {engine_text})"
    ).font = HEADER_FONT  # fmt: skip
    headers = [
        "GPU" + (" (expert/data-parallel layout: rebuild to change dp or ep)" if layouts else ""),
        "tp × dp (GPUs per stage)" if layouts else "tp",
        "pp",
        "Dtype",
        "Sequences the engine runs at once",
        "Capacity B_max (mean concurrency)",
        "Capacity λ_max [requests/s]",
        "Concurrency B* (largest meeting the targets)",
        "Requests/s of one replica λ(B*)",
        f"Time to first token {at} [s]",
        f"Inter-token latency {at} [s]",
        "Replicas",
        "GPUs",
        "Utilisation",
        "Peak utilisation",
        "USD per GPU-hour",
        "Monthly cost [USD]",
        "Prompt share φ at B*",
        "USD per 1M prompt tokens",
        "USD per 1M completion tokens",
        "USD per 1M blended (3:1)",
        "Why it cannot serve",
        "Break-even traffic vs the API [requests/s]",
        "Order: monthly cost",
        "Order: then GPUs",
        "Order: then time to first token",
    ]
    header_row(ws, table_first, headers)
    wp, wc = finance.blend_prompt_weight, finance.blend_completion_weight
    seconds = f"{hours * 3600:g}"
    guard = f'IF({STALE}<>"",{STALE},'  # every result: the rebuild message when the Load sheet does not fit
    for k, (block, row, g) in enumerate(zip(blocks, configs, gpu_specs, strict=True)):
        r = first + k
        put(ws, r, 1, row.gpu + (f" dp={row.dp} ep={row.ep} (tp={row.tp} per rank)" if _dp_ep(row) else ""))
        put(ws, r, 2, row.tp * row.dp)
        put(ws, r, 3, row.pp)
        put(ws, r, 4, row.dtype)
        catalog_price = "" if g.usd_per_hour is None else f"{g.usd_per_hour!r}"
        price = (
            '=IF(plan_owned=1,plan_owned_usd,IF(plan_gpu_hour_usd="",'
            + ('"",' if not catalog_price else f"{catalog_price}*(1-plan_discount),")
            + "plan_gpu_hour_usd*(1-plan_discount)))"
        )
        if block is None:
            cells: dict[int, tuple[str, str | None]] = {c: (f'={guard}"")', None) for c in range(5, 24)}
            cells[16] = (price, "$#,##0.000")
            cells[22] = (f"={guard}{_literal(row.reason or '')})", None)
        else:
            rng = {c: f"Load!${c}${block.first}:${c}${block.last}" for c in "BCDEFGHI"}
            ttft_miss = f'AND(plan_ttft_max<>"",J{r}>plan_ttft_max)'
            itl_miss = f'AND(plan_itl_max<>"",K{r}>plan_itl_max)'
            reason = (
                f'IF(H{r}>0,IF(P{r}="",{_literal(f"no price for {row.gpu}; give a rented price per GPU-hour")},""),'
                f'"even at concurrency 1, "&IF({ttft_miss},"{at} time to first token "&{_g(f"J{r}", 3)}'
                f'&" s exceeds the "&{_g("plan_ttft_max", 6)}&" s target by "&{_g(f"(J{r}-plan_ttft_max)", 3)}'
                f'&" s","")&IF(AND({ttft_miss},{itl_miss})," and ","")&IF({itl_miss},"{at} inter-token latency "'
                f'&{_g(f"K{r}", 3)}&" s exceeds the "&{_g("plan_itl_max", 6)}&" s target by "'
                f'&{_g(f"(K{r}-plan_itl_max)", 3)}&" s",""))'
            )
            cells = {
                5: (f"={guard}{block.fit})", "#,##0"),
                6: (f"={guard}{block.b_max})", "#,##0"),
                7: (f"={guard}INDEX({rng['C']},F{r}))", "0.000"),
                8: (f"={guard}IFERROR(MATCH(0,{rng['I']},0)-1,F{r}))", "#,##0"),
                9: (f'={guard}IF(H{r}=0,"",INDEX({rng["C"]},H{r})))', "0.000"),
                10: (f"={guard}INDEX({rng['D']},MAX(H{r},1)))", "0.0000"),
                11: (f"={guard}INDEX({rng['E']},MAX(H{r},1)))", "0.0000"),
                12: (f'={guard}IF(H{r}=0,"",ROUNDUP(plan_peak_rps/I{r},0)))', "#,##0"),
                13: (f'={guard}IF(H{r}=0,"",L{r}*B{r}*C{r}))', "#,##0"),
                14: (f'={guard}IF(H{r}=0,"",plan_rps/(L{r}*G{r})))', "0.0%"),
                15: (f'={guard}IF(H{r}=0,"",plan_peak_rps/(L{r}*G{r})))', "0.0%"),
                16: (price, "$#,##0.000"),
                17: (f'={guard}IF(OR(H{r}=0,P{r}=""),"",M{r}*P{r}*{hours:g}))', "$#,##0.00"),
                18: (f'={guard}IF(H{r}=0,"",INDEX({rng["H"]},H{r})))', "0.000"),
                19: (f'={guard}IF(Q{r}="","",R{r}*Q{r}/(plan_rps*{seconds}*plan_prompt)*1E+6))', "$#,##0.000"),
                20: (f'={guard}IF(Q{r}="","",(1-R{r})*Q{r}/(plan_rps*{seconds}*plan_completion)*1E+6))',
                     "$#,##0.000"),
                21: (f'={guard}IF(Q{r}="","",({wp:g}*S{r}+{wc:g}*T{r})/{wp + wc:g}))', "$#,##0.000"),
                22: (f"={guard}{reason})", None),
                23: (f'={guard}IF(OR(Q{r}="",plan_api_per_rps=""),"",IF(plan_api_per_rps*I{r}/plan_peak_factor'
                     f'>=B{r}*C{r}*P{r}*{hours:g},B{r}*C{r}*P{r}*{hours:g}/plan_api_per_rps,"never")))', "0.000"),
            }  # fmt: skip
        last = first + len(configs) - 1
        cells[24] = (f"=IF(ISNUMBER(Q{r}),Q{r},1E+300)", "$#,##0.00")
        cells[25] = (f"=IF(X{r}=MIN(X${first}:X${last}),M{r},1E+300)", "#,##0")
        cells[26] = (f"=IF(Y{r}=MIN(Y${first}:Y${last}),J{r},1E+300)", "0.0000")
        for col, (formula, fmt) in cells.items():
            cell = put_formula(ws, r, col, formula, number_format=fmt)
            if col == 22:  # reasons wrap within their column instead of being cut
                cell.alignment = WRAP
            elif col == 23:  # "never" beside the numbers of the other rows
                cell.alignment = RIGHT
        if row.reason:  # rows are as tall as the reason the plan gives now (readers do not grow rows themselves)
            ws.row_dimensions[r].height = 15 * math.ceil(len(row.reason) / REASON_CHARS_PER_LINE)
            for col in range(1, len(headers) + 1):  # the row reads from its top, with its reason
                if col not in (22, 23):
                    ws.cell(r, col).alignment = TOP
    last = first + len(configs) - 1
    for name, col in (("plan_cost", "Q"), ("plan_bstar", "H"), ("plan_mu", "I"), ("plan_gpus_per_replica", "B")):
        define(wb, name, f"'Plan'!${col}${first}:${col}${last}")

    # Summary: the cheapest configuration meeting the targets (ties as plan() breaks them) and the break-even
    s0 = last + 2
    put(ws, s0, 1, "Cheapest aggregated configuration that meets the targets" if pools else
        "Cheapest configuration that meets the targets").font = HEADER_FONT  # fmt: skip
    best = f"MATCH(MIN(Z{first}:Z{last}),Z{first}:Z{last},0)"
    tp_label = "tp × dp" if layouts else "tp"
    none = f"COUNT(Q{first}:Q{last})=0"
    summary = [
        ("Configuration", f'=IF({STALE}<>"",{STALE},IF({none},"none meets the targets",INDEX(A{first}:A{last},{best})'
                          f'&" {tp_label}="&INDEX(B{first}:B{last},{best})&IF(INDEX(C{first}:C{last},{best})>1," pp="'
                          f'&INDEX(C{first}:C{last},{best}),"")&" "&INDEX(D{first}:D{last},{best})))', None),
        ("GPUs", f'=IF({STALE}<>"",{STALE},IF({none},"",INDEX(M{first}:M{last},{best})))', "#,##0"),
        ("Monthly cost [USD]", f'=IF({STALE}<>"",{STALE},IF({none},"",INDEX(Q{first}:Q{last},{best})))', "$#,##0.00"),
        ("USD per 1M blended", f'=IF({STALE}<>"",{STALE},IF({none},"",INDEX(U{first}:U{last},{best})))',
         "$#,##0.000"),
        ("API cost per month at the average traffic [USD]", "=plan_api_monthly", "$#,##0.00"),
        ("Break-even traffic vs the API [requests/s]",
         f'=IF({STALE}<>"",{STALE},IF(COUNT(W{first}:W{last})=0,IF(plan_api_per_rps="","",IF({none},'
         f'"none: no configuration meets the targets","never: the API costs less at every traffic")),'
         f"MIN(W{first}:W{last})))", "0.000"),
    ]  # fmt: skip
    if pools:  # the disaggregated fleets' cheapest, from their own sheet, beside the aggregated one
        summary.append(("Cheapest disaggregated (Pools) [USD/month]", "=pools_best_monthly",
                        "$#,##0.00"))  # fmt: skip
    for i, (label, formula, fmt) in enumerate(summary):
        put(ws, s0 + 1 + i, 1, label)
        put_formula(ws, s0 + 1 + i, 2, formula, number_format=fmt)
    define(wb, "plan_best", f"'Plan'!$B${s0 + 1}")
    define(wb, "plan_best_gpus", f"'Plan'!$B${s0 + 2}")
    define(wb, "plan_best_monthly", f"'Plan'!$B${s0 + 3}")
    define(wb, "plan_best_blended", f"'Plan'!$B${s0 + 4}")
    define(wb, "plan_breakeven", f"'Plan'!$B${s0 + 6}")

    served = [(first + k, label) for k, (block, label) in enumerate(zip(blocks, labels, strict=True)) if block]
    bottom = _write_chart(ws, chart_ws, served, s0 + len(summary) + 3, hours)
    _layout_plan(ws, table_first, last, bottom, len(headers))
    if pools:
        from .disaggregated import write_pools_sheet

        write_pools_sheet(wb, p, pools, STALE)
    return wb


def _unique(gpus: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for g in gpus:
        seen.setdefault(g.id, g)
    return list(seen.values())


def _write_chart(ws: Any, chart_ws: Any, served: list[tuple[int, str]], anchor: int, hours: float) -> int:
    """Chart data (self-hosted cost of each configuration, the cheapest and the API's at 121 traffic levels,
    from 1/121 of twice the average traffic up to twice it) and the chart on the Plan sheet: a line per
    configuration (the first MAX_SERIES; a note names the rest), the API's and the break-even; ``served`` holds
    the Plan sheet row and label of each configuration the engine runs, cheapest first."""
    put(
        chart_ws, 1, 1, "Monthly cost against average traffic (peak = average × the plan's peak factor)"
    ).font = TITLE_FONT
    put_formula(chart_ws, 2, 1, f'=IF({STALE}="","",{STALE})')
    n_cfg = len(served)
    header_row(
        chart_ws,
        3,
        ["Average traffic [requests/s]", "Self-hosted, cheapest [USD/month]", "API [USD/month]",
         "Break-even traffic [requests/s]", "Break-even cost [USD/month]"] + [f"{c} [USD/month]" for _, c in served],
    )  # fmt: skip
    c_first = 4
    last_col = get_column_letter(5 + n_cfg)
    for i in range(TRAFFIC_LEVELS):
        r = c_first + i
        # from the first level above zero: no configuration costs $0 at 0 requests/s (it still runs a replica)
        put_formula(chart_ws, r, 1, f"=2*plan_rps*{i + 1}/{TRAFFIC_LEVELS}", number_format="0.000")
        for k, (pr, _) in enumerate(served):
            put_formula(
                chart_ws,
                r,
                6 + k,
                f'=IF({STALE}<>"",NA(),IF(OR(Plan!$Q${pr}="",A{r}<=0),"",'
                f"ROUNDUP(plan_peak_factor*A{r}/Plan!$I${pr},0)*Plan!$B${pr}*Plan!$C${pr}*Plan!$P${pr}*{hours:g}))",
                number_format="$#,##0",
            )
        cheapest = f"=IF(COUNT(F{r}:{last_col}{r})=0,NA(),MIN(F{r}:{last_col}{r}))" if served else "=NA()"
        put_formula(chart_ws, r, 2, cheapest, number_format="$#,##0")
        put_formula(chart_ws, r, 3, f'=IF(plan_api_per_rps="",NA(),plan_api_per_rps*A{r})', number_format="$#,##0")
    put_formula(chart_ws, c_first, 4, "=IF(ISNUMBER(plan_breakeven),plan_breakeven,NA())", number_format="0.000")
    put_formula(chart_ws, c_first, 5, "=IF(ISNUMBER(plan_breakeven),plan_breakeven*plan_api_per_rps,NA())",
                number_format="$#,##0")  # fmt: skip
    c_last = c_first + TRAFFIC_LEVELS - 1
    # Straight segments: "lineMarker" (not "smoothMarker"), and smooth off on every series, since LibreOffice
    # curves a scatter line otherwise and the curve overshoots each step of the staircase.
    chart = ScatterChart(scatterStyle="lineMarker")
    chart.title = "Monthly cost against average traffic, a line per configuration"
    chart.style = 13
    chart.x_axis.title = "Average traffic [requests/s]"
    chart.y_axis.title = "USD per month"
    chart.y_axis.number_format = "$#,##0"
    chart.x_axis.number_format = "#,##0.##"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.display_blanks = "gap"
    x = Reference(chart_ws, min_col=1, min_row=c_first, max_row=c_last)
    lines = [(6 + k, *series_style(k), 15875) for k in range(min(n_cfg, MAX_SERIES))]  # 1.25 pt
    names = [label for _, label in served]  # by chart data column from 6
    for col, colour, _, dash, width in [*lines, (3, "000000", None, "dash", 28575)]:  # the API: black, dashed
        series = Series(Reference(chart_ws, min_col=col, min_row=c_first, max_row=c_last), x)
        series.tx = SeriesLabel(v=names[col - 6] if col >= 6 else "API")
        series.graphicalProperties.line.solidFill = colour
        series.graphicalProperties.line.width = width
        if dash:
            series.graphicalProperties.line.dashStyle = dash
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
    mark.marker.graphicalProperties.solidFill = "000000"
    mark.graphicalProperties.line.noFill = True
    mark.smooth = False
    chart.series.append(mark)
    chart.legend.position = "b"
    chart.width, chart.height = 26, 12 + 0.3 * (len(lines) + 2)  # the legend, two or three to a line
    ws.add_chart(chart, f"A{anchor}")
    bottom = anchor + math.ceil(chart.height / 0.53)  # rows of 15 pt (0.53 cm)
    note = not_charted_note([label for _, label in served])
    if note:  # under the chart, across it
        bottom += 1
        ws.merge_cells(start_row=bottom, start_column=1, end_row=bottom, end_column=13)
        cell = put(ws, bottom, 1, note.replace("The charts show", "The chart shows"))
        cell.alignment = WRAP
        ws.row_dimensions[bottom].height = 15 * math.ceil(len(note) / 200)
    for j in range(1, 6 + n_cfg):
        chart_ws.column_dimensions[get_column_letter(j)].width = 18
    fit_header_rows(chart_ws, [3])
    finance_print(chart_ws, None, title_rows="3:3")
    return bottom


def _layout_plan(ws: Any, table_first: int, last: int, bottom: int, n_headers: int) -> None:
    """Column widths and page setup of the Plan sheet: the sheet to column O (inputs, the table's first
    columns, the summary, the chart) on the first pages; the table's other columns on the last, after the
    configuration (GPU, tp, pp, dtype) repeated. Long labels and texts above the table wrap instead of running
    across the table's columns (rows grown to hold them: readers grow no row by themselves)."""
    widths = {"A": LABEL_WIDTH, "B": 14, "C": 6, "D": 13}
    for j in range(5, n_headers + 1):
        widths[get_column_letter(j)] = 11
    widths["V"], widths["W"] = REASON_WIDTH, 13
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width
    for letter in "XYZ":  # the order plan() sorts by, for the summary's pick: working columns
        ws.column_dimensions[letter].hidden = True
    fit_header_rows(ws, [table_first])
    for r in range(table_first + 1, ws.max_row + 1):  # tp and pp clear of the numbers and names beside them
        for col in (2, 3):
            cell = ws.cell(r, col)
            if isinstance(cell.value, int):
                cell.alignment = Alignment(horizontal="center", vertical="top")
    span = sum(ws.column_dimensions[get_column_letter(j)].width for j in range(2, 14))  # B:M
    for r in range(1, table_first - 1):
        label, text = ws.cell(r, 1), ws.cell(r, 2)
        lines = 1
        if r == 2 and isinstance(label.value, str):  # the note under the title: across A:M
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=13)
            lines = math.ceil(len(label.value) / (1.1 * (span + LABEL_WIDTH)))
        elif isinstance(label.value, str) and len(label.value) > 1.1 * LABEL_WIDTH:
            label.alignment = WRAP
            lines = math.ceil(len(label.value) / (1.1 * LABEL_WIDTH))
        if isinstance(text.value, str) and text.data_type == "s" and len(text.value) > 1.1 * widths["B"]:
            ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=13)
            lines = max(lines, math.ceil(len(text.value) / (1.1 * span)))
            text.alignment = WRAP
        if r == 2:
            label.alignment = WRAP
        if lines > 1:
            ws.row_dimensions[r].height = 15 * lines
            for cell in (label, text):
                if not cell.alignment.wrap_text:
                    cell.alignment = TOP
    finance_print(ws, None, wide=1, title_cols="A:D")
    ws.print_area = [f"A1:O{bottom}", f"P{table_first}:{get_column_letter(n_headers - 3)}{last}"]


def write_plan_workbook(path: str | os.PathLike[str], p: Plan, *, force: bool = False, **options: Any) -> Path:
    """Build the plan workbook and write it atomically (refusing to overwrite a file llmxl did not write)."""
    with gc_paused():
        return save_workbook(build_plan_workbook(p, **options), path, force=force)
