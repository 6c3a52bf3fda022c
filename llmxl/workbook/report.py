"""``llmxl report``: a workbook (and optional CSV/JSON) for a sweep of scenarios."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from .. import catalog
from ..checks import check_count, check_efficiency, check_method, check_price
from ..errors import InvalidInputError, LlmxlError
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
from .files import (
    atomic_write,
    check_overwrite,
    check_suffix,
    distinct_outputs,
    gc_paused,
    output_lock,
    resolve_output,
    save_workbook,
)
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
        from ..resolve import resolve_model

        specs = [resolve_model(m) for m in _split(args.model, "models")]
        self.specs = {spec.id: spec for spec in specs}  # config.json models too, by id
        self.models = list(self.specs)
        self.gpus = [catalog.get_gpu(g).id for g in _split(args.gpu, "gpus")]
        self.batches = parse_list(args.batch, "batch_size")
        self.prompts = parse_list(args.prompt, "prompt_tokens")
        self.completions = parse_list(args.completion, "completion_tokens")
        self.tp = check_count(args.tp, "tp")
        self.pp = check_count(args.pp, "pp")
        self.dtype = catalog.get_dtype(args.dtype).id
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
                    dtype=self.dtype,
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
                    "dtype": self.dtype,
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


class Progress:
    """A one-line progress bar on stderr, for large sweeps."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled = total, label, enabled and total >= 2000
        self.last = 0.0

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done != self.total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / self.total)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
        if done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def build_report_workbook(sweep: Sweep, progress: Progress | None = None) -> Workbook:
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    report = wb.create_sheet("Report")
    known = catalog.get_catalog().entries["models"]
    write_catalog_sheet(wb, extra_models=[spec for ident, spec in sweep.specs.items() if ident not in known])
    configs = [{"model": m, "gpu": g, **SHARED_NAMED_INPUTS} for m, g in sweep.configs]
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
        "llm_dtype": ("Dtype", sweep.dtype),
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
        put(summary, r, 2, value)
        r += 1
    summary.column_dimensions["A"].width = 52
    summary.column_dimensions["B"].width = 30

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
        put_formula(report, rr, status_col, Formula.of(f"={status}", c=c))
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
    for j, width in enumerate((18, 18, 11, 11, 12, 12, 12, 13, 15, 15, 13, 70, 12, 12)):
        report.column_dimensions[report.cell(row=1, column=j + 1).column_letter].width = width
    for col in ("M", "N"):
        report.column_dimensions[col].hidden = True
    last = first + len(rows) - 1
    report.freeze_panes = "C4"
    report.auto_filter.ref = f"A3:L{max(last, 4)}"
    finance_print(report, f"A1:L{max(last, 4)}", title_rows="3:3")
    finance_print(summary, None)
    series = [(f"{m} · {g} · {s:,}/{n:,} tokens", a, z) for (m, g, s, n), a, z in groups]
    add_throughput_chart(
        summary, report, series, batch_col=3, tps_col=status_col + 1, price_col=status_col + 2, anchor="D4"
    )
    return wb


_TRIGGER = None


def _safe_csv(value: Any) -> Any:
    """Neutralise text that a spreadsheet would read as a formula (CSV injection).

    A formula trigger (= + - @, or a tab or carriage return) at the start of the text, or after a
    separator (, or ;), a quote or white space, gets a ' before it: opened with either separator, no
    piece of the text starts a formula or a DDE call.
    """
    global _TRIGGER
    if not isinstance(value, str):
        return value
    if _TRIGGER is None:
        import re

        _TRIGGER = re.compile(r"(^|[,;\s\"'])([=+\-@\t\r|])")
    return _TRIGGER.sub(lambda m: m.group(1) + "'" + m.group(2), value)


def write_csv(rows: list[dict[str, Any]], path: Path, force: bool, keys: Sequence[str] | None = None) -> None:
    """Rows as CSV (the report's row keys unless ``keys`` are given), text neutralised, written atomically."""
    keys = list(ROW_KEYS) if keys is None else list(keys)
    check_overwrite(path, force=force)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    w.writerow(keys)
    for row in rows:
        w.writerow(["" if row[k] is None else _safe_csv(row[k]) for k in keys])
    atomic_write(path, buf.getvalue().encode("utf-8"))


def json_text(data: Any) -> str:
    """Strict JSON (no NaN or Infinity: a non-finite number is null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), indent=1, allow_nan=False) + "\n"


def write_json(rows: Any, path: Path, force: bool) -> None:
    check_overwrite(path, force=force)
    atomic_write(path, json_text(rows).encode("utf-8"))


#: Most scenarios a report builds unless told otherwise (--max-scenarios). Measured here: 50,000 took 37 s and
#: 3.0 GB of memory, so 100,000 takes about 75 s and 6 GB.
MAX_SCENARIOS = 100_000


def check_outputs(flags: list[tuple[str, Any, tuple[str, ...]]], force: bool) -> None:
    """Before any work: formats match extensions, no two outputs are one file, none may be lost."""
    distinct_outputs([(flag, path) for flag, path, _ in flags])
    for flag, path, suffixes in flags:
        check_suffix(path, flag, suffixes)
    for _, path, _ in flags:
        if path and path != "-":
            resolve_output(path, force=force)


def run_report(args: Any) -> int:
    if not (args.output or args.csv or args.json_path):
        raise InvalidInputError("report needs somewhere to write: give -o report.xlsx, --csv or --json", field="output")
    sweep = Sweep(args)
    cap = check_count(getattr(args, "max_scenarios", None) or MAX_SCENARIOS, "max_scenarios")
    if sweep.size > cap:
        raise InvalidInputError(
            f"the report would hold {sweep.size:,} scenarios, more than the limit of {cap:,}; "
            "narrow the lists or raise the limit with --max-scenarios",
            field="max_scenarios",
        )
    flags = [("-o", args.output, (".xlsx",)), ("--csv", args.csv, (".csv",)), ("--json", args.json_path, (".json",))]
    check_outputs(flags, args.force)
    with output_lock([p for _, p, _ in flags]):
        return _write_report(args, sweep)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def failure_summary(rows: list[dict[str, Any]]) -> list[str]:
    """The scenarios that did not compute, grouped by reason (numbers aside), one example each."""
    import re

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] != "ok":
            key = re.sub(r"\d[\d.,]*", "#", row["status"].split(";")[0])
            groups.setdefault(key, []).append(row)
    lines = []
    for members in sorted(groups.values(), key=len, reverse=True):
        r = members[0]
        lines.append(
            f"  {_plural(len(members), 'scenario')}, e.g. {r['model']} on {r['gpu']}, batch {r['batch_size']}, "
            f"prompt {r['prompt_tokens']}, completion {r['completion_tokens']}: {r['status']}"
        )
    return lines


def _write_report(args: Any, sweep: Sweep) -> int:
    rows = sweep.engine_rows()
    failed = sum(1 for r in rows if r["status"] != "ok")
    if args.csv:
        write_csv(rows, Path(args.csv), args.force)
        print(f"wrote {args.csv} ({_plural(len(rows), 'row')})")
    if args.json_path:
        write_json(rows, Path(args.json_path), args.force)
        print(f"wrote {args.json_path} ({_plural(len(rows), 'row')})")
    if args.output:
        progress = Progress(sweep.size, "building", not args.no_progress)
        with gc_paused():
            wb = build_report_workbook(sweep, progress)
            save_workbook(wb, args.output, force=args.force)
        print(f"wrote {args.output} ({_plural(sweep.size, 'scenario')})")
    if failed:
        print(
            f"llmxl: {failed:,} of {_plural(len(rows), 'scenario')} did not compute; each row says why:",
            file=sys.stderr,
        )
        for line in failure_summary(rows):
            print(line, file=sys.stderr)
    if failed == len(rows):
        print("llmxl: error: no scenario computed; see the reasons above", file=sys.stderr)
        return 2
    return 0
