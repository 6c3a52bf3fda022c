"""Numbers and names from hostile callers (issue 19): one coercion for every public argument, money and
traffic in physical ranges, catalog lookups of non-strings, confusable ids, array caps and masked arrays."""

from __future__ import annotations

import contextlib
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import llmxl
from llmxl import CatalogError, InvalidInputError, LlmxlError, UnknownNameError, catalog
from llmxl.checks import MAX_ARRAY_ELEMENTS, RANGES, number

SCENARIO = dict(prompt_tokens=128, completion_tokens=16)
SHAPE = dict(prompt_tokens=1000, completion_tokens=300)


# --- one coercion: what it accepts, what it refuses, and the value it names ---------------------------


@pytest.mark.parametrize(
    ("value", "want"),
    [(np.int64(40000), 40000), (np.float32(5), 5.0), (Decimal("2.5"), 2.5), (Fraction(1, 4), 0.25), ("  8 ", 8.0),
     (np.uint8(3), 3), (-0.0, 0.0), (Decimal("-0"), 0.0)],
)  # fmt: skip
def test_numpy_numbers_decimals_fractions_and_text_are_numbers(value, want):
    got = number(value, "x")
    assert got == want and type(got) in (int, float) and math.copysign(1, got) == 1


@pytest.mark.parametrize(
    ("value", "said"),
    [(True, "got True"), (np.bool_(False), "got False"), (None, "is missing"), ("abc", "got 'abc'"), ("", "blank"),
     ([1, 2], "got a list of 2"), ((1,), "got a tuple of 1"), ({"a": 1}, "got a dict of 1"), (1 + 2j, "complex"),
     (Decimal("NaN"), "finite"), (object(), "object"), (b"5", "got b'5'"), (np.array([1.0]), "an array")],
)  # fmt: skip
def test_what_is_not_one_number_is_refused_naming_it(value, said):
    with pytest.raises(InvalidInputError) as info:
        number(value, "requests_per_s")
    assert said in info.value.message and "got None" not in info.value.message


def test_owned_and_plan_take_numpy_and_decimal_numbers():
    a = llmxl.owned_gpu_hour_usd(np.int64(40000), np.float32(4), Decimal("1.275"), 1.58, Fraction(2, 25), 4875)
    b = llmxl.owned_gpu_hour_usd(40000, 4, 1.275, 1.58, 0.08, 4875)
    assert a == pytest.approx(b, rel=1e-6)  # was: "must be a number, got None"
    p = llmxl.plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=np.float32(5), gpu_hour_usd=Decimal("3"))
    q = llmxl.plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5, gpu_hour_usd=3)
    assert p.best.monthly_usd == q.best.monthly_usd
    with pytest.raises(InvalidInputError, match=r"purchase_usd must be a number, got 'lots'"):
        llmxl.owned_gpu_hour_usd("lots", 4, 1, 1.3, 0.08)


def test_a_huge_integer_is_refused_not_overflowed():
    with pytest.raises(InvalidInputError, match=r"flops_efficiency must be in \[0.0001, 1\], got 1.000e\+400"):
        llmxl.estimate("llama-2-7b", "a100-sxm-80gb", flops_efficiency=10**400, **SCENARIO)
    for kw in ({"batch_size": [10**400]}, {"gpu_hour_usd": 10**400}, {"batch_size": Decimal("1e999")}):
        with pytest.raises(InvalidInputError):
            llmxl.estimate("llama-2-7b", "a100-sxm-80gb", **{**SCENARIO, **kw})


# --- money and traffic within physical ranges: every monetary result finite or refused ----------------


@pytest.mark.parametrize(
    "kw",
    [{"requests_per_s": 5e-324}, {"requests_per_s": 1e-310}, {"requests_per_s": 1e300}, {"requests_per_s": 1e307},
     {"tokens_per_day": 5e-324}, {"tokens_per_day": 1e300}, {"requests_per_s": 5, "peak_requests_per_s": 1e308},
     {"requests_per_s": 5, "peak_factor": 1e300}, {"requests_per_s": math.inf}, {"requests_per_s": math.nan},
     {"requests_per_s": 5, "ttft_s_max": 1e-320, "itl_s_max": 1e300}],
)  # fmt: skip
def test_denormal_and_huge_traffic_is_refused_or_finite(kw):
    try:
        p = llmxl.plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, gpu_hour_usd=3.99, **kw)
    except InvalidInputError as exc:  # was: ZeroDivisionError, $inf, NaN per 1M and 0.0 beside a blend
        assert exc.field in {"requests_per_s", "tokens_per_day", "peak_requests_per_s", "peak_factor", "ttft_s_max",
                             "itl_s_max"}  # fmt: skip
        return
    for row in p.rows:
        for value in row.to_dict().values():
            assert not isinstance(value, float) or math.isfinite(value)
        if row.reason is None:
            assert row.usd_per_1m_prompt_tokens > 0 and row.usd_per_1m_blended > 0


@pytest.mark.parametrize("rps", [RANGES["requests_per_s"][0], RANGES["requests_per_s"][1]])
def test_traffic_at_the_ends_of_its_range_costs_a_finite_amount(rps):
    p = llmxl.plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=rps, gpu_hour_usd=1e6)
    best = p.best
    assert all(math.isfinite(v) and v > 0 for v in (best.monthly_usd, best.usd_per_1m_prompt_tokens,
                                                    best.usd_per_1m_completion_tokens, best.usd_per_1m_blended))  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [(1e308, 0.1, 1, 1.3, 0.08), (1e9, 1e-300, 1, 1.3, 0.08), (1, 1, 1e300, 1.3, 0.08), (1, 1, 1, 1e300, 0.08),
     (1, 1, 1, 1.3, 1e300), (1, 1, 1, 1.3, 0.08, 1e308), (1e9, 0.1, 1e3, 10, 1e3, 1e9)],
)  # fmt: skip
def test_an_owned_gpu_hour_is_finite_or_refused(args):
    try:
        v = llmxl.owned_gpu_hour_usd(*args)
    except InvalidInputError:
        return
    assert math.isfinite(v)  # was: inf


def test_a_negative_zero_price_is_zero():
    p = llmxl.plan("llama-3.1-8b", "h100-sxm-80gb", **SHAPE, requests_per_s=5, gpu_hour_usd=-0.0)
    assert math.copysign(1, p.best.monthly_usd) == 1  # was: $-0.00
    e = llmxl.estimate("llama-2-7b", "a100-sxm-80gb", gpu_hour_usd=-0.0, **SCENARIO)
    assert math.copysign(1, e.gpu_hour_usd) == 1 and math.copysign(1, e.usd_per_1k_completion_tokens) == 1


def test_the_command_line_refuses_denormal_traffic(capsys):
    from llmxl.cli import main

    code = main(["plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "1000", "--completion",
                 "300", "--rps", "5e-324"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "requests_per_s must be from 1e-09 to 1e+09" in err and err.count("\n") == 1
    code = main(["plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "1000", "--completion",
                 "300", "--rps", "1e300"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and "$inf" not in out  # was: a 300-digit GPU count and $inf


# --- catalog lookups: names only, and no look-alikes -------------------------------------------------


@pytest.mark.parametrize(
    ("call", "said"),
    [(lambda: catalog.get_gpu(5), "gpu must be a name (text), got int 5"),
     (lambda: catalog.get_model(None), "model is missing"),
     (lambda: catalog.get_dtype(5), "dtype must be a name (text), got int 5"),
     (lambda: catalog.get_gpu(b"h100"), "gpu must be a name (text), got bytes"),
     (lambda: catalog.get_model(Path("x")), "got a path"),
     (lambda: catalog.get_model(["llama-2-7b"]), "got list"),
     (lambda: llmxl.api_price(5, "together"), "model must be a name (text), got int 5"),
     (lambda: llmxl.api_price("llama-3.3-70b", 5), "api provider must be a name (text), got int 5"),
     (lambda: llmxl.add_catalog_file(None), "catalog file must be the path of a .toml file, got nothing"),
     (lambda: llmxl.add_catalog_file(5), "got int 5")],
)  # fmt: skip
def test_catalog_lookups_refuse_what_is_not_a_name(call, said):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert said in info.value.message


@pytest.mark.parametrize(
    "name",
    ["а100-sxm-80gb", "ａ100-sxm-80gb", "a100-sxm-8０gb", "a100‐sxm‐80gb", "á100-sxm-80gb", "a100-ѕxm-80gb"],
    ids=["cyrillic-a", "fullwidth-a", "fullwidth-0", "unicode-hyphen", "accent", "cyrillic-dze"],
)
def test_a_name_that_only_looks_like_an_id_is_refused_with_did_you_mean(name, tmp_path):
    with pytest.raises(UnknownNameError, match=r"looks like 'a100-sxm-80gb'.*did you mean 'a100-sxm-80gb'\?"):
        llmxl.get_gpu(name)
    cat = tmp_path / "cat.toml"
    cat.write_text(f'[[gpus]]\nid = "{name}"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                   "interconnect_gbs = 300\n")  # fmt: skip
    with pytest.raises(CatalogError, match=r"looks like gpu 'a100-sxm-80gb'.*did you mean 'a100-sxm-80gb'"):
        llmxl.add_catalog_file(cat)  # was: accepted beside the built-in


def test_a_look_alike_in_a_user_catalog_breaks_only_itself(tmp_path, monkeypatch):
    cat = tmp_path / "cat.toml"
    cat.write_text('[[gpus]]\nid = "а100-sxm-80gb"\nmemory_gib = 8\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                   "interconnect_gbs = 300\n")  # fmt: skip
    monkeypatch.setenv(catalog.ENV_VAR, str(cat))
    catalog.reset()
    assert llmxl.get_gpu("a100-sxm-80gb").memory_gib == 80
    with pytest.raises(CatalogError, match="looks like"):
        llmxl.get_gpu("а100-sxm-80gb")


def test_a_name_of_a_megabyte_is_refused_at_once():
    import time

    start = time.perf_counter()
    with pytest.raises(UnknownNameError, match="1,000,000 characters"):
        llmxl.get_model("x" * 10**6)
    assert time.perf_counter() - start < 1


# --- arrays: a documented cap, masked entries never computed -------------------------------------------


def test_a_broadcast_beyond_the_cap_is_refused_naming_it():
    with pytest.raises(InvalidInputError, match=f"more than the {MAX_ARRAY_ELEMENTS:,}"):
        llmxl.estimate("llama-2-7b", "a100-sxm-80gb", batch_size=np.ones((10**6, 1)),
                       prompt_tokens=np.full((1, 10**6), 128.0), completion_tokens=16)  # fmt: skip
    with pytest.raises(InvalidInputError, match="entries, more than"):
        llmxl.estimate("llama-2-7b", "a100-sxm-80gb", batch_size=np.ones(MAX_ARRAY_ELEMENTS + 1), **SCENARIO)


def test_masked_arrays_are_refused_or_respected():
    masked = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(InvalidInputError, match="1 masked entries"):
        llmxl.estimate("llama-2-7b", "a100-sxm-80gb", batch_size=masked, **SCENARIO)
    with pytest.raises(InvalidInputError, match="masked"):
        llmxl.operating_point("llama-3.1-8b", "h100-sxm-80gb", masked, **SHAPE)
    nothing_masked = np.ma.array([1.0, 3.0])
    a = llmxl.estimate("llama-2-7b", "a100-sxm-80gb", batch_size=nothing_masked, **SCENARIO)
    b = llmxl.estimate("llama-2-7b", "a100-sxm-80gb", batch_size=np.array([1.0, 3.0]), **SCENARIO)
    assert np.array_equal(a.ttft_s, b.ttft_s)


@pytest.mark.parametrize(
    ("value", "said"),
    [(["a"], "non-numeric"), ([[1], [1, 2]], "rectangular"), ([1 + 2j], "complex"), ([True], "booleans"),
     ([], "empty"), ([0.5], "got 0.5"), ([2, 0], "got 0")],
)  # fmt: skip
def test_operating_point_concurrency_lists_are_checked(value, said):
    with pytest.raises(InvalidInputError, match=said):  # was: tracebacks, and [True] computed concurrency 1
        llmxl.operating_point("llama-3.1-8b", "h100-sxm-80gb", value, **SHAPE)


def test_only_llmxl_errors_escape_the_coercion_of_strange_arrays():
    for value in (np.array(["1", "x"]), np.array([np.datetime64("2020-01-01")]), [Decimal(1), Fraction(1, 2)],
                  np.array([1, 2], dtype=np.float16), [[np.int64(3)]], [None], [[]]):  # fmt: skip
        with contextlib.suppress(LlmxlError):
            llmxl.estimate("llama-2-7b", "a100-sxm-80gb", batch_size=value, **SCENARIO)
