"""``llmxl plan --frontier -o``: the cost–interactivity frontier as a workbook, its costs live in the prices.

Sheets:

* **Frontier**: what the file was built for (model, request shape, engine, percentile, cap on concurrency,
  grid), the price per GPU-hour of each GPU as a yellow input, the configurations that cannot serve, and one
  row per point of :func:`llmxl.frontier`: the configuration, its mean concurrency B, output tokens/s per
  user and per GPU, TTFT and ITL at the percentile, the mean ITL, requests/s λ(B) and the prompts' share φ of
  the replica's time as values llmxl computed; the USD per GPU-hour, USD per 1M prompt, completion and
  blended tokens and whether the point is on the frontier as formulas of the GPU's price cell.
* **Chart**: USD per 1M blended tokens (log scale) against output tokens/s per user, a line per
  configuration (the first :data:`~.build.MAX_SERIES`; a note names the rest), the frontier's points marked.

A point's cost is linear in the price: φ · tp · pp · c · 730 / (λ(B) · 730 · 3600 · s) · 1e6 per 1M prompt
tokens (completion with 1 - φ and n; blended 3 : 1), as :func:`llmxl.frontier` computes it; "on the frontier"
is recomputed from the live costs (no other point at least as fast per user for less, ties as frontier()
breaks them), so a price typed in moves points on or off it. The model, request shape, engine and
percentile are as built: another needs a rebuild.

Formulas use IF, ISNUMBER, SUMPRODUCT, NA and arithmetic only, so Excel and LibreOffice compute them alike.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter

from .. import catalog, prices
from .build import (
    HEADER_FONT,
    INPUT_FILL,
    MAX_SERIES,
    TITLE_FONT,
    _line,
    define,
    finance_print,
    fit_header_rows,
    header_row,
    not_charted_note,
    put,
    put_formula,
    series_style,
)
from .files import save_workbook
from .plan import _engine_text

if TYPE_CHECKING:
    from ..frontier import Frontier, FrontierPoint

__all__ = ["FRONTIER_PRINTED", "build_frontier_workbook", "charted_order", "write_frontier_workbook"]

#: Rows of the point table that print (it runs to hundreds: the first page shows what it is).
FRONTIER_PRINTED = 40
LABEL_WIDTH = 36  # column A: the inputs' labels and the configurations
WRAP = Alignment(wrap_text=True, vertical="top")

_HEADERS = (
    ("Configuration", "General"),
    ("GPUs per replica (tp × pp)", "#,##0"),
    ("Concurrency B (sequences decoding on average)", "#,##0"),
    ("Output tokens/s per user (1 / mean ITL)", "#,##0.0"),
    ("Output tokens/s per GPU", "#,##0.0"),
    ("Time to first token {at} [s]", "0.0000"),
    ("Inter-token latency {at} [s]", "0.0000"),
    ("Inter-token latency, mean [s]", "0.0000"),
    ("Requests/s of the replica λ(B)", "0.0000"),
    ("Prompt share of the replica's time φ", "0.0000"),
    ("USD per GPU-hour", "$#,##0.00##"),
    ("USD per 1M prompt tokens", "$#,##0.000"),
    ("USD per 1M completion tokens", "$#,##0.000"),
    ("USD per 1M blended ({wp:g}:{wc:g})", "$#,##0.000"),
    ("On the frontier (1/0)", "0"),
    ("kWh per 1M tokens", "0.000"),
    ("kg CO2e per 1M tokens", "0.000"),
    ("Point", "0"),  # the order frontier() breaks exact ties by (hidden, with the next)
    ("Blended if on the frontier (for the chart)", "$#,##0.000"),
)
# columns by what they hold (1-based)
C_LABEL, C_GPUS, C_B, C_USER, C_PER_GPU, C_TTFT, C_ITL, C_ITL_MEAN, C_RPS, C_PHI = range(1, 11)
C_PRICE, C_PROMPT, C_COMPLETION, C_BLENDED, C_PARETO, C_KWH, C_KG, C_INDEX, C_FRONT = range(11, 20)


def _letter(col: int) -> str:
    return get_column_letter(col)


def _label(p: FrontierPoint) -> str:
    return f"{p.gpu} tp={p.tp}{f' pp={p.pp}' if p.pp > 1 else ''} {p.dtype}"


def _configurations(points: tuple[FrontierPoint, ...]) -> list[tuple[str, int, int]]:
    """(label, first index, last index) of each configuration's run of points, in frontier()'s order."""
    out: list[tuple[str, int, int]] = []
    for i, p in enumerate(points):
        label = _label(p)
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], i)
        else:
            out.append((label, i, i))
    return out


def charted_order(points: tuple[FrontierPoint, ...]) -> list[tuple[str, int, int]]:
    """The configurations (label, first index, last index) in the order the chart takes them: those with the
    most points on the frontier (as built) first, then by their cheapest blended cost; frontier()'s order on
    ties. The chart draws the first MAX_SERIES, so the frontier's own lines are among them."""
    configs = _configurations(points)

    def key(k: int) -> tuple[int, float, int]:
        _, i0, i1 = configs[k]
        run = points[i0 : i1 + 1]
        return (-sum(p.pareto for p in run), min(p.usd_per_1m_blended for p in run), k)

    return [configs[k] for k in sorted(range(len(configs)), key=key)]


def build_frontier_workbook(f: Frontier, *, engine: Any = None, max_concurrency: int | None = None) -> Workbook:
    """The frontier ``f`` (from :func:`llmxl.frontier`) with its costs as live formulas of the GPUs' prices.

    ``engine`` is the engine as :func:`llmxl.frontier` was given it (settings included, for the sheet to name
    them) and ``max_concurrency`` the cap it was given; both are shown as built.
    """
    from ..resolve import resolve_engine

    finance = catalog.get_catalog().finance
    wp, wc = finance.blend_prompt_weight, finance.blend_completion_weight
    hours = prices.hours_per_month()
    points = f.points
    pct = points[0].percentile if points else None
    at = "at the percentile" if pct is None else f"p{pct:g}"
    eng = resolve_engine(engine)

    wb = Workbook()
    ws = wb.active
    ws.title = "Frontier"
    chart_ws = wb.create_sheet("Chart")

    put(ws, 1, 1, f"llmxl cost–interactivity frontier: {f.model}").font = TITLE_FONT
    note = (
        "Each point is one replica of a configuration (GPU, tp, dtype) kept at mean concurrency B, taking the traffic "
        "λ(B) at which it decodes B on average. B, tokens/s, latencies, λ(B) and φ are values llmxl computed when it "
        "wrote this file; the costs per 1M tokens and 'on the frontier' are formulas of the yellow price per "
        "GPU-hour of their GPU: change one and they recalculate. The model, request shape, engine and percentile "
        "are as built: for others, rebuild with llmxl plan --frontier ... -o."
    )
    put(ws, 2, 1, note).alignment = WRAP
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=C_BLENDED)
    ws.row_dimensions[2].height = 15 * 3
    fixed = [
        ("Model (as built)", f.model),
        (
            "Request shape (as built)",
            f"{f.prompt_tokens:,} prompt + {f.completion_tokens:,} completion tokens per request"
            + (f", {f.prefix_cache_hit:g} of prompt tokens from the prefix cache" if f.prefix_cache_hit else ""),
        ),
        ("Serving engine (as built)", _engine_text(eng, engine)),
        ("Percentile of TTFT and ITL (as built)", at if pct is not None else "none: no configuration can serve"),
        ("Cap on concurrency per replica (as built)", "none" if max_concurrency is None else f"{max_concurrency:,}"),
        ("Grid intensity of the emissions (as built)", f"{f.grid_g_co2e_per_kwh:g} g CO2e/kWh"),
    ]
    r = 4
    for label, text in fixed:
        put(ws, r, 1, label)
        put(ws, r, 2, text)
        r += 1
    r += 1
    put(ws, r, 1, "Price per GPU-hour [USD] (yellow: change it)").font = HEADER_FONT
    r += 1
    price_cell: dict[str, str] = {}
    for k, p in enumerate({p.gpu: p for p in points}.values()):
        put(ws, r, 1, p.gpu)
        cell = put(ws, r, 2, p.gpu_hour_usd, number_format="$#,##0.00##")
        cell.fill = INPUT_FILL
        price_cell[p.gpu] = f"$B${r}"
        define(wb, f"frontier_price_{k + 1}", f"'Frontier'!$B${r}")
        r += 1
    if f.unserved:
        r += 1
        put(ws, r, 1, f"Cannot serve this request shape ({len(f.unserved)}, as built)").font = HEADER_FONT
        r += 1
        for text in f.unserved:
            put(ws, r, 1, text)
            r += 1
    r += 1
    n_points = len(points)
    shown = min(n_points, FRONTIER_PRINTED)
    title = (
        f"Every point, by configuration and rising B ({n_points:,}; latencies at {at} under "
        f"{_engine_text(eng, engine)})"
    )
    put(ws, r, 1, title).font = HEADER_FONT
    if n_points > FRONTIER_PRINTED:
        put(ws, r + 1, 1, f"Printed: the first {shown} of {n_points:,} points; the whole table is here on screen.")
        r += 1
    head = r + 1
    header_row(ws, head, [h.format(at=at, wp=wp, wc=wc) for h, _ in _HEADERS])
    first = head + 1
    last = first + n_points - 1
    rng = {c: f"${_letter(c)}${first}:${_letter(c)}${max(last, first)}" for c in (C_USER, C_BLENDED, C_INDEX)}
    L = {c: _letter(c) for c in range(1, len(_HEADERS) + 1)}
    seconds = f"{hours * 3600:g}"
    for i, p in enumerate(points):
        row = first + i
        y = f"{L[C_USER]}{row}"
        cost = f"{L[C_BLENDED]}{row}"
        pareto = (
            f"=IF(ISNUMBER({cost}),IF(SUMPRODUCT(({rng[C_USER]}>{y})*({rng[C_BLENDED]}<={cost}))"
            f"+SUMPRODUCT(({rng[C_USER]}={y})*({rng[C_BLENDED]}<{cost}))"
            f"+SUMPRODUCT(({rng[C_USER]}={y})*({rng[C_BLENDED]}={cost})*({rng[C_INDEX]}<{L[C_INDEX]}{row}))=0,1,0),"
            '"")'
        )
        price = f"{L[C_PRICE]}{row}"
        guard = f"=IF(ISNUMBER({price}),"
        values: dict[int, Any] = {
            C_LABEL: _label(p),
            C_GPUS: p.tp * p.pp,
            C_B: p.concurrency,
            C_USER: p.output_tokens_per_s_per_user,
            C_PER_GPU: p.output_tokens_per_s_per_gpu,
            C_TTFT: p.ttft_s,
            C_ITL: p.itl_s,
            C_ITL_MEAN: p.itl_mean_s,
            C_RPS: p.requests_per_s,
            C_PHI: p.prompt_share,
            C_KWH: p.kwh_per_1m_tokens if p.kwh_per_1m_tokens is not None else "n/a",
            C_KG: p.kg_co2e_per_1m_tokens if p.kg_co2e_per_1m_tokens is not None else "n/a",
            C_INDEX: i + 1,
        }
        # the arithmetic of llmxl.frontier: monthly = tp·pp·price·730; cost_per_1m over λ(B) and φ
        monthly = f"{L[C_GPUS]}{row}*{price}*{hours:g}"
        per_s = f"{L[C_RPS]}{row}*{seconds}"
        formulas = {
            C_PRICE: f"={price_cell[p.gpu]}",
            C_PROMPT: f'{guard}{L[C_PHI]}{row}*{monthly}/({per_s}*{f.prompt_tokens})*1E+6,"")',
            C_COMPLETION: f'{guard}(1-{L[C_PHI]}{row})*{monthly}/({per_s}*{f.completion_tokens})*1E+6,"")',
            C_BLENDED: f'{guard}({wp:g}*{L[C_PROMPT]}{row}+{wc:g}*{L[C_COMPLETION]}{row})/{wp + wc:g},"")',
            C_PARETO: pareto,
            C_FRONT: f"=IF({L[C_PARETO]}{row}=1,{cost},NA())",
        }
        for col, (_, fmt) in enumerate(_HEADERS, start=1):
            if col in formulas:
                put_formula(ws, row, col, formulas[col], number_format=fmt)
            else:
                put(ws, row, col, values[col], number_format=None if fmt == "General" else fmt)
    _layout_frontier(ws, head, first, last, shown)
    _write_chart(chart_ws, ws, f, points, first)
    return wb


def _layout_frontier(ws: Any, head: int, first: int, last: int, shown: int) -> None:
    ws.column_dimensions["A"].width = LABEL_WIDTH
    for col in range(2, len(_HEADERS) + 1):
        ws.column_dimensions[_letter(col)].width = 13
    for col in (C_INDEX, C_FRONT):  # working columns: the tie order and the chart's frontier series
        ws.column_dimensions[_letter(col)].hidden = True
    for r in range(3, head - 1):  # long labels above the table wrap in column A
        cell = ws.cell(r, 1)
        text = ws.cell(r, 2)
        if isinstance(cell.value, str) and len(cell.value) > 1.25 * LABEL_WIDTH and text.value is not None:
            cell.alignment = WRAP
            ws.row_dimensions[r].height = 15 * math.ceil(len(cell.value) / (1.25 * LABEL_WIDTH))
            text.alignment = Alignment(vertical="top")
    fit_header_rows(ws, [head])
    ws.freeze_panes = f"B{first}"
    if last >= first:
        ws.auto_filter.ref = f"A{head}:{_letter(C_KG)}{last}"
    finance_print(
        ws, f"A1:{_letter(C_KG)}{max(head, first + shown - 1)}", title_rows=f"{head}:{head}", title_cols="A:A"
    )


def _write_chart(ws: Any, data: Any, f: Frontier, points: tuple[FrontierPoint, ...], first: int) -> None:
    """USD per 1M blended (log scale) against output tokens/s per user: a line per configuration, straight
    segments (``lineMarker``, smooth off on every series: LibreOffice curves a scatter line otherwise), and the
    points on the frontier marked."""
    put(ws, 1, 1, f"{f.model}: cost against interactivity, a line per configuration").font = TITLE_FONT
    put(
        ws,
        2,
        1,
        "Each line is one configuration from B = 1 (right: fastest per user, dearest) to its capacity (left); "
        "black diamonds mark the frontier. Costs follow the Frontier sheet's prices; the lines are in the order of "
        "their points on the frontier as built (most first)."
        if points
        else "No configuration can serve this request shape: the Frontier sheet says why for each.",
    ).alignment = WRAP
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=14)
    ws.row_dimensions[2].height = 30
    configs = charted_order(points)
    chart = ScatterChart(scatterStyle="lineMarker")
    chart.title = "USD per 1M tokens (blended) against output tokens/s per user"
    chart.style = 13
    chart.x_axis.title = "Output tokens/s per user (1 / mean inter-token latency)"
    chart.y_axis.title = "USD per 1M tokens, blended (log scale)"
    chart.y_axis.scaling.logBase = 10
    chart.y_axis.number_format = "$#,##0.00"
    chart.x_axis.number_format = "#,##0"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.display_blanks = "gap"
    chart.visible_cells_only = False  # the frontier's column is hidden: plot it all the same
    for k, (label, i0, i1) in enumerate(configs[:MAX_SERIES]):
        colour, symbol, dash = series_style(k)
        x = Reference(data, min_col=C_USER, min_row=first + i0, max_row=first + i1)
        s = Series(Reference(data, min_col=C_BLENDED, min_row=first + i0, max_row=first + i1), x)
        s.tx = SeriesLabel(v=label)
        chart.series.append(_line(s, symbol, colour, dash=dash, size=5))
    if points:
        last = first + len(points) - 1
        mark = Series(
            Reference(data, min_col=C_FRONT, min_row=first, max_row=last),
            Reference(data, min_col=C_USER, min_row=first, max_row=last),
        )
        mark.tx = SeriesLabel(v="On the frontier")
        mark.marker.symbol = "diamond"
        mark.marker.size = 8
        mark.marker.graphicalProperties.noFill = True
        mark.marker.graphicalProperties.line.solidFill = "000000"
        mark.graphicalProperties.line.noFill = True
        mark.smooth = False
        chart.series.append(mark)
    chart.legend.position = "b"
    shown = min(len(configs), MAX_SERIES) + 1
    chart.width, chart.height = 26, 13 + 0.3 * math.ceil(shown / 3)
    ws.add_chart(chart, "A4")
    bottom = 4 + math.ceil(chart.height / 0.53)
    left_out = not_charted_note([label for label, _, _ in configs])
    if left_out:
        bottom += 1
        ws.merge_cells(start_row=bottom, start_column=1, end_row=bottom, end_column=14)
        cell = put(ws, bottom, 1, left_out.replace("The charts show", "The chart shows"))
        cell.alignment = WRAP
        ws.row_dimensions[bottom].height = 15 * math.ceil(len(left_out) / 110)
    finance_print(ws, f"A1:N{bottom}", tall=1)


def write_frontier_workbook(path: str | os.PathLike[str], f: Frontier, *, force: bool = False, **options: Any) -> Path:
    """Build the frontier workbook and write it atomically (refusing to overwrite a file llmxl did not write)."""
    return save_workbook(build_frontier_workbook(f, **options), path, force=force)
