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
from llmxl.speculation import parse_speculative

from ._excel import _DOCS, CATEGORY, EXCEL_ERRORS, _cell_number, _grid, _optional_text, _text, cap_text, given, xl_arg

_PLAN_DOCS = {
    "requests_per_s": "Average traffic [requests/s]; a cell or a range.",
    "peak_requests_per_s": "Optional. Peak traffic [requests/s]. Default: the average.",
    "gpu_hour_usd": "Optional. USD per GPU-hour (rented, or LLM_OWNED_GPU_HOUR(...)). Default: the catalog price.",
    "ttft_s_max": "Optional. Target time to first token [s]. Default: none.",
    "itl_s_max": "Optional. Target inter-token latency [s]. Default: none.",
    "tp": "Optional. Tensor-parallel GPUs per replica. Default: the cheapest of 1, 2, 4, 8.",
    "dtype": 'Optional. Precision such as "bf16", "fp8", "mxfp4", "nvfp4". Default: the precision the model\'s '
    "weights are published in (mxfp4 for gpt-oss, fp8 for DeepSeek-V3, bf16 for most).",
    "reservation_discount": "Optional. Fraction off the rented price, in [0, 1). Default 0.",
    "max_concurrency": "Optional. Cap on sequences in flight per replica (vLLM's max_num_seqs). Default: none.",
    "kind": 'Optional. "prompt", "completion" or "blended" (3 prompt : 1 completion). Default blended.',
    "energy_kind": 'Optional. "kwh" (kWh per 1M tokens, the default) or "co2e" (kg CO2e per 1M tokens).',
    "gpu": 'GPU name (or "h100-sxm-80gb, b200"), or a range of names; a second column beside them: USD per GPU-hour.',
    "power_kw": "Optional. Power per GPU with its share of the server [kW]. Default: the GPU's catalog serving power.",
    "pue": "Optional. Power usage effectiveness of the data centre. Default 1.58 (2023 average).",
    "grid_g_co2e_per_kwh": 'Optional. Grid intensity [g CO2e/kWh], or "world", "us", "eu27". Default world (445).',
    "engine": 'Optional. Serving engine: "vllm", "sglang", "tensorrt-llm", with settings after a colon in the '
    'engine\'s own flag names ("vllm:max_num_seqs=512,gpu_memory_utilization=0.95"). Default: vllm.',
    "percentile": "Optional. Percentile the latency targets and latencies are at, in (0, 100). Default 90.",
    "prefix_cache_hit_api": "Optional. Fraction of each prompt's tokens served from a prefix cache, in [0, 1), on both "
    "sides: the engine computes the rest, the API bills them at its cached-input price. Default 0.",
}
_PLAN_DOCS["speculative"] = _DOCS["speculative"]
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
_LOAD_ARGS = ("engine", "percentile", "speculative", "prefix_cache_hit")
_CELLWISE = ("requests_per_s", "peak_requests_per_s", "prompt_tokens", "completion_tokens", "gpu_hour_usd")
_KINDS = {"prompt": "usd_per_1m_prompt_tokens", "completion": "usd_per_1m_completion_tokens",
          "blended": "usd_per_1m_blended"}  # fmt: skip
_ENERGY_KINDS = {"kwh": "kwh_per_1m_tokens", "co2e": "kg_co2e_per_1m_tokens"}
_ENERGY_ARGS = ("power_kw", "pue", "grid_g_co2e_per_kwh")


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


def _kind(value, kinds=None) -> str:
    if kinds is _ENERGY_KINDS:
        kind = _text(value, "kind", "kwh").lower()
        if kind not in _ENERGY_KINDS:
            raise InvalidInputError(f'kind must be "kwh" or "co2e", got {kind!r}', field="kind")
        return kind
    kind = _text(value, "kind", "blended").lower()
    if kind not in _KINDS:
        raise InvalidInputError(f'kind must be "prompt", "completion" or "blended", got {kind!r}', field="kind")
    return kind


def _is_price(cell) -> bool:
    """Whether a cell may stand in a price column: a number, numeric text, a blank or an error cell."""
    if cell is None or (isinstance(cell, (int, float)) and not isinstance(cell, bool)):
        return True
    if isinstance(cell, str):
        text = cell.strip()
        if not text or text.upper() in EXCEL_ERRORS:
            return True
        try:
            float(text)
        except ValueError:
            return False
        return True
    return False


def gpu_range(value) -> tuple[list[str], dict | None]:
    """The GPU names of a cell or range, and their prices when a second column holds them.

    A cell holds one name or a comma list ("h100-sxm-80gb, b200"); a range holds names in every cell, or names
    in its first column with USD per GPU-hour beside them (a blank price: the GPU's catalog price).
    """
    grid = _grid(value)
    priced = (
        all(len(r) == 2 for r in grid)
        and all(_is_price(r[1]) for r in grid)
        and any(_cell_number(r[1], "gpu price") is not None for r in grid if r[0] not in (None, ""))
    )
    if not priced:
        names = [n.strip() for row in grid for g in row if g not in (None, "") for n in _text(g, "gpu").split(",")]
        return [n for n in names if n], None
    names, by_gpu = [], {}
    for i, (cell, price) in enumerate(grid, start=1):
        usd = _cell_number(price, "gpu price")
        if cell in (None, "") or (isinstance(cell, str) and not cell.strip()):
            if usd is not None:
                raise InvalidInputError(f"row {i} of the GPU range has a price but no GPU; add the GPU", field="gpu")
            continue
        name = _text(cell, "gpu")
        if "," in name:
            raise InvalidInputError(
                f"{name!r} has a price beside it, so it must be one GPU; put each GPU on a row of its own", field="gpu"
            )
        if name in by_gpu or name in names:
            raise InvalidInputError(f"{name!r} is in the GPU range twice; keep one row", field="gpu")
        names.append(name)
        if usd is not None:
            by_gpu[name] = usd
    return names, by_gpu


def _grid_intensity(value):
    """A grid intensity cell: a number, or a region's name (the library checks both)."""
    value = _single(value, "grid_g_co2e_per_kwh")
    if isinstance(value, str) and value.strip() and _maybe_number(value.strip()) is None:
        return _optional_text(value, "grid_g_co2e_per_kwh")
    return _cell_number(value, "grid_g_co2e_per_kwh")


def _prices_and_energy(args: dict, price) -> tuple[list[str], dict]:
    """The GPUs, and the keyword arguments of their prices and energy, from the GPU range and the other cells."""
    names, by_gpu = gpu_range(args["gpu"])
    if by_gpu:
        if price is not None:
            raise InvalidInputError(
                "give the prices in the GPU range's second column or in gpu_hour_usd, not both", field="gpu_hour_usd"
            )
        price = by_gpu
    return names, given(
        gpu_hour_usd=price,
        power_kw=_optional(args.get("power_kw"), "power_kw"),
        pue=_optional(args.get("pue"), "pue"),
        grid_g_co2e_per_kwh=_grid_intensity(args.get("grid_g_co2e_per_kwh")),
        reservation_discount=_optional(args.get("reservation_discount"), "reservation_discount"),
    )


def _plan_cell(args: dict, cell: dict) -> llmxl.Plan:
    names, priced = _prices_and_energy(args, cell["gpu_hour_usd"])
    return llmxl.plan(
        _text(args["model"], "model"),
        names,
        prompt_tokens=cell["prompt_tokens"],
        completion_tokens=cell["completion_tokens"],
        requests_per_s=cell["requests_per_s"],
        **priced,
        **given(
            peak_requests_per_s=cell["peak_requests_per_s"],
            ttft_s_max=_optional(args["ttft_s_max"], "ttft_s_max"),
            itl_s_max=_optional(args["itl_s_max"], "itl_s_max"),
            tp=_optional(args["tp"], "tp"),
            dtype=_optional_text(_single(args["dtype"], "dtype"), "dtype"),
            max_concurrency=_optional(args["max_concurrency"], "max_concurrency"),
            dp=_optional(args.get("dp"), "dp"),
            ep=_optional(args.get("ep"), "ep"),
            disaggregated=_disaggregated(args.get("disaggregated")),
            **_load_options(args),
        ),
    )


def _disaggregated(value):
    """A cell of TRUE, FALSE or "both" as plan() takes it (blank: None, the library's default; text "TRUE" and
    "FALSE" as the booleans a CSV import leaves)."""
    value = _single(value, "disaggregated")
    if isinstance(value, str):
        return {"true": True, "false": False, "": None}.get(value.strip().lower(), value.strip().lower())
    return value


def _load_options(args: dict) -> dict:
    """engine=, percentile=, the speculative decoder and prefix_cache_hit= from their cells (blank: the library's
    defaults)."""
    return {
        "engine": _optional_text(_single(args.get("engine"), "engine"), "engine"),
        "percentile": _optional(args.get("percentile"), "percentile"),
        **parse_speculative(_optional_text(_single(args.get("speculative"), "speculative"), "speculative")),
        "prefix_cache_hit": _optional(args.get("prefix_cache_hit"), "prefix_cache_hit"),
    }


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


def _planning_function(name: str, doc: str, pick, *, kinds=None):
    """One planning function of the shared signature; ``pick(best_row, kind)`` gives the cell's value.

    With ``kinds`` a ``kind`` argument follows completion_tokens; the energy kinds add power_kw, pue and the
    grid intensity at the end.
    """

    def body(args):
        try:
            shape, cells = _cells(args)
            which = _kind(args.get("kind"), kinds) if kinds is not None else None
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
                    value = pick(best, which)
                    out[i][j] = (
                        f"#N/A {best.gpu} has no board power in the catalog; give power_kw"
                        if (value is None and kinds is _ENERGY_KINDS)
                        else value
                    )
            except LlmxlError as exc:
                out[i][j] = exc.excel_text()
        return cap_text(out[0][0] if shape == (1, 1) else out)

    if kinds is _ENERGY_KINDS:

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
            power_kw=None,
            pue=None,
            grid_g_co2e_per_kwh=None,
            engine=None,
            percentile=None,
            speculative=None,
            prefix_cache_hit=None,
        ):
            return body(locals())

        order = (*_ORDER[:6], "kind", *_ORDER[6:], *_ENERGY_ARGS, *_LOAD_ARGS)
    elif kinds is not None:

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
            engine=None,
            percentile=None,
            speculative=None,
            prefix_cache_hit=None,
        ):
            return body(locals())

        order = (*_ORDER[:6], "kind", *_ORDER[6:], *_LOAD_ARGS)
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
            engine=None,
            percentile=None,
            speculative=None,
            prefix_cache_hit=None,
        ):
            return body(locals())

        order = (*_ORDER, *_LOAD_ARGS)
    udf.__name__ = udf.__qualname__ = name
    udf.__doc__ = doc
    for arg in reversed(order):
        options = {"ndim": 2} if arg in (*_CELLWISE, "gpu") else {}
        key = "energy_kind" if arg == "kind" and kinds is _ENERGY_KINDS else arg
        udf = xl_arg(arg, doc=_doc(key), **options)(udf)
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
    kinds=_KINDS,
)
LLM_ENERGY_PER_1M = _planning_function(
    "LLM_ENERGY_PER_1M",
    "Energy (kWh) or emissions (kg CO2e) per 1M tokens of the cheapest configuration at that traffic, its GPUs "
    "drawing their serving power every hour.",
    lambda row, kind: getattr(row, _ENERGY_KINDS[kind]),
    kinds=_ENERGY_KINDS,
)

_POINT = (
    ("Clients in flight C (closed loop)", "concurrency"),
    ("Sequences decoding B", "decode_concurrency"),
    ("Requests/s of one replica", "requests_per_s"),
    ("Prefill of one prompt [s]", "prefill_s"),
    ("Decode step of B sequences [s]", "decode_step_s"),
    ("Time to first token p{p} [s]", "ttft_s"),
    ("Time to first token, mean [s]", "ttft_mean_s"),
    ("Inter-token latency p{p} [s]", "itl_s"),
    ("Inter-token latency, mean [s]", "itl_mean_s"),
    ("Completion tokens/s", "output_tokens_per_s"),
    ("Prompt share of GPU time", "prompt_share"),
    ("Largest concurrency the engine runs", "max_concurrency"),
    ("KV cache per GPU [tokens]", "kv_cache_tokens"),
    ("Capacity of one replica [requests/s]", "capacity_requests_per_s"),
    ("Utilisation", "utilisation"),
    ("Clients beyond what the engine runs (TRUE/FALSE)", "saturated"),
)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("gpu", doc=_DOCS["gpu"])
@xl_arg("concurrency", doc="Clients in flight on one replica, each sending its next request when its last ends (≥ 1).")
@xl_arg("prompt_tokens", doc=_DOCS["prompt_tokens"])
@xl_arg("completion_tokens", doc="Tokens generated for each request (whole number ≥ 2).")
@xl_arg("tp", doc=_DOCS["tp"])
@xl_arg("dtype", doc=_PLAN_DOCS["dtype"])
@xl_arg("pp", doc=_DOCS["pp"])
@xl_arg("engine", doc=_PLAN_DOCS["engine"])
@xl_arg("percentile", doc=_PLAN_DOCS["percentile"])
@xl_arg("dp", doc=_DOCS["dp"])
@xl_arg("ep", doc=_DOCS["ep"])
@xl_arg("speculative", doc=_PLAN_DOCS["speculative"])
@xl_arg("prefix_cache_hit", doc=_DOCS["prefix_cache_hit"])
def LLM_OPERATING_POINT(
    model, gpu, concurrency, prompt_tokens, completion_tokens, tp=None, dtype=None, pp=None, engine=None,
    percentile=None, dp=None, ep=None, speculative=None, prefix_cache_hit=None,
):  # fmt: skip
    """One replica under a serving engine with C clients in flight: a two-column spill of labels and values."""
    try:
        op = llmxl.operating_point(
            _text(model, "model"),
            _text(gpu, "gpu"),
            _cell_number(concurrency, "concurrency"),
            prompt_tokens=_cell_number(prompt_tokens, "prompt_tokens"),
            completion_tokens=_cell_number(completion_tokens, "completion_tokens"),
            **given(
                tp=_cell_number(tp, "tp"),
                pp=_cell_number(pp, "pp"),
                dtype=_optional_text(dtype, "dtype"),
                dp=_cell_number(dp, "dp"),
                ep=_cell_number(ep, "ep"),
                **_load_options(
                    {
                        "engine": engine,
                        "percentile": percentile,
                        "speculative": speculative,
                        "prefix_cache_hit": prefix_cache_hit,
                    }
                ),
            ),
        )
    except LlmxlError as exc:
        return exc.excel_text()
    rows = [["Model", op.model], ["GPU", op.gpu], ["Dtype", op.dtype], ["tp", op.tp], ["Engine", op.engine],
            ["Percentile", op.percentile]]  # fmt: skip
    rows[4:4] = [["dp", op.dp], ["ep", op.ep]] if op.dp > 1 or op.ep > 1 else []
    pct = f"{op.percentile:g}"
    for label, attr in _POINT:
        rows.append([label.format(p=pct), getattr(op, attr)])
    return cap_text(rows)


@xw.func(category=CATEGORY)
@xl_arg("purchase_usd", doc="Purchase price of one GPU (its share of the server) [USD].")
@xl_arg("years", doc="Depreciation period [years].")
@xl_arg("power_kw", doc="Power per GPU (its share of the server) [kW]. Blank: the catalog serving power of gpu.")
@xl_arg("pue", doc="Power usage effectiveness (1.3 new sites). Blank: 1.58, the 2023 average.")
@xl_arg("usd_per_kwh", doc="Electricity price [USD/kWh].")
@xl_arg("other_usd_per_year", doc="Optional. Hosting, licences, support per GPU per year [USD]. Default 0.")
@xl_arg("gpu", doc="Optional. The GPU whose catalog serving power applies when power_kw is blank.")
def LLM_OWNED_GPU_HOUR(
    purchase_usd, years, power_kw=None, pue=None, usd_per_kwh=None, other_usd_per_year=None, gpu=None
):
    """USD per GPU-hour of an owned GPU: depreciation + power × PUE × price + other yearly costs."""
    try:
        return llmxl.owned_gpu_hour_usd(
            _cell_number(purchase_usd, "purchase_usd"),
            _cell_number(years, "years"),
            _cell_number(power_kw, "power_kw"),
            _cell_number(pue, "pue"),
            _cell_number(usd_per_kwh, "usd_per_kwh"),
            **given(
                other_usd_per_year=_cell_number(other_usd_per_year, "other_usd_per_year"),
                gpu=_optional_text(gpu, "gpu"),
            ),
        )
    except LlmxlError as exc:
        return exc.excel_text()


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("provider", doc='API provider, e.g. "together", "groq", "deepinfra".')
@xl_arg("kind", doc='Optional. "prompt", "completion", "blended" (3 : 1, the default) or "cached" (cached prompt).')
def LLM_API_PRICE(model, provider, kind=None):
    """A hosted API's price for the model, USD per 1M tokens (prompt, completion, blended 3:1 or cached prompt)."""
    try:
        p = llmxl.api_price(_text(model, "model"), _text(provider, "provider"))
        if isinstance(kind, str) and kind.strip().lower() == "cached":
            if p.cached_input_usd_per_1m is None:
                return f"#N/A {p.provider} publishes no cached-input price for {p.model}; hits bill at the prompt price"
            return p.cached_input_usd_per_1m
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
@xl_arg("gpu", ndim=2, doc=_PLAN_DOCS["gpu"])
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
@xl_arg("engine", doc=_PLAN_DOCS["engine"])
@xl_arg("percentile", doc=_PLAN_DOCS["percentile"])
@xl_arg("prefix_cache_hit", doc=_PLAN_DOCS["prefix_cache_hit_api"])
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
    engine=None,
    percentile=None,
    prefix_cache_hit=None,
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
        names, priced = _prices_and_energy(
            {"gpu": gpu}, _cell_number(_single(gpu_hour_usd, "gpu_hour_usd"), "gpu_hour_usd")
        )
        b = llmxl.breakeven(
            _text(model, "model"),
            names,
            prompt_tokens=_cell_number(prompt_tokens, "prompt_tokens"),
            completion_tokens=_cell_number(completion_tokens, "completion_tokens"),
            api=which,
            **priced,
            **given(
                peak_factor=_cell_number(peak_factor, "peak_factor"),
                ttft_s_max=_cell_number(ttft_s_max, "ttft_s_max"),
                itl_s_max=_cell_number(itl_s_max, "itl_s_max"),
                tp=_cell_number(tp, "tp"),
                dtype=_optional_text(dtype, "dtype"),
                **_load_options({"engine": engine, "percentile": percentile, "prefix_cache_hit": prefix_cache_hit}),
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
    ("Peak utilisation", "peak_utilisation"),
    ("USD per GPU-hour", "gpu_hour_usd"),
    ("Monthly cost [USD]", "monthly_usd"),
    ("USD per 1M prompt tokens", "usd_per_1m_prompt_tokens"),
    ("USD per 1M completion tokens", "usd_per_1m_completion_tokens"),
    ("USD per 1M blended", "usd_per_1m_blended"),
    ("TTFT at the percentile [s]", "ttft_s"),
    ("ITL at the percentile [s]", "itl_s"),
    ("TTFT mean [s]", "ttft_mean_s"),
    ("ITL mean [s]", "itl_mean_s"),
    ("Engine", "engine"),
    ("Percentile", "percentile"),
    ("Price basis", "price_basis"),
    ("Power per GPU [kW]", "power_kw_per_gpu"),
    ("PUE", "pue"),
    ("kWh per month", "kwh_per_month"),
    ("kWh per 1M tokens", "kwh_per_1m_tokens"),
    ("kg CO2e per 1M tokens", "kg_co2e_per_1m_tokens"),
    ("Why not", "reason"),
)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("gpus", ndim=2, doc=_PLAN_DOCS["gpu"])
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
@xl_arg("power_kw", doc=_PLAN_DOCS["power_kw"])
@xl_arg("pue", doc=_PLAN_DOCS["pue"])
@xl_arg("grid_g_co2e_per_kwh", doc=_PLAN_DOCS["grid_g_co2e_per_kwh"])
@xl_arg("engine", doc=_PLAN_DOCS["engine"])
@xl_arg("percentile", doc=_PLAN_DOCS["percentile"])
@xl_arg("dp", doc="Optional. Attention data-parallel ranks (MoE models). Default: every expert-parallel layout.")
@xl_arg("ep", doc=_DOCS["ep"])
@xl_arg("speculative", doc=_PLAN_DOCS["speculative"])
@xl_arg("prefix_cache_hit", doc=_DOCS["prefix_cache_hit"])
@xl_arg(
    "disaggregated",
    doc='Optional. FALSE: aggregated replicas; TRUE: prefill and decode pools (xPyD); "both": '
    "each, cheapest first. Needs ttft_s_max. Default FALSE.",
)
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
    power_kw=None,
    pue=None,
    grid_g_co2e_per_kwh=None,
    engine=None,
    percentile=None,
    dp=None,
    ep=None,
    speculative=None,
    prefix_cache_hit=None,
    disaggregated=None,
):
    """Every candidate configuration as a spilled table with a header row, the cheapest that meets the target first."""
    args = dict(locals())
    args["gpu"] = args.pop("gpus")
    try:  # a range where one cell belongs is a one-line error in the cell, as every other refusal
        for k in ("requests_per_s", "peak_requests_per_s", "prompt_tokens", "completion_tokens", "gpu_hour_usd"):
            args[k] = _single(args[k], k)
        p = _plan_cell(args, _read_cell({k: args[k] for k in _CELLWISE}))
    except LlmxlError as exc:
        return exc.excel_text()
    cols = _TABLE + ((("dp", "dp"), ("ep", "ep")) if any(r.dp > 1 or r.ep > 1 for r in p.rows) else ())
    cols += _POOLS if p.disaggregated is not False else ()
    table = [[label for label, _ in cols]]
    for row in p.rows:
        table.append(["" if getattr(row, attr) is None else getattr(row, attr) for _, attr in cols])
    return cap_text(table)


#: The columns of a plan with disaggregated fleets (tp, Concurrency, Replicas: the decode pool's and x + y).
_POOLS = (("Mode", "mode"), ("Prefill tp", "prefill_tp"), ("Prefill dp", "prefill_dp"), ("Prefill ep", "prefill_ep"),
          ("Prefill instances", "prefill_replicas"), ("Decode instances", "decode_replicas"),
          ("Prefill requests/s per instance", "prefill_requests_per_s"),
          ("Decode requests/s per instance", "requests_per_s"), ("KV transfer [s]", "kv_transfer_s"))  # fmt: skip

_FRONTIER = (
    ("GPU", "gpu"),
    ("tp", "tp"),
    ("Dtype", "dtype"),
    ("Concurrency", "concurrency"),
    ("Output tokens/s per user", "output_tokens_per_s_per_user"),
    ("Output tokens/s per GPU", "output_tokens_per_s_per_gpu"),
    ("USD per GPU-hour", "gpu_hour_usd"),
    ("USD per 1M prompt tokens", "usd_per_1m_prompt_tokens"),
    ("USD per 1M completion tokens", "usd_per_1m_completion_tokens"),
    ("USD per 1M blended", "usd_per_1m_blended"),
    ("kWh per 1M tokens", "kwh_per_1m_tokens"),
    ("kg CO2e per 1M tokens", "kg_co2e_per_1m_tokens"),
    ("TTFT at the percentile [s]", "ttft_s"),
    ("ITL at the percentile [s]", "itl_s"),
    ("ITL mean [s]", "itl_mean_s"),
    ("Engine", "engine"),
    ("Percentile", "percentile"),
    ("On the frontier", "pareto"),
)


@xw.func(category=CATEGORY)
@xl_arg("model", doc=_DOCS["model"])
@xl_arg("gpus", ndim=2, doc=_PLAN_DOCS["gpu"])
@xl_arg("prompt_tokens", doc=_DOCS["prompt_tokens"])
@xl_arg("completion_tokens", doc="Tokens generated for each request (whole number ≥ 2).")
@xl_arg("tp", doc=_PLAN_DOCS["tp"])
@xl_arg("dtype", doc=_PLAN_DOCS["dtype"])
@xl_arg("gpu_hour_usd", doc=_PLAN_DOCS["gpu_hour_usd"])
@xl_arg("reservation_discount", doc=_PLAN_DOCS["reservation_discount"])
@xl_arg("max_concurrency", doc=_PLAN_DOCS["max_concurrency"])
@xl_arg("frontier_only", doc="Optional. TRUE: only the points on the frontier, fastest per user first. Default FALSE.")
@xl_arg("power_kw", doc=_PLAN_DOCS["power_kw"])
@xl_arg("pue", doc=_PLAN_DOCS["pue"])
@xl_arg("grid_g_co2e_per_kwh", doc=_PLAN_DOCS["grid_g_co2e_per_kwh"])
@xl_arg("engine", doc=_PLAN_DOCS["engine"])
@xl_arg("percentile", doc=_PLAN_DOCS["percentile"])
@xl_arg("prefix_cache_hit", doc=_DOCS["prefix_cache_hit"])
def LLM_FRONTIER(
    model,
    gpus,
    prompt_tokens,
    completion_tokens,
    tp=None,
    dtype=None,
    gpu_hour_usd=None,
    reservation_discount=None,
    max_concurrency=None,
    frontier_only=None,
    power_kw=None,
    pue=None,
    grid_g_co2e_per_kwh=None,
    engine=None,
    percentile=None,
    prefix_cache_hit=None,
):
    """Cost per 1M tokens against output tokens/s per user over concurrency, per GPU, tp and dtype: a table."""
    args = dict(locals())
    args["gpu"] = args.pop("gpus")
    try:
        names, priced = _prices_and_energy(args, _optional(gpu_hour_usd, "gpu_hour_usd"))
        f = llmxl.frontier(
            _text(model, "model"),
            names,
            prompt_tokens=_optional(prompt_tokens, "prompt_tokens"),
            completion_tokens=_optional(completion_tokens, "completion_tokens"),
            **priced,
            **given(
                tp=_optional(tp, "tp"),
                dtype=_optional_text(_single(dtype, "dtype"), "dtype"),
                max_concurrency=_optional(max_concurrency, "max_concurrency"),
                **_load_options(args),
            ),
        )
        only = _flag(frontier_only, "frontier_only")
    except LlmxlError as exc:
        return exc.excel_text()
    if not f.points:
        return "#N/A no configuration can serve this request shape: " + "; ".join(f.unserved[:3])
    table = [[label for label, _ in _FRONTIER]]
    for point in f.pareto if only else f.points:
        table.append(["" if getattr(point, attr) is None else getattr(point, attr) for _, attr in _FRONTIER])
    return cap_text(table)


def _flag(value, field: str) -> bool:
    """TRUE/FALSE (or 1/0, or blank for FALSE)."""
    value = _single(value, field)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().upper() in ("TRUE", "FALSE"):
        return value.strip().upper() == "TRUE"
    number = _cell_number(value, field)
    if number in (0.0, 1.0):
        return bool(number)
    raise InvalidInputError(f"{field} must be TRUE or FALSE, got {value!r}", field=field)
