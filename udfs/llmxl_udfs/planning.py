"""Capacity-planning functions: GPUs needed, monthly cost, $/1M tokens, break-even against an API.

They compose as a finance user expects, e.g. ``=LLM_MONTHLY_COST("llama-3.1-70b", "h100-sxm-80gb", 5, 15,
1000, 300, LLM_OWNED_GPU_HOUR(30000, 5, 1, 1.3, 0.08, 4500))``.
Traffic, token counts and the price may be ranges: the result has their (broadcast) shape, one plan per
cell, and a cell that cannot be planned shows its own message.
"""

from __future__ import annotations

import xlwings as xw

import llmxl
from llmxl import InvalidInputError, LlmxlError

from ._excel import _DOCS, CATEGORY, _cell_number, _grid, _optional_text, _text, cap_text, given, xl_arg

_PLAN_DOCS = {
    "requests_per_s": "Average traffic [requests/s]; a cell or a range.",
    "peak_requests_per_s": "Optional. Peak traffic [requests/s]. Default: the average.",
    "gpu_hour_usd": "Optional. USD per GPU-hour (rented, or LLM_OWNED_GPU_HOUR(...)). Default: the catalog price.",
    "ttft_s_max": "Optional. Target time to first token [s]. Default: none.",
    "itl_s_max": "Optional. Target inter-token latency [s]. Default: none.",
    "tp": "Optional. Tensor-parallel GPUs per replica. Default: the cheapest of 1, 2, 4, 8.",
    "dtype": 'Optional. Precision such as "bf16", "fp8", "mxfp4", "nvfp4". Default bf16.',
    "reservation_discount": "Optional. Fraction off the rented price, in [0, 1). Default 0.",
    "max_concurrency": "Optional. Cap on sequences in flight per replica (vLLM's max_num_seqs). Default: none.",
    "kind": 'Optional. "prompt", "completion" or "blended" (3 prompt : 1 completion). Default blended.',
}
_ORDER = (
    "model",
    "gpu",
    "requests_per_s",
    "peak_requests_per_s",
    "prompt_tokens",
    "completion_tokens",
    "gpu_hour_usd",
    "ttft_s_max",
    "itl_s_max",
    "tp",
    "dtype",
    "reservation_discount",
    "max_concurrency",
)
_CELLWISE = ("requests_per_s", "peak_requests_per_s", "prompt_tokens", "completion_tokens", "gpu_hour_usd")
_KINDS = {"prompt": "usd_per_1m_prompt_tokens", "completion": "usd_per_1m_completion_tokens",
          "blended": "usd_per_1m_blended"}  # fmt: skip


def _doc(arg: str) -> str:
    return _PLAN_DOCS.get(arg) or _DOCS[arg]


def _optional(value, field: str):
    if isinstance(value, list):
        value = _single(value, field)
    return _cell_number(value, field)


def _single(value, field: str):
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], list) and len(value[0]) == 1:
            return value[0][0]
        raise InvalidInputError(f"{field} must be a single cell, got a range", field=field)
    return value


def _kind(value) -> str:
    kind = _text(value, "kind", "blended").lower()
    if kind not in _KINDS:
        raise InvalidInputError(f'kind must be "prompt", "completion" or "blended", got {kind!r}', field="kind")
    return kind


def _plan_cell(args: dict, cell: dict) -> llmxl.Plan:
    return llmxl.plan(
        _text(args["model"], "model"),
        [_text(g, "gpu") for row in _grid(args["gpu"]) for g in row if g not in (None, "")],
        prompt_tokens=cell["prompt_tokens"],
        completion_tokens=cell["completion_tokens"],
        requests_per_s=cell["requests_per_s"],
        **given(
            peak_requests_per_s=cell["peak_requests_per_s"],
            gpu_hour_usd=cell["gpu_hour_usd"],
            ttft_s_max=_optional(args["ttft_s_max"], "ttft_s_max"),
            itl_s_max=_optional(args["itl_s_max"], "itl_s_max"),
            tp=_optional(args["tp"], "tp"),
            dtype=_optional_text(_single(args["dtype"], "dtype"), "dtype"),
            max_concurrency=_optional(args["max_concurrency"], "max_concurrency"),
            reservation_discount=_optional(args["reservation_discount"], "reservation_discount"),
        ),
    )


def _cells(args: dict):
    """The cell-wise arguments broadcast to one shape: (shape, [(row, col, {arg: value}) ...])."""
    grids = {k: _grid(args[k]) for k in _CELLWISE}
    rows = max(len(g) for g in grids.values())
    cols = max(len(g[0]) if g else 1 for g in grids.values())
    for k, g in grids.items():
        if (len(g) not in (1, rows)) or any(len(r) not in (1, cols) for r in g):
            raise InvalidInputError(
                f"{k} is a range of another shape than the others; give ranges of one shape", field=k
            )
    out = []
    for i in range(rows):
        for j in range(cols):
            cell = {}
            for k, g in grids.items():
                r = g[i if len(g) > 1 else 0]
                cell[k] = r[j if len(r) > 1 else 0]
            out.append((i, j, cell))
    return (rows, cols), out


def _read_cell(cell: dict) -> dict:
    values = {k: _cell_number(v, k) for k, v in cell.items()}
    for k in ("requests_per_s", "prompt_tokens", "completion_tokens"):
        if values[k] is None:
            raise InvalidInputError(f"{k} is blank; give a number", field=k)
    return values


def _planning_function(name: str, doc: str, pick, *, kind: bool = False):
    """One planning function of the shared signature; ``pick(best_row)`` gives the cell's value."""

    def body(args):
        try:
            shape, cells = _cells(args)
            which = _kind(args.get("kind")) if kind else None
        except LlmxlError as exc:
            return exc.excel_text()
        out = [[None] * shape[1] for _ in range(shape[0])]
        for i, j, raw in cells:
            try:
                p = _plan_cell(args, _read_cell(raw))
                best = p.best
                if best is None:
                    reason = p.rows[0].reason if p.rows else "no candidate configuration"
                    out[i][j] = f"#N/A no configuration meets the target: {reason}"
                else:
                    out[i][j] = pick(best, which)
            except LlmxlError as exc:
                out[i][j] = exc.excel_text()
        return cap_text(out[0][0] if shape == (1, 1) else out)

    if kind:

        def udf(
            model,
            gpu,
            requests_per_s,
            peak_requests_per_s,
            prompt_tokens,
            completion_tokens,
            kind=None,
            gpu_hour_usd=None,
            ttft_s_max=None,
            itl_s_max=None,
            tp=None,
            dtype=None,
            reservation_discount=None,
            max_concurrency=None,
        ):
            return body(locals())

        order = (*_ORDER[:6], "kind", *_ORDER[6:])
    else:

        def udf(
            model,
            gpu,
            requests_per_s,
            peak_requests_per_s,
            prompt_tokens,
            completion_tokens,
            gpu_hour_usd=None,
            ttft_s_max=None,
            itl_s_max=None,
            tp=None,
            dtype=None,
            reservation_discount=None,
            max_concurrency=None,
        ):
            return body(locals())

        order = _ORDER
    udf.__name__ = udf.__qualname__ = name
    udf.__doc__ = doc
    for arg in reversed(order):
        options = {"ndim": 2} if arg in (*_CELLWISE, "gpu") else {}
        udf = xl_arg(arg, doc=_doc(arg), **options)(udf)
    return xw.func(category=CATEGORY)(udf)


LLM_GPUS_NEEDED = _planning_function(
    "LLM_GPUS_NEEDED",
    "GPUs needed for the traffic and latency target: replicas × tp of the cheapest configuration.",
    lambda row, _: row.num_gpus,
)
LLM_MONTHLY_COST = _planning_function(
    "LLM_MONTHLY_COST",
    "USD per month (730 hours) of the GPUs the traffic and target need, busy or not.",
    lambda row, _: row.monthly_usd,
)
LLM_COST_PER_1M = _planning_function(
    "LLM_COST_PER_1M",
    "Cost of service in USD per 1M tokens (prompt, completion or blended 3:1) at that traffic.",
    lambda row, kind: getattr(row, _KINDS[kind]),
    kind=True,
)

_POINT = (
    ("Concurrency [sequences]", "concurrency"),
    ("Prefill of one prompt T1 [s]", "prefill_s"),
    ("Decode step DB [s]", "decode_step_s"),
    ("Requests/s of one replica", "requests_per_s"),
    ("Time to first token [s]", "ttft_s"),
    ("Inter-token latency [s]", "itl_s"),
    ("Completion tokens/s", "output_tokens_per_s"),
    ("Prompt share of GPU time", "prompt_share"),
    ("Largest concurrency that fits", "max_concurrency"),
)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("gpu", doc=_DOCS["gpu"])
@xl_arg("concurrency", doc="Sequences in flight on one replica (whole number ≥ 1).")
@xl_arg("prompt_tokens", doc=_DOCS["prompt_tokens"])
@xl_arg("completion_tokens", doc=_DOCS["completion_tokens"])
@xl_arg("tp", doc=_DOCS["tp"])
@xl_arg("dtype", doc=_PLAN_DOCS["dtype"])
@xl_arg("pp", doc=_DOCS["pp"])
def LLM_OPERATING_POINT(model, gpu, concurrency, prompt_tokens, completion_tokens, tp=None, dtype=None, pp=None):
    """One replica under continuous batching at a concurrency: a two-column spill of labels and values."""
    try:
        op = llmxl.operating_point(
            _text(model, "model"),
            _text(gpu, "gpu"),
            _cell_number(concurrency, "concurrency"),
            prompt_tokens=_cell_number(prompt_tokens, "prompt_tokens"),
            completion_tokens=_cell_number(completion_tokens, "completion_tokens"),
            **given(tp=_cell_number(tp, "tp"), pp=_cell_number(pp, "pp"), dtype=_optional_text(dtype, "dtype")),
        )
    except LlmxlError as exc:
        return exc.excel_text()
    rows = [["Model", op.model], ["GPU", op.gpu], ["Dtype", op.dtype], ["tp", op.tp]]
    for label, attr in _POINT:
        value = getattr(op, attr)
        rows.append([label, "n/a: one completion token" if value is None else value])
    return cap_text(rows)


@xw.func(category=CATEGORY)
@xl_arg("purchase_usd", doc="Purchase price of one GPU (its share of the server) [USD].")
@xl_arg("years", doc="Depreciation period [years].")
@xl_arg("power_kw", doc="Power per GPU (its share of the server) [kW].")
@xl_arg("pue", doc="Power usage effectiveness (1.3 new sites, 1.58 average).")
@xl_arg("usd_per_kwh", doc="Electricity price [USD/kWh].")
@xl_arg("other_usd_per_year", doc="Optional. Hosting, licences, support per GPU per year [USD]. Default 0.")
def LLM_OWNED_GPU_HOUR(purchase_usd, years, power_kw, pue, usd_per_kwh, other_usd_per_year=None):
    """USD per GPU-hour of an owned GPU: depreciation + power × PUE × price + other yearly costs."""
    try:
        return llmxl.owned_gpu_hour_usd(
            _cell_number(purchase_usd, "purchase_usd"),
            _cell_number(years, "years"),
            _cell_number(power_kw, "power_kw"),
            _cell_number(pue, "pue"),
            _cell_number(usd_per_kwh, "usd_per_kwh"),
            **given(other_usd_per_year=_cell_number(other_usd_per_year, "other_usd_per_year")),
        )
    except LlmxlError as exc:
        return exc.excel_text()


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("provider", doc='API provider, e.g. "together", "groq", "deepinfra".')
@xl_arg("kind", doc=_PLAN_DOCS["kind"])
def LLM_API_PRICE(model, provider, kind=None):
    """A hosted API's price for the model, USD per 1M tokens (prompt, completion or blended 3:1)."""
    try:
        p = llmxl.api_price(_text(model, "model"), _text(provider, "provider"))
        which = _kind(kind)
    except LlmxlError as exc:
        return exc.excel_text()
    if which == "prompt":
        return p.prompt_usd_per_1m
    if which == "completion":
        return p.completion_usd_per_1m
    from llmxl.prices import blended_usd_per_1m

    return blended_usd_per_1m(p.prompt_usd_per_1m, p.completion_usd_per_1m)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("gpu", doc=_DOCS["gpu"])
@xl_arg("prompt_tokens", doc=_DOCS["prompt_tokens"])
@xl_arg("completion_tokens", doc=_DOCS["completion_tokens"])
@xl_arg("peak_factor", doc="Peak / average traffic, e.g. 3.")
@xl_arg("api", doc='API provider (e.g. "together"), or its prompt price in USD per 1M tokens.')
@xl_arg("api_completion_usd_per_1m", doc="Optional. The API's completion price when api is a prompt price.")
@xl_arg("gpu_hour_usd", doc=_PLAN_DOCS["gpu_hour_usd"])
@xl_arg("ttft_s_max", doc=_PLAN_DOCS["ttft_s_max"])
@xl_arg("itl_s_max", doc=_PLAN_DOCS["itl_s_max"])
@xl_arg("tp", doc=_PLAN_DOCS["tp"])
@xl_arg("dtype", doc=_PLAN_DOCS["dtype"])
def LLM_BREAKEVEN(
    model,
    gpu,
    prompt_tokens,
    completion_tokens,
    peak_factor,
    api,
    api_completion_usd_per_1m=None,
    gpu_hour_usd=None,
    ttft_s_max=None,
    itl_s_max=None,
    tp=None,
    dtype=None,
):
    """Average requests/s above which self-hosting costs less than the API (#N/A with the reason if never)."""
    try:
        if isinstance(api, str) and api.strip() and _maybe_number(api) is None:
            which = api.strip()
        else:
            pin = _cell_number(api, "api")
            pout = _cell_number(api_completion_usd_per_1m, "api_completion_usd_per_1m")
            if pin is None or pout is None:
                raise InvalidInputError(
                    "api needs a provider name, or prompt and completion USD per 1M tokens", field="api"
                )
            which = (pin, pout)
        b = llmxl.breakeven(
            _text(model, "model"),
            _text(gpu, "gpu"),
            prompt_tokens=_cell_number(prompt_tokens, "prompt_tokens"),
            completion_tokens=_cell_number(completion_tokens, "completion_tokens"),
            api=which,
            **given(
                peak_factor=_cell_number(peak_factor, "peak_factor"),
                gpu_hour_usd=_cell_number(gpu_hour_usd, "gpu_hour_usd"),
                ttft_s_max=_cell_number(ttft_s_max, "ttft_s_max"),
                itl_s_max=_cell_number(itl_s_max, "itl_s_max"),
                tp=_cell_number(tp, "tp"),
                dtype=_optional_text(dtype, "dtype"),
            ),
        )
    except LlmxlError as exc:
        return exc.excel_text()
    return cap_text(f"#N/A {b.reason}") if b.requests_per_s is None else b.requests_per_s


def _maybe_number(text: str):
    try:
        return float(text)
    except ValueError:
        return None


_TABLE = (
    ("GPU", "gpu"),
    ("tp", "tp"),
    ("Dtype", "dtype"),
    ("Concurrency", "concurrency"),
    ("Replicas", "replicas"),
    ("GPUs", "num_gpus"),
    ("Utilisation", "utilisation"),
    ("USD per GPU-hour", "gpu_hour_usd"),
    ("Monthly cost [USD]", "monthly_usd"),
    ("USD per 1M prompt tokens", "usd_per_1m_prompt_tokens"),
    ("USD per 1M completion tokens", "usd_per_1m_completion_tokens"),
    ("USD per 1M blended", "usd_per_1m_blended"),
    ("TTFT [s]", "ttft_s"),
    ("ITL [s]", "itl_s"),
    ("Why not", "reason"),
)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("gpus", ndim=2, doc="GPU name, or a range of GPU names to compare.")
@xl_arg("requests_per_s", doc=_PLAN_DOCS["requests_per_s"])
@xl_arg("peak_requests_per_s", doc=_PLAN_DOCS["peak_requests_per_s"])
@xl_arg("prompt_tokens", doc=_DOCS["prompt_tokens"])
@xl_arg("completion_tokens", doc=_DOCS["completion_tokens"])
@xl_arg("gpu_hour_usd", doc=_PLAN_DOCS["gpu_hour_usd"])
@xl_arg("ttft_s_max", doc=_PLAN_DOCS["ttft_s_max"])
@xl_arg("itl_s_max", doc=_PLAN_DOCS["itl_s_max"])
@xl_arg("tp", doc=_PLAN_DOCS["tp"])
@xl_arg("dtype", doc=_PLAN_DOCS["dtype"])
@xl_arg("reservation_discount", doc=_PLAN_DOCS["reservation_discount"])
@xl_arg("max_concurrency", doc=_PLAN_DOCS["max_concurrency"])
def LLM_PLAN(
    model,
    gpus,
    requests_per_s,
    peak_requests_per_s=None,
    prompt_tokens=None,
    completion_tokens=None,
    gpu_hour_usd=None,
    ttft_s_max=None,
    itl_s_max=None,
    tp=None,
    dtype=None,
    reservation_discount=None,
    max_concurrency=None,
):
    """Every candidate configuration as a spilled table with a header row, the cheapest that meets the target first."""
    args = dict(locals())
    args["gpu"] = args.pop("gpus")
    for k in ("requests_per_s", "peak_requests_per_s", "prompt_tokens", "completion_tokens", "gpu_hour_usd"):
        args[k] = _single(args[k], k)
    try:
        p = _plan_cell(args, _read_cell({k: args[k] for k in _CELLWISE}))
    except LlmxlError as exc:
        return exc.excel_text()
    table = [[label for label, _ in _TABLE]]
    for row in p.rows:
        table.append(["" if getattr(row, attr) is None else getattr(row, attr) for _, attr in _TABLE])
    return cap_text(table)
