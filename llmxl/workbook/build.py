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
#: Seconds span nanoseconds (a norm in one decode step) to minutes: small ones in scientific notation.
SECONDS_FORMAT = "[=0]0;[<0.001]0.000E+00;#,##0.0000"
CALC_PRINTED_COLUMNS = 12  # columns of the Calc sheet that print (it runs to a hundred and more)
PRINTED_ROWS = 40  # rows of a long sheet that print: its first page
_CALC_TEXT = frozenset({"model", "gpu", "dtype", "method", "compute", "status"})
_CALC_FORMATS = {
    "fe": "0.000", "he": "0.000", "fe_used": "0.000", "he_used": "0.000", "q": "0.0000", "lnq": "0.0000",
    "price_in": "$#,##0.00", "price": "$#,##0.00", "mem": "#,##0.0", "hbm_gbs": "#,##0.0", "nvl": "#,##0.0",
    "peak": "#,##0.0", "F_eff": "0.00E+00", "M_eff": "0.00E+00", "tps": "#,##0.0",
    "usd_prompt": "$#,##0.000000", "usd_completion": "$#,##0.000000",
}  # fmt: skip


def calc_number_format(column: Any) -> str | None:
    """The number format of a Calc column, by its unit: seconds, bytes, FLOP/s, USD, fractions; counts
    (layers, sizes, tokens, rows, flags) as whole numbers. None for text columns."""
    if column.name in _CALC_TEXT:
        return None
    if column.name in _CALC_FORMATS:
        return _CALC_FORMATS[column.name]
    if "[s]" in column.header or "seconds" in column.header:
        return SECONDS_FORMAT
    if "bytes]" in column.header:  # up to 9,999,999,999 in a Calc column, then 1.342E+10
        return "[<10000000000]#,##0;0.000E+00"
    return "#,##0"


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


def put_row(
    ws: Worksheet, row: int, values: Sequence[Any], first_col: int = 1, formats: Sequence[str | None] = ()
) -> None:
    """Write a row: Formula values as formulas, every other string as text; ``formats`` are the cells'
    number formats (None: General)."""
    for j, v in enumerate(values):
        fmt = formats[j] if j < len(formats) else None
        if isinstance(v, Formula):
            put_formula(ws, row, first_col + j, v, number_format=fmt)
        else:
            put(ws, row, first_col + j, v, number_format=fmt)


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


def fit_columns(ws: Worksheet, first_row: int, last_row: int, *, cap: int = 40) -> None:
    """Widen each column to its longest value in rows first_row..last_row (numbers as they print, roughly),
    up to ``cap`` characters; a longer text wraps within the column and its row grows to hold it (readers
    grow no row by themselves), unless it is the last of its row: that one runs on into the empty cells to
    its right. Headers are fitted apart (fit_header_rows)."""
    widths: dict[str, float] = {}
    long: list[Cell] = []
    for row in ws.iter_rows(min_row=first_row, max_row=last_row):
        filled = [cell for cell in row if cell.value is not None and cell.value != ""]
        for cell in filled:
            v = cell.value
            if cell.data_type == "f" or cell.font.b:  # titles and headers overflow or wrap
                continue
            number = isinstance(v, int | float) and not isinstance(v, bool)
            if not number and cell is filled[-1]:  # the row's last text runs on into the empty cells
                continue
            n = len(f"{v:,}") if number else len(str(v))
            widths[cell.column_letter] = max(widths.get(cell.column_letter, 0), min(n + 2, cap))
            if n + 2 > cap:
                long.append(cell)
    for letter, w in widths.items():
        if w > (ws.column_dimensions[letter].width if letter in ws.column_dimensions else 0):
            ws.column_dimensions[letter].width = w
    for cell in long:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        lines = math.ceil(len(str(cell.value)) / (1.1 * cap))  # prose: ~1.1 characters per width unit
        height = ws.row_dimensions[cell.row].height or 15
        ws.row_dimensions[cell.row].height = max(height, 15 * lines)


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
    ("checked", "Checked", lambda m: m.checked.isoformat() if m.checked else ""),
    ("source", "Source", lambda m: m.source),  # last: long prose runs on to the right, never cut
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
    ("usd_per_hour", "Price [USD/GPU-h]", lambda g: g.usd_per_hour),
    ("price_checked", "Price checked", lambda g: g.usd_per_hour_checked.isoformat() if g.usd_per_hour_checked else ""),
    ("checked", "Checked", lambda g: g.checked.isoformat() if g.checked else ""),
    ("price_source", "Price source", lambda g: g.usd_per_hour_source or ""),
    (
        "serving_source",
        "Serving constants: source",
        lambda g: g.serving_source or _default_serving_source(g),
    ),
    ("source", "Source", lambda g: g.source),  # last: long prose runs on to the right, never cut
]


def _default_serving_source(g: Any) -> str:
    """The defaults' source, saying so when they were fitted to other GPUs than this one."""
    from ..resolve import borrowed_serving_constants

    d = catalog.method_defaults("serving")
    if not borrowed_serving_constants(g):
        return d.source
    fitted = ", ".join(d.fitted_gpus)
    return f"borrowed from the fit to {fitted} (calibrate to your own runs to replace them): {d.source}"


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
    fit_columns(ws, 3, row)
    fit_header_rows(ws, header_rows)
    ws.freeze_panes = "B1"
    put(
        ws, 2, 1, f"Printed: its first page (the first {PRINTED_ROWS} rows, columns A to L); the full catalog "
        "is on screen."
    )  # fmt: skip
    finance_print(ws, f"A1:L{PRINTED_ROWS}", tall=1)
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
    columns = scenario_columns(methods)
    put(
        ws,
        1,
        1,
        f"Calc: methodology.md as formulas (printed: the first {CALC_PRINTED_COLUMNS} columns; all "
        f"{max(len(CONFIG_COLUMNS), len(columns))} are on screen). Configurations (what model, GPU, dtype, tp "
        "and pp fix)",
    ).font = HEADER_FONT
    header_row(ws, 2, [c.header for c in CONFIG_COLUMNS])
    config_first = 3
    config_formats = [calc_number_format(c) for c in CONFIG_COLUMNS]
    for i, inputs in enumerate(configs):
        put_row(
            ws, config_first + i, formulas_for_row(CONFIG_COLUMNS, config_first + i, inputs), formats=config_formats
        )
    last = config_first + len(configs) - 1
    for name, letter in column_letters(CONFIG_COLUMNS).items():
        define(wb, f"cfg_{name}", f"Calc!${letter}${config_first}:${letter}${last}")
    title_row = last + 2
    put(
        ws, title_row, 1, "Scenarios (one forward pass over the prompt, one decode step; times in seconds)"
    ).font = HEADER_FONT
    header_row(ws, title_row + 1, [c.header for c in columns])
    first = title_row + 2
    formats = [calc_number_format(c) for c in columns]
    for i, (cfg, b, s, n) in enumerate(scenarios):
        r = first + i
        put_row(ws, r, formulas_for_row(columns, r, {"cfg": cfg, "b": b, "s": s, "n": n}), formats=formats)
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
    last_printed = min(first + len(scenarios) - 1, PRINTED_ROWS)
    finance_print(ws, f"A1:{get_column_letter(CALC_PRINTED_COLUMNS)}{last_printed}", tall=1)
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


def _line(series: Series, symbol: str, colour: str, *, dash: str | None = None, size: int = 6) -> Series:
    """A line through a configuration's scenarios, with a marker at each: straight segments, never a curve
    (a smoothed line overshoots between points; LibreOffice smooths unless told not to)."""
    series.marker.symbol = symbol
    series.marker.size = size
    series.marker.graphicalProperties.solidFill = colour
    series.marker.graphicalProperties.line.solidFill = colour
    series.graphicalProperties.line.solidFill = colour
    series.graphicalProperties.line.width = 19050  # 1.5 pt
    if dash:
        series.graphicalProperties.line.dashStyle = dash
    series.smooth = False
    return series


#: Charts show at most this many series (configurations); a note names the rest, the table holds every row.
MAX_SERIES = 12
_PALETTE = ("1F77B4", "D62728", "2CA02C", "FF7F0E", "9467BD", "8C564B", "E377C2", "7F7F7F", "BCBD22", "17BECF")
_SYMBOLS = ("circle", "triangle", "square", "diamond")


def series_style(k: int) -> tuple[str, str, str | None]:
    """Colour, marker and dash of the k-th series: ten colours, then the same with another marker and dash."""
    return (
        _PALETTE[k % len(_PALETTE)],
        _SYMBOLS[(k // len(_PALETTE)) % len(_SYMBOLS)],
        (None if k < len(_PALETTE) else "dash"),
    )


def not_charted_note(titles: Sequence[str], what: str = "configurations") -> str | None:
    """The note under a chart capped at MAX_SERIES series: which ones it leaves out (None when none)."""
    if len(titles) <= MAX_SERIES:
        return None
    return (
        f"The charts show the first {MAX_SERIES} of {len(titles)} {what}; not charted: "
        + "; ".join(titles[MAX_SERIES:])
        + "."
    )


def finance_print(
    ws: Worksheet,
    area: str | None,
    *,
    title_rows: str | None = None,
    title_cols: str | None = None,
    wide: int = 1,
    tall: int = 0,
    landscape: bool = True,
) -> None:
    """Print as a finance deliverable: landscape, ``wide`` pages wide (``tall`` pages tall, 0: as many as it
    takes), header rows (and columns) repeated on every page."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = wide
    ws.page_setup.fitToHeight = tall
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = False
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddFooter.center.text = "&A, page &P of &N"
    if area:
        ws.print_area = area
    if title_rows:
        ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols


def _scatter(title: str, y_title: str, y_format: str, x_title: str) -> ScatterChart:
    chart = ScatterChart(scatterStyle="lineMarker")  # straight lines with markers ("smoothMarker" curves)
    chart.title = title
    chart.style = 13
    chart.y_axis.title = y_title
    chart.y_axis.number_format = y_format
    chart.x_axis.title = x_title
    chart.x_axis.number_format = "#,##0"
    chart.x_axis.scaling.logBase = 2  # batch sizes 1, 8, 32 ... spread evenly, not crowded at the left
    chart.x_axis.majorGridlines = None
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.display_blanks = "gap"
    chart.visible_cells_only = False  # the chart columns are hidden: plot them all the same
    chart.legend.position = "b"
    return chart


def add_throughput_chart(
    target: Worksheet,
    data: Worksheet,
    groups: Sequence[tuple[str, int, int]],
    *,
    batch_col: int,
    tps_col: int,
    price_col: int,
    anchor: str,
    note_cell: tuple[int, int] | None = None,
    size: tuple[float, float] = (16, 11),
) -> int:
    """On ``target``: two charts against batch size (log scale), one line per configuration each: tokens/s,
    and the price per 1k completion tokens; the second beside the first. ``groups`` are (title, first row,
    last row) of ``data``; at most MAX_SERIES of them are drawn and a note at ``note_cell`` (default: the
    row under the charts) names the rest. Cells holding #N/A (a scenario that does not fit) are gaps, never
    zeros. Returns the first row below the charts (and the note)."""
    from openpyxl.chart.legend import LegendEntry
    from openpyxl.chart.series import SeriesLabel
    from openpyxl.utils.cell import coordinate_from_string, get_column_letter

    tps = _scatter("Throughput against batch size", "Tokens/second", "#,##0", "Batch size [sequences], log scale")
    price = _scatter(
        "Price per 1k completion tokens against batch size",
        "USD per 1k completion tokens",
        "$0.0000",
        "Batch size [sequences], log scale",
    )
    styles: dict[str, int] = {}  # a title given twice (a run of rows split by others) is one configuration
    for k, (title, first, last) in enumerate(groups[:MAX_SERIES]):
        colour, symbol, dash = series_style(styles.setdefault(title, len(styles)))
        x = Reference(data, min_col=batch_col, min_row=first, max_row=last)
        for chart, col in ((tps, tps_col), (price, price_col)):
            s = Series(Reference(data, min_col=col, min_row=first, max_row=last), x)
            s.tx = SeriesLabel(v=title)
            chart.series.append(_line(s, symbol, colour, dash=dash))
            if styles[title] != len(styles) - 1 or [t for t, _, _ in groups[:k]].count(title):
                chart.legend.legendEntry.append(LegendEntry(idx=k, delete=True))
    width, height = size
    legend_rows = min(
        len({t for t, _, _ in groups}), MAX_SERIES
    )  # the legend grows the chart: a line per series at most
    height += 0.5 * legend_rows
    letter, row = coordinate_from_string(anchor)
    col = target[f"{letter}1"].column
    # the second chart starts in the first column right of the first (columns of the default width)
    widths = 0.0
    j = col
    while widths < width:
        d = target.column_dimensions.get(get_column_letter(j))
        widths += 0.0265 * (7 * (d.width if d is not None and d.width else 8.43) + 5)  # cm, at 96 dpi
        j += 1
    width = widths  # the first chart ends where the second begins
    for chart, at in ((tps, anchor), (price, f"{get_column_letter(j)}{row}")):
        chart.width, chart.height = width, height
        target.add_chart(chart, at)
    below = row + math.ceil(height / 0.53) + 1  # rows of the default height (15 pt = 0.53 cm)
    note = not_charted_note([t for t, _, _ in groups])
    if note:
        r, c = note_cell or (below, col)
        cell = put(target, r, c, note)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        below = max(below, r + 1)
    return below
