"""The report workbook of ``llmxl report``: a sweep of scenarios, every figure a live formula.

:class:`Sweep` holds the sweep's inputs, resolved and checked, and computes its rows with the engine
(the CSV and JSON outputs); :func:`build_report_workbook` lays out the Summary, Report, Calc and
Catalog sheets.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment

from .. import catalog
from ..checks import check_count, check_efficiency, check_method, check_price
from ..errors import LlmxlError
from ..estimate import estimate
from .build import (
    MAX_SERIES,
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
from .reference import SHARED_NAMED_INPUTS

COLUMNS = [
    ("model", "Model", None),
    ("gpu", "GPU", None),
    ("batch_size", "Batch size [sequences]", "#,##0"),
    ("prompt_tokens", "Prompt [tokens]", "#,##0"),
    ("completion_tokens", "Completion [tokens]", "#,##0"),
    ("ttft_s", "Time to first token [s]", "0.000"),
    ("completion_time_s", "Time for completion [s]", "0.000"),
    ("tokens_per_s", "Throughput [tokens/s]", "#,##0.0"),
    ("usd_per_1k_prompt_tokens", "Price per 1k prompt tokens [USD]", "$#,##0.000000"),
    ("usd_per_1k_completion_tokens", "Price per 1k completion tokens [USD]", "$#,##0.0000"),
    ("max_batch_size", "Largest batch that fits [sequences]", "#,##0"),
    ("status", "Status (why a scenario does not fit)", None),
]
#: CSV and JSON rows: every input and result needed to reconcile a price, then the status.
ROW_KEYS = (
    "model",
    "gpu",
    "tp",
    "pp",
    "dtype",
    "method",
    "batch_size",
    "prompt_tokens",
    "completion_tokens",
    "flops_efficiency",
    "hbm_efficiency",
    "gpu_hour_usd",
    "num_gpus",
    "ttft_s",
    "tpot_s",
    "completion_time_s",
    "e2e_latency_s",
    "tokens_per_s",
    "usd_per_1k_prompt_tokens",
    "usd_per_1k_completion_tokens",
    "max_batch_size",
    "status",
)
_ENGINE = ("ttft_s", "tpot_s", "completion_time_s", "e2e_latency_s", "tokens_per_s", "usd_per_1k_prompt_tokens",
           "usd_per_1k_completion_tokens", "max_batch_size")  # fmt: skip
# report column -> Calc scenario quantity
_CALC = {
    "ttft_s": "ttft",
    "completion_time_s": "completion",
    "tokens_per_s": "tps",
    "usd_per_1k_prompt_tokens": "usd_prompt",
    "usd_per_1k_completion_tokens": "usd_completion",
    "max_batch_size": "max_batch",
}


def _split(values: list[str], kind: str) -> list[str]:
    """Repeated or comma-separated names (``--model a,b --model c``), in order, without repeats.

    A name that itself holds a comma and is in the catalog is kept whole.
    """
    index = catalog.get_catalog().index[kind]
    out: list[str] = []
    for text in values:
        text = str(text)
        parts = [text] if catalog.normalise_name(text) in index else text.split(",")
        for part in parts:
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    return out


def parse_list(text: str, field: str) -> list[int]:
    """'1,2, 4' -> [1, 2, 4]; each a whole number ≥ 1, checked as estimate() checks it."""
    return [check_count(part, field) for part in str(text).split(",")]


class Sweep:
    """The inputs of a report, resolved and checked."""

    def __init__(self, args: Any) -> None:
        from ..resolve import own_id, released_dtype, resolve_model

        self.specs: dict[str, Any] = {}  # config.json models too, by id: each its own row, never merged
        for name in _split(args.model, "models"):
            spec = resolve_model(name)
            if spec.id in self.specs and self.specs[spec.id] is not spec:  # two configs of one name
                spec = own_id(spec, name, taken=self.specs)
            self.specs.setdefault(spec.id, spec)
        self.models = list(self.specs)
        self.gpus = [catalog.get_gpu(g).id for g in _split(args.gpu, "gpus")]
        self.batches = parse_list(args.batch, "batch_size")
        self.prompts = parse_list(args.prompt, "prompt_tokens")
        self.completions = parse_list(args.completion, "completion_tokens")
        self.tp = check_count(args.tp, "tp")
        self.pp = check_count(args.pp, "pp")
        # One dtype for every model when given; else each model's released precision (``dtypes``).
        self.dtype = None if args.dtype is None else catalog.get_dtype(args.dtype).id
        self.dtypes = {ident: self.dtype or released_dtype(spec)[0].id for ident, spec in self.specs.items()}
        self.method = check_method(args.method)
        self.fe = None if args.flops_efficiency is None else check_efficiency(args.flops_efficiency, "flops_efficiency")
        self.he = None if args.hbm_efficiency is None else check_efficiency(args.hbm_efficiency, "hbm_efficiency")
        self.price = check_price(args.gpu_hour_usd)
        self.configs = list(itertools.product(self.models, self.gpus))
        # Prompt and completion outermost, batch innermost: each (model, GPU, prompt, completion) is a run of
        # rows with batch increasing, one chart series.
        self.workload = [(b, s, n) for s, n in itertools.product(self.prompts, self.completions) for b in self.batches]

    @property
    def size(self) -> int:
        return len(self.configs) * len(self.workload)

    def engine_rows(self) -> list[dict[str, Any]]:
        """Every scenario computed by the Python engine, with a status ('ok' or the reason)."""
        import numpy as np

        rows: list[dict[str, Any]] = []
        b = np.array([w[0] for w in self.workload], dtype=float)
        s = np.array([w[1] for w in self.workload], dtype=float)
        n = np.array([w[2] for w in self.workload], dtype=float)
        for model, gpu in self.configs:
            try:
                e = estimate(
                    self.specs[model],
                    gpu,
                    batch_size=b,
                    prompt_tokens=s,
                    completion_tokens=n,
                    tp=self.tp,
                    pp=self.pp,
                    dtype=self.dtypes[model],
                    flops_efficiency=self.fe,
                    hbm_efficiency=self.he,
                    gpu_hour_usd=self.price,
                    method=self.method,
                    on_error="nan",
                )
                failure = None
            except LlmxlError as exc:
                e, failure = None, exc.message
            # Each result array is read once: properties such as tokens_per_s compute on every read.
            columns = {} if e is None else {key: getattr(e, key) for key in _ENGINE}
            fe = None if e is None else e.flops_efficiency
            he = None if e is None else e.hbm_efficiency
            price = None if e is None else e.gpu_hour_usd
            for i, (bi, si, ni) in enumerate(self.workload):
                row: dict[str, Any] = {
                    "model": model,
                    "gpu": gpu,
                    "tp": self.tp,
                    "pp": self.pp,
                    "dtype": self.dtypes[model],
                    "method": self.method,
                    "batch_size": bi,
                    "prompt_tokens": si,
                    "completion_tokens": ni,
                    "flops_efficiency": None if fe is None else float(np.ravel(fe)[i]),
                    "hbm_efficiency": None if he is None else float(np.ravel(he)[i]),
                    "gpu_hour_usd": None if price is None else float(np.ravel(price)[i]),
                    "num_gpus": self.tp * self.pp,
                }
                err = failure if e is None else (None if e.errors[i] is None else e.errors[i].message)
                for key in _ENGINE:
                    value = None if e is None or err else columns[key]
                    row[key] = None if value is None else float(value[i])
                if row["max_batch_size"] is not None:
                    row["max_batch_size"] = int(row["max_batch_size"])
                row["status"] = err or "ok"
                rows.append(row)
        return rows


STATUS_WIDTH = 70  # the status column, in characters
STATUS_ALIGNMENT = Alignment(horizontal="left", vertical="top", wrap_text=True, indent=1)
SUMMARY_LABEL_WIDTH = 52  # the Summary sheet's labels and values, in characters
SUMMARY_VALUE_WIDTH = 34


def build_report_workbook(
    sweep: Sweep, progress: Callable[[int], None] | None = None, statuses: Sequence[str] | None = None
) -> Workbook:
    """The report workbook of ``sweep``; ``statuses`` (each scenario's status as the engine gives it, in row
    order) size the rows of the ones that wrap."""
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    report = wb.create_sheet("Report")
    known = catalog.get_catalog().entries["models"]
    # the figures of the model the engine used: a config's own, even one that shares a catalog id
    write_catalog_sheet(wb, extra_models=[spec for ident, spec in sweep.specs.items() if known.get(ident) is not spec])
    configs = [{"model": m, "gpu": g, **SHARED_NAMED_INPUTS} for m, g in sweep.configs]
    if sweep.dtype is None:  # a blank dtype cell means each model's released precision
        for cfg in configs:
            cfg["dtype"] = Formula(f'=IF(llm_dtype="","{sweep.dtypes[cfg["model"]]}",llm_dtype)')
    first = 4
    scenarios = []
    rows = []
    for ci, (model, gpu) in enumerate(sweep.configs):
        for b, s, n in sweep.workload:
            r = first + len(rows)
            rows.append((model, gpu, b, s, n))
            scenarios.append((ci + 1, *(Formula.of(f"=Report!${col}${{r}}", r=r) for col in "CDE")))
    methods = frozenset({"serving"}) if sweep.method == "serving" else frozenset({"standard", "reference"})
    layout = write_calc_sheet(wb, configs, scenarios, progress, methods)

    put(summary, 1, 1, "llmxl report: a sweep of serving scenarios, as live formulas").font = TITLE_FONT
    put(summary, 2, 1, "Change the yellow inputs and every row of the Report sheet recalculates.")
    inputs = {
        "llm_tp": ("Tensor parallel GPUs (tp)", sweep.tp),
        "llm_pp": ("Pipeline parallel stages (pp)", sweep.pp),
        "llm_dtype": (
            "Dtype"
            if sweep.dtype is not None
            else "Dtype (blank: each model's released precision, "
            + ", ".join(f"{m} {d}" for m, d in sweep.dtypes.items())
            + ")",
            sweep.dtype,
        ),
        "llm_flops_efficiency": ("FLOPs efficiency (fraction of peak; blank: the method's)", sweep.fe),
        "llm_hbm_efficiency": ("HBM efficiency (fraction of peak; blank: the method's)", sweep.he),
        "llm_gpu_hour_usd": ("Price per GPU-hour [USD] (blank: each GPU's catalog price)", sweep.price),
        "llm_method": (
            "Method (serving; rebuild with --method for the others)"
            if sweep.method == "serving"
            else "Method (standard or reference; rebuild with --method serving for serving)",
            sweep.method,
        ),
    }
    input_block(wb, summary, 4, inputs, methods=methods)
    for i, (label, _) in enumerate(inputs.values()):  # a long label wraps within column A
        if len(label) > 1.1 * SUMMARY_LABEL_WIDTH:  # prose: ~1.1 characters per width unit
            summary.cell(4 + i, 1).alignment = Alignment(wrap_text=True, vertical="top")
            summary.cell(4 + i, 2).alignment = Alignment(vertical="top")
            summary.row_dimensions[4 + i].height = 15 * math.ceil(len(label) / (1.1 * SUMMARY_LABEL_WIDTH))
    r = 4 + len(inputs) + 1
    for label, value in (
        ("Models", ", ".join(sweep.models)),
        ("GPUs", ", ".join(sweep.gpus)),
        ("Batch sizes", ", ".join(map(str, sweep.batches))),
        ("Prompt tokens", ", ".join(map(str, sweep.prompts))),
        ("Completion tokens", ", ".join(map(str, sweep.completions))),
        ("Scenarios", sweep.size),
    ):
        put(summary, r, 1, label)
        cell = put(summary, r, 2, value, number_format="#,##0")
        cell.alignment = Alignment(wrap_text=True, horizontal="left", vertical="top")
        if isinstance(value, str) and len(value) > SUMMARY_VALUE_WIDTH:
            summary.row_dimensions[r].height = 15 * math.ceil(len(value) / SUMMARY_VALUE_WIDTH)
        r += 1
    summary.column_dimensions["A"].width = SUMMARY_LABEL_WIDTH
    summary.column_dimensions["B"].width = SUMMARY_VALUE_WIDTH
    charts_row = r + 1

    put(report, 1, 1, "Scenarios (one row each; Status says why a scenario does not fit)").font = TITLE_FONT
    headers = [h for _, h, _ in COLUMNS]
    header_row(report, 3, [*headers, "Chart: throughput (gaps where a scenario fails)", "Chart: price"])
    status_col = len(COLUMNS)
    fmt = {key: f for key, _, f in COLUMNS}
    status = layout.scenario_pattern("status")
    results = [f'=IF({status}="ok",{layout.scenario_pattern(_CALC[key])},"")' for key, _, _ in COLUMNS[5:-1]]
    for i, (model, gpu, b, s, n) in enumerate(rows):
        rr = first + i
        for j, (key, v) in enumerate(zip(("model", "gpu", "batch_size", "prompt_tokens", "completion_tokens"),
                                         (model, gpu, b, s, n), strict=True)):  # fmt: skip
            put(report, rr, j + 1, v, number_format=fmt[key])
        c = layout.scenario_first + i
        for j, (_, _, f) in enumerate(COLUMNS[5:-1]):
            put_formula(report, rr, 6 + j, Formula.of(results[j], c=c), number_format=f)
        cell = put_formula(report, rr, status_col, Formula.of(f"={status}", c=c))
        cell.alignment = STATUS_ALIGNMENT  # clear of the number to its left ("100ok")
        text = statuses[i] if statuses is not None and i < len(statuses) else ""
        if len(text) > STATUS_WIDTH - 4:  # readers grow no row by themselves
            report.row_dimensions[rr].height = 15 * math.ceil(len(text) / (STATUS_WIDTH - 6))
    groups = []  # runs of rows of one configuration (model, GPU, prompt, completion), batch increasing
    for i, (model, gpu, _b, s, n) in enumerate(rows):
        key = (model, gpu, s, n)
        if groups and groups[-1][0] == key:
            groups[-1][2] = first + i
        else:
            groups.append([key, first + i, first + i])
    charted = groups[:MAX_SERIES]
    for _, a, z in charted:
        for rr in range(a, z + 1):
            # Chart columns: NA() where a scenario fails, so charts leave a gap instead of plotting 0.
            put_formula(report, rr, status_col + 1, Formula.of('=IF(L{r}="ok",H{r},NA())', r=rr))
            put_formula(report, rr, status_col + 2, Formula.of('=IF(L{r}="ok",J{r},NA())', r=rr))
    for j, width in enumerate((14, 14, 11, 11, 12, 12, 12, 13, 15, 15, 13, STATUS_WIDTH, 12, 12)):
        report.column_dimensions[report.cell(row=1, column=j + 1).column_letter].width = width
    for letter, names in (("A", sweep.models), ("B", sweep.gpus)):  # names whole, however long
        report.column_dimensions[letter].width = max(14, min(40, 2 + max(map(len, names))))
    for col in ("M", "N"):
        report.column_dimensions[col].hidden = True
    last = first + len(rows) - 1
    report.freeze_panes = "C4"
    report.auto_filter.ref = f"A3:L{max(last, 4)}"
    finance_print(report, f"A1:L{max(last, 4)}", title_rows="3:3")
    series = [(f"{m} · {g} · {s:,}/{n:,} tokens", a, z) for (m, g, s, n), a, z in groups]
    add_throughput_chart(
        summary,
        report,
        series,
        batch_col=3,
        tps_col=status_col + 1,
        price_col=status_col + 2,
        anchor=f"A{charts_row}",
    )
    finance_print(summary, None, tall=1)  # inputs and charts: one page
    return wb
