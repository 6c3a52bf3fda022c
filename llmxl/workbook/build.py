"""Building blocks shared by every workbook llmxl writes: catalog sheet, Calc sheet, safe cells."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from .. import catalog
from .calc import CONFIG_COLUMNS, METHODS_ALL, Formula, column_letters, formulas_for_row, scenario_columns

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
TITLE_FONT = Font(bold=True, size=14)
CALC_WIDTH = 14  # Calc sheet columns, in characters


_UNWRITABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def put(ws: Worksheet, row: int, col: int, value: Any, *, number_format: str | None = None) -> Any:
    """Write a value. Strings are always text, never formulas (use put_formula for formulas).

    Characters a workbook cannot hold (control characters) are written as "?", and those no file can
    hold (lone surrogates, U+FFFE, U+FFFF) as U+FFFD.
    """
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        value = _UNWRITABLE.sub("\ufffd", ILLEGAL_CHARACTERS_RE.sub("?", value))
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # a catalog or user string starting with '=' stays literal text
        if value[:1] in ("=", "+", "-", "@"):
            cell.quotePrefix = True
    if number_format:
        cell.number_format = number_format
    return cell


def put_formula(ws: Worksheet, row: int, col: int, formula: str, *, number_format: str | None = None) -> Any:
    """Write a formula llmxl generated (never user text: see put). A Formula keeps its pattern, for the
    cached values; the text is set directly, as openpyxl would after its checks for user strings."""
    assert formula.startswith("="), formula  # internal invariant, not user input
    cell = ws._cells.get((row, col))
    if cell is None:
        cell = Cell(ws, row=row, column=col)
        ws._add_cell(cell)
    cell._value = formula if isinstance(formula, Formula) else str(formula)
    cell.data_type = "f"
    if number_format:
        cell.number_format = number_format
    return cell


def put_row(ws: Worksheet, row: int, values: Sequence[Any], first_col: int = 1) -> None:
    """Write a row: Formula values as formulas, every other string as text."""
    for j, v in enumerate(values):
        if isinstance(v, Formula):
            put_formula(ws, row, first_col + j, v)
        else:
            put(ws, row, first_col + j, v)


def define(wb: Workbook, name: str, ref: str) -> None:
    wb.defined_names[name] = DefinedName(name, attr_text=ref)


def header_row(ws: Worksheet, row: int, headers: Iterable[str], first_col: int = 1) -> None:
    ws.row_dimensions[row].height = 45  # room for wrapped headers with their units
    for j, h in enumerate(headers):
        c = put(ws, row, first_col + j, h)
        c.font = HEADER_FONT
        c.fill = HEADER_FILL
        c.alignment = Alignment(wrap_text=True, vertical="top")


def fit_header_rows(ws: Worksheet, rows: Iterable[int], default_width: float = 8.43) -> None:
    """Widen each column to its headers' longest word and make each header row tall enough for its wrapped
    headers: a reader neither grows rows by itself nor keeps a long word whole, and a cut header hides the unit."""
    rows = list(rows)

    def width(letter: str) -> float:  # a column nobody sized shows the readers' default (not openpyxl's 13)
        return ws.column_dimensions[letter].width if letter in ws.column_dimensions else default_width

    for row in rows:
        for cell in ws[row]:
            if isinstance(cell.value, str):
                longest = max(len(w) for w in cell.value.split())
                if longest + 2 > width(cell.column_letter):
                    ws.column_dimensions[cell.column_letter].width = longest + 2
    for row in rows:
        lines = 1
        for cell in ws[row]:
            if isinstance(cell.value, str):
                room = width(cell.column_letter) - 1
                n, used = 1, 0
                for word in cell.value.split():  # greedy wrap, as the readers do
                    if used and used + 1 + len(word) > room:
                        n, used = n + 1, len(word)
                    else:
                        used += len(word) + (1 if used else 0)
                lines = max(lines, n)
        ws.row_dimensions[row].height = max(45, 15 * lines)


# --- Catalog sheet ------------------------------------------------------------------------------

_MODEL_COLUMNS = [
    ("id", "Model id", lambda m: m.id),
    ("model_type", "Type", lambda m: m.model_type),
    ("layers", "Layers L (num_hidden_layers)", lambda m: m.num_hidden_layers),
    ("hidden", "Hidden size h (hidden_size)", lambda m: m.hidden_size),
    ("heads", "Attention heads a", lambda m: m.num_attention_heads),
    ("kv_heads", "KV heads k", lambda m: m.num_key_value_heads),
    ("mlp", "MLP size f (intermediate_size)", lambda m: m.intermediate_size),
    ("vocab", "Vocabulary V", lambda m: m.vocab_size),
    ("context", "Context [tokens]", lambda m: m.max_position_embeddings),
    ("gated", "Gated MLP (1/0)", lambda m: int(m.gated_mlp)),
    ("head_dim", "Head dim d (head_dim, else h/a)", lambda m: m.attention_head_dim),
    ("tied", "Tied output head (1/0)", lambda m: int(m.tie_word_embeddings)),
    ("experts", "Routed experts E (0: dense)", lambda m: m.moe.num_experts if m.moe else 0),
    ("experts_per_token", "Experts per token K", lambda m: m.moe.experts_per_token if m.moe else 0),
    ("expert_mlp", "Expert MLP size fE", lambda m: m.moe.expert_intermediate_size if m.moe else 0),
    ("shared_mlp", "Shared-expert MLP size fS", lambda m: m.moe.shared_intermediate_size if m.moe else 0),
    ("moe_layers", "MoE layers LM", lambda m: m.moe.num_moe_layers if m.moe else 0),
    ("kv_lora_rank", "MLA latent KV rank rKV (0: no MLA)", lambda m: m.mla.kv_lora_rank if m.mla else 0),
    ("q_lora_rank", "MLA latent query rank rQ (0: full)", lambda m: (m.mla.q_lora_rank or 0) if m.mla else 0),
    ("rope_dim", "MLA rope head dim dR", lambda m: m.mla.qk_rope_head_dim if m.mla else 0),
    ("nope_dim", "MLA nope head dim dN", lambda m: m.mla.qk_nope_head_dim if m.mla else 0),
    ("v_dim", "MLA value head dim dV", lambda m: m.mla.v_head_dim if m.mla else 0),
    ("window", "Attention window W [tokens] (0: none)", lambda m: m.attention.sliding_window if m.attention else 0),
    ("window_layers", "Window layers LW", lambda m: m.attention.num_sliding_layers if m.attention else 0),
    ("source", "Source", lambda m: m.source),
    ("checked", "Checked", lambda m: m.checked.isoformat() if m.checked else ""),
]
_GPU_COLUMNS = [
    ("id", "GPU id", lambda g: g.id),
    ("memory_gib", "Memory [GiB]", lambda g: g.memory_gib),
    ("hbm_gbs", "HBM bandwidth [GB/s]", lambda g: g.hbm_bandwidth_gbs),
    ("fp16_tflops", "fp16 [TFLOPS]", lambda g: g.fp16_tflops),
    ("fp8_tflops", "fp8 [TFLOPS]", lambda g: g.fp8_tflops),
    ("fp4_tflops", "fp4 [TFLOPS]", lambda g: g.fp4_tflops),
    ("int8_tops", "int8 [TOPS]", lambda g: g.int8_tops),
    ("int4_tops", "int4 [TOPS]", lambda g: g.int4_tops),
    ("link_gbs", "Interconnect [GB/s]", lambda g: g.interconnect_gbs),
    ("link_latency_s", "Link latency [s]", lambda g: g.interconnect_latency_s),
    ("allreduce_s", "Serving: all-reduce latency λ [s]", lambda g: catalog.serving_constants(g).allreduce_latency_s),
    ("layer_overhead_s", "Serving: layer overhead τL [s]", lambda g: catalog.serving_constants(g).layer_overhead_s),
    (
        "prefill_overhead_s",
        "Serving: prefill overhead τPre [s]",
        lambda g: catalog.serving_constants(g).prefill_overhead_s,
    ),
    (
        "decode_overhead_s",
        "Serving: decode overhead τDec [s]",
        lambda g: catalog.serving_constants(g).decode_overhead_s,
    ),
    ("serving_fe", "Serving: FLOPs efficiency", lambda g: catalog.serving_constants(g).flops_efficiency),
    ("serving_he", "Serving: HBM efficiency", lambda g: catalog.serving_constants(g).hbm_efficiency),
    (
        "serving_source",
        "Serving constants: source",
        lambda g: g.serving_source or catalog.method_defaults("serving").source,
    ),
    ("usd_per_hour", "Price [USD/GPU-h]", lambda g: g.usd_per_hour),
    ("price_source", "Price source", lambda g: g.usd_per_hour_source or ""),
    ("price_checked", "Price checked", lambda g: g.usd_per_hour_checked.isoformat() if g.usd_per_hour_checked else ""),
    ("source", "Source", lambda g: g.source),
    ("checked", "Checked", lambda g: g.checked.isoformat() if g.checked else ""),
]
_DTYPE_COLUMNS = [
    ("id", "Dtype id", lambda d: d.id),
    ("weight_bits", "Weight bits", lambda d: d.weight_bits),
    ("activation_bits", "Activation bits", lambda d: d.activation_bits),
    ("embedding_bits", "Embedding bits", lambda d: d.embedding_bits),
    ("kv_bits", "KV-cache bits", lambda d: d.kv_bits),
    ("compute", "Compute kind", lambda d: d.compute_kind),
    ("description", "Description", lambda d: d.description),
]


_METHOD_COLUMNS = [
    ("id", "Method", lambda m: m[0]),
    ("fe", "Default FLOPs efficiency", lambda m: m[1].flops_efficiency),
    ("he", "Default HBM efficiency", lambda m: m[1].hbm_efficiency),
    ("source", "Source", lambda m: m[1].source),
]


def write_catalog_sheet(wb: Workbook, extra_models: Sequence[Any] = ()) -> Worksheet:
    """Every catalog model, GPU, dtype and method default as values, with names cat_<kind>_<column>.

    ``extra_models`` adds models that are not in the catalog (read from a config.json).
    """
    ws = wb.create_sheet("Catalog")
    cat = catalog.get_catalog()
    models = {**cat.entries["models"], **{m.id: m for m in extra_models}}
    kinds = {"model": models, "gpu": cat.entries["gpus"], "dtype": cat.entries["dtypes"]}
    kinds["method"] = {name: (name, d) for name, d in cat.methods.items()}
    put(ws, 1, 1, "llmxl catalog: the figures every formula in this workbook reads").font = TITLE_FONT
    row = 3
    header_rows = []
    for kind, title, columns in (
        ("model", "Models (Hugging Face config.json fields)", _MODEL_COLUMNS),
        ("gpu", "GPUs (dense tensor throughput; interconnect per GPU, one direction)", _GPU_COLUMNS),
        ("dtype", "Dtypes (wXaYeZ: weight, activation, embedding bits)", _DTYPE_COLUMNS),
        ("method", "Method defaults (used where an efficiency input is blank)", _METHOD_COLUMNS),
    ):
        specs = list(kinds[kind].values())
        put(ws, row, 1, title).font = HEADER_FONT
        header_row(ws, row + 1, [h for _, h, _ in columns])
        header_rows.append(row + 1)
        first = row + 2
        for i, spec in enumerate(specs):
            for j, (_, _, get) in enumerate(columns):
                put(ws, first + i, j + 1, get(spec))
        last = first + len(specs) - 1
        for j, (name, _, _) in enumerate(columns):
            letter = ws.cell(row=1, column=j + 1).column_letter
            define(wb, f"cat_{kind}_{name}", f"Catalog!${letter}${first}:${letter}${last}")
        row = last + 3
    # Every alias of a model, GPU or dtype, so that an input cell may name it as people write it.
    put(ws, row, 1, "Aliases (other names that find a catalog entry; matched case-insensitively)").font = HEADER_FONT
    for kind in ("model", "gpu", "dtype"):
        pairs = [(alias, spec.id) for spec in kinds[kind].values() for alias in spec.aliases]
        header_row(ws, row + 1, [f"{kind.capitalize()} alias", f"{kind.capitalize()} id"])
        header_rows.append(row + 1)
        first = row + 2
        for i, (alias, ident) in enumerate(pairs):
            put(ws, first + i, 1, alias)
            put(ws, first + i, 2, ident)
        last = first + max(len(pairs), 1) - 1
        define(wb, f"cat_{kind}_alias", f"Catalog!$A${first}:$A${last}")
        define(wb, f"cat_{kind}_alias_id", f"Catalog!$B${first}:$B${last}")
        row = last + 2
    ws.column_dimensions["A"].width = 18
    fit_header_rows(ws, header_rows)
    ws.freeze_panes = "B1"
    ws.protection.sheet = True  # generated figures: guard against a stray keystroke (Review › Unprotect, no password)
    return ws


# --- Calc sheet ---------------------------------------------------------------------------------


class CalcLayout:
    """Where the Calc sheet put things: config rows and scenario rows, by column name."""

    def __init__(
        self,
        config_first: int,
        n_configs: int,
        scenario_first: int,
        n_scenarios: int,
        methods: frozenset[str] = METHODS_ALL,
    ) -> None:
        self.config_first = config_first
        self.n_configs = n_configs
        self.scenario_first = scenario_first
        self.n_scenarios = n_scenarios
        self.methods = methods
        self.config_cols = column_letters(CONFIG_COLUMNS)
        self.scenario_cols = column_letters(scenario_columns(methods))

    def scenario_ref(self, i: int, name: str) -> str:
        """Absolute reference to quantity ``name`` of scenario i (0-based)."""
        return f"Calc!${self.scenario_cols[name]}${self.scenario_first + i}"

    def scenario_pattern(self, name: str) -> str:
        """Reference to quantity ``name`` of the scenario in Calc row ``{c}``, for a Formula pattern."""
        return f"Calc!${self.scenario_cols[name]}${{c}}"

    def config_ref(self, i: int, name: str) -> str:
        return f"Calc!${self.config_cols[name]}${self.config_first + i}"


def write_calc_sheet(
    wb: Workbook,
    configs: Sequence[dict[str, Any]],
    scenarios: Sequence[tuple[int, Any, Any, Any]],
    progress: Any = None,
    methods: frozenset[str] = METHODS_ALL,
) -> CalcLayout:
    """The audit sheet: one configuration row per (model, GPU), one scenario row per scenario.

    ``configs`` hold the input cells of each configuration row (values or formulas);
    ``scenarios`` are (configuration number from 1, batch, prompt, completion) where the
    last three are values or formulas.
    """
    ws = wb.create_sheet("Calc")
    put(
        ws, 1, 1, "Calc: methodology.md as formulas. Configurations (what model, GPU, dtype, tp and pp fix)"
    ).font = HEADER_FONT
    header_row(ws, 2, [c.header for c in CONFIG_COLUMNS])
    config_first = 3
    for i, inputs in enumerate(configs):
        put_row(ws, config_first + i, formulas_for_row(CONFIG_COLUMNS, config_first + i, inputs))
    last = config_first + len(configs) - 1
    for name, letter in column_letters(CONFIG_COLUMNS).items():
        define(wb, f"cfg_{name}", f"Calc!${letter}${config_first}:${letter}${last}")
    title_row = last + 2
    put(
        ws, title_row, 1, "Scenarios (one forward pass over the prompt, one decode step; times in seconds)"
    ).font = HEADER_FONT
    columns = scenario_columns(methods)
    header_row(ws, title_row + 1, [c.header for c in columns])
    first = title_row + 2
    for i, (cfg, b, s, n) in enumerate(scenarios):
        r = first + i
        put_row(ws, r, formulas_for_row(columns, r, {"cfg": cfg, "b": b, "s": s, "n": n}))
        if progress is not None:
            progress(i + 1)
    # Columns wide enough for a number, header rows tall enough for every word of the longest header: a reader
    # does not grow rows by itself, and a cut header hides the unit.
    for j in range(1, max(len(CONFIG_COLUMNS), len(columns)) + 1):
        ws.column_dimensions[get_column_letter(j)].width = CALC_WIDTH
    for row, cols in ((2, CONFIG_COLUMNS), (title_row + 1, columns)):
        longest = max(len(c.header) for c in cols)
        ws.row_dimensions[row].height = max(45, 15 * math.ceil(longest / (CALC_WIDTH - 3)))
    ws.freeze_panes = "B3"
    ws.protection.sheet = True  # the arithmetic: guard against a stray keystroke (inputs live on the other sheets)
    return CalcLayout(config_first, len(configs), first, len(scenarios), methods)


# --- Inputs and charts ------------------------------------------------------------------------


def input_block(
    wb: Workbook,
    ws: Worksheet,
    first_row: int,
    inputs: dict[str, tuple[str, object]],
    value_col: int = 2,
    methods: frozenset[str] = METHODS_ALL,
) -> dict[str, str]:
    """Labelled, named input cells (label in column A, value in ``value_col``), dropdowns for catalog names."""
    refs = {}
    letter = get_column_letter(value_col)
    for i, (name, (label, value)) in enumerate(inputs.items()):
        r = first_row + i
        put(ws, r, 1, label)
        cell = put(ws, r, value_col, value)
        cell.fill = INPUT_FILL
        refs[name] = f"{ws.title}!${letter}${r}"
        define(wb, name, f"'{ws.title}'!${letter}${r}")
    lists = {
        "llm_model": "=cat_model_id",
        "llm_gpu": "=cat_gpu_id",
        "llm_dtype": "=cat_dtype_id",
        "llm_method": '"' + ",".join(m for m in ("standard", "serving", "reference") if m in methods) + '"',
    }
    for name, source in lists.items():
        if name in inputs:
            dv = DataValidation(
                type="list",
                formula1=source,
                allow_blank=False,
                showErrorMessage=True,
                errorTitle="llmxl",
                error="Pick a value from the list",
            )
            ws.add_data_validation(dv)
            dv.add(refs[name].split("!")[1].replace("$", ""))
    return refs


def _points(series: Series, symbol: str, colour: str) -> Series:
    """Markers only: a scatter of scenarios, not a line through them."""
    series.marker.symbol = symbol
    series.marker.size = 7
    series.marker.graphicalProperties.solidFill = colour
    series.marker.graphicalProperties.line.solidFill = colour
    series.graphicalProperties.line.noFill = True
    return series


#: Charts show at most this many series (configurations); the table below holds every row.
MAX_SERIES = 24
_PALETTE = ("1F77B4", "D62728", "2CA02C", "FF7F0E", "9467BD", "8C564B", "E377C2", "7F7F7F", "BCBD22", "17BECF")


def finance_print(ws: Worksheet, area: str | None, *, title_rows: str | None = None) -> None:
    """Print as a finance deliverable: landscape, one page wide, header rows repeated on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if area:
        ws.print_area = area
    if title_rows:
        ws.print_title_rows = title_rows


def add_throughput_chart(
    target: Worksheet,
    data: Worksheet,
    groups: Sequence[tuple[str, int, int]],
    *,
    batch_col: int,
    tps_col: int,
    price_col: int,
    anchor: str,
) -> None:
    """On ``target``: tokens/s (left axis, circles) and price per 1k completion tokens (right axis, triangles)
    against batch size, one labelled series per configuration: ``groups`` are (title, first row, last row)
    of ``data``. Cells holding #N/A (a scenario that does not fit) are gaps, never zeros."""
    from openpyxl.chart.series import SeriesLabel

    tps = ScatterChart()
    tps.title = "Throughput (circles) and price per 1k completion tokens (triangles) against batch size"
    tps.style = 13
    tps.y_axis.title = "Tokens/second"
    tps.y_axis.number_format = "#,##0"
    tps.y_axis.majorGridlines = None
    tps.x_axis.number_format = "#,##0"
    tps.x_axis.delete = False
    tps.y_axis.delete = False
    tps.display_blanks = "gap"
    tps.visible_cells_only = False  # the chart columns are hidden: plot them all the same
    price = ScatterChart()
    price.y_axis.title = "USD per 1k completion tokens"
    price.y_axis.number_format = "$0.0000"
    price.y_axis.axId = 200
    price.y_axis.crosses = "max"
    price.y_axis.delete = False
    price.x_axis = tps.x_axis  # one shared batch-size axis
    for k, (title, first, last) in enumerate(groups[:MAX_SERIES]):
        colour = _PALETTE[k % len(_PALETTE)]
        x = Reference(data, min_col=batch_col, min_row=first, max_row=last)
        for chart, col, symbol in ((tps, tps_col, "circle"), (price, price_col, "triangle")):
            s = Series(Reference(data, min_col=col, min_row=first, max_row=last), x)
            s.tx = SeriesLabel(v=title if chart is tps else f"{title} (price)")
            chart.series.append(_points(s, symbol, colour))
    tps += price
    tps.legend.position = "b"
    tps.width, tps.height = 24, 13
    target.add_chart(tps, anchor)
    if len(groups) > MAX_SERIES:
        put(target, 3, 4, f"The chart shows the first {MAX_SERIES} of {len(groups)} configurations; the table has all.")
