"""llmxl.estimate against the published table, methodology.md's worked check, and its own contracts."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import llmxl
from llmxl import DoesNotFitError, InvalidInputError, LlmxlError, UnknownNameError, catalog, estimate
from llmxl.checks import check_method
from llmxl.result import COMPONENTS as _COMPONENTS

from .conftest import PUBLISHED_COLUMNS, published_rows

REF = dict(tp=2, flops_efficiency=0.7, hbm_efficiency=0.9, gpu_hour_usd=2.21, method="reference")


class TestPublishedTable:
    """shared/reference/llama2-70b-a100-fe0.7-hbm0.9.csv, equal at its printed precision."""

    @pytest.mark.parametrize("row", published_rows(), ids=lambda r: f"b{r['batch_size']}-s{r['prompt_tokens']}")
    def test_row_scalar(self, row):
        e = estimate(
            "llama-2-70b",
            "a100-sxm-80gb",
            batch_size=int(row["batch_size"]),
            prompt_tokens=int(row["prompt_tokens"]),
            completion_tokens=int(row["completion_tokens"]),
            **REF,
        )
        for column, (attr, decimals) in PUBLISHED_COLUMNS.items():
            assert f"{getattr(e, attr):.{decimals}f}" == row[column], column

    def test_all_rows_in_one_vectorised_call(self):
        rows = published_rows()
        b, s, n = (np.array([float(r[k]) for r in rows]) for k in ("batch_size", "prompt_tokens", "completion_tokens"))
        e = estimate("llama-2-70b", "a100-sxm-80gb", batch_size=b, prompt_tokens=s, completion_tokens=n, **REF)
        for column, (attr, decimals) in PUBLISHED_COLUMNS.items():
            got = [f"{v:.{decimals}f}" for v in getattr(e, attr)]
            assert got == [r[column] for r in rows], column

    def test_context_overrun_row_is_a_warning(self):
        e = estimate("llama-2-70b", "a100-sxm-80gb", batch_size=1, prompt_tokens=3595, completion_tokens=512, **REF)
        assert len(e.warnings) == 1
        assert "4107" in e.warnings[0] and "4096" in e.warnings[0]


class TestWorkedCheck:
    """methodology.md, 'Worked check', to 1e-6 relative."""

    EXPECTED = {
        "reference": (0.0399666, 9.42486, 25.5683, 0.00038336, 0.0478167),
        "standard": (0.0421263, 9.42486, 25.5625, 0.000404076, 0.0478167),
    }

    @pytest.mark.parametrize("method", ["reference", "standard"])
    def test_first_row(self, method):
        e = estimate(
            "llama-2-70b",
            "a100-sxm-80gb",
            tp=2,
            batch_size=1,
            prompt_tokens=128,
            completion_tokens=242,
            gpu_hour_usd=2.21,
            method=method,
        )
        got = (
            e.ttft_s,
            e.completion_time_s,
            e.tokens_per_s,
            e.usd_per_1k_prompt_tokens,
            e.usd_per_1k_completion_tokens,
        )
        for g, x in zip(got, self.EXPECTED[method], strict=True):
            # The document prints 6 significant figures: compare at that precision.
            assert g == pytest.approx(x, rel=1e-6, abs=0.5 * 10 ** (math.floor(math.log10(x)) - 5))

    def test_serving_is_default_with_its_fitted_efficiencies(self):
        e = estimate("llama-2-70b", "a100-sxm-80gb", tp=2, prompt_tokens=128, completion_tokens=242)
        fitted = catalog.method_defaults("serving")
        assert e.method == "serving" and e.batch_size == 1
        assert (e.flops_efficiency, e.hbm_efficiency) == (fitted.flops_efficiency, fitted.hbm_efficiency)
        assert check_method("") == "serving" and check_method(" Standard ") == "standard"


class TestVectorised:
    def test_arrays_equal_scalar_calls_elementwise(self):
        rng = np.random.default_rng(7)
        b = rng.integers(1, 33, 40).astype(float)
        s = rng.integers(1, 2000, 40).astype(float)
        n = rng.integers(1, 1000, 40).astype(float)
        fe = rng.uniform(0.2, 1.0, 40)
        price = rng.uniform(0.5, 5.0, 40)
        for method in ("standard", "reference"):
            v = estimate(
                "llama-2-70b",
                "h100-sxm-80gb",
                tp=4,
                batch_size=b,
                prompt_tokens=s,
                completion_tokens=n,
                flops_efficiency=fe,
                gpu_hour_usd=price,
                method=method,
            )
            for i in range(40):
                e = estimate(
                    "llama-2-70b",
                    "h100-sxm-80gb",
                    tp=4,
                    batch_size=int(b[i]),
                    prompt_tokens=int(s[i]),
                    completion_tokens=int(n[i]),
                    flops_efficiency=float(fe[i]),
                    gpu_hour_usd=float(price[i]),
                    method=method,
                )
                for name in (
                    "ttft_s",
                    "tpot_s",
                    "completion_time_s",
                    "e2e_latency_s",
                    "tokens_per_s",
                    "prefill_tokens_per_s",
                    "decode_tokens_per_s",
                    "usd_per_1k_prompt_tokens",
                    "usd_per_1k_completion_tokens",
                    "kv_cache_bytes_per_gpu",
                    "activation_bytes_per_gpu",
                    "max_batch_size",
                ):
                    assert getattr(v, name)[i] == getattr(e, name), (name, i)
                assert v.breakdown.decode.kv_cache_s[i] == e.breakdown.decode.kv_cache_s

    def test_broadcast_shape_and_2d(self):
        b = np.array([[1.0], [2.0], [4.0]])
        s = np.array([128.0, 512.0])
        e = estimate("llama-2-7b", "a100-sxm-80gb", batch_size=b, prompt_tokens=s, completion_tokens=64)
        assert e.ttft_s.shape == (3, 2)
        assert e.batch_size.shape == (3, 2)
        assert (
            e.ttft_s[2, 1]
            == estimate("llama-2-7b", "a100-sxm-80gb", batch_size=4, prompt_tokens=512, completion_tokens=64).ttft_s
        )

    def test_a_million_scenarios(self):
        n = 1_000_000
        rng = np.random.default_rng(0)
        e = estimate(
            "llama-3.1-8b",
            "h100-sxm-80gb",
            batch_size=rng.integers(1, 64, n),
            prompt_tokens=rng.integers(1, 4096, n),
            completion_tokens=rng.integers(1, 4096, n),
        )
        assert e.tokens_per_s.shape == (n,)
        assert np.all(np.isfinite(e.tokens_per_s))

    def test_array_results_are_read_only_and_breakdown_has_the_full_shape(self):
        for batch, on_error in (([1, 2], "raise"), ([1, 4096], "nan")):  # the second has a failed row
            e = estimate(
                "llama-2-70b",
                "a100-sxm-80gb",
                tp=2,
                batch_size=batch,
                prompt_tokens=512,
                completion_tokens=512,
                on_error=on_error,
            )
            parts = [getattr(p, f) for p in (e.breakdown.prefill, e.breakdown.decode) for f in _COMPONENTS]
            for arr in (e.ttft_s, e.tpot_s, *parts):
                assert arr.shape == (2,)
                with pytest.raises(ValueError):
                    arr[0] = 1.0
        assert np.isnan(e.breakdown.prefill.attention_s[1]) and np.isfinite(e.breakdown.prefill.attention_s[0])

    def test_shapes_that_do_not_broadcast(self):
        with pytest.raises(InvalidInputError, match="broadcast"):
            estimate("llama-2-7b", "a100-sxm-80gb", batch_size=[1, 2], prompt_tokens=[1, 2, 3], completion_tokens=1)


class TestResult:
    def test_breakdown_sums_to_latencies(self):
        e = estimate("llama-2-70b", "a100-sxm-80gb", tp=2, batch_size=4, prompt_tokens=512, completion_tokens=64)
        assert e.breakdown.prefill.total_s == pytest.approx(e.ttft_s, rel=1e-12)
        assert e.breakdown.decode.total_s == pytest.approx(e.tpot_s, rel=1e-12)
        assert e.breakdown.prefill.kv_cache_s == 0
        assert e.breakdown.decode.communication_s > 0

    def test_single_gpu_has_no_communication(self):
        e = estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        assert e.breakdown.prefill.communication_s == 0 and e.num_gpus == 1

    def test_immutable(self):
        e = estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        with pytest.raises(AttributeError):
            e.ttft_s = 1.0  # type: ignore[misc]

    def test_to_dict_has_every_field(self):
        d = estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16).to_dict()
        for key in (
            "ttft_s",
            "tpot_s",
            "completion_time_s",
            "e2e_latency_s",
            "tokens_per_s",
            "prefill_tokens_per_s",
            "decode_tokens_per_s",
            "usd_per_1k_prompt_tokens",
            "usd_per_1k_completion_tokens",
            "weight_bytes_per_gpu",
            "kv_cache_bytes_per_gpu",
            "activation_bytes_per_gpu",
            "max_batch_size",
            "num_gpus",
            "warnings",
            "breakdown",
        ):
            assert key in d
        assert set(d["breakdown"]) == {"prefill", "decode"}

    def test_catalog_price_is_the_default(self):
        gpu = llmxl.get_gpu("a100-sxm-80gb")
        e = estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        assert e.gpu_hour_usd == gpu.usd_per_hour
        explicit = estimate(
            "llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16, gpu_hour_usd=gpu.usd_per_hour
        )
        assert e.usd_per_1k_completion_tokens == explicit.usd_per_1k_completion_tokens

    def test_no_price_means_none_not_zero(self):
        assert llmxl.get_gpu("a100-sxm-40gb").usd_per_hour is None
        e = estimate("llama-2-7b", "a100-sxm-40gb", prompt_tokens=128, completion_tokens=16)
        assert e.usd_per_1k_prompt_tokens is None and e.usd_per_1k_completion_tokens is None
        v = estimate("llama-2-7b", "a100-sxm-40gb", batch_size=[1, 2], prompt_tokens=128, completion_tokens=16)
        assert v.usd_per_1k_completion_tokens is None

    def test_max_batch_size_is_the_edge_of_fitting(self):
        kw = dict(tp=2, prompt_tokens=512, completion_tokens=512)
        mb = estimate("llama-2-70b", "a100-sxm-80gb", **kw).max_batch_size
        estimate("llama-2-70b", "a100-sxm-80gb", batch_size=mb, **kw)
        with pytest.raises(DoesNotFitError):
            estimate("llama-2-70b", "a100-sxm-80gb", batch_size=mb + 1, **kw)

    def test_standard_pipeline_stages_hold_only_their_layers(self):
        kw = dict(prompt_tokens=128, completion_tokens=16, tp=2)
        ref = estimate("llama-2-70b", "a100-sxm-80gb", pp=2, method="reference", **kw)
        std = estimate("llama-2-70b", "a100-sxm-80gb", pp=2, method="standard", **kw)
        assert std.weight_bytes_per_gpu < 0.55 * ref.weight_bytes_per_gpu
        assert std.num_gpus == 4

    def test_model_as_dict_and_config_json(self, tmp_path):
        cfg = {
            "model_type": "opt",
            "num_hidden_layers": 40,
            "hidden_size": 5120,
            "num_attention_heads": 40,
            "ffn_dim": 20480,
            "vocab_size": 50272,
            "max_position_embeddings": 2048,
        }
        from_dict = estimate(cfg, "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        path = tmp_path / "config.json"
        path.write_text(__import__("json").dumps(cfg))
        from_file = estimate(str(path), "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        catalog = estimate("opt-13b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        assert from_dict.ttft_s == from_file.ttft_s == catalog.ttft_s

    def test_an_edited_config_json_is_read_again(self, tmp_path):
        cfg = {
            "model_type": "llama",
            "num_hidden_layers": 4,
            "hidden_size": 256,
            "num_attention_heads": 4,
            "intermediate_size": 512,
            "vocab_size": 1000,
            "max_position_embeddings": 2048,
        }
        path = tmp_path / "config.json"
        path.write_text(__import__("json").dumps(cfg))
        first = estimate(str(path), "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        path.write_text(__import__("json").dumps({**cfg, "num_hidden_layers": 8}))
        second = estimate(str(path), "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16)
        assert second.weight_bytes_per_gpu > first.weight_bytes_per_gpu

    def test_gpu_as_dict_needs_no_name(self):
        spec = llmxl.get_gpu("a100-sxm-80gb").model_dump(
            include={"memory_gib", "hbm_bandwidth_gbs", "fp16_tflops", "int8_tops", "int4_tops", "interconnect_gbs"}
        )
        a = estimate("llama-2-7b", spec, prompt_tokens=128, completion_tokens=16, gpu_hour_usd=1.0)
        b = estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=128, completion_tokens=16, gpu_hour_usd=1.0)
        assert a.ttft_s == b.ttft_s and a.gpu == "custom-gpu"

    def test_on_error_nan_keeps_good_rows(self):
        e = estimate(
            "llama-2-70b",
            "a100-sxm-80gb",
            tp=2,
            batch_size=[1, 2.5, 1, 200],
            prompt_tokens=[128, 128, 9000, 512],
            completion_tokens=512,
            on_error="nan",
        )
        assert np.isfinite(e.ttft_s[0]) and e.errors[0] is None
        assert np.isnan(e.ttft_s[1]) and isinstance(e.errors[1], InvalidInputError)
        assert str(e.errors[1]) == "batch_size must be a whole number from 1 to 10,000,000, got 2.5"
        assert "context" in str(e.errors[2])
        assert (
            np.isnan(e.tokens_per_s[3]) and isinstance(e.errors[3], DoesNotFitError) and "KV cache" in str(e.errors[3])
        )


BAD_INPUTS = [
    ({"model": "llama-2-700b"}, UnknownNameError, "model", "did you mean"),
    ({"gpu": "h100"}, UnknownNameError, "gpu", "did you mean 'h100"),
    ({"dtype": "fp12"}, UnknownNameError, "dtype", "fp12"),
    ({"method": "fast"}, UnknownNameError, "method", "'standard'"),
    ({"batch_size": 0}, InvalidInputError, "batch_size", "from 1 to 10,000,000, got 0"),
    ({"batch_size": -3}, InvalidInputError, "batch_size", "got -3"),
    ({"batch_size": 2.5}, InvalidInputError, "batch_size", "got 2.5"),
    ({"batch_size": float("nan")}, InvalidInputError, "batch_size", "nan"),
    ({"batch_size": float("inf")}, InvalidInputError, "batch_size", "inf"),
    ({"batch_size": True}, InvalidInputError, "batch_size", "True"),
    ({"batch_size": "eight"}, InvalidInputError, "batch_size", "'eight'"),
    ({"prompt_tokens": 0}, InvalidInputError, "prompt_tokens", "from 1 to 1,000,000,000, got 0"),
    ({"prompt_tokens": 12.5}, InvalidInputError, "prompt_tokens", "12.5"),
    ({"completion_tokens": 0}, InvalidInputError, "completion_tokens", "from 1 to 1,000,000,000, got 0"),
    ({"completion_tokens": "x"}, InvalidInputError, "completion_tokens", "'x'"),
    ({"prompt_tokens": 5000}, InvalidInputError, "prompt_tokens", "context of 4096"),
    ({"tp": 3}, InvalidInputError, "tp", "64 attention heads"),
    ({"tp": 0}, InvalidInputError, "tp", "from 1 to"),
    ({"pp": 0}, InvalidInputError, "pp", "from 1 to"),
    ({"flops_efficiency": 0}, InvalidInputError, "flops_efficiency", "[0.0001, 1]"),
    ({"flops_efficiency": 1.5}, InvalidInputError, "flops_efficiency", "1.5"),
    ({"hbm_efficiency": -0.1}, InvalidInputError, "hbm_efficiency", "-0.1"),
    ({"gpu_hour_usd": -1.0}, InvalidInputError, "gpu_hour_usd", "-1"),
    ({"tp": 1}, DoesNotFitError, "weights", "try tp=2"),
    ({"batch_size": 512, "prompt_tokens": 4000, "completion_tokens": 1}, DoesNotFitError, "prompt activations", "GiB"),
    ({"batch_size": 64, "prompt_tokens": 2048, "completion_tokens": 2048}, DoesNotFitError, "KV cache", "batch_size ≤"),
    ({"dtype": "int4", "gpu": "h100-sxm-80gb"}, InvalidInputError, "dtype", "int4 tensor cores"),
]


def test_small_activations_are_given_in_mib_not_as_zero_gib():
    with pytest.raises(DoesNotFitError) as info:
        estimate("llama-3.1-70b", "a100-sxm-80gb", tp=2, batch_size=49, prompt_tokens=1280, completion_tokens=640)
    assert re.search(r"plus \d+\.\d MiB activations", str(info.value)) and "0.0 GiB" not in str(info.value)


def test_a_batch_just_too_large_names_the_largest_that_fits_in_figures_that_differ():
    kw = dict(tp=2, prompt_tokens=16, completion_tokens=1)  # a few MiB per sequence: the edge is fine-grained
    with pytest.raises(DoesNotFitError) as info:
        estimate("llama-2-70b", "a100-sxm-80gb", batch_size=100_000, **kw)
    largest = int(re.search(r"batch_size ≤ (\d+)", str(info.value)).group(1))
    assert estimate("llama-2-70b", "a100-sxm-80gb", batch_size=largest, **kw).tpot_s > 0
    with pytest.raises(DoesNotFitError) as info:
        estimate("llama-2-70b", "a100-sxm-80gb", batch_size=largest + 1, **kw)
    need, left = (float(x) for x in re.findall(r"([\d.]+) GiB", str(info.value))[:2])
    assert need > left, str(info.value)  # one decimal would print the same figure twice


@pytest.mark.parametrize(
    ("change", "kind", "field", "text"),
    BAD_INPUTS,
    ids=[f"{next(iter(c))}={next(iter(c.values()))}" for c, *_ in BAD_INPUTS],
)
def test_bad_input_gives_one_line_naming_the_field(change, kind, field, text):
    kw = dict(model="llama-2-70b", gpu="a100-sxm-80gb", tp=2, batch_size=1, prompt_tokens=128, completion_tokens=64)
    kw.update(change)
    model, gpu = kw.pop("model"), kw.pop("gpu")
    with pytest.raises(kind) as info:
        estimate(model, gpu, **kw)
    message = str(info.value)
    assert isinstance(info.value, LlmxlError)
    assert "\n" not in message
    assert field in message and text in message


def test_array_error_names_the_element():
    with pytest.raises(
        InvalidInputError, match=r"batch_size\[2\] must be a whole number from 1 to 10,000,000, got 0.5"
    ):
        estimate("llama-2-7b", "a100-sxm-80gb", batch_size=[1, 2, 0.5], prompt_tokens=1, completion_tokens=1)


def test_weights_error_says_gib_needed_and_available():
    with pytest.raises(
        # serving counts every parameter: 68.98e9 × 2 bytes = 128.5 GiB (the roofline methods: 128.0)
        DoesNotFitError,
        match=r"weights need 128\.5 GiB per GPU but a100-sxm-80gb has 80 GiB; try tp=2",
    ):
        estimate("llama-2-70b", "a100-sxm-80gb", prompt_tokens=1, completion_tokens=1)
