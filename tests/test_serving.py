"""The `serving` method (llmxl/serving.py): worked checks, vectorisation, properties, catalog and configs.

Expected figures are the worked checks printed in docs/methodology.md ("Worked check
(serving)"), six significant digits; weights are printed in full.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import CatalogError, InvalidInputError, LlmxlError, ModelSpec, estimate

# GPUs of the worked checks: datasheet figures, with the check's serving constants.
A100 = {"memory_gib": 80, "hbm_bandwidth_gbs": 2039, "fp16_tflops": 312, "int8_tops": 624, "interconnect_gbs": 300}
H100 = {
    "memory_gib": 80,
    "hbm_bandwidth_gbs": 3350,
    "fp16_tflops": 989,
    "fp8_tflops": 1979,
    "int8_tops": 1979,
    "interconnect_gbs": 450,
}
H200 = {**H100, "memory_gib": 141, "hbm_bandwidth_gbs": 4800}
ZERO = {"allreduce_latency_s": 8e-6, "layer_overhead_s": 0, "prefill_overhead_s": 0, "decode_overhead_s": 0}
C1 = {"allreduce_latency_s": 2e-5, "layer_overhead_s": 1e-5, "prefill_overhead_s": 2e-3, "decode_overhead_s": 2e-3}
C2 = {**C1, "prefill_overhead_s": 8e-3, "decode_overhead_s": 5e-4}

# (model, gpu, tp, pp, dtype, b, s, n, $/GPU-h) -> printed results
WORKED = [
    (
        ("llama-2-70b", {**A100, **ZERO}, 2, 1, "w16a16e16", 1, 128, 242, 2.21),
        {
            "weight_bytes_per_gpu": 68_975_345_664,
            "ttft_s": 0.0427087,
            "tpot_s": 0.0387549,
            "completion_time_s": 9.33992,
            "tokens_per_s": 25.7923,
            "usd_per_1k_prompt_tokens": 0.000409662,
            "usd_per_1k_completion_tokens": 0.0475823,
            "max_batch_size": 279,
        },
    ),
    (
        ("llama-2-70b", {**A100, **C1}, 2, 1, "w16a16e16", 8, 512, 512, 2.21),
        {
            "ttft_s": 1.33201,
            "tpot_s": 0.0440626,
            "tokens_per_s": 171.754,
            "usd_per_1k_completion_tokens": 0.00676239,
            "max_batch_size": 100,
        },
    ),
    *[
        (
            (model, {**gpu, **C1}, t, 1, dtype, b, s, n, price),
            {
                "weight_bytes_per_gpu": w,
                "ttft_s": ttft,
                "tpot_s": tpot,
                "tokens_per_s": tps,
                "usd_per_1k_completion_tokens": usd,
                "max_batch_size": mb,
            },
        )
        for model, gpu, t, dtype, b, s, n, price, w, ttft, tpot, tps, usd, mb in [
            (
                "mixtral-8x7b",
                H100,
                2,
                "w16a16e16",
                1,
                512,
                256,
                3.99,
                4.67036e10,
                0.0202406,
                0.00784382,
                126.707,
                0.0173871,
                778,
            ),
            (
                "mixtral-8x7b",
                H100,
                2,
                "w16a16e16",
                64,
                512,
                256,
                3.99,
                4.67036e10,
                0.642266,
                0.0200125,
                2851.64,
                0.000693142,
                778,
            ),
            (
                "deepseek-v3",
                H200,
                8,
                "fp8",
                1,
                1024,
                512,
                4.59,
                8.5011e10,
                0.0313657,
                0.00635897,
                156.06,
                0.0648615,
                1229,
            ),
            (
                "deepseek-v3",
                H200,
                8,
                "fp8",
                32,
                1024,
                512,
                4.59,
                8.5011e10,
                0.377847,
                0.0182665,
                1686.98,
                0.00582245,
                1229,
            ),
            (
                "gpt-oss-120b",
                H100,
                1,
                "mxfp4",
                1,
                2048,
                512,
                3.99,
                6.37453e10,
                0.0306814,
                0.00357599,
                275.563,
                0.00396339,
                222,
            ),
        ]
    ],
    *[
        (
            (model, {**gpu, **C2}, 1 if model.startswith("gemma") else 2, p, "w16a16e16", b, s, n, price),
            {
                "weight_bytes_per_gpu": w,
                "ttft_s": ttft,
                "tpot_s": tpot,
                "tokens_per_s": tps,
                "usd_per_1k_completion_tokens": usd,
                "max_batch_size": mb,
            },
        )
        for model, gpu, p, b, s, n, price, w, ttft, tpot, tps, usd, mb in [
            ("llama-2-70b", A100, 1, 8, 512, 512, 2.21, 6.89753e10, 1.33801, 0.0425626, 177.412, 0.00653218, 100),
            ("llama-2-70b", A100, 2, 8, 512, 512, 2.21, 3.47498e10, 1.33825, 0.0425831, 177.33, 0.0130706, 609),
            ("gemma-3-27b", H100, 1, 4, 8192, 1024, 3.99, 5.4016e10, 2.50586, 0.0205611, 174.003, 0.00569713, 26),
        ]
    ],
]


def _printed(value: float, expected: float) -> bool:
    """Equal at the precision the methodology prints (six significant digits)."""
    if float(expected).is_integer() and abs(expected) >= 1e6 and f"{expected:.6g}" != f"{int(expected)}":
        return float(f"{value:.6g}") == float(f"{expected:.6g}")
    if isinstance(expected, int):
        return value == expected
    return float(f"{value:.6g}") == float(f"{expected:.6g}")


def _serving(model, gpu, t, p, dtype, b, s, n, price, **kw):
    return estimate(
        model,
        gpu,
        tp=t,
        pp=p,
        dtype=dtype,
        batch_size=b,
        prompt_tokens=s,
        completion_tokens=n,
        gpu_hour_usd=price,
        flops_efficiency=0.7,
        hbm_efficiency=0.9,
        method="serving",
        **kw,
    )


class TestWorkedChecks:
    @pytest.mark.parametrize(("case", "expected"), WORKED, ids=[f"{c[0]}-b{c[5]}-p{c[3]}" for c, _ in WORKED])
    def test_worked_check(self, case, expected):
        e = _serving(*case)
        for name, want in expected.items():
            got = getattr(e, name)
            assert _printed(got, want), f"{name}: {got!r} != {want!r}"
        # to 1e-6 relative where the methodology prints seven or more digits
        assert e.completion_time_s == pytest.approx((case[7] - 1) * e.tpot_s, rel=1e-12)

    def test_first_check_to_full_precision(self):
        # 68,975,345,664 bytes is exact; the rest agree to 1e-6 relative.
        e = _serving(*WORKED[0][0])
        assert e.weight_bytes_per_gpu == 68_975_345_664
        assert e.ttft_s == pytest.approx(0.0427087, rel=1e-6)
        assert e.tpot_s == pytest.approx(0.0387549, rel=1.5e-6)

    def test_breakdown_sums_to_the_latencies(self):
        e = _serving(*WORKED[4][0])
        assert e.breakdown.prefill.total_s == pytest.approx(e.ttft_s, rel=1e-12)
        assert e.breakdown.decode.total_s == pytest.approx(e.tpot_s, rel=1e-12)
        assert e.breakdown.decode.overhead_s == pytest.approx(61 * 1e-5 + 2e-3)


class TestResultFields:
    def test_parameters_kv_per_token_and_experts(self):
        e = _serving("deepseek-v3", {**H200, **C1}, 8, 1, "fp8", 32, 1024, 512, 4.59)
        m = llmxl.get_model("deepseek-v3")
        assert (e.total_parameters, e.active_parameters) == (m.total_parameters, m.active_parameters)
        # MLA caches (rKV + dR) = 576 bytes per token per layer at 8 bits, on every GPU
        assert e.kv_bytes_per_token == 576 * 61
        # 32 sequences routed to 8 of 256 experts touch E (1 - (1 - K/E)^b) experts
        assert e.experts_per_decode_step == pytest.approx(256 * (1 - (1 - 8 / 256) ** 32))

    def test_dense_model_has_no_experts_per_step(self):
        e = _serving("llama-2-70b", {**A100, **ZERO}, 2, 1, "w16a16e16", 1, 128, 242, 2.21)
        assert e.experts_per_decode_step is None
        assert e.to_dict()["experts_per_decode_step"] is None

    def test_default_efficiencies_come_from_the_method(self):
        e = estimate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=512, completion_tokens=128, method="serving")
        c = llmxl.catalog.serving_constants(llmxl.get_gpu("h100-sxm-80gb"))
        assert (e.flops_efficiency, e.hbm_efficiency) == (c.flops_efficiency, c.hbm_efficiency)
        explicit = estimate(
            "llama-3.1-8b",
            "h100-sxm-80gb",
            prompt_tokens=512,
            completion_tokens=128,
            method="serving",
            flops_efficiency=c.flops_efficiency / 2,
        )
        assert explicit.flops_efficiency == c.flops_efficiency / 2 and explicit.ttft_s > e.ttft_s

    def test_gpu_dict_constants_override_the_defaults(self):
        base = estimate("llama-2-70b", {**A100, **ZERO}, tp=2, prompt_tokens=128, completion_tokens=2, method="serving")
        slower = estimate(
            "llama-2-70b",
            {**A100, **ZERO, "prefill_overhead_s": 0.01},
            tp=2,
            prompt_tokens=128,
            completion_tokens=2,
            method="serving",
        )
        assert slower.ttft_s == pytest.approx(base.ttft_s + 0.01, rel=1e-12)
        assert slower.tpot_s == base.tpot_s

    def test_one_completion_token_takes_no_decode_step(self):
        e = _serving("llama-2-70b", {**A100, **ZERO}, 2, 1, "w16a16e16", 1, 128, 1, 2.21)
        assert e.completion_time_s == 0 and e.e2e_latency_s == e.ttft_s


class TestVectorised:
    @pytest.mark.parametrize(
        ("model", "gpu", "tp", "dtype"),
        [
            ("mixtral-8x7b", "h100-sxm-80gb", 2, "bf16"),  # MoE
            ("deepseek-v3", "h200-sxm-141gb", 8, "fp8"),  # MoE + MLA
            ("gemma-3-27b", "h100-sxm-80gb", 1, "bf16"),  # sliding window, tied head
            ("gpt-oss-120b", "h100-sxm-80gb", 1, "mxfp4"),  # MoE + window, fractional bits
            ("llama-4-scout", "h200-sxm-141gb", 4, "fp8-kv16"),  # chunked attention, shared expert
        ],
    )
    def test_arrays_equal_scalar_calls_elementwise(self, model, gpu, tp, dtype):
        b = np.array([1, 3, 16, 8, 1, 7])
        s = np.array([1, 100, 2048, 500, 8000, 129])
        n = np.array([1, 2, 256, 1000, 64, 3000])
        fe = np.array([0.7, 0.5, 0.9, 0.6, 0.3, 1.0])
        v = estimate(
            model,
            gpu,
            tp=tp,
            dtype=dtype,
            batch_size=b,
            prompt_tokens=s,
            completion_tokens=n,
            flops_efficiency=fe,
            method="serving",
            gpu_hour_usd=2.0,
        )
        for i in range(len(b)):
            e = estimate(
                model,
                gpu,
                tp=tp,
                dtype=dtype,
                batch_size=int(b[i]),
                prompt_tokens=int(s[i]),
                completion_tokens=int(n[i]),
                flops_efficiency=float(fe[i]),
                method="serving",
                gpu_hour_usd=2.0,
            )
            for name in (
                "ttft_s",
                "tpot_s",
                "completion_time_s",
                "tokens_per_s",
                "usd_per_1k_prompt_tokens",
                "usd_per_1k_completion_tokens",
                "kv_cache_bytes_per_gpu",
                "activation_bytes_per_gpu",
                "max_batch_size",
            ):
                assert getattr(v, name)[i] == pytest.approx(getattr(e, name), rel=1e-12), (name, i)
            if e.experts_per_decode_step is not None:
                assert v.experts_per_decode_step[i] == pytest.approx(e.experts_per_decode_step, rel=1e-12)
            for phase in ("prefill", "decode"):
                a, c = getattr(v.breakdown, phase), getattr(e.breakdown, phase)
                for k, val in c.to_dict().items():
                    assert a.to_dict()[k][i] == pytest.approx(val, rel=1e-12, abs=1e-18), (phase, k, i)

    def test_nan_mode_reports_each_failed_row(self):
        v = estimate(
            "deepseek-v3",
            "h200-sxm-141gb",
            tp=8,
            dtype="fp8",
            batch_size=np.array([1, 100000]),
            prompt_tokens=1024,
            completion_tokens=512,
            method="serving",
            on_error="nan",
        )
        assert math.isfinite(v.ttft_s[0]) and math.isnan(v.ttft_s[1])
        assert v.errors[0] is None and "KV cache" in v.errors[1].message


# --- properties ---------------------------------------------------------------------------------

SERVING_MODELS = [
    "mixtral-8x7b",
    "deepseek-v3",
    "gemma-3-27b",
    "gpt-oss-20b",
    "qwen3-30b-a3b",
    "llama-3.1-8b",
    "llama-4-scout",
    "mistral-7b",
]
serving_scenario = st.fixed_dictionaries(
    {
        "model": st.sampled_from(SERVING_MODELS),
        "gpu": st.sampled_from(["h100-sxm-80gb", "h200-sxm-141gb", "b200", "mi300x"]),
        "tp": st.sampled_from([1, 2, 4, 8]),
        "pp": st.sampled_from([1, 2]),
        "batch_size": st.integers(1, 128),
        "prompt_tokens": st.integers(1, 16384),
        "completion_tokens": st.integers(1, 4096),
        "dtype": st.sampled_from(["bf16", "fp8", "fp8-kv16", "mxfp4", "int4-awq"]),
    }
)


def _run(sc, **over):
    kw = {**sc, **over, "method": "serving"}
    model, gpu = kw.pop("model"), kw.pop("gpu")
    try:
        return estimate(model, gpu, **kw)
    except LlmxlError:
        assume(False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    sc=serving_scenario,
    factor=st.floats(1.0, 8.0),
    field=st.sampled_from(["hbm_bandwidth_gbs", "fp16_tflops", "fp8_tflops", "interconnect_gbs"]),
)
def test_more_bandwidth_or_flops_never_increases_a_latency(sc, factor, field):
    base = llmxl.get_gpu(sc["gpu"])
    faster = base.model_copy(update={field: getattr(base, field) * factor})
    slow, fast = _run(sc, gpu=base), _run(sc, gpu=faster)
    for name in ("ttft_s", "tpot_s", "completion_time_s", "e2e_latency_s"):
        assert getattr(fast, name) <= getattr(slow, name) * (1 + 1e-12), name


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(sc=serving_scenario)
def test_every_result_is_finite_and_positive(sc):
    e = _run(sc)
    for name in ("ttft_s", "tpot_s", "tokens_per_s", "weight_bytes_per_gpu", "kv_cache_bytes_per_gpu"):
        value = getattr(e, name)
        assert math.isfinite(value) and value > 0, name
    assert e.max_batch_size >= e.batch_size


def _moe_model(E: int, K: int, fE: int, L: int = 4) -> ModelSpec:
    return ModelSpec(
        id=f"moe-{E}-{K}",
        model_type="mixtral",
        num_hidden_layers=L,
        hidden_size=1024,
        num_attention_heads=16,
        num_key_value_heads=4,
        intermediate_size=fE,
        vocab_size=32000,
        max_position_embeddings=65536,
        gated_mlp=True,
        source="test",
        moe={"num_experts": E, "experts_per_token": K, "expert_intermediate_size": fE, "num_moe_layers": L},
    )


@settings(max_examples=100, deadline=None)
@given(
    E=st.integers(2, 16),
    fE=st.integers(64, 4096),
    b=st.integers(1, 64),
    s=st.integers(1, 4096),
    n=st.integers(1, 1024),
    tp=st.sampled_from([1, 2, 4]),
)
def test_moe_with_every_expert_used_is_the_dense_model_of_width_k_fe(E, fE, b, s, n, tp):
    """E = K: every token uses every expert, so the layer is a dense MLP of width K fE plus a router."""
    moe = _moe_model(E, E, fE)
    dense = moe.model_copy(update={"moe": None, "intermediate_size": E * fE, "id": "dense"})
    kw = dict(
        tp=tp,
        batch_size=b,
        prompt_tokens=s,
        completion_tokens=n,
        method="serving",
        flops_efficiency=0.7,
        hbm_efficiency=0.9,
    )
    g = llmxl.get_gpu("h100-sxm-80gb")
    a, d = estimate(moe, g, **kw), estimate(dense, g, **kw)
    F, M = 989e12 * 0.7, 3350e9 * 0.9
    h, L = 1024, 4
    for name, tokens in (("ttft_s", b * s), ("tpot_s", b)):
        router = L * (2 * tokens * h * E / F + h * E * 2 / M)  # the router's FLOPs and bytes, at most
        assert getattr(d, name) * (1 - 1e-12) <= getattr(a, name) <= getattr(d, name) + router, name


@settings(max_examples=100, deadline=None)
@given(E=st.integers(2, 256), k=st.data(), b=st.integers(1, 256), s=st.integers(1, 4096), n=st.integers(2, 1024))
def test_more_experts_per_token_never_lowers_decode_time(E, k, b, s, n):
    K1 = k.draw(st.integers(1, E))
    K2 = k.draw(st.integers(K1, E))
    kw = dict(batch_size=b, prompt_tokens=s, completion_tokens=n, method="serving")
    g = llmxl.get_gpu("b200")
    try:  # more experts per token need more activation memory: a draw at the edge may not fit
        t1 = estimate(_moe_model(E, K1, 512), g, **kw).tpot_s
        t2 = estimate(_moe_model(E, K2, 512), g, **kw).tpot_s
    except llmxl.DoesNotFitError:
        assume(False)
    assert t2 >= t1 * (1 - 1e-12)


# --- catalog ------------------------------------------------------------------------------------

# Model cards (docs/catalog sources): total and active parameters in billions.
CARDS = {
    "mixtral-8x7b": (46.7, 12.9),
    "mixtral-8x22b": (141, 39),
    "deepseek-v3": (671, 37),
    "qwen3-30b-a3b": (30.5, 3.3),
    "qwen3-235b-a22b": (235, 22),
    "gpt-oss-20b": (21, 3.6),
    "gpt-oss-120b": (117, 5.1),
    "llama-4-scout": (109, 17),
    "llama-4-maverick": (400, 17),
    "qwen3-8b": (8.2, None),
    "qwen3-32b": (32.8, None),
    "llama-3.3-70b": (70, None),
    "phi-4": (14.7, None),  # the card says 14B; its GGUF metadata 14.7B
    "gemma-2-27b": (27, None),
}


@pytest.mark.parametrize("model", sorted(CARDS))
def test_parameter_counts_match_the_model_cards_within_2_percent(model):
    total, active = CARDS[model]
    m = llmxl.get_model(model)
    assert m.total_parameters / 1e9 == pytest.approx(total, rel=0.02)
    if active is not None:
        counted = m.active_parameters
        if model.startswith("gpt-oss"):
            # OpenAI's card counts the output head but not the input embedding table as active
            # (a lookup, not a multiply); llmxl counts both, as Meta, Mistral, Qwen and DeepSeek do.
            counted -= m.vocab_size * m.hidden_size
        assert counted / 1e9 == pytest.approx(active, rel=0.02)


NEW_MODELS = {
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mixtral-8x22b": "mistralai/Mixtral-8x22B-v0.1",
    "deepseek-v3": "deepseek-ai/DeepSeek-V3-0324",
    "deepseek-r1": "deepseek-ai/DeepSeek-R1-0528",
    "qwen3-8b": "Qwen/Qwen3-8B",
    "qwen3-32b": "qwen/qwen3-32b",
    "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
    "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B-Instruct-2507",
    "gpt-oss-20b": "openai/gpt-oss-20b",
    "gpt-oss-120b": "OPENAI/GPT-OSS-120B",
    "llama-4-scout": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "llama-4-maverick": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    "llama-3.3-70b": "meta-llama/Llama-3.3-70B-Instruct",
    "phi-4": "microsoft/phi-4",
    "gemma-2-27b": "google/gemma-2-27b-it",
    "gemma-3-27b": "google/gemma-3-27b-it",
    "phi-3-medium-4k": "microsoft/Phi-3-medium-4k-instruct",
    "phi-3.5-moe": "microsoft/Phi-3.5-MoE-instruct",
    "phi-4-mini": "microsoft/Phi-4-mini-instruct",
    "ministral-8b": "mistralai/Ministral-8B-Instruct-2410",
    "qwen3-4b-2507": "Qwen/Qwen3-4B-Instruct-2507",
    "deepseek-r1-distill-llama-70b": "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
}


@pytest.mark.parametrize(("model", "repo"), sorted(NEW_MODELS.items()))
def test_new_models_resolve_from_their_hugging_face_repo_ids(model, repo):
    assert llmxl.get_model(repo).id == model


def test_every_catalog_model_has_a_hugging_face_repo_id_base_or_instruct():
    for ident in llmxl.models():
        m = llmxl.get_model(ident)
        repos = [a for a in m.aliases if "/" in a]
        if ident == "gpt-3-175b":  # never published
            continue
        assert repos, ident
        for repo in repos:
            assert llmxl.get_model(repo.upper()).id == ident


def test_new_gpus_are_in_the_catalog_with_sources():
    for ident in (
        "b200",
        "b300",
        "gb200",
        "h20",
        "l40",
        "rtx-pro-6000-blackwell-server",
        "rtx-4090",
        "mi325x",
        "mi355x",
        "gaudi-3",
    ):
        g = llmxl.get_gpu(ident)
        assert g.source and g.checked is not None
    assert llmxl.get_gpu("b200").fp4_tflops == 9000 and llmxl.get_gpu("b200").usd_per_hour == 6.69


def test_serving_defaults_name_the_measurements_they_were_fitted_to():
    d = llmxl.catalog.method_defaults("serving")
    assert "benchmarks/data" in d.source and "cross-validated" in d.source and d.checked is not None


class TestDtypes:
    @pytest.mark.parametrize(
        ("name", "bits"),
        [
            ("bf16", (16, 16, 16, 16, "fp16")),
            ("fp8", (8, 8, 16, 8, "fp8")),
            ("fp8-kv16", (8, 8, 16, 16, "fp8")),
            ("int8-weight-only", (8, 16, 16, 16, "fp16")),
            ("int4-awq", (4, 16, 16, 16, "fp16")),
            ("mxfp4", (4.25, 16, 16, 16, "fp16")),
            ("NVFP4", (4.5, 4.5, 16, 8, "fp4")),
        ],
    )
    def test_aliases_as_people_write_them(self, name, bits):
        d = llmxl.get_dtype(name)
        assert (d.weight_bits, d.activation_bits, d.embedding_bits, d.kv_bits, d.compute_kind) == bits

    def test_a_gpu_without_the_compute_kind_is_refused_naming_both(self):
        with pytest.raises(InvalidInputError, match=r"nvfp4.*fp4 tensor cores, which h100-sxm-80gb lacks"):
            estimate(
                "llama-3.1-8b", "h100-sxm-80gb", dtype="nvfp4", prompt_tokens=1, completion_tokens=1, method="serving"
            )
        e = estimate("llama-3.1-8b", "b200", dtype="nvfp4", prompt_tokens=1024, completion_tokens=1, method="serving")
        assert e.dtype == "nvfp4"

    def test_fp8_kv16_doubles_the_kv_cache_of_fp8(self):
        kw = dict(tp=2, batch_size=8, prompt_tokens=1000, completion_tokens=200, method="serving")
        a = estimate("llama-3.1-70b", "h100-sxm-80gb", dtype="fp8", **kw)
        b = estimate("llama-3.1-70b", "h100-sxm-80gb", dtype="fp8-kv16", **kw)
        assert b.kv_cache_bytes_per_gpu == 2 * a.kv_cache_bytes_per_gpu
        assert b.weight_bytes_per_gpu == a.weight_bytes_per_gpu

    def test_a_malformed_suffix_is_a_clean_error(self):
        with pytest.raises(InvalidInputError, match=r"'w16a16e16-fp8'.*fp8"):
            llmxl.get_dtype("w16a16e16-fp8")


class TestOtherMethodsRefuse:
    @pytest.mark.parametrize("model", ["mixtral-8x7b", "deepseek-v3", "qwen3-32b", "gpt-oss-20b"])
    @pytest.mark.parametrize("method", ["standard", "reference"])
    def test_models_they_cannot_model_name_the_serving_method(self, model, method):
        with pytest.raises(InvalidInputError, match="use method='serving'"):
            estimate(model, "h200", tp=8, prompt_tokens=128, completion_tokens=8, method=method)

    def test_a_window_is_a_warning_under_standard(self):
        e = estimate("mistral-7b", "h100-sxm-80gb", prompt_tokens=128, completion_tokens=8, method="standard")
        assert any("window" in w for w in e.warnings)


# --- Hugging Face configs -----------------------------------------------------------------------

MIXTRAL = {
    "model_type": "mixtral",
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 14336,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "rope_theta": 1e6,
}
DEEPSEEK_V3 = {
    "model_type": "deepseek_v3",
    "num_hidden_layers": 61,
    "hidden_size": 7168,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 3,
    "moe_layer_freq": 1,
    "kv_lora_rank": 512,
    "q_lora_rank": 1536,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
    "vocab_size": 129280,
    "max_position_embeddings": 163840,
    "tie_word_embeddings": False,
    "num_nextn_predict_layers": 1,
}
QWEN3_MOE = {
    "model_type": "qwen3_moe",
    "num_hidden_layers": 48,
    "hidden_size": 2048,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "intermediate_size": 6144,
    "moe_intermediate_size": 768,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "decoder_sparse_step": 1,
    "mlp_only_layers": [],
    "sliding_window": None,
    "use_sliding_window": False,
    "max_window_layers": 48,
    "vocab_size": 151936,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": False,
}
GPT_OSS_120B = {
    "model_type": "gpt_oss",
    "num_hidden_layers": 36,
    "hidden_size": 2880,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "intermediate_size": 2880,
    "num_local_experts": 128,
    "experts_per_token": 4,
    "num_experts_per_tok": 4,
    "sliding_window": 128,
    "layer_types": ["sliding_attention", "full_attention"] * 18,
    "vocab_size": 201088,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": False,
    "attention_bias": True,
}
LLAMA4_MAVERICK = {
    "model_type": "llama4",
    "architectures": ["Llama4ForConditionalGeneration"],
    "text_config": {
        "model_type": "llama4_text",
        "num_hidden_layers": 48,
        "hidden_size": 5120,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "intermediate_size": 8192,
        "intermediate_size_mlp": 16384,
        "num_local_experts": 128,
        "num_experts_per_tok": 1,
        "interleave_moe_layer_step": 2,
        "attention_chunk_size": 8192,
        "vocab_size": 202048,
        "max_position_embeddings": 1048576,
        "use_qk_norm": False,
    },
    "vision_config": {"hidden_size": 1408},
}
GEMMA3 = {
    "model_type": "gemma3",
    "text_config": {
        "model_type": "gemma3_text",
        "num_hidden_layers": 62,
        "hidden_size": 5376,
        "num_attention_heads": 32,
        "num_key_value_heads": 16,
        "head_dim": 128,
        "intermediate_size": 21504,
        "vocab_size": 262208,
        "max_position_embeddings": 131072,
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
    },
}
GEMMA2 = {
    "model_type": "gemma2",
    "num_hidden_layers": 46,
    "hidden_size": 4608,
    "num_attention_heads": 32,
    "num_key_value_heads": 16,
    "head_dim": 128,
    "intermediate_size": 36864,
    "vocab_size": 256000,
    "max_position_embeddings": 8192,
    "sliding_window": 4096,
    "tie_word_embeddings": True,
}
MISTRAL = {
    "model_type": "mistral",
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 14336,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "sliding_window": 4096,
}


def _arithmetic(spec: ModelSpec) -> dict:
    """What the arithmetic reads: everything but names, sources, layout words and the released precision
    (the trimmed test configs name no torch_dtype; the catalog records what the full copy says)."""
    d = spec.model_dump(
        exclude={"id", "aliases", "source", "checked", "model_type", "license", "released", "released_variants"}
    )
    for part in ("moe", "attention"):
        if d.get(part):
            d[part].pop("layout", None)
    if d.get("head_dim") is not None and d["head_dim"] * d["num_attention_heads"] == d["hidden_size"]:
        d["head_dim"] = None  # a head_dim equal to h / a is the same model
    return d


@pytest.mark.parametrize(
    ("config", "catalog_id"),
    [
        (MIXTRAL, "mixtral-8x7b"),
        (DEEPSEEK_V3, "deepseek-v3"),
        (QWEN3_MOE, "qwen3-30b-a3b"),
        (GPT_OSS_120B, "gpt-oss-120b"),
        (LLAMA4_MAVERICK, "llama-4-maverick"),
        (GEMMA3, "gemma-3-27b"),
        (GEMMA2, "gemma-2-27b"),
        (MISTRAL, "mistral-7b"),
    ],
    ids=["mixtral", "deepseek_v3", "qwen3_moe", "gpt_oss", "llama4", "gemma3", "gemma2", "mistral"],
)
def test_real_config_fields_read_as_the_catalog_entry(config, catalog_id):
    spec = ModelSpec.from_hf_config(config, id="x")
    want = llmxl.get_model(catalog_id)
    if catalog_id.startswith("gemma"):  # Gemma ties its head by default; the nested copy omits the field
        spec = spec.model_copy(update={"tie_word_embeddings": True})
    assert _arithmetic(spec) == _arithmetic(want)


def test_a_config_json_file_runs_under_serving(tmp_path):
    import json

    path = tmp_path / "config.json"
    path.write_text(json.dumps(DEEPSEEK_V3))
    a = estimate(str(path), "h200", tp=8, dtype="fp8", prompt_tokens=1024, completion_tokens=64, method="serving")
    b = estimate("deepseek-v3", "h200", tp=8, dtype="fp8", prompt_tokens=1024, completion_tokens=64, method="serving")
    assert a.ttft_s == b.ttft_s and a.tpot_s == b.tpot_s


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"num_experts_per_tok": None}, "num_experts_per_tok is missing"),
        ({"kv_lora_rank": 512, "qk_rope_head_dim": None}, "qk_rope_head_dim is missing"),
        ({"head_dim": 0}, "head_dim"),
        ({"head_dim": -128}, "head_dim"),
        ({"num_experts_per_tok": 9}, "experts_per_token 9 exceeds num_experts 8"),
        ({"layer_types": ["sliding_attention"] * 32, "sliding_window": None}, "sliding_window is missing"),
        ({"layer_types": ["linear_attention"] * 32}, "'linear_attention', an attention kind llmxl cannot model"),
        ({"num_local_experts": "8"}, "num_local_experts='8' must be a whole number"),
        ({"model_type": "newmoe"}, "no layout of MoE layers"),
    ],
)
def test_bad_configs_name_the_field_and_file(tmp_path, change, text):
    import json

    cfg = {**MIXTRAL, **change}
    cfg = {k: v for k, v in cfg.items() if v is not None or k == "sliding_window"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(CatalogError, match=text) as info:
        ModelSpec.from_hf_config(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_catalog_window_without_its_layer_count_is_refused(tmp_path):
    cat = tmp_path / "catalog.toml"
    cat.write_text(
        '[[models]]\nid = "w"\nmodel_type = "mistral"\nnum_hidden_layers = 2\nhidden_size = 64\n'
        "num_attention_heads = 4\nintermediate_size = 128\nvocab_size = 100\nmax_position_embeddings = 512\n"
        "[models.attention]\nsliding_window = 16\n"
    )
    with pytest.raises(CatalogError, match=r"catalog.toml.*'w'.*attention.num_sliding_layers"):
        llmxl.add_catalog_file(cat)


class TestAttentionAtTheKvPrecision:
    """Issue 21: the score arithmetic runs at the KV cache's precision, the GEMMs at the compute kind's."""

    def test_the_score_rate_is_the_caches_peak_over_the_computes(self):
        from llmxl.resolve import configuration

        h100 = llmxl.get_gpu("h100-sxm-80gb")
        rates = {}
        for dt in ("fp8", "fp8-kv16", "bf16", "mxfp4"):
            *_, T, _, _, _ = configuration("llama-3.1-70b", "h100-sxm-80gb", dt, 2, 1, "serving")
            rates[dt] = T.score_rate
        assert rates["fp8-kv16"] == pytest.approx(h100.fp16_tflops / h100.fp8_tflops, rel=1e-12)
        assert rates["fp8"] == rates["bf16"] == rates["mxfp4"] == 1.0
        *_, T, _, _, _ = configuration("llama-3.1-70b", "b200", "nvfp4", 1, 1, "serving")
        b200 = llmxl.get_gpu("b200")
        assert T.score_rate == pytest.approx(b200.fp8_tflops / b200.fp4_tflops, rel=1e-12)  # an fp8 cache

    def test_a_16_bit_cache_slows_long_prompts_more_than_short_ones(self):
        def ttft(dt, s):
            return estimate(
                "llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype=dt, prompt_tokens=s, completion_tokens=8
            ).ttft_s

        short, long = ttft("fp8-kv16", 512) / ttft("fp8", 512), ttft("fp8-kv16", 32768) / ttft("fp8", 32768)
        assert 1 <= short < long
        assert long == pytest.approx(1.231125, rel=1e-6)  # docs/methodology.md, "Data types": 23 % longer
