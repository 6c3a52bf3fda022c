"""The Excel face, llmxl_udfs, loaded with xlwings' real Windows decorators and conversions."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import llmxl

from .conftest import PUBLISHED_COLUMNS, published_rows
from .test_estimate import BAD_INPUTS
from .xlwings_harness import BAS, MISSING, call_as_excel, com_column, functions, generate_bas, windows_xlwings

SCENARIO_FUNCTIONS = [
    "LLM_TTFT",
    "LLM_TPOT",
    "LLM_COMPLETION_TIME",
    "LLM_LATENCY",
    "LLM_TOKENS_PER_SEC",
    "LLM_PRICE_PROMPT",
    "LLM_PRICE_COMPLETION",
    "LLM_PRICE_PROMPT_1M",
    "LLM_PRICE_COMPLETION_1M",
    "LLM_WEIGHTS_GIB",
    "LLM_KV_CACHE_GIB",
    "LLM_MAX_BATCH",
    "LLM_ESTIMATE",
]
ALL_FUNCTIONS = [
    *SCENARIO_FUNCTIONS,
    "LLM_MODELS",
    "LLM_GPUS",
    "LLM_DTYPES",
    "LLM_MODEL_INFO",
    "LLM_GPU_INFO",
    "LLM_VERSION",
    "LLM_OPERATING_POINT",
    "LLM_GPUS_NEEDED",
    "LLM_MONTHLY_COST",
    "LLM_COST_PER_1M",
    "LLM_ENERGY_PER_1M",
    "LLM_OWNED_GPU_HOUR",
    "LLM_API_PRICE",
    "LLM_BREAKEVEN",
    "LLM_PLAN",
    "LLM_FRONTIER",
    "LLM_CALIBRATE",
]
ARG_ORDER = [
    "model",
    "gpu",
    "batch_size",
    "prompt_tokens",
    "completion_tokens",
    "tp",
    "gpu_hour_usd",
    "flops_efficiency",
    "hbm_efficiency",
    "dtype",
    "method",
    "pp",
    "dp",
    "ep",
    "redundant_experts",
    "speculative",
    "prefix_cache_hit",
]
# Published column -> UDF that computes it
PUBLISHED_UDFS = {
    "ttft_s": "LLM_TTFT",
    "completion_time_s": "LLM_COMPLETION_TIME",
    "tokens_per_s": "LLM_TOKENS_PER_SEC",
    "price_per_1k_prompt_usd": "LLM_PRICE_PROMPT",
    "price_per_1k_completion_usd": "LLM_PRICE_COMPLETION",
}


@pytest.fixture(scope="module")
def xl():
    with windows_xlwings() as (module, xlu):
        yield module, xlu


def excel(xl, name, *args):
    return call_as_excel(getattr(xl[0], name), *args)


class TestRegistration:
    def test_every_function_is_registered_with_docs(self, xl):
        found = functions(xl[0])
        assert sorted(found) == sorted(ALL_FUNCTIONS)
        for name, f in found.items():
            meta = f.__xlfunc__
            assert meta["category"] == "llmxl", name
            assert not meta["volatile"], name
            doc = meta["ret"]["doc"]
            assert doc and len(doc) <= 255, name
            assert not re.search(r"(/[\w.-]+){2,}|[A-Za-z]:\\|\.py\b|defined in", doc), name
            for arg in meta["args"]:
                assert not arg["doc"].startswith("Positional argument"), (name, arg["name"])
                assert len(arg["doc"]) <= 255

    def test_scenario_functions_share_one_signature(self, xl):
        for name in SCENARIO_FUNCTIONS:
            meta = getattr(xl[0], name).__xlfunc__
            assert [a["name"] for a in meta["args"]] == ARG_ORDER
            assert [("optional" in a) for a in meta["args"]] == [False] * 5 + [True] * 12
            ranged = {a["name"] for a in meta["args"] if a["options"].get("ndim") == 2}
            assert ranged == {
                "batch_size",
                "prompt_tokens",
                "completion_tokens",
                "gpu_hour_usd",
                "flops_efficiency",
                "hbm_efficiency",
            }

    def test_committed_vba_is_current_and_crlf(self, xl):
        expected = generate_bas(*xl)
        committed = BAS.read_bytes().decode("utf-8")
        assert committed == expected, "run: python tests/xlwings_harness.py"
        assert "\r\n" in committed and "\n" not in committed.replace("\r\n", "")
        for name in ALL_FUNCTIONS:
            assert f"Function {name}(" in committed


class TestPublishedTable:
    @pytest.mark.parametrize("row", published_rows(), ids=lambda r: f"b{r['batch_size']}-s{r['prompt_tokens']}")
    def test_cell_by_cell(self, xl, row):
        args = (
            "llama-2-70b",
            "a100-sxm-80gb",
            float(row["batch_size"]),
            float(row["prompt_tokens"]),
            float(row["completion_tokens"]),
            2.0,
            2.21,
            0.7,
            0.9,
            MISSING,
            "reference",
        )
        for column, udf in PUBLISHED_UDFS.items():
            decimals = PUBLISHED_COLUMNS[column][1]
            assert f"{excel(xl, udf, *args):.{decimals}f}" == row[column], udf

    def test_as_column_ranges(self, xl):
        rows = published_rows()
        cols = [com_column([float(r[k]) for r in rows]) for k in ("batch_size", "prompt_tokens", "completion_tokens")]
        for column, udf in PUBLISHED_UDFS.items():
            decimals = PUBLISHED_COLUMNS[column][1]
            out = excel(xl, udf, " Llama-2-70B ", "a100-sxm-80gb", *cols, "2", 2.21, 0.7, 0.9, None, "reference ")
            assert len(out) == len(rows) and all(len(r) == 1 for r in out)
            assert [f"{r[0]:.{decimals}f}" for r in out] == [r[column] for r in rows], udf

    def test_the_brief_example(self, xl):
        got = excel(xl, "LLM_PRICE_COMPLETION", "llama-2-70b", "a100-sxm-80gb", 8.0, 512.0, 512.0, 2.0, 2.21)
        e = llmxl.estimate(
            "llama-2-70b",
            "a100-sxm-80gb",
            batch_size=8,
            prompt_tokens=512,
            completion_tokens=512,
            tp=2,
            gpu_hour_usd=2.21,
        )
        assert got == e.usd_per_1k_completion_tokens


def test_ten_thousand_row_range_equals_scalar_calls(xl):
    rng = np.random.default_rng(3)
    b = rng.integers(1, 16, 10_000).astype(float).tolist()  # Excel hands over Python floats
    s = rng.integers(1, 3000, 10_000).astype(float).tolist()
    out = excel(xl, "LLM_TOKENS_PER_SEC", "llama-2-70b", "a100-sxm-80gb", com_column(b), com_column(s), 256.0, 2.0)
    assert len(out) == 10_000
    for i in range(0, 10_000, 1):
        if i % 7 and i > 50:
            continue  # every seventh row plus the first fifty: ~1,470 scalar calls
        scalar = excel(xl, "LLM_TOKENS_PER_SEC", "llama-2-70b", "a100-sxm-80gb", b[i], s[i], 256.0, 2.0)
        assert out[i][0] == scalar
    direct = llmxl.estimate(
        "llama-2-70b", "a100-sxm-80gb", tp=2, batch_size=b, prompt_tokens=s, completion_tokens=256
    ).tokens_per_s
    assert [r[0] for r in out] == direct.tolist()


def test_a_row_range_gives_a_row(xl):
    out = excel(xl, "LLM_TTFT", "llama-2-7b", "a100-sxm-80gb", ((1.0, 2.0, 4.0),), 128.0, 16.0)
    assert len(out) == 1 and len(out[0]) == 3


class TestExcelValues:
    def test_blank_optional_arguments_mean_the_defaults(self, xl):
        blank = excel(
            xl, "LLM_TTFT", "llama-2-70b", "a100-sxm-80gb", 1.0, 128.0, 16.0, None, None, None, None, None, None, None
        )
        missing = excel(xl, "LLM_TTFT", "llama-2-70b", "a100-sxm-80gb", 1.0, 128.0, 16.0, *[MISSING] * 7)
        assert isinstance(blank, str) and blank == missing  # tp defaults to 1: weights do not fit
        assert blank.startswith("#NUM! weights need")
        ok = excel(
            xl, "LLM_TTFT", "llama-2-70b", "a100-sxm-80gb", 1.0, 128.0, 16.0, 2.0, None, "", None, " ", None, None
        )
        assert (
            ok == llmxl.estimate("llama-2-70b", "a100-sxm-80gb", tp=2, prompt_tokens=128, completion_tokens=16).ttft_s
        )

    def test_text_numbers_with_spaces_and_float_whole_numbers(self, xl):
        a = excel(xl, "LLM_TTFT", "llama-2-7b", "a100-sxm-80gb", " 4 ", "128", 16.0)
        b = excel(xl, "LLM_TTFT", "llama-2-7b", "a100-sxm-80gb", 4.0, 128.0, 16.0)
        assert a == b and isinstance(a, float)

    def test_blank_range_cells(self, xl):
        out = excel(
            xl,
            "LLM_PRICE_COMPLETION",
            "llama-2-7b",
            "a100-sxm-80gb",
            com_column([1.0, None, 2.0]),
            128.0,
            16.0,
            MISSING,
            com_column([None, 1.0, 3.0]),
        )
        assert out[1][0] == "#VALUE! batch_size is blank; give a whole number ≥ 1"
        catalog_price = llmxl.estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        assert out[0][0] == catalog_price.usd_per_1k_completion_tokens
        assert (
            out[2][0]
            == llmxl.estimate(
                "llama-2-7b", "a100-sxm-80gb", batch_size=2, prompt_tokens=128, completion_tokens=16, gpu_hour_usd=3.0
            ).usd_per_1k_completion_tokens
        )

    def test_no_price_is_a_clear_cell_not_zero(self, xl):
        out = excel(xl, "LLM_PRICE_PROMPT", "llama-2-7b", "a100-sxm-40gb", 1.0, 128.0, 16.0)
        assert out == "#N/A no price for gpu 'a100-sxm-40gb'; give gpu_hour_usd"

    def test_bad_row_shows_its_own_message(self, xl):
        out = excel(
            xl, "LLM_TTFT", "llama-2-70b", "a100-sxm-80gb", com_column([1.0, 2.5, "x", True, 4.0]), 128.0, 16.0, 2.0
        )
        assert isinstance(out[0][0], float) and isinstance(out[4][0], float)
        assert out[1][0] == "#VALUE! batch_size must be a whole number from 1 to 10,000,000, got 2.5"
        assert out[2][0] == "#VALUE! batch_size must be a number, got 'x'"
        assert out[3][0] == "#VALUE! batch_size must be a number, got TRUE"

    def test_estimate_spill(self, xl):
        out = excel(
            xl,
            "LLM_ESTIMATE",
            "llama-2-70b",
            "a100-sxm-80gb",
            1.0,
            3595.0,
            512.0,
            2.0,
            2.21,
            MISSING,
            MISSING,
            MISSING,
            "reference",
        )
        table = dict((r[0], r[1]) for r in out if r[0] != "Warning")
        assert all(len(r) == 2 for r in out)
        assert f"{table['Time to first token [s]']:.3f}" == "0.936"
        assert table["Model"] == "llama-2-70b" and table["Method"] == "reference"
        assert any(r[0] == "Warning" and "4107" in r[1] for r in out)
        assert all("[" in k for k in table if k not in ("Model", "GPU", "Dtype", "Method"))

    def test_catalog_functions(self, xl):
        assert excel(xl, "LLM_MODELS") == [[m] for m in llmxl.models()]
        assert excel(xl, "LLM_GPUS") == [[g] for g in llmxl.gpus()]
        assert excel(xl, "LLM_DTYPES") == [[d] for d in llmxl.dtypes()]
        assert excel(xl, "LLM_MODEL_INFO", "Llama-2-70B", "num_hidden_layers") == 80
        assert excel(xl, "LLM_GPU_INFO", "a100-sxm-80gb", " HBM_BANDWIDTH_GBS ") == 2039
        assert excel(xl, "LLM_GPU_INFO", "h100-sxm-80gb", "int4_tops").startswith("#N/A")
        assert excel(xl, "LLM_GPU_INFO", "a100-sxm-80gb", "speed").startswith("#VALUE! unknown gpu field 'speed'")
        assert excel(xl, "LLM_VERSION") == llmxl.__version__


@pytest.mark.parametrize(
    ("change", "kind", "field", "text"),
    BAD_INPUTS,
    ids=[f"{next(iter(c))}={next(iter(c.values()))}" for c, *_ in BAD_INPUTS],
)
def test_bad_inputs_show_one_line_with_the_excel_error_kind(xl, change, kind, field, text):
    values = dict(
        model="llama-2-70b",
        gpu="a100-sxm-80gb",
        batch_size=1.0,
        prompt_tokens=128.0,
        completion_tokens=64.0,
        tp=2.0,
        gpu_hour_usd=None,
        flops_efficiency=None,
        hbm_efficiency=None,
        dtype=None,
        method=None,
        pp=None,
        dp=None,
        ep=None,
        redundant_experts=None,
        speculative=None,
        prefix_cache_hit=None,
    )
    for k, v in change.items():
        values[k] = float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    for name in ("LLM_TTFT", "LLM_PRICE_COMPLETION"):
        out = excel(xl, name, *(values[k] for k in ARG_ORDER))
        assert isinstance(out, str) and "\n" not in out, out
        assert out.startswith(kind.excel_kind + " "), out
        assert field in out and (text in out or text.upper() in out)  # Excel spells TRUE in capitals
        # the same problem in one row of a range stays in that row
        col = com_column([1.0, values["batch_size"]]) if "batch_size" in change else None
        if col is not None and not (isinstance(values["batch_size"], float) and math.isnan(values["batch_size"])):
            rows = excel(xl, name, *(col if k == "batch_size" else values[k] for k in ARG_ORDER))
            if isinstance(rows, list):
                assert isinstance(rows[0][0], float) and rows[1][0].startswith(kind.excel_kind)


class TestServingMethod:
    """The `method` argument reaches the serving method; new models and fields read in cells."""

    ARGS = ("deepseek-r1", "h200", 32.0, 1024.0, 512.0, 8.0, 4.59, MISSING, MISSING, "fp8", "serving")

    def test_each_scenario_function_equals_the_engine(self, xl):
        e = llmxl.estimate(
            "deepseek-v3",
            "h200-sxm-141gb",
            batch_size=32,
            prompt_tokens=1024,
            completion_tokens=512,
            tp=8,
            gpu_hour_usd=4.59,
            dtype="fp8",
            method="serving",
        )
        for name, attr in (
            ("LLM_TTFT", "ttft_s"),
            ("LLM_TPOT", "tpot_s"),
            ("LLM_COMPLETION_TIME", "completion_time_s"),
            ("LLM_TOKENS_PER_SEC", "tokens_per_s"),
            ("LLM_PRICE_COMPLETION", "usd_per_1k_completion_tokens"),
            ("LLM_MAX_BATCH", "max_batch_size"),
        ):
            assert excel(xl, name, *self.ARGS) == getattr(e, attr), name

    def test_blank_efficiency_cells_in_a_range_take_the_methods_default(self, xl):
        out = excel(
            xl,
            "LLM_TTFT",
            "mixtral-8x7b",
            "h100-sxm-80gb",
            1.0,
            512.0,
            256.0,
            2.0,
            MISSING,
            com_column([None, 0.5]),
            MISSING,
            MISSING,
            "serving",
        )
        default = llmxl.estimate(
            "mixtral-8x7b", "h100-sxm-80gb", tp=2, prompt_tokens=512, completion_tokens=256, method="serving"
        )
        half = llmxl.estimate(
            "mixtral-8x7b",
            "h100-sxm-80gb",
            tp=2,
            prompt_tokens=512,
            completion_tokens=256,
            method="serving",
            flops_efficiency=0.5,
        )
        assert out == [[default.ttft_s], [half.ttft_s]]

    def test_standard_refuses_moe_in_the_cell(self, xl):
        out = excel(xl, "LLM_TTFT", "mixtral-8x7b", "h100-sxm-80gb", 1.0, 512.0, 256.0, 2.0, *[None] * 4, "standard")
        assert out.startswith("#VALUE! mixtral-8x7b has mixture of experts") and "method='serving'" in out

    def test_spill_reports_parameters_and_experts(self, xl):
        out = excel(xl, "LLM_ESTIMATE", *self.ARGS)
        table = dict((r[0], r[1]) for r in out)
        assert table["Method"] == "serving"
        assert table["Parameters, total [billions]"] == pytest.approx(671.03, abs=0.01)
        assert 100 < table["Experts read per decode step [per MoE layer]"] < 256
        dense = dict((r[0], r[1]) for r in excel(xl, "LLM_ESTIMATE", "llama-3.1-8b", "h100-sxm-80gb", 1.0, 128.0, 16.0))
        assert dense["Experts read per decode step [per MoE layer]"] == "n/a: a dense model"

    def test_model_info_reads_nested_parts_and_counts(self, xl):
        assert excel(xl, "LLM_MODEL_INFO", "openai/gpt-oss-120b", "moe.num_experts") == 128
        assert excel(xl, "LLM_MODEL_INFO", "gpt-oss-120b", "attention.sliding_window") == 128
        assert excel(xl, "LLM_MODEL_INFO", "deepseek-v3", "mla.kv_lora_rank") == 512
        assert (
            excel(xl, "LLM_MODEL_INFO", "llama-3.1-8b", "moe.num_experts") == "#N/A llama-3.1-8b has no moe.num_experts"
        )
        assert (
            excel(xl, "LLM_MODEL_INFO", "qwen3-30b-a3b", "active_parameters")
            == llmxl.get_model("qwen3-30b-a3b").active_parameters
        )
        assert excel(xl, "LLM_GPU_INFO", "b200", "fp4_tflops") == 9000


class TestPlanning:
    """The capacity-planning functions equal llmxl.plan and friends (the methodology's planning worked check)."""

    BASE = ("llama-3.1-70b", "h100-sxm-80gb", 5.0, 15.0, 1000.0, 300.0)
    TAIL = (0.5, 0.05, 2.0, "fp8")  # ttft, itl, tp, dtype

    def _plan(self, **kw):
        return llmxl.plan("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
                          completion_tokens=300, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
                          itl_s_max=0.05, **kw).best  # fmt: skip

    def test_gpus_monthly_cost_and_cost_per_1m(self, xl):
        best = self._plan(gpu_hour_usd=3.99)
        assert excel(xl, "LLM_GPUS_NEEDED", *self.BASE, 3.99, *self.TAIL) == best.num_gpus
        assert excel(xl, "LLM_MONTHLY_COST", *self.BASE, 3.99, *self.TAIL) == best.monthly_usd
        for kind, attr in (("prompt", "usd_per_1m_prompt_tokens"), ("completion", "usd_per_1m_completion_tokens"),
                           (MISSING, "usd_per_1m_blended")):  # fmt: skip
            assert excel(xl, "LLM_COST_PER_1M", *self.BASE, kind, 3.99, *self.TAIL) == getattr(best, attr)

    def test_owned_gpu_hour_composes(self, xl):
        owned = excel(xl, "LLM_OWNED_GPU_HOUR", 30000.0, 5.0, 1.0, 1.3, 0.08, 4500.0)
        assert owned == llmxl.owned_gpu_hour_usd(30000, 5, 1.0, 1.3, 0.08, 4500)
        assert excel(xl, "LLM_MONTHLY_COST", *self.BASE, owned, *self.TAIL) == self._plan(owned=owned).monthly_usd

    def test_a_range_of_traffic_gives_the_staircase(self, xl):
        out = excel(xl, "LLM_MONTHLY_COST", "llama-3.1-70b", "h100-sxm-80gb", com_column([1.0, 5.0, 50.0]), MISSING,
                    1000.0, 300.0, 3.99, *self.TAIL)  # fmt: skip
        assert [r[0] for r in out] == sorted(r[0] for r in out) and out[0][0] < out[2][0]

    def test_operating_point_spill(self, xl):
        out = dict((r[0], r[1]) for r in excel(xl, "LLM_OPERATING_POINT", "llama-3.1-70b", "h100-sxm-80gb", 16.0,
                                               1000.0, 300.0, 2.0, "fp8"))  # fmt: skip
        op = llmxl.operating_point("llama-3.1-70b", "h100-sxm-80gb", 16, tp=2, dtype="fp8", prompt_tokens=1000,
                                   completion_tokens=300)  # fmt: skip
        assert out["Requests/s of one replica"] == op.requests_per_s
        assert out["Inter-token latency p90 [s]"] == op.itl_s and out["Engine"] == "vllm"
        assert out["Time to first token, mean [s]"] == op.ttft_mean_s

    def test_every_planning_function_takes_the_engine_and_percentile(self, xl):
        shape = dict(tp=2, dtype="fp8", prompt_tokens=1000, completion_tokens=300)
        out = dict((r[0], r[1]) for r in excel(xl, "LLM_OPERATING_POINT", "llama-3.1-70b", "h100-sxm-80gb", 16.0,
                                               1000.0, 300.0, 2.0, "fp8", MISSING, "sglang", 50.0))  # fmt: skip
        op = llmxl.operating_point("llama-3.1-70b", "h100-sxm-80gb", 16, engine="sglang", percentile=50, **shape)
        assert (out["Engine"], out["Percentile"], out["Time to first token p50 [s]"]) == ("sglang", 50.0, op.ttft_s)
        p = llmxl.plan("llama-3.1-70b", "h100-sxm-80gb", requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
                       itl_s_max=0.05, gpu_hour_usd=3.99, engine="sglang:max_running_requests=64", percentile=99,
                       **shape)  # fmt: skip
        gpus = excel(xl, "LLM_GPUS_NEEDED", "llama-3.1-70b", "h100-sxm-80gb", 5.0, 15.0, 1000.0, 300.0, 3.99, 0.5,
                     0.05, 2.0, "fp8", MISSING, MISSING, "sglang:max_running_requests=64", 99.0)  # fmt: skip
        assert gpus == p.best.num_gpus
        default = llmxl.plan("llama-3.1-70b", "h100-sxm-80gb", requests_per_s=5, peak_requests_per_s=15,
                             ttft_s_max=0.5, itl_s_max=0.05, gpu_hour_usd=3.99, **shape)  # fmt: skip
        assert (p.best.concurrency, p.best.percentile) != (default.best.concurrency, default.best.percentile)
        table = excel(xl, "LLM_PLAN", "llama-3.1-70b", "h100-sxm-80gb", 5.0, 15.0, 1000.0, 300.0, 3.99, 0.5, 0.05,
                      2.0, "fp8", MISSING, MISSING, MISSING, MISSING, MISSING, "sglang:max_running_requests=64", 99.0)  # fmt: skip
        row = dict(zip(table[0], table[1], strict=True))
        assert (row["Engine"], row["Percentile"], row["Concurrency"]) == ("sglang", 99.0, p.best.concurrency)
        assert excel(xl, "LLM_GPUS_NEEDED", "llama-3.1-70b", "h100-sxm-80gb", 5.0, 15.0, 1000.0, 300.0, 3.99, 0.5,
                     0.05, 2.0, "fp8", MISSING, MISSING, "vlm") == "#N/A unknown engine 'vlm'; did you mean 'vllm'?"  # fmt: skip
        assert excel(xl, "LLM_GPUS_NEEDED", "llama-3.1-70b", "h100-sxm-80gb", 5.0, 15.0, 1000.0, 300.0, 3.99, 0.5,
                     0.05, 2.0, "fp8", MISSING, MISSING, MISSING, 100.0).startswith("#VALUE! percentile")  # fmt: skip

    def test_api_price_and_breakeven(self, xl):
        assert excel(xl, "LLM_API_PRICE", "llama-3.3-70b", "together", "prompt") == 0.88
        assert excel(xl, "LLM_API_PRICE", "gpt-oss-120b", "groq") == pytest.approx((3 * 0.15 + 0.60) / 4)
        b = llmxl.breakeven("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
                            completion_tokens=300, peak_factor=3, api=(3.0, 3.0), ttft_s_max=0.5, itl_s_max=0.05,
                            gpu_hour_usd=3.99)  # fmt: skip
        got = excel(xl, "LLM_BREAKEVEN", "llama-3.1-70b", "h100-sxm-80gb", 1000.0, 300.0, 3.0, 3.0, 3.0, 3.99,
                    0.5, 0.05, 2.0, "fp8")  # fmt: skip
        assert b.requests_per_s and got == b.requests_per_s
        together = llmxl.breakeven("llama-3.3-70b", "h100-sxm-80gb", tp=2, dtype="fp8", prompt_tokens=1000,
                                   completion_tokens=300, peak_factor=3, api="together", ttft_s_max=0.5,
                                   itl_s_max=0.05, gpu_hour_usd=3.99)  # fmt: skip
        by_name = excel(xl, "LLM_BREAKEVEN", "llama-3.3-70b", "h100-sxm-80gb", 1000.0, 300.0, 3.0, "Together",
                        MISSING, 3.99, 0.5, 0.05, 2.0, "fp8")  # fmt: skip
        if together.requests_per_s is None:  # the API costs less at every traffic: the cell says why
            assert by_name == f"#N/A {together.reason}"
        else:
            assert by_name == pytest.approx(together.requests_per_s)

    def test_plan_spills_a_table_with_a_header(self, xl):
        out = excel(xl, "LLM_PLAN", "llama-3.1-70b", (("h100-sxm-80gb", "b200"),), 5.0, 15.0, 1000.0, 300.0,
                    MISSING, 0.5, 0.05, MISSING, "fp8")  # fmt: skip
        assert out[0][:3] == ["GPU", "tp", "Dtype"] and out[0][-1] == "Why not"
        assert len(out) == 1 + 8 and all(len(r) == len(out[0]) for r in out)
        p = llmxl.plan("llama-3.1-70b", ["h100-sxm-80gb", "b200"], dtype="fp8", prompt_tokens=1000,
                       completion_tokens=300, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
                       itl_s_max=0.05)  # fmt: skip
        row = dict(zip(out[0], out[1], strict=True))
        assert (row["GPU"], row["Monthly cost [USD]"], row["Engine"]) == (p.best.gpu, p.best.monthly_usd, "vllm")

    @pytest.mark.parametrize(
        ("name", "args", "text"),
        [
            ("LLM_MONTHLY_COST", ("llama-3.1-70b", "h100-sxm-80gb", 0.0, MISSING, 1000.0, 300.0),
             "#VALUE! requests_per_s must be > 0"),
            ("LLM_MONTHLY_COST", ("llama-3.1-70b", "h100-sxm-80gb", 5.0, 2.0, 1000.0, 300.0),
             "#VALUE! peak_requests_per_s 2 is below the average 5"),
            ("LLM_MONTHLY_COST", ("llama-3.1-70b", "a100-sxm-40gb", 5.0, MISSING, 1000.0, 300.0),
             "#VALUE! gpu 'a100-sxm-40gb' has no catalog price"),
            ("LLM_API_PRICE", ("llama-3.3-70b", "togethr"), "#N/A unknown api provider 'togethr'; did you mean"),
            ("LLM_OWNED_GPU_HOUR", (30000.0, 5.0, 1.0, 0.5, 0.08), "#VALUE! pue must be ≥ 1"),
            ("LLM_GPUS_NEEDED", ("llama-3.1-70b", "a100-sxm-80gb", 5.0, MISSING, 1000.0, 300.0, 2.0, 0.001),
             "#N/A no configuration meets the target: even at concurrency 1, p90 time to first token"),
        ],
    )  # fmt: skip
    def test_bad_input_is_one_line_in_the_cell(self, xl, name, args, text):
        out = excel(xl, name, *args)
        assert isinstance(out, str) and out.startswith(text) and "\n" not in out


NA, DIV0 = -2146826246, -2146826281  # how COM hands over #N/A and #DIV/0! cells


class TestExcelErrorCells:
    """An error cell is an error, never a blank that quietly takes the default (issue: reliability)."""

    def test_an_error_in_the_price_is_not_the_catalog_price(self, xl):
        out = excel(xl, "LLM_PRICE_COMPLETION", "llama-2-70b", "a100-sxm-80gb", 1.0, 128.0, 16.0, 2.0, DIV0)
        assert out.startswith("#VALUE! gpu_hour_usd points at a cell showing #DIV/0!")

    def test_an_error_in_tp_is_not_tp_1(self, xl):
        out = excel(xl, "LLM_TTFT", "llama-2-70b", "a100-sxm-80gb", 1.0, 128.0, 16.0, NA)
        assert out.startswith("#VALUE! tp points at a cell showing #N/A")

    def test_an_error_in_a_name_or_a_range_row(self, xl):
        assert excel(xl, "LLM_TTFT", NA, "a100-sxm-80gb", 1.0, 128.0, 16.0).startswith("#VALUE! model points at")
        out = excel(xl, "LLM_TTFT", "llama-2-7b", "a100-sxm-80gb", com_column([1.0, NA, 4.0]), 128.0, 16.0)
        assert isinstance(out[0][0], float) and isinstance(out[2][0], float)
        assert out[1][0].startswith("#VALUE! batch_size points at a cell showing #N/A")

    def test_planning_functions_refuse_error_cells_too(self, xl):
        out = excel(xl, "LLM_MONTHLY_COST", "llama-3.1-8b", "h100-sxm-80gb", 5.0, MISSING, 1000.0, 300.0, NA)
        assert out.startswith("#VALUE! gpu_hour_usd points at a cell showing #N/A")
