"""Benchmark runs as llmxl reads them: one :class:`Measurement` per run, from dicts or files.

Plain CSV (one run per row), a ``vllm bench serve`` result JSON (one run, or one per line from
``--append-result``) and a genai-perf CSV are read here, each value checked and every failure named by
file, row and field. A run is at a static batch, a concurrency or a request rate; besides the means,
its figures may be percentiles of TTFT and of the gaps between tokens (``ttft_p90_s``, ``itl_p99_s``).
What the runs are used for (fitting the `serving` constants and the engine's settings) is
:mod:`llmxl.calibration`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import catalog
from .checks import format_value, number
from .errors import InvalidInputError, LlmxlError
from .resolve import resolve_dtype

__all__ = ["METRICS", "Measurement", "gather", "metric_percentile", "read_measurements"]

METRICS = ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s")
#: A percentile of TTFT or of the gap between tokens: ttft_p90_s, itl_p99_s, itl_p99.9_s (p in (0, 100)).
PERCENTILE_METRIC = re.compile(r"^(ttft|itl)_p(\d{1,2}(?:\.\d+)?)_s$")
# Repeated runs of one configuration differ by a few per cent; beyond this they contradict.
_DUPLICATE_SPREAD = 0.25


@dataclass(frozen=True)
class Measurement:
    """One benchmark run and what it measured (seconds and tokens per second)."""

    model: str
    gpu: str
    prompt_tokens: int
    completion_tokens: int
    metrics: Mapping[str, float]
    tp: int = 1
    pp: int = 1
    dtype: str = "w16a16e16"
    batch_size: int | None = None
    concurrency: int | None = None
    where: str = "measurement"
    request_rate: float | None = None
    """Requests per second of Poisson arrivals (vllm bench serve --request-rate); with a concurrency too, that
    caps the requests in flight."""

    def key(self) -> tuple[Any, ...]:
        return (
            catalog.normalise_name(self.model),
            self.tp,
            self.pp,
            self.dtype,
            self.prompt_tokens,
            self.completion_tokens,
            self.batch_size,
            self.concurrency,
            self.request_rate,
        )


def metric_percentile(name: str) -> tuple[str, float | None]:
    """(metric, percentile) of a measured figure's name: ("ttft_s", None) for a mean, ("ttft_s", 90.0) for
    ttft_p90_s, ("tpot_s", 99.0) for itl_p99_s (the gaps between tokens, whose mean is tpot_s's)."""
    hit = PERCENTILE_METRIC.match(name)
    if hit is None:
        return name, None
    return ("ttft_s" if hit.group(1) == "ttft" else "tpot_s"), float(hit.group(2))


_WHOLE = ("tp", "pp", "batch_size", "concurrency")  # counts that are never a mean: 0.5 is refused, not rounded


def _positive(value: Any, where: str, name: str, *, whole: bool = False) -> Any:
    """A finite number > 0 (through :func:`llmxl.checks.number`), else a message naming the run and field."""
    if isinstance(value, str):
        value = value.strip().replace(",", "")
    try:
        v = number(value, name)
    except InvalidInputError:
        raise InvalidInputError(
            f"{where}: {name}={format_value(value)} is not a number; give a positive number", field=name
        ) from None
    try:
        v = float(v)
    except OverflowError:  # an integer of hundreds of digits
        v = math.inf
    if not math.isfinite(v) and not math.isnan(v):
        raise InvalidInputError(f"{where}: {name}={format_value(value)} is too large to be a measurement", field=name)
    if not v > 0:
        raise InvalidInputError(f"{where}: {name}={format_value(value)} must be a positive number", field=name)
    if whole:
        if name in _WHOLE and not v.is_integer():
            raise InvalidInputError(f"{where}: {name}={format_value(value)} must be a whole number", field=name)
        if v > 1e9:
            raise InvalidInputError(
                f"{where}: {name}={format_value(value)} is more than 1e9; check the run", field=name
            )
        return max(1, round(v))
    return v


def measurement(row: Mapping[str, Any], where: str, defaults: Mapping[str, Any]) -> Measurement:
    def get(name: str) -> Any:
        v = row.get(name)
        if v is None or (isinstance(v, str) and not v.strip()):
            v = defaults.get(name)
        return v

    for name in ("model", "gpu", "prompt_tokens", "completion_tokens"):
        if get(name) is None:
            how = f"pass {name}= (--{name} at the command line)" if name in ("model", "gpu") else "add it to the file"
            raise InvalidInputError(f"{where}: {name} is missing; {how}", field=name)
    model, gpu = get("model"), get("gpu")
    model = model.strip() if isinstance(model, str) else model
    gpu = gpu.strip() if isinstance(gpu, str) else gpu
    try:  # unknown names fail here, naming the row
        catalog.get_model(model)
        gpu_id = catalog.get_gpu(gpu).id
    except LlmxlError as exc:
        raise type(exc)(f"{where}: {exc.message}", field=exc.field) from None
    metrics: dict[str, float] = {}
    for m in METRICS:
        alias = "itl_s" if m == "tpot_s" else None
        v = row.get(m)
        if (v is None or (isinstance(v, str) and not v.strip())) and alias:
            v = row.get(alias)
        if v is not None and not (isinstance(v, str) and not v.strip()):
            metrics[m] = _positive(v, where, m)
    for name in sorted(k for k in row if isinstance(k, str) and PERCENTILE_METRIC.match(k)):
        v = row[name]
        if v is not None and not (isinstance(v, str) and not v.strip()):
            p = float(PERCENTILE_METRIC.match(name).group(2))  # type: ignore[union-attr]
            if not 0 < p < 100:
                raise InvalidInputError(f"{where}: {name}: a percentile must be in (0, 100), got {p:g}", field=name)
            metrics[name] = _positive(v, where, name)
    if not metrics:
        raise InvalidInputError(
            f"{where}: no measured figure; give one or more of {', '.join(METRICS)} (or itl_s, ttft_p90_s ...)",
            field="metrics",
        )
    batch, conc, rate = get("batch_size"), get("concurrency"), get("request_rate")
    if isinstance(rate, str) and rate.strip().lower() in ("inf", "infinity"):
        rate = None  # no pacing: the concurrency alone bounds the run
    if (batch is None) == (conc is None and rate is None):
        raise InvalidInputError(
            f"{where}: give exactly one of batch_size (static batching) and concurrency or request_rate "
            "(continuous batching)",
            field="batch_size" if batch is not None else "concurrency",
        )
    if batch is not None and any(PERCENTILE_METRIC.match(k) for k in metrics):
        raise InvalidInputError(
            f"{where}: percentiles are of runs at a concurrency or a rate; a static batch has one latency",
            field="batch_size",
        )
    n = _positive(get("completion_tokens"), where, "completion_tokens", whole=True)
    if "tpot_s" in metrics and n < 2:
        raise InvalidInputError(f"{where}: tpot_s needs completion_tokens ≥ 2, got {n}", field="tpot_s")
    return Measurement(
        model=model,
        gpu=gpu_id,
        prompt_tokens=_positive(get("prompt_tokens"), where, "prompt_tokens", whole=True),
        completion_tokens=n,
        metrics=metrics,
        tp=_positive(get("tp") or 1, where, "tp", whole=True),
        pp=_positive(get("pp") or 1, where, "pp", whole=True),
        dtype=_dtype(get("dtype") or "w16a16e16", where),
        batch_size=None if batch is None else _positive(batch, where, "batch_size", whole=True),
        concurrency=None if conc is None else _positive(conc, where, "concurrency", whole=True),
        where=where,
        request_rate=None if rate is None else _positive(rate, where, "request_rate"),
    )


def _dtype(value: Any, where: str) -> str:
    try:
        resolve_dtype(str(value).strip())
    except LlmxlError as exc:
        raise InvalidInputError(f"{where}: {exc.message}", field="dtype") from None
    return str(value).strip()


_MAX_FILE_BYTES = 16 * 1024 * 1024


def _read_text(path: Path) -> str:
    """The UTF-8 text of a measurements file; a folder, a pipe or a device is refused before it is opened."""
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file; give the path of a measurements file", field="file") from None
    except (OSError, ValueError) as exc:  # a NUL byte, no permission
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInputError(
            f"{path}: cannot be read ({why}); give the path of a measurements file", field="file"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(
            f"{path}: is a folder; give the measurement files in it (e.g. {path}/*.json)", field="file"
        )
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(
            f"{path}: is not a regular file (a pipe or a device); save the measurements to a file", field="file"
        )
    if st.st_size > _MAX_FILE_BYTES:
        raise InvalidInputError(f"{path}: larger than 16 MiB; this is not a measurements file", field="file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc.strerror or exc})", field="file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not UTF-8 text; save it as UTF-8 CSV or JSON", field="file") from None


def _detect(path: Path, text: str) -> str:
    if path.suffix.lower() == ".json":
        return "vllm"
    first = text.lstrip().split("\n", 1)[0]
    if first.startswith("Metric,"):
        return "genai-perf"
    return "csv"


_VLLM_NEEDED = ("completed", "total_input_tokens", "total_output_tokens", "mean_ttft_ms", "output_throughput")
# What llmxl reads of a result of vllm bench serve (docs/methodology.md, "Calibration"): the run's load
# (max_concurrency, request_rate, burstiness), its mean lengths (total_input_tokens and total_output_tokens over
# completed), the mean TTFT, TPOT (else ITL) and E2EL, output_throughput, and the median and --metric-percentiles
# of TTFT and ITL. Not read: std_*, the median and percentiles of TPOT and E2EL (per-request means: the load model
# has no distribution of them), request_throughput and total_token_throughput (output_throughput over the mean
# completion, and the same with prompts: no new figure), request_goodput, max_output_tokens_per_s and
# max_concurrent_requests (peaks over one-second buckets), duration, date, backend, label, tokenizer_id,
# num_prompts, failed and the per-request lists of --save-detailed.
_VLLM_PERCENTILE = re.compile(r"^(median|p(\d{1,2}(?:\.\d+)?))_(ttft|itl)_ms$")
# --metadata KEY=VALUE pairs vllm bench serve writes at the top level, read where the caller names none
_VLLM_METADATA = (("tp", "tp"), ("tensor_parallel_size", "tp"), ("gpu", "gpu"), ("dtype", "dtype"))


def _json_objects(path: Path, text: str) -> list[Any]:
    """The JSON object of a result file, or its objects one per line (vllm bench serve --append-result)."""

    def load(chunk: str, line: int | None) -> Any:
        try:
            return json.loads(chunk)
        except json.JSONDecodeError as exc:
            at = exc.lineno if line is None else line
            raise InvalidInputError(f"{path}: not JSON ({exc.msg} at line {at})", field="file") from None
        except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, or nesting too deep
            why = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long to read"
            raise InvalidInputError(f"{path}: not a result file of vllm bench serve ({why})", field="file") from None

    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) > 1 and all(line.lstrip().startswith("{") and line.rstrip().endswith("}") for _, line in lines):
        try:
            return [json.loads(line) for _, line in lines]
        except (ValueError, RecursionError):
            pass  # one object over several lines after all
    return [load(text, None)]


def _from_vllm(path: Path, text: str, defaults: Mapping[str, Any]) -> list[Measurement]:
    runs = _json_objects(path, text)
    return [_vllm_run(data, str(path) if len(runs) == 1 else f"{path} run {i}", defaults)
            for i, data in enumerate(runs, start=1)]  # fmt: skip


def _vllm_run(data: Any, where: str, defaults: Mapping[str, Any]) -> Measurement:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: expected the JSON object that vllm bench serve writes", field="file")
    missing = [k for k in _VLLM_NEEDED if k not in data]
    if missing:
        raise InvalidInputError(
            f"{where}: field {missing[0]} is missing; this is not a result file of vllm bench serve "
            "(benchmark_serving.py --save-result) or of a version llmxl reads",
            field=missing[0],
        )
    if data.get("ramp_up_strategy"):
        raise InvalidInputError(
            f"{where}: ramp_up_strategy={format_value(data['ramp_up_strategy'])}: the rate changed during the run; "
            "calibrate from runs at one --request-rate or --max-concurrency",
            field="ramp_up_strategy",
        )
    done = _positive(data["completed"], where, "completed")
    rate = data.get("request_rate", "inf")
    if rate is None or (isinstance(rate, str) and rate.strip().lower() in ("inf", "infinity")):
        rate = None
    else:
        rate = _positive(rate, where, "request_rate")
        rate = None if math.isinf(rate) else rate
    conc = data.get("max_concurrency") if defaults.get("concurrency") is None else defaults["concurrency"]
    if conc is None and rate is None:
        raise InvalidInputError(
            f"{where}: max_concurrency is empty and request_rate is inf: every prompt was sent at once (a burst), "
            "which llmxl does not calibrate from; rerun with --max-concurrency or --request-rate, or pass "
            "concurrency= (--concurrency)",
            field="max_concurrency",
        )
    burst = data.get("burstiness", 1.0)
    if rate is not None and burst is not None and _positive(burst, where, "burstiness") != 1:
        raise InvalidInputError(
            f"{where}: burstiness={format_value(burst)}: the load model takes Poisson arrivals (burstiness 1); "
            "calibrate from runs at burstiness 1 or at a concurrency",
            field="burstiness",
        )
    model = defaults.get("model")
    if model is None:
        model = data.get("model_id")
        try:
            catalog.get_model(model)
        except LlmxlError as exc:
            raise type(exc)(
                f"{where}: model_id {format_value(model)} is no catalog model ({exc.message}); pass model= (--model)",
                field="model",
            ) from None
    row: dict[str, Any] = {
        "model": model,
        "prompt_tokens": _positive(data["total_input_tokens"], where, "total_input_tokens") / done,
        "completion_tokens": _positive(data["total_output_tokens"], where, "total_output_tokens") / done,
        "concurrency": conc,
        "request_rate": rate,
        "ttft_s": _positive(data["mean_ttft_ms"], where, "mean_ttft_ms") / 1000,
        "output_tokens_per_s": data["output_throughput"],
    }
    for key, field in _VLLM_METADATA:
        if defaults.get(field) is None and row.get(field) is None and data.get(key) not in (None, ""):
            row[field] = data[key]
    for field, flag, record in (("gpu", "--gpu", "gpu=NAME"), ("tp", "--tp", "tp=N")):
        if defaults.get(field) is None and row.get(field) is None:
            what = "the GPU" if field == "gpu" else "the tensor-parallel size"
            raise InvalidInputError(
                f"{where}: {field} is missing: vllm bench serve does not record {what}; pass {field}= ({flag}), or "
                f"record it with vllm bench serve --metadata {record}",
                field=field,
            )
    tpot = data.get("mean_tpot_ms") or data.get("mean_itl_ms")
    if tpot:
        row["tpot_s"] = _positive(tpot, where, "mean_tpot_ms") / 1000
    if data.get("mean_e2el_ms"):
        row["e2e_s"] = _positive(data["mean_e2el_ms"], where, "mean_e2el_ms") / 1000
    for key, value in data.items():
        hit = _VLLM_PERCENTILE.match(key) if isinstance(key, str) else None
        if hit is None or value is None:
            continue
        p = "50" if hit.group(1) == "median" else hit.group(2)
        if 0 < float(p) < 100:
            row[f"{hit.group(3)}_p{p}_s"] = _positive(value, where, key) / 1000
    rest = {k: v for k, v in defaults.items() if k not in ("model", "concurrency")}
    return measurement(row, where, rest)


_GENAI = {
    "Time To First Token (ms)": ("ttft_s", 1e-3),
    "Time to First Token (ms)": ("ttft_s", 1e-3),
    "Inter Token Latency (ms)": ("tpot_s", 1e-3),
    "Request Latency (ms)": ("e2e_s", 1e-3),
    "Output Sequence Length (tokens)": ("completion_tokens", 1),
    "Input Sequence Length (tokens)": ("prompt_tokens", 1),
    "Output Token Throughput (per sec)": ("output_tokens_per_s", 1),
    "Output Token Throughput (tokens/sec)": ("output_tokens_per_s", 1),
}


def _from_genai_perf(path: Path, text: str, defaults: Mapping[str, Any]) -> list[Measurement]:
    row: dict[str, Any] = {}
    for i, rec in _csv_rows(path, csv.reader(io.StringIO(text))):
        if len(rec) < 2 or rec[0] == "Metric":
            continue
        hit = _GENAI.get(rec[0].strip())
        if hit is not None:
            row[hit[0]] = _positive(rec[1], f"{path} row {i}", rec[0]) * hit[1]
    for needed in ("Time To First Token (ms)", "Output Sequence Length (tokens)", "Input Sequence Length (tokens)"):
        if _GENAI[needed][0] not in row:
            raise InvalidInputError(
                f"{path}: row {needed!r} is missing; this is not a profile_export_genai_perf.csv of a "
                "version llmxl reads",
                field=_GENAI[needed][0],
            )
    if defaults.get("concurrency") is None:
        raise InvalidInputError(
            f"{path}: genai-perf's CSV does not record the concurrency; pass concurrency= (--concurrency)",
            field="concurrency",
        )
    return [measurement(row, str(path), defaults)]


def _csv_rows(path: Path, reader: Any, start: int = 1) -> Any:
    """(row number, record) of a CSV reader; a malformed CSV (a field over the csv module's limit, a stray
    NUL) is refused naming the file and the row."""
    i = start
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInputError(
                f"{path} row {i}: not readable as CSV ({exc}); check the file",
                field="file",
            ) from None
        yield i, rec
        i += 1


def _from_csv(path: Path, text: str, defaults: Mapping[str, Any]) -> list[Measurement]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as exc:
        raise InvalidInputError(f"{path} row 1: not readable as CSV ({exc}); check the file", field="file") from None
    header = [h.strip() for h in fieldnames]
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise InvalidInputError(
            f"{path}: column {twice[0]!r} is given twice; keep one (llmxl never picks one of two values)",
            field=twice[0],
        )
    known = {"model", "gpu", "tp", "pp", "dtype", "prompt_tokens", "completion_tokens", "batch_size", "concurrency",
             "itl_s", "source", "notes", *METRICS}  # fmt: skip
    known.add("request_rate")
    unknown = [h for h in header if h and h not in known and not PERCENTILE_METRIC.match(h)]
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown column {unknown[0]!r}; columns are {', '.join(sorted(known))} and percentiles "
            "such as ttft_p90_s, itl_p99_s",
            field=unknown[0],
        )
    out = []
    for i, rec in _csv_rows(path, reader, start=2):
        rec = {(k or "").strip(): v for k, v in rec.items()}
        if not any((v or "").strip() for v in rec.values() if isinstance(v, str)):
            continue
        out.append(measurement(rec, f"{path} row {i}", defaults))
    if not out:
        raise InvalidInputError(f"{path}: no measurements; one row per run under a header row", field="file")
    return out


def read_measurements(path: str | os.PathLike[str], *, format: str = "auto", **defaults: Any) -> list[Measurement]:
    """Measurements from a plain CSV, a ``vllm bench serve`` result JSON or a genai-perf CSV.

    ``defaults`` (model, gpu, tp, pp, dtype, concurrency ...) fill what the file does not say:
    vLLM's JSON names neither GPU nor tp (unless its --metadata does), genai-perf's CSV not the
    concurrency either. A vLLM file may hold several runs, one per line (--append-result).
    """
    p = Path(path).expanduser()
    text = _read_text(p)
    kind = _detect(p, text) if format == "auto" else format
    readers = {"csv": _from_csv, "vllm": _from_vllm, "genai-perf": _from_genai_perf}
    if kind not in readers:
        raise InvalidInputError(f"format {format!r} is unknown; use auto, csv, vllm or genai-perf", field="format")
    return readers[kind](p, text, defaults)


def gather(measurements: Any, defaults: Mapping[str, Any]) -> list[Measurement]:
    if isinstance(measurements, (str, os.PathLike)):
        return read_measurements(measurements, **defaults)
    if isinstance(measurements, (Mapping, Measurement)):  # one run, not a list of its keys
        measurements = [measurements]
    if measurements is None or isinstance(measurements, (bytes, int, float)) or not hasattr(measurements, "__iter__"):
        raise InvalidInputError(
            f"measurements must be a file path, or a list of runs (dicts, Measurement objects or paths), got "
            f"{format_value(measurements)} ({type(measurements).__name__})",
            field="measurements",
        )
    out: list[Measurement] = []
    for i, item in enumerate(measurements, start=1):
        if isinstance(item, Measurement):
            out.append(item)
        elif isinstance(item, (str, os.PathLike)):
            out.extend(read_measurements(item, **defaults))
        elif isinstance(item, Mapping):
            out.append(measurement(item, f"measurement {i}", defaults))
        else:
            raise InvalidInputError(
                f"measurement {i} is a {type(item).__name__}; give dicts, Measurement objects or file paths",
                field="measurements",
            )
    if not out:
        raise InvalidInputError("no measurements given", field="measurements")
    return out


def check_duplicates(ms: list[Measurement]) -> None:
    seen: dict[tuple[Any, ...], Measurement] = {}
    for m in ms:
        other = seen.get(m.key())
        if other is None:
            seen[m.key()] = m
            continue
        for metric in set(m.metrics) & set(other.metrics):
            a, b = m.metrics[metric], other.metrics[metric]
            if abs(a / b - 1) > _DUPLICATE_SPREAD:
                raise InvalidInputError(
                    f"{m.where} and {other.where} measure the same configuration but {metric} differs "
                    f"({a:g} vs {b:g}); remove the wrong one",
                    field=metric,
                )


def describe_sources(ms: list[Measurement]) -> str:
    files = sorted({re.sub(r" row \d+$", "", m.where) for m in ms})
    return ", ".join(Path(f).name if os.sep in f or "/" in f else f for f in files[:3]) + (
        " ..." if len(files) > 3 else ""
    )
