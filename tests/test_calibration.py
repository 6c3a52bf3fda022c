"""Calibration from a user's own measurements: recovery, file formats, saving and use by name, bad input."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

import llmxl
from llmxl import InvalidInputError, LlmxlError, UnknownNameError
from llmxl.calibration import CONSTANTS, Measurement, _predict, calibrate, read_measurements
from llmxl.cli import main

DATA = Path(__file__).parent / "data" / "calibration"
GPU = "h100-sxm-80gb"
# Constants unlike the catalog's, for the engine to generate "measurements" from.
TRUE = {
    "hbm_efficiency": 0.66,
    "flops_efficiency": 0.55,
    "decode_overhead_s": 0.0009,
    "prefill_overhead_s": 0.012,
    "allreduce_latency_s": 2.2e-5,
    "layer_overhead_s": 1.5e-5,
}
FIELD = {
    "hbm_efficiency": "serving_hbm_efficiency",
    "flops_efficiency": "serving_flops_efficiency",
}


def true_gpu(values=None):
    values = TRUE if values is None else values
    return llmxl.get_gpu(GPU).model_copy(update={FIELD.get(c, c): v for c, v in values.items()})


def synthetic(
    models=(("llama-3.1-8b", 1), ("qwen2.5-32b", 2), ("llama-3.1-70b", 4)), concurrencies=(1, 8, 64), values=None
):
    g = true_gpu(values)
    out = []
    for model, tp in models:
        for conc in concurrencies:
            for s, n in ((512, 128), (2048, 256)):
                m = Measurement(model=model, gpu=GPU, tp=tp, dtype="fp8", prompt_tokens=s, completion_tokens=n,
                                concurrency=conc, metrics=dict.fromkeys(("ttft_s", "tpot_s", "output_tokens_per_s"), 1.0))  # fmt: skip
                out.append(Measurement(**{**m.__dict__, "metrics": _predict(m, g), "where": f"{model} c{conc} {s}"}))
    return out


def assert_recovered(cal, names, truth=TRUE):
    # the GPU's constants (the engine's front-end time, 0 in these runs, is fitted beside them: to 0)
    assert set(cal.fitted) & set(CONSTANTS) == set(names), (cal.fitted, cal.kept)
    assert cal.constants["front_end_s"] < 1e-9
    for c in names:
        assert cal.constants[c] == pytest.approx(truth[c], rel=0.01), c
    assert cal.error_after < 1e-4 and not cal.problems


def test_recovers_every_constant_from_engine_measurements():
    cal = calibrate(synthetic())
    assert_recovered(cal, CONSTANTS)
    assert cal.error_before > 0.05  # the defaults were really different
    assert cal.error_cross_validated is not None and cal.error_cross_validated < 1e-3
    assert all(u is not None and u < 0.01 * TRUE[c] for c, u in cal.uncertainty.items() if c in TRUE)


def test_static_batch_measurements_recover_too():
    g = true_gpu()
    ms = []
    for b in (1, 4, 16, 64):
        for s, n in ((256, 64), (2048, 128)):
            m = Measurement(model="llama-3.1-8b", gpu=GPU, dtype="fp8", prompt_tokens=s, completion_tokens=n,
                            batch_size=b, metrics={"ttft_s": 1.0, "e2e_s": 1.0, "output_tokens_per_s": 1.0})  # fmt: skip
            ms.append(Measurement(**{**m.__dict__, "metrics": _predict(m, g)}))
    cal = calibrate(ms)
    # one model at tp=1: no all-reduce and no second layer count to tell the layer overhead apart
    keep = {"allreduce_latency_s", "layer_overhead_s"}
    truth = {**TRUE, **{c: cal.defaults[c] for c in keep}}
    assert_recovered(calibrate([Measurement(**{**m.__dict__, "metrics": _predict(m, true_gpu(truth))}) for m in ms]),
                     [c for c in CONSTANTS if c not in keep], truth)  # fmt: skip
    assert "tp=1" in cal.kept["allreduce_latency_s"] and "layer count" in cal.kept["layer_overhead_s"]


def _single_stack_truth():
    """TRUE, but with the constants one model at tp=1 cannot inform left at the catalog's defaults."""
    defaults = llmxl.catalog.serving_constants(llmxl.get_gpu(GPU)).model_dump()
    return {
        **TRUE,
        "allreduce_latency_s": defaults["allreduce_latency_s"],
        "layer_overhead_s": defaults["layer_overhead_s"],
    }


INFORMED_BY_ONE_STACK = ("hbm_efficiency", "flops_efficiency", "decode_overhead_s", "prefill_overhead_s")


def test_recovers_from_a_plain_csv(tmp_path):
    truth = _single_stack_truth()
    ms = synthetic(models=(("llama-3.1-8b", 1),), concurrencies=(1, 4, 16, 64), values=truth)
    path = tmp_path / "points.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "gpu", "tp", "dtype", "prompt_tokens", "completion_tokens", "concurrency", "ttft_s",
                    "itl_s", "output_tokens_per_s"])  # fmt: skip
        for m in ms:
            w.writerow([m.model, m.gpu, m.tp, m.dtype, m.prompt_tokens, m.completion_tokens, m.concurrency,
                        repr(m.metrics["ttft_s"]), repr(m.metrics["tpot_s"]), repr(m.metrics["output_tokens_per_s"])])  # fmt: skip
    assert_recovered(calibrate(str(path)), INFORMED_BY_ONE_STACK, truth)


def _tool_runs(truth):
    """(concurrency, prompt, completion, engine figures) of the runs a benchmark tool's files hold."""
    g = true_gpu(truth)
    for conc in (1, 4, 16, 64):
        for s, n in ((1000, 200), (3000, 150)):
            m = Measurement(model="llama-3.1-8b", gpu=GPU, prompt_tokens=s, completion_tokens=n, concurrency=conc,
                            dtype="fp8", metrics=dict.fromkeys(("ttft_s", "tpot_s", "e2e_s", "output_tokens_per_s"), 1.0))  # fmt: skip
            yield conc, s, n, _predict(m, g)


def _vllm_files(tmp_path, truth):
    template = json.loads((DATA / "vllm-bench-serve.json").read_text())
    # the template's medians and percentiles are its own illustrative figures: left out here
    template = {k: v for k, v in template.items() if not k.startswith(("median_", "p99_"))}
    paths = []
    for conc, s, n, got in _tool_runs(truth):
        data = {**template, "max_concurrency": conc, "completed": 100, "total_input_tokens": 100 * s,
                "total_output_tokens": 100 * n, "mean_ttft_ms": got["ttft_s"] * 1000,
                "mean_tpot_ms": got["tpot_s"] * 1000, "mean_e2el_ms": got["e2e_s"] * 1000,
                "output_throughput": got["output_tokens_per_s"]}  # fmt: skip
        p = tmp_path / f"vllm-c{conc}-{s}.json"
        p.write_text(json.dumps(data))
        paths.append(p)
    return paths


def test_recovers_from_vllm_bench_serve_results(tmp_path):
    truth = _single_stack_truth()
    paths = _vllm_files(tmp_path, truth)
    assert_recovered(calibrate(paths, gpu=GPU, tp=1, dtype="fp8"), INFORMED_BY_ONE_STACK, truth)


def test_recovers_from_genai_perf_csvs(tmp_path):
    truth = _single_stack_truth()
    template = (DATA / "profile_export_genai_perf.csv").read_text()
    ms = []
    for conc, s, n, got in _tool_runs(truth):
        rows = {
            "Time To First Token (ms)": got["ttft_s"] * 1000,
            "Inter Token Latency (ms)": got["tpot_s"] * 1000,
            "Request Latency (ms)": got["e2e_s"] * 1000,
            "Output Sequence Length (tokens)": n,
            "Input Sequence Length (tokens)": s,
            "Output Token Throughput (per sec)": got["output_tokens_per_s"],
        }
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for rec in csv.reader(io.StringIO(template)):
            if rec and rec[0] in rows:  # genai-perf's own layout: thousands separators, so quoted
                rec[1] = f"{rows[rec[0]]:,.9f}"
            writer.writerow(rec)
        p = tmp_path / f"c{conc}-{s}" / "profile_export_genai_perf.csv"
        p.parent.mkdir()
        p.write_text(out.getvalue())
        ms.extend(read_measurements(p, model="llama-3.1-8b", gpu=GPU, dtype="fp8", concurrency=conc))
    assert_recovered(calibrate(ms), INFORMED_BY_ONE_STACK, truth)


def test_fixture_files_parse_as_their_tools_write_them():
    (v,) = read_measurements(DATA / "vllm-bench-serve.json", gpu=GPU, tp=1)
    assert (v.model, v.concurrency, v.prompt_tokens, v.completion_tokens) == (
        "meta-llama/Llama-3.1-8B-Instruct",
        32,
        1000,
        200,
    )
    medians = {"ttft_p50_s": 0.1049, "ttft_p99_s": 0.2017, "itl_p50_s": 0.0271, "itl_p99_s": 0.061}
    assert v.metrics == pytest.approx(
        {"ttft_s": 0.1124, "tpot_s": 0.0296, "e2e_s": 5.9993, "output_tokens_per_s": 1040.3, **medians}
    )
    (gp,) = read_measurements(DATA / "profile_export_genai_perf.csv", model="llama-3.1-8b", gpu=GPU, concurrency=32)
    assert (gp.prompt_tokens, gp.completion_tokens) == (1000, 200)
    assert gp.metrics == pytest.approx(
        {"ttft_s": 0.1124, "tpot_s": 0.0296, "e2e_s": 5.9993, "output_tokens_per_s": 1040.3}
    )


def test_few_figures_fit_only_what_they_inform_and_say_which():
    (m,) = synthetic(models=(("llama-3.1-8b", 1),), concurrencies=(1,))[:1]
    one = Measurement(**{**m.__dict__, "metrics": {"ttft_s": m.metrics["ttft_s"]}})
    cal = calibrate([one])
    assert cal.fitted == ("flops_efficiency",)
    assert "no decode figure" in cal.kept["hbm_efficiency"]
    assert "1 measured figure" in cal.kept["prefill_overhead_s"]
    assert cal.uncertainty == {"flops_efficiency": None} and cal.error_cross_validated is None
    assert cal.constants["hbm_efficiency"] == cal.defaults["hbm_efficiency"]


def test_a_constant_no_figure_depends_on_is_kept_and_says_why():
    g = true_gpu()
    runs = []
    for model, tp in (("llama-3.1-8b", 1), ("llama-3.1-8b", 2), ("llama-3.1-70b", 2), ("llama-3.1-70b", 4)):
        m = Measurement(model=model, gpu=GPU, tp=tp, dtype="fp8", prompt_tokens=5, completion_tokens=200,
                        batch_size=1, metrics={"output_tokens_per_s": 1.0})  # fmt: skip
        runs.append(
            Measurement(**{**m.__dict__, "metrics": {"output_tokens_per_s": _predict(m, g)["output_tokens_per_s"]}})
        )
    cal = calibrate(runs)  # batch 1, 5-token prompts: the prefill is read-bound, the FLOPs rate never matters
    assert cal.kept["flops_efficiency"] == "no measured figure depends on it"
    assert "hbm_efficiency" in cal.fitted and all(u is not None for u in cal.uncertainty.values())


def test_one_model_at_one_width_fits_the_per_layer_costs_together():
    defaults = {c: float(v) for c, v in llmxl.catalog.serving_constants(llmxl.get_gpu(GPU)).model_dump().items() if c in CONSTANTS}  # fmt: skip
    half = {**defaults, "allreduce_latency_s": defaults["allreduce_latency_s"] / 2,
            "layer_overhead_s": defaults["layer_overhead_s"] / 2}  # fmt: skip
    runs = synthetic(models=(("qwen2.5-32b", 2),), concurrencies=(1, 8), values=half)
    cal = calibrate(runs, constants=["allreduce_latency_s"])
    # λ alone could not take the per-layer cost L (2 λ + τL) below L τL; fitted together, both halve
    assert cal.constants["allreduce_latency_s"] == pytest.approx(half["allreduce_latency_s"], rel=0.01)
    assert cal.constants["layer_overhead_s"] == pytest.approx(half["layer_overhead_s"], rel=0.01)
    assert cal.kept["layer_overhead_s"].startswith("moved with allreduce_latency_s") and not cal.problems
    two_widths = [*runs[:2], *synthetic(models=(("qwen2.5-32b", 4),), concurrencies=(1,), values=half)]
    other = calibrate(two_widths, constants=["allreduce_latency_s"], cross_validate=False)
    assert other.constants["layer_overhead_s"] == defaults["layer_overhead_s"]  # λ is told apart by the widths


def test_one_tensor_parallel_width_fits_the_all_reduce_latency_first():
    runs = synthetic(models=(("qwen2.5-32b", 2),), concurrencies=(1, 8))  # 4 runs, 12 figures: 4 constants
    two = runs[:2]  # 6 figures: 2 constants
    assert calibrate(two, cross_validate=False).fitted == ("allreduce_latency_s", "hbm_efficiency")
    mixed = [*synthetic(models=(("llama-3.1-8b", 1),), concurrencies=(1,))[:1], runs[0]]
    assert calibrate(mixed, cross_validate=False).fitted == ("hbm_efficiency", "flops_efficiency")
    single = synthetic(models=(("llama-3.1-8b", 1),), concurrencies=(1, 8))[:2]
    assert "every run has tp=1" in calibrate(single, cross_validate=False).kept["allreduce_latency_s"]


# --- saved calibrations, used by name everywhere ---------------------------------------------


@pytest.fixture
def user_catalog(tmp_path, monkeypatch):
    path = tmp_path / "catalog.toml"
    path.write_text("# my catalog\n", encoding="utf-8")
    monkeypatch.setenv(llmxl.catalog.ENV_VAR, str(path))
    llmxl.catalog.reset()
    return path


def test_saved_calibration_is_a_gpu_by_name_in_python_and_the_cli(user_catalog, capsys):
    cal = calibrate(synthetic())
    name = cal.save("bench")
    assert name == f"{GPU}@bench" and "# my catalog" in user_catalog.read_text()
    kw = dict(tp=4, dtype="fp8", batch_size=8, prompt_tokens=1000, completion_tokens=200)
    by_name = llmxl.estimate("llama-3.1-70b", name, **kw)
    assert by_name.ttft_s == llmxl.estimate("llama-3.1-70b", GPU, calibration=cal, **kw).ttft_s
    assert by_name.ttft_s == pytest.approx(llmxl.estimate("llama-3.1-70b", true_gpu(), **kw).ttft_s, rel=1e-6)
    assert by_name.ttft_s != llmxl.estimate("llama-3.1-70b", GPU, **kw).ttft_s
    assert llmxl.get_gpu(name).serving_source.startswith("calibrated by llmxl from 18 measurements")
    code = main(["estimate", "--model", "llama-3.1-70b", "--gpu", name, "--tp", "4", "--dtype", "fp8", "--batch", "8",
                 "--prompt", "1000", "--completion", "200", "--json"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["ttft_s"] == by_name.ttft_s
    with pytest.raises(InvalidInputError, match=r"already saved .* --force"):
        cal.save("bench")
    cal.save("bench", force=True)
    assert user_catalog.read_text().count("[[gpus]]") == 1


def test_saved_calibration_in_a_cell_and_a_workbook(user_catalog, tmp_path):
    from .test_udfs import excel
    from .test_workbook import recalc
    from .xlwings_harness import windows_xlwings

    name = calibrate(synthetic()).save("bench")
    e = llmxl.estimate(
        "llama-3.1-70b", name, tp=4, dtype="fp8", batch_size=8, prompt_tokens=1000, completion_tokens=200
    )
    with windows_xlwings() as xl:
        cell = excel(xl, "LLM_TTFT", "llama-3.1-70b", name, 8.0, 1000.0, 200.0, 4.0, None, None, None, "fp8")
    assert cell == e.ttft_s
    out = tmp_path / "r.xlsx"
    assert main(["report", "--model", "llama-3.1-70b", "--gpu", name, "--tp", "4", "--dtype", "fp8", "--batch", "8",
                 "--prompt", "1000", "--completion", "200", "--no-progress", "-o", str(out)]) == 0  # fmt: skip
    wb = recalc(out, tmp_path)
    row = next(r for r in wb["Report"].iter_rows(min_row=4, values_only=True) if r[0])
    assert row[1] == name and row[5] == pytest.approx(e.ttft_s, rel=1e-9)


def test_the_cli_prints_the_fit_and_saves_it(user_catalog, tmp_path, capsys):
    paths = _vllm_files(tmp_path, _single_stack_truth())
    code = main(["calibrate", *map(str, paths), "--gpu", GPU, "--tp", "1", "--dtype", "fp8", "--save", "my-vllm"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Calibration of h100-sxm-80gb from 8 runs (32 measured figures)" in out
    assert "every run has tp=1" in out and f"saved {GPU}@my-vllm" in out
    assert llmxl.get_gpu(f"{GPU}@my-vllm").serving_hbm_efficiency == pytest.approx(TRUE["hbm_efficiency"], rel=0.01)
    # the saved GPU is in its family's load model (κP, κD) as the fit was: its runs come out as measured
    conc, s, n, got = next(_tool_runs(_single_stack_truth()))
    op = llmxl.operating_point("llama-3.1-8b", f"{GPU}@my-vllm", conc, tp=1, dtype="fp8", prompt_tokens=s,
                               completion_tokens=n, engine="vllm:front_end_s=0")  # fmt: skip
    assert op.itl_mean_s == pytest.approx(got["tpot_s"], rel=1e-3)


# --- bad input -----------------------------------------------------------------------------------


def _csv(tmp_path, text):
    p = tmp_path / "m.csv"
    p.write_text(text, encoding="utf-8")
    return p


HEADER = "model,gpu,tp,prompt_tokens,completion_tokens,concurrency,ttft_s,tpot_s\n"


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        ("llama-3.1-8b,h100-sxm-80gb,1,1000,200,8,0.1,-0.02\n", InvalidInputError, ["row 2", "tpot_s=", "positive"]),
        ("llama-3.1-8b,h100-sxm-80gb,1,1000,200,8,,\n", InvalidInputError, ["row 2", "no measured figure"]),
        ("llama-9-8b,h100-sxm-80gb,1,1000,200,8,0.1,0.02\n", UnknownNameError, ["row 2", "llama-9-8b"]),
        (
            "llama-3.1-8b,h100-sxm-80gb,1,1000,200,,0.1,0.02\n",
            InvalidInputError,
            ["row 2", "batch_size", "concurrency"],
        ),
        (
            "llama-3.1-8b,h100-sxm-80gb,1,1000,200,8,0.1,0.02\nllama-3.1-8b,h100-sxm-80gb,1,1000,200,8,0.3,0.02\n",
            InvalidInputError,
            ["row 3", "row 2", "ttft_s", "differs"],
        ),
    ],
)
def test_bad_measurements_name_the_file_row_and_field(tmp_path, body, kind, words):
    with pytest.raises(kind) as info:
        calibrate(str(_csv(tmp_path, HEADER + body)))
    assert "\n" not in info.value.message
    for w in words:
        assert w in info.value.message


def test_missing_column_and_unknown_column(tmp_path):
    with pytest.raises(InvalidInputError, match="row 2: prompt_tokens is missing"):
        calibrate(str(_csv(tmp_path, "model,gpu,completion_tokens,concurrency,ttft_s\nllama-3.1-8b,h100,200,8,0.1\n")))
    with pytest.raises(InvalidInputError, match="unknown column 'ttft_ms'"):
        calibrate(str(_csv(tmp_path, "model,gpu,prompt_tokens,completion_tokens,concurrency,ttft_ms\n")))


def test_a_vllm_file_of_another_version_is_named(tmp_path):
    data = json.loads((DATA / "vllm-bench-serve.json").read_text())
    del data["mean_ttft_ms"]
    p = tmp_path / "old.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match=r"old\.json: field mean_ttft_ms is missing; this is not a result file"):
        read_measurements(p, gpu=GPU, tp=1)
    data = json.loads((DATA / "vllm-bench-serve.json").read_text())
    p.write_text(json.dumps({**data, "max_concurrency": None}))
    with pytest.raises(InvalidInputError, match="every prompt was sent at once"):
        read_measurements(p, gpu=GPU, tp=1)


def test_a_fit_at_a_bound_says_which_constant_and_is_not_saved(user_catalog, capsys):
    # decode steps far faster than the GPU's bandwidth allows: hbm_efficiency would have to exceed 1
    ms = [Measurement(**{**m.__dict__, "metrics": {"tpot_s": m.metrics["tpot_s"] / 5}})
          for m in synthetic(models=(("llama-3.1-8b", 1),))]  # fmt: skip
    cal = calibrate(ms, constants=["hbm_efficiency"])
    assert cal.problems and "hbm_efficiency ended at its upper bound 1" in cal.problems[0]
    with pytest.raises(InvalidInputError, match="not saved: hbm_efficiency ended at its upper bound"):
        cal.save("fast")
    assert "[[gpus]]" not in user_catalog.read_text()


def test_a_fit_whose_held_out_error_is_worse_than_the_defaults_is_not_offered(user_catalog, capsys, tmp_path):
    from llmxl.cli.calibrate import format_calibration

    # 4 runs whose figures contradict one another (a slower step beside a higher throughput, ...): each run left
    # out is predicted worse by a fit to the other three than by the defaults
    scales = ({"ttft_s": 2.0, "tpot_s": 2.0, "output_tokens_per_s": 0.5}, {"ttft_s": 1.4, "tpot_s": 2.0,
              "output_tokens_per_s": 2.0}, {"ttft_s": 1.4, "tpot_s": 2.0, "output_tokens_per_s": 1.4},
              {"ttft_s": 0.7, "tpot_s": 0.7, "output_tokens_per_s": 1.4})  # fmt: skip
    runs = [Measurement(**{**m.__dict__, "metrics": {k: v * f[k] for k, v in m.metrics.items()}})
            for m, f in zip(synthetic(models=(("llama-3.1-8b", 1),), concurrencies=(1, 8)), scales, strict=True)]  # fmt: skip
    few = calibrate(runs)
    assert few.error_cross_validated > few.error_before
    assert any("not offered" in p for p in few.problems)
    assert few.engine_override is None  # nor are the engine's settings
    text = format_calibration(few)
    assert "Not offered: this fit is not saved" in text
    with pytest.raises(InvalidInputError, match="not saved: "):
        few.save("few")
    assert "[[gpus]]" not in user_catalog.read_text()
    # the same at the command line: exit 2, said plainly, nothing written
    path = tmp_path / "few.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "gpu", "tp", "dtype", "prompt_tokens", "completion_tokens", "concurrency", "ttft_s",
                    "tpot_s", "output_tokens_per_s"])  # fmt: skip
        for m in runs:
            w.writerow([m.model, m.gpu, m.tp, m.dtype, m.prompt_tokens, m.completion_tokens, m.concurrency,
                        m.metrics["ttft_s"], m.metrics["tpot_s"], m.metrics["output_tokens_per_s"]])  # fmt: skip
    assert main(["calibrate", str(path), "--save", "few"]) == 2
    out, err = capsys.readouterr()
    assert "Not offered" in out and "not saved" in err
    assert "[[gpus]]" not in user_catalog.read_text()
    many = calibrate(synthetic())
    assert many.error_cross_validated < many.error_before and not many.problems


def scaled_engine_runs(ttft=1.15, itl=1.2):
    """Runs the engine generates with the catalog's own constants, then slowed: TTFT × 1.15, ITL × 1.2."""
    g = llmxl.get_gpu(GPU)
    out = []
    for model, tp in (("llama-3.1-8b", 1), ("qwen2.5-32b", 2), ("llama-3.1-70b", 4)):
        for conc in (1, 8, 64):
            for s, n in ((512, 128), (2048, 256)):
                m = Measurement(model=model, gpu=GPU, tp=tp, dtype="fp8", prompt_tokens=s, completion_tokens=n,
                                concurrency=conc, metrics={"ttft_s": 1.0, "tpot_s": 1.0})  # fmt: skip
                p = _predict(m, g)
                metrics = {"ttft_s": p["ttft_s"] * ttft, "tpot_s": p["tpot_s"] * itl}
                out.append(Measurement(**{**m.__dict__, "metrics": metrics, "where": f"{model} c{conc} {s}"}))
    return out


@pytest.fixture(scope="module")
def scaled_fit():
    return calibrate(scaled_engine_runs())


def test_scaled_engine_runs_converge_fit_and_save(user_catalog, scaled_fit):
    # Issue 18: these fitted to 0.7 % and were then refused ("did not converge in 60 steps").
    cal = scaled_fit
    assert not cal.problems, cal.problems
    assert cal.error_before > 0.1 and cal.error_after < 0.01
    assert cal.error_cross_validated < cal.error_before
    name = cal.save("slow")
    assert name == f"{GPU}@slow"
    llmxl.catalog.reload()
    assert llmxl.get_gpu(name).serving_hbm_efficiency == pytest.approx(cal.constants["hbm_efficiency"])


def test_an_overhead_fitted_to_zero_is_a_note_not_a_refusal(scaled_fit):
    cal = scaled_fit
    at_zero = [c for c in cal.fitted if c.endswith("_s") and cal.constants[c] == 0.0]
    assert [n.split()[0] for n in cal.notes] == at_zero
    assert not cal.problems


def test_cli_hints_name_the_cli_option(user_catalog, capsys, tmp_path):
    from llmxl.cli.calibrate import format_calibration

    ms = [Measurement(**{**m.__dict__, "metrics": {"tpot_s": m.metrics["tpot_s"] / 5}})
          for m in synthetic(models=(("llama-3.1-8b", 1),))]  # fmt: skip
    cal = calibrate(ms, constants=["hbm_efficiency", "decode_overhead_s"])
    assert cal.problems and "hbm_efficiency ended at its upper bound" in cal.problems[0]
    text = format_calibration(cal)
    assert "--fit decode_overhead_s" in text
    assert "constants=" not in text and all("constants=" not in p for p in cal.problems)
    assert cal.suggested_constants == ("decode_overhead_s",)


def test_bad_names_and_constants():
    cal = calibrate(synthetic(models=(("llama-3.1-8b", 1),), concurrencies=(1, 8)))
    with pytest.raises(InvalidInputError, match=r"calibration name '\.\./x'"):
        cal.save("../x")
    with pytest.raises(InvalidInputError, match="constant 'fe' is unknown"):
        calibrate(synthetic(), constants=["fe"])
    with pytest.raises(InvalidInputError, match="calibration is of h100-sxm-80gb, not b200"):
        llmxl.estimate("llama-3.1-8b", "b200", prompt_tokens=10, completion_tokens=10, calibration=cal)
    assert isinstance(cal.spec, llmxl.GpuSpec) and math.isfinite(cal.error_after)
    with pytest.raises(LlmxlError, match="calibrate one GPU at a time"):
        calibrate([*synthetic()[:2], Measurement(**{**synthetic()[0].__dict__, "gpu": "b200"})])


def test_llm_calibrate_spills_the_fit_and_saves_it_for_the_other_functions(user_catalog):
    from .test_udfs import excel
    from .xlwings_harness import windows_xlwings

    ms = synthetic()
    col = lambda f: [[float(f(m))] for m in ms]  # noqa: E731 - a column of cells, as Excel hands it over
    args = (
        [[m.model] for m in ms], "h100-sxm-80gb", col(lambda m: m.tp), "fp8", col(lambda m: m.prompt_tokens),
        col(lambda m: m.completion_tokens), col(lambda m: m.concurrency), col(lambda m: m.metrics["ttft_s"]),
        col(lambda m: m.metrics["tpot_s"]), col(lambda m: m.metrics["output_tokens_per_s"]),
    )  # fmt: skip
    with windows_xlwings() as xl:
        table = excel(xl, "LLM_CALIBRATE", *args, "sheet")
        fitted = {r[0]: r[2] for r in table[1:7]}
        assert [r[0] for r in table[1:7]] == list(CONSTANTS) and table[7][0] == "front_end_s"
        assert fitted == pytest.approx({c: calibrate(ms).constants[c] for c in CONSTANTS}, rel=1e-9)
        assert fitted == pytest.approx(TRUE, rel=0.01)
        assert table[-1][:2] == ["Saved as GPU", f"{GPU}@sheet"]
        cell = excel(xl, "LLM_TTFT", "llama-3.1-70b", f"{GPU}@sheet", 8.0, 1000.0, 200.0, 4.0, None, None, None, "fp8")
        assert cell == llmxl.estimate("llama-3.1-70b", GPU, tp=4, dtype="fp8", batch_size=8, prompt_tokens=1000,
                                      completion_tokens=200, calibration=calibrate(ms)).ttft_s  # fmt: skip
        bad = excel(xl, "LLM_CALIBRATE", [["llama-3.1-8b"]], GPU, 1.0, "fp8", [[1000.0], [2000.0]], 200.0, 8.0,
                    [[0.1], [0.2], [0.3]], None, None)  # fmt: skip
        assert bad.startswith("#VALUE! the ranges have different lengths (2, 3)")
