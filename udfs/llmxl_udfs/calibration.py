"""LLM_CALIBRATE: fit a GPU's serving constants to measurements typed into a sheet.

One row per benchmark run; each argument is a column of the runs or one cell for all of them.
The spill shows each constant (default, fitted, ± one standard error or why it was kept) and the
errors; with ``save_as`` the fit becomes the GPU ``<gpu>@<save_as>`` in the user catalog, which every
other function then takes as its ``gpu`` argument.
"""

from __future__ import annotations

import xlwings as xw

from llmxl import InvalidInputError, LlmxlError

from ._excel import CATEGORY, _cell_number, _grid, _text, cap_text, xl_arg

# (Excel argument, measurement column, kind): one argument per column of the runs
_COLUMNS = (
    ("models", "model", "text"),
    ("gpus", "gpu", "text"),
    ("tps", "tp", "number"),
    ("dtypes", "dtype", "text"),
    ("prompt_tokens", "prompt_tokens", "number"),
    ("completion_tokens", "completion_tokens", "number"),
    ("concurrencies", "concurrency", "number"),
    ("ttft_s", "ttft_s", "number"),
    ("tpot_s", "tpot_s", "number"),
    ("output_tokens_per_s", "output_tokens_per_s", "number"),
)
_CAL_DOCS = {
    "models": "Model of each run: a column, or one cell for every run.",
    "gpus": "GPU of every run (one GPU per calibration): a column or one cell.",
    "tps": "Tensor-parallel GPUs of each run: a column or one cell. Blank: 1.",
    "dtypes": 'Precision of each run, e.g. "fp8": a column or one cell. Blank: w16a16e16.',
    "prompt_tokens": "Prompt tokens of each run (mean): a column or one cell.",
    "completion_tokens": "Completion tokens of each run (mean): a column or one cell.",
    "concurrencies": "Requests in flight of each run (vllm bench serve --max-concurrency): a column or one cell.",
    "ttft_s": "Measured mean time to first token [s]; blank where not measured.",
    "tpot_s": "Measured mean time per output token (ITL) [s]; blank where not measured.",
    "output_tokens_per_s": "Measured output tokens/s of the whole replica; blank where not measured.",
    "save_as": "Optional. A name: saves the fit as the GPU <gpu>@<name> in the user catalog, for the other functions.",
    "engine": 'Optional. The engine the runs ran under, e.g. "vllm" or "vllm:max_num_seqs=512". Blank: vllm.',
}


def _column(value, n_rows: int | None, field: str) -> list:
    grid = _grid(value)
    if len(grid) > 1 and all(len(r) == 1 for r in grid):
        return [r[0] for r in grid]
    if len(grid) == 1 and len(grid[0]) > 1:
        return list(grid[0])
    if len(grid) == 1 and len(grid[0]) == 1:
        return [grid[0][0]] * (n_rows or 1)
    raise InvalidInputError(
        f"{field} must be one column or one row of runs, got a {len(grid)}×{len(grid[0])} range", field=field
    )


def _rows(args: dict) -> list[dict]:
    """One dict of measurement columns per run; errors name the Excel argument."""
    lengths = {len(_column(args[arg], None, arg)) for arg, _, _ in _COLUMNS if isinstance(args[arg], list)}
    lengths.discard(1)
    if len(lengths) > 1:
        raise InvalidInputError(
            f"the ranges have different lengths ({', '.join(map(str, sorted(lengths)))}); give one row per run",
            field="ranges",
        )
    n = lengths.pop() if lengths else 1
    cols = {arg: _column(args[arg], n, arg) for arg, _, _ in _COLUMNS}
    rows = []
    for i in range(n):
        row = {}
        for arg, column, kind in _COLUMNS:
            v = cols[arg][i]
            if kind == "text":
                row[column] = None if v is None or (isinstance(v, str) and not v.strip()) else _text(v, arg)
            else:
                row[column] = _cell_number(v, arg)
        if any(v is not None for v in row.values()):
            rows.append(row)
    return rows


@xw.func(category=CATEGORY)
@xl_arg("models", ndim=2, doc=_CAL_DOCS["models"])
@xl_arg("gpus", ndim=2, doc=_CAL_DOCS["gpus"])
@xl_arg("tps", ndim=2, doc=_CAL_DOCS["tps"])
@xl_arg("dtypes", ndim=2, doc=_CAL_DOCS["dtypes"])
@xl_arg("prompt_tokens", ndim=2, doc=_CAL_DOCS["prompt_tokens"])
@xl_arg("completion_tokens", ndim=2, doc=_CAL_DOCS["completion_tokens"])
@xl_arg("concurrencies", ndim=2, doc=_CAL_DOCS["concurrencies"])
@xl_arg("ttft_s", ndim=2, doc=_CAL_DOCS["ttft_s"])
@xl_arg("tpot_s", ndim=2, doc=_CAL_DOCS["tpot_s"])
@xl_arg("output_tokens_per_s", ndim=2, doc=_CAL_DOCS["output_tokens_per_s"])
@xl_arg("save_as", doc=_CAL_DOCS["save_as"])
@xl_arg("engine", doc=_CAL_DOCS["engine"])
def LLM_CALIBRATE(
    models,
    gpus,
    tps,
    dtypes,
    prompt_tokens,
    completion_tokens,
    concurrencies,
    ttft_s,
    tpot_s,
    output_tokens_per_s,
    save_as=None,
    engine=None,
):
    """Fit the GPU's serving constants and the engine's front-end time and reserve to measured runs; spills the
    constants, the errors and the engine settings fitted (text for any engine argument)."""
    from llmxl.calibration import CONSTANTS, ENGINE_CONSTANTS, calibrate

    args = dict(locals())
    try:
        eng = None if engine is None or (isinstance(engine, str) and not engine.strip()) else _text(engine, "engine")
        cal = calibrate(_rows(args), engine=eng)
        saved = "(not saved; give save_as)"
        name = None if save_as is None or not str(save_as).strip() else _text(save_as, "save_as")
        if name and cal.problems:
            saved = f"not saved: {cal.problems[0]}"
        elif name:
            saved = cal.save(name, force=True)  # the cell owns this entry: recalculating replaces it
    except LlmxlError as exc:
        return exc.excel_text()
    table = [["Constant", "Default", "Fitted", "± 1 s.e. / why kept"]]
    for name in (*CONSTANTS, *ENGINE_CONSTANTS):
        if name in cal.fitted:
            unc = cal.uncertainty.get(name)
            if name == "reserve_gib" and cal.reserve_range_gib:
                unc = "{:.3g}–{:.3g} GiB".format(*cal.reserve_range_gib)
            table.append([name, cal.defaults[name], cal.constants[name], "n/a" if unc is None else unc])
        else:
            table.append([name, cal.defaults[name], "kept", cal.kept.get(name, "")])
    cv = cal.error_cross_validated
    table.append(["Median error, defaults", cal.error_before, "", ""])
    table.append(["Median error, calibrated", cal.error_after, "", ""])
    table.append(
        ["Median error, cross-validated", "" if cv is None else cv, "", "" if cv is not None else "below 3 runs"]
    )
    table.append(["Engine settings fitted", cal.engine_override or "(none)", "", ""])
    table.append(["Saved as GPU", saved, "", "; ".join(cal.problems)])
    return cap_text(table)
