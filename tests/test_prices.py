"""Prices of the GPUs of a plan (llmxl/prices.py): one for all, or by GPU name, on every price basis."""

from __future__ import annotations

import re

import pytest

import llmxl
from llmxl import InvalidInputError, UnknownNameError, owned_gpu_hour_usd, plan

SHAPE = dict(prompt_tokens=1000, completion_tokens=300, requests_per_s=5, dtype="fp8")
GPUS = ["h100-sxm-80gb", "b200"]
OWNED = {"purchase_usd": 30000, "years": 5, "power_kw": 1.0, "pue": 1.3, "usd_per_kwh": 0.08}


def prices_of(p):
    return {(r.gpu, r.price_basis, r.usd_per_gpu_hour) for r in p.rows}


class TestByGpu:
    def test_one_price_still_prices_every_gpu(self):
        p = plan("llama-3.1-70b", GPUS, **SHAPE, gpu_hour_usd=3.0)
        assert prices_of(p) == {("h100-sxm-80gb", "rented", 3.0), ("b200", "rented", 3.0)}

    def test_a_price_per_gpu_by_id_or_alias(self):
        p = plan("llama-3.1-70b", GPUS, **SHAPE, gpu_hour_usd={"H100 SXM": 2.0, "nvidia-b200": 7.0})
        assert prices_of(p) == {("h100-sxm-80gb", "rented", 2.0), ("b200", "rented", 7.0)}
        # the cost follows each row's own price
        for r in p.rows:
            if r.reason is None:
                assert r.monthly_usd == pytest.approx(r.num_gpus * r.usd_per_gpu_hour * 730, rel=1e-12)

    def test_a_gpu_left_out_keeps_its_catalog_price(self):
        p = plan("llama-3.1-70b", GPUS, **SHAPE, gpu_hour_usd={"b200": 7.0}, reservation_discount=0.5)
        catalog = llmxl.get_gpu("h100-sxm-80gb").usd_per_hour
        assert prices_of(p) == {("h100-sxm-80gb", "catalog", catalog * 0.5), ("b200", "rented", 3.5)}

    def test_owned_for_one_gpu_rented_for_the_other(self):
        p = plan("llama-3.1-70b", GPUS, **SHAPE, owned={"h100-sxm-80gb": OWNED}, gpu_hour_usd={"b200": 6.0})
        assert prices_of(p) == {("h100-sxm-80gb", "owned", owned_gpu_hour_usd(**OWNED)), ("b200", "rented", 6.0)}
        p = plan("llama-3.1-70b", GPUS, **SHAPE, owned={"h100-sxm-80gb": 1.5, "b200": OWNED})
        assert prices_of(p) == {("h100-sxm-80gb", "owned", 1.5), ("b200", "owned", owned_gpu_hour_usd(**OWNED))}

    def test_the_break_even_uses_each_gpus_price(self):
        one = llmxl.breakeven("llama-3.1-70b", GPUS, prompt_tokens=1000, completion_tokens=300, dtype="fp8",
                              peak_factor=2, api=(0.88, 0.88), gpu_hour_usd={"h100-sxm-80gb": 1.0, "b200": 99.0})  # fmt: skip
        assert one.row.gpu == "h100-sxm-80gb" and one.row.usd_per_gpu_hour == 1.0

    def test_rows_carry_both_names_of_the_price(self):
        row = plan("llama-3.1-70b", GPUS, **SHAPE, gpu_hour_usd={"b200": 7.0}).rows[0].to_dict()
        assert row["usd_per_gpu_hour"] == row["gpu_hour_usd"]
        assert list(row).index("usd_per_gpu_hour") == list(row).index("gpu_hour_usd") + 1
        assert list(row) == list(llmxl.plan.__globals__["ROW_FIELDS"])


class TestRefusals:
    @pytest.mark.parametrize(
        ("kw", "text"),
        [
            ({"gpu_hour_usd": {"b200": 7.0, "h200": 5.0}},
             "gpu_hour_usd names 'h200', which is not among the plan's GPUs (h100-sxm-80gb, b200)"),
            ({"owned": {"mi300x": 2.0}}, "owned names 'mi300x', which is not among the plan's GPUs"),
            ({"power_kw": {"l4": 0.1}}, "power_kw names 'l4', which is not among the plan's GPUs"),
            ({"gpu_hour_usd": {"b200": 7.0, "nvidia-b200": 6.0}}, "gpu_hour_usd names 'b200' twice"),
            ({"gpu_hour_usd": {"h100-sxm-80gb": 2.0}, "owned": {"h100-sxm-80gb": 1.5}},
             "give gpu_hour_usd (rented) or owned for h100-sxm-80gb, not both"),
            ({"gpu_hour_usd": "5,3"}, "gpu_hour_usd must be a number, got '5,3'"),
            ({"owned": {"purchase_usd": 1, "yeers": 5}}, "owned has unknown field 'yeers'"),
        ],
    )  # fmt: skip
    def test_one_line_naming_the_field(self, kw, text):
        with pytest.raises(InvalidInputError, match=re.escape(text)) as info:
            plan("llama-3.1-70b", GPUS, **SHAPE, **kw)
        assert "\n" not in str(info.value)

    def test_an_unknown_name_suggests(self):
        with pytest.raises(UnknownNameError, match="gpu_hour_usd: unknown gpu 'b2000'; did you mean 'b200'"):
            plan("llama-3.1-70b", GPUS, **SHAPE, gpu_hour_usd={"b2000": 7.0})


class TestOwnedGpuHour:
    def test_power_from_the_gpu_and_the_average_pue(self):
        # 30,000 / (5 · 8,760) + 1.02 kW · 1.58 · 0.08 (docs/methodology.md, "Worked check (energy)")
        assert owned_gpu_hour_usd(30000, 5, usd_per_kwh=0.08, gpu="h100-sxm-80gb") == pytest.approx(
            30000 / 43800 + 1.02 * 1.58 * 0.08, rel=1e-12
        )

    @pytest.mark.parametrize(
        ("kw", "text"),
        [({"usd_per_kwh": 0.08}, "power_kw is missing"), ({"power_kw": 1.0}, "usd_per_kwh is missing"),
         ({"usd_per_kwh": 0.08, "gpu": "a10"}, "gpu 'a10' has no board power")],
    )  # fmt: skip
    def test_what_is_missing_is_named(self, kw, text):
        with pytest.raises(InvalidInputError, match=text):
            owned_gpu_hour_usd(30000, 5, **kw)
