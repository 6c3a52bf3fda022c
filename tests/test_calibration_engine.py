"""Calibration of the engine's front-end time and memory reserve, and vllm bench serve's percentiles as measurements."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import llmxl
from llmxl import InvalidInputError, LlmxlError
from llmxl.calibration import CONSTANTS, Measurement, _predict, calibrate, read_measurements
from llmxl.cli import main
from llmxl.operating import operating_point

DATA = Path(__file__).parent / "data" / "calibration"
GPU = "h100-sxm-80gb"
# the engine the "measurements" are generated under: 25 ms in front of every TTFT, 6 GiB kept out of the cache
TRUE_ENGINE = "vllm:front_end_s=0.025,reserve_gib=6"
SHAPES = ((2048, 256), (1024, 256))
# Llama-3.1-8B fp8 on one H100 under that engine holds 370 requests of 2,304 tokens and 666 of 1,280: the
# runs at 512 and 1,024 saturate the cache
LOADS = (1, 16, 64, 256, 512, 1024)
FIGURES = ("ttft_s", "tpot_s", "output_tokens_per_s")


def sweep(engine=TRUE_ENGINE, loads=LOADS, shapes=SHAPES, figures=FIGURES, model="llama-3.1-8b"):
    """Closed-loop runs as the load model computes them under ``engine`` (the catalog's GPU constants)."""
    g = llmxl.get_gpu(GPU)
    out = []
    for s, n in shapes:
        for c in loads:
            m = Measurement(model=model, gpu=GPU, dtype="fp8", prompt_tokens=s, completion_tokens=n, concurrency=c,
                            metrics=dict.fromkeys(figures, 1.0), where=f"c{c} {s}+{n}")  # fmt: skip
            out.append(replace(m, metrics=_predict(m, g, engine)))
    return out


@pytest.fixture(scope="module")
def recovered():
    return calibrate(sweep())


def test_front_end_time_and_reserve_are_recovered_from_runs_at_several_concurrencies(recovered):
    cal = recovered
    assert not cal.problems, cal.problems
    assert {"front_end_s", "reserve_gib"} <= set(cal.fitted)
    assert cal.constants["front_end_s"] == pytest.approx(0.025, rel=0.02)
    assert cal.constants["reserve_gib"] == pytest.approx(6.0, rel=0.02)
    lo, hi = cal.reserve_range_gib
    assert lo < 6.0 <= hi and hi - lo < 0.1  # one request of 2,304 tokens is 0.14 GiB; two lengths narrow it
    assert cal.defaults["front_end_s"] == 0.0 and cal.defaults["reserve_gib"] == pytest.approx(0.15)
    assert cal.error_after < 1e-6 and cal.error_cross_validated < cal.error_before
    # the GPU's constants were the catalog's and stay so
    defaults = llmxl.catalog.serving_constants(llmxl.get_gpu(GPU)).model_dump()
    for c in set(cal.fitted) & set(CONSTANTS):
        assert cal.constants[c] == pytest.approx(defaults[c], rel=1e-3, abs=1e-9), c


def test_the_engine_override_is_text_every_face_takes(recovered, tmp_path, capsys):
    cal = recovered
    text = cal.engine_override
    assert re.fullmatch(r"vllm:front_end_s=[0-9.e-]+,reserve_gib=[0-9.e-]+", text), text
    eng = llmxl.engine("vllm", **dict(p.split("=") for p in text.partition(":")[2].split(",")))
    assert eng.front_end_s == pytest.approx(cal.constants["front_end_s"], rel=1e-5)
    assert eng.reserve_gib == pytest.approx(cal.constants["reserve_gib"], rel=1e-5)
    kw = dict(prompt_tokens=2048, completion_tokens=256, dtype="fp8")
    got = operating_point("llama-3.1-8b", GPU, [1, 64, 512], engine=text, **kw)
    want = operating_point("llama-3.1-8b", GPU, [1, 64, 512], engine=TRUE_ENGINE, **kw)
    assert got.max_concurrency == want.max_concurrency == 370
    np.testing.assert_allclose(got.ttft_mean_s, want.ttft_mean_s, rtol=1e-4)
    plan = llmxl.plan("llama-3.1-8b", [GPU], requests_per_s=5, prompt_tokens=2048, completion_tokens=256,
                      dtype="fp8", engine=text)  # fmt: skip
    assert plan.rows
    code = main(["plan", "--model", "llama-3.1-8b", "--gpu", GPU, "--dtype", "fp8", "--rps", "5", "--prompt", "2048",
                 "--completion", "256", "--engine", text, "--json", "-"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)
    from .test_udfs import excel
    from .xlwings_harness import windows_xlwings

    with windows_xlwings() as xl:
        spill = excel(xl, "LLM_OPERATING_POINT", "llama-3.1-8b", GPU, 512.0, 2048.0, 256.0, 1.0, "fp8", None, text)
    cells = {row[0]: row[1] for row in spill}
    op = operating_point("llama-3.1-8b", GPU, 512, engine=text, **kw)
    assert any(v == op.ttft_mean_s for v in cells.values()), cells


def test_a_reserve_is_refused_when_no_run_reaches_the_cache_limit():
    cal = calibrate(sweep(loads=(1, 16, 64, 256)), cross_validate=False)
    assert "reserve_gib" not in cal.fitted and cal.reserve_range_gib is None
    assert cal.kept["reserve_gib"].startswith("no run reaches the KV cache's limit")
    assert "\n" not in cal.kept["reserve_gib"]
    assert cal.constants["front_end_s"] == pytest.approx(0.025, rel=0.02)
    assert cal.engine_override.startswith("vllm:front_end_s=") and "reserve_gib" not in cal.engine_override


def test_a_reserve_is_refused_when_the_engine_cap_binds_first():
    engine = "vllm:max_num_seqs=128"
    runs = sweep(engine=f"{engine},front_end_s=0.025", loads=(1, 16, 64, 256, 512), shapes=SHAPES[:1])
    cal = calibrate(runs, engine=engine, cross_validate=False)
    assert "reserve_gib" not in cal.fitted
    assert "the engine's cap of 128 sequences (max_num_seqs)" in cal.kept["reserve_gib"]
    # the settings the runs ran with are part of the engine given back
    assert cal.engine.startswith("vllm:max_num_seqs=128") and cal.engine_override.startswith("vllm:max_num_seqs=128,")


def test_a_front_end_time_needs_runs_at_two_loads_and_is_told_from_the_prefill_overhead():
    one = calibrate(sweep(loads=(16,), shapes=((2048, 256), (1024, 256), (512, 128))), cross_validate=False)
    assert "front_end_s" not in one.fitted and "two or more concurrencies" in one.kept["front_end_s"]
    # short prompts at low concurrency, every prompt in one step: τPre reaches TTFT scaled by the load model's κP
    # (1.25 on an H100) where f does not, so the runs tell them apart and both come back
    twins = calibrate(sweep(loads=(1, 2, 4), shapes=((128, 64), (256, 64))), cross_validate=False)
    assert twins.constants["front_end_s"] == pytest.approx(0.025, rel=0.02)
    tau_pre = llmxl.catalog.method_defaults("serving").prefill_overhead_s
    assert twins.constants["prefill_overhead_s"] == pytest.approx(tau_pre, rel=0.02)


def test_percentile_figures_are_the_load_models_percentile_of_the_same_p():
    (m,) = sweep(loads=(64,), shapes=SHAPES[:1], figures=("ttft_p90_s", "itl_p99_s", "ttft_s"))
    op90 = operating_point("llama-3.1-8b", GPU, 64, prompt_tokens=2048, completion_tokens=256, dtype="fp8",
                           engine=TRUE_ENGINE, percentile=90)  # fmt: skip
    op99 = operating_point("llama-3.1-8b", GPU, 64, prompt_tokens=2048, completion_tokens=256, dtype="fp8",
                           engine=TRUE_ENGINE, percentile=99)  # fmt: skip
    assert m.metrics == {"ttft_p90_s": op90.ttft_s, "itl_p99_s": op99.itl_s, "ttft_s": op90.ttft_mean_s}
    rate = replace(m, concurrency=None, request_rate=2.0)
    got = _predict(rate, llmxl.get_gpu(GPU), TRUE_ENGINE)
    at = operating_point("llama-3.1-8b", GPU, request_rate=2.0, prompt_tokens=2048, completion_tokens=256,
                         dtype="fp8", engine=TRUE_ENGINE, percentile=90)  # fmt: skip
    assert got["ttft_p90_s"] == at.ttft_s and got["ttft_s"] == at.ttft_mean_s


# --- vllm bench serve's result JSON ----------------------------------------------------------------------


def test_the_vllm_fixture_reads_to_the_expected_measurement():
    (m,) = read_measurements(DATA / "vllm-bench-serve-percentiles.json")
    # model_id from the file; tp, GPU and dtype from its --metadata pairs
    assert (m.model, m.gpu, m.tp, m.dtype, m.concurrency, m.request_rate) == (
        "meta-llama/Llama-3.3-70B-Instruct", GPU, 2, "fp8", 64, None)  # fmt: skip
    assert (m.prompt_tokens, m.completion_tokens) == (2048, 256)  # token totals over the 640 completed
    means = {"ttft_s": 1.6123, "tpot_s": 0.1104, "e2e_s": 29.764, "output_tokens_per_s": 550.89}
    ttft = {"ttft_p50_s": 1.5708, "ttft_p90_s": 2.1405, "ttft_p99_s": 2.8931}
    itl = {"itl_p50_s": 0.0884, "itl_p90_s": 0.1713, "itl_p99_s": 0.4029}
    assert m.metrics == pytest.approx({**means, **ttft, **itl})
    # what the caller names wins over the file's metadata
    (other,) = read_measurements(DATA / "vllm-bench-serve-percentiles.json", tp=4, model="llama-3.1-70b")
    assert (other.tp, other.model) == (4, "llama-3.1-70b")


def _vllm(tmp_path, name="run.json", **change):
    data = json.loads((DATA / "vllm-bench-serve-percentiles.json").read_text())
    data.update(change)
    for k in [k for k, v in change.items() if v is ...]:
        del data[k]
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"tp": ...}, ["tp is missing", "pass tp= (--tp)", "--metadata tp=N"]),
        ({"gpu": ...}, ["gpu is missing", "does not record the GPU", "pass gpu= (--gpu)"]),
        ({"model_id": "/models/my-finetune"}, ["model_id '/models/my-finetune'", "pass model= (--model)"]),
        ({"max_concurrency": None}, ["a burst", "--max-concurrency or --request-rate"]),
        ({"max_concurrency": None, "request_rate": 4.0, "burstiness": 0.5}, ["burstiness=0.5", "Poisson"]),
        ({"ramp_up_strategy": "linear"}, ["ramp_up_strategy='linear'", "one --request-rate"]),
    ],
)
def test_what_a_vllm_file_lacks_is_named_with_the_flag_that_gives_it(tmp_path, change, words):
    with pytest.raises(LlmxlError) as info:
        read_measurements(_vllm(tmp_path, **change))
    assert "\n" not in info.value.message
    for w in words:
        assert w in info.value.message


def test_a_vllm_run_at_a_rate_and_appended_runs(tmp_path):
    (m,) = read_measurements(_vllm(tmp_path, max_concurrency=None, request_rate=2.0))
    assert (m.request_rate, m.concurrency) == (2.0, None)
    lines = [json.loads(_vllm(tmp_path, f"{c}.json", max_concurrency=c).read_text()) for c in (16, 64)]
    appended = tmp_path / "sweep.json"  # vllm bench serve --append-result: one object per line
    appended.write_text("\n".join(json.dumps(x) for x in lines))
    runs = read_measurements(appended)
    assert [r.concurrency for r in runs] == [16, 64] and runs[1].where.endswith("sweep.json run 2")


def _bench_files(tmp_path, runs):
    """vllm bench serve result files holding ``runs`` (as its --percentile-metrics ttft,itl --metric-percentiles
    90 write them), without the tp, GPU and dtype metadata."""
    template = json.loads((DATA / "vllm-bench-serve-percentiles.json").read_text())
    keep = {k: v for k, v in template.items() if not re.match(r"^(mean|median|std|p\d+)_", k)}
    for k in ("tp", "gpu", "dtype"):
        del keep[k]
    paths = []
    for m in runs:
        got = m.metrics
        data = {**keep, "model_id": "meta-llama/Llama-3.1-8B-Instruct", "max_concurrency": m.concurrency,
                "completed": 1000, "total_input_tokens": 1000 * m.prompt_tokens,
                "total_output_tokens": 1000 * m.completion_tokens, "mean_ttft_ms": 1000 * got["ttft_s"],
                "p90_ttft_ms": 1000 * got["ttft_p90_s"], "mean_tpot_ms": 1000 * got["tpot_s"],
                "p90_itl_ms": 1000 * got["itl_p90_s"], "output_throughput": got["output_tokens_per_s"]}  # fmt: skip
        p = tmp_path / f"vllm-{m.prompt_tokens}-c{m.concurrency}.json"
        p.write_text(json.dumps(data))
        paths.append(str(p))
    return paths


def test_the_cli_fits_vllm_files_and_prints_the_engine_text(tmp_path, capsys):
    figures = ("ttft_s", "ttft_p90_s", "tpot_s", "itl_p90_s", "output_tokens_per_s")
    paths = _bench_files(tmp_path, sweep(figures=figures))
    assert main(["calibrate", *paths, "--gpu", GPU, "--dtype", "fp8"]) == 2  # vLLM records no tp
    assert "tp is missing" in capsys.readouterr().err
    assert main(["calibrate", *paths, "--gpu", GPU, "--dtype", "fp8", "--tp", "1"]) == 0
    out = capsys.readouterr().out
    hit = re.search(r"Engine settings fitted: (\S+)", out)
    assert hit and "front_end_s" in out and "reserve_gib" in out
    text = hit.group(1)
    assert f"--engine {text}" in out
    # the printed text, handed back, gives the runs' engine within 2 %
    eng = llmxl.engine("vllm", **dict(p.split("=") for p in text.partition(":")[2].split(",")))
    assert eng.front_end_s == pytest.approx(0.025, rel=0.02) and eng.reserve_gib == pytest.approx(6, rel=0.02)
    assert main(["calibrate", *paths, "--gpu", GPU, "--dtype", "fp8", "--tp", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["engine_override"] == text and data["reserve_range_gib"][0] < 6 <= data["reserve_range_gib"][1]


def test_bad_engine_and_constant_names():
    with pytest.raises(LlmxlError, match="unknown engine 'vllmm'; did you mean 'vllm'"):
        calibrate(sweep(loads=(1, 16)), engine="vllmm")
    with pytest.raises(InvalidInputError, match=r"constant 'reserve' is unknown; choose from .*reserve_gib"):
        calibrate(sweep(loads=(1, 16)), constants=["reserve"])
    with pytest.raises(InvalidInputError, match=r"reserve_gib must be in \[0, 1024\]"):
        llmxl.engine("vllm", reserve_gib=-1)


def test_reserve_gib_replaces_the_profiles_reserves_at_every_tp():
    from llmxl.operating import configured

    def memory(engine, tp):
        return configured("llama-3.1-8b", GPU, tp, 1, "fp8", 1000, 200, None, None, engine).replica.memory

    for tp, profile in ((1, 0.15), (2, 0.55)):  # vLLM: 0.15 GiB, 0.4 GiB more with tp > 1
        base, two = memory("vllm", tp), memory("vllm:reserve_gib=2", tp)
        assert base.reserve_bytes == pytest.approx(profile * 2**30) and two.reserve_bytes == 2 * 2**30
        assert base.kv_budget_bytes - two.kv_budget_bytes == pytest.approx((2 - profile) * 2**30)
        assert two.kv_cache_tokens < base.kv_cache_tokens
    # SGLang's rule keeps no reserve of this kind: one given comes out of the cache its fraction leaves
    base, one = memory("sglang", 1), memory("sglang:reserve_gib=1", 1)
    assert base.kv_budget_bytes - one.kv_budget_bytes == pytest.approx(2**30)
