"""Benchmark runs as llmxl reads them: one :class:`Measurement` per run, from dicts or files.

Plain CSV (one run per row), a ``vllm bench serve`` result JSON and a genai-perf CSV are read here,
each value checked and every failure named by file, row and field. What the runs are used for
(fitting the `serving` constants) is :mod:`llmxl.calibration`.
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

__all__ = ["METRICS", "Measurement", "gather", "read_measurements"]

METRICS = ("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s")
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
        )


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
    if not metrics:
        raise InvalidInputError(
            f"{where}: no measured figure; give one or more of {', '.join(METRICS)} (or itl_s)", field="metrics"
        )
    batch, conc = get("batch_size"), get("concurrency")
    if (batch is None) == (conc is None):
        raise InvalidInputError(
            f"{where}: give exactly one of batch_size (static batching) and concurrency (continuous batching)",
            field="batch_size" if batch is not None else "concurrency",
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


def _from_vllm(path: Path, text: str, defaults: Mapping[str, Any]) -> list[Measurement]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})", field="file") from None
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits, or nesting too deep
        why = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long to read"
        raise InvalidInputError(f"{path}: not a result file of vllm bench serve ({why})", field="file") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: expected the JSON object that vllm bench serve writes", field="file")
    missing = [k for k in _VLLM_NEEDED if k not in data]
    if missing:
        raise InvalidInputError(
            f"{path}: field {missing[0]} is missing; this is not a result file of vllm bench serve "
            "(benchmark_serving.py --save-result) or of a version llmxl reads",
            field=missing[0],
        )
    done = _positive(data["completed"], str(path), "completed")
    conc = data.get("max_concurrency") if defaults.get("concurrency") is None else defaults["concurrency"]
    if conc is None:
        raise InvalidInputError(
            f"{path}: field max_concurrency is empty: the run was paced by request rate, not concurrency; "
            "rerun with --max-concurrency or pass concurrency=",
            field="max_concurrency",
        )
    row = {
        "model": defaults.get("model") or data.get("model_id"),
        "prompt_tokens": _positive(data["total_input_tokens"], str(path), "total_input_tokens") / done,
        "completion_tokens": _positive(data["total_output_tokens"], str(path), "total_output_tokens") / done,
        "concurrency": conc,
        "ttft_s": _positive(data["mean_ttft_ms"], str(path), "mean_ttft_ms") / 1000,
        "output_tokens_per_s": data["output_throughput"],
    }
    tpot = data.get("mean_tpot_ms") or data.get("mean_itl_ms")
    if tpot:
        row["tpot_s"] = _positive(tpot, str(path), "mean_tpot_ms") / 1000
    if data.get("mean_e2el_ms"):
        row["e2e_s"] = _positive(data["mean_e2el_ms"], str(path), "mean_e2el_ms") / 1000
    rest = {k: v for k, v in defaults.items() if k not in ("model", "concurrency")}
    return [measurement(row, str(path), rest)]


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
    unknown = [h for h in header if h and h not in known]
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown column {unknown[0]!r}; columns are {', '.join(sorted(known))}", field=unknown[0]
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
    vLLM's JSON names neither GPU nor tp, genai-perf's CSV not the concurrency either.
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
