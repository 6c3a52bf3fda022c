"""API prices: their dates, the 180-day staleness flag, and `llmxl catalog apis`."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

import llmxl
from llmxl import prices
from llmxl.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


class TestAge:
    def test_age_in_days_from_the_date_the_price_is_known_to_hold(self):
        p = llmxl.api_price("llama-3.3-70b", "together")  # checked 2025-07-03
        assert prices.price_age_days(p, today=dt.date(2025, 7, 3)) == 0
        assert prices.price_age_days(p, today=dt.date(2025, 12, 30)) == 180
        assert not prices.price_is_stale(p, today=dt.date(2025, 12, 30))
        assert prices.price_is_stale(p, today=dt.date(2025, 12, 31))  # 181 days
        assert "181 days old: check it" in prices.age_text(p, today=dt.date(2025, 12, 31))
        assert prices.age_text(p, today=dt.date(2025, 8, 1)) == "2025-07-03"

    def test_no_price_is_dated_before_the_source_it_was_read_from(self):
        # Issue 18: seven entries were dated 2025-08-21 while their source, read "with the file's commit date
        # used", is the commit of 2026-08-21.
        for p in llmxl.api_prices():
            m = re.search(r"@\w+ \((\d{4}-\d{2}-\d{2})\); no check date in the source, the file's commit date used",
                          p.source)  # fmt: skip
            if m:
                assert p.checked.isoformat() == m.group(1), (p.provider, p.model)

    def test_cached_input_price_and_start_date_are_optional_fields(self):
        p = llmxl.api_price("llama-3.3-70b", "together")
        assert p.cached_input_usd_per_1m is None or p.cached_input_usd_per_1m >= 0
        assert p.since is None or p.since <= p.checked


class TestCli:
    def test_catalog_apis_lists_every_price_with_its_date_and_flag(self, capsys):
        out = run(capsys, "catalog", "apis")
        lines = out.splitlines()
        assert lines[0].split()[:2] == ["provider", "model"]
        today = dt.date.today()
        every = llmxl.api_prices()
        assert len(lines) == len(every) + 2  # header, one line per price, the summary
        for p in every:
            line = next(x for x in lines if x.startswith(p.provider + " ") and f" {p.model} " in x)
            assert p.checked.isoformat() in line
            assert ("STALE" in line) == prices.price_is_stale(p, today)
        stale = sum(prices.price_is_stale(p, today) for p in every)
        assert lines[-1].startswith(f"{len(every)} prices; {stale} older than 180 days")

    def test_catalog_apis_json_and_one_model(self, capsys):
        doc = json.loads(run(capsys, "catalog", "apis", "--model", "meta-llama/Llama-3.3-70B-Instruct", "--json"))
        assert doc and {d["model"] for d in doc} == {"llama-3.3-70b"}
        for d in doc:
            assert {"prompt_usd_per_1m", "completion_usd_per_1m", "cached_input_usd_per_1m", "checked", "source",
                    "age_days", "stale"} <= set(d)  # fmt: skip

    @pytest.mark.parametrize("provider", ["together", "deepinfra"])
    def test_plan_api_names_the_price_date_and_flags_it(self, capsys, provider):
        out = run(capsys, "plan", "--model", "llama-3.3-70b", "--gpu", "h100-sxm-80gb", "--prompt", "1000",
                  "--completion", "300", "--rps", "5", "--tp", "2", "--api", provider)  # fmt: skip
        p = llmxl.api_price("llama-3.3-70b", provider)
        api = next(x for x in out.splitlines() if x.startswith(f"API {provider}:"))
        assert f"price of {p.checked.isoformat()}" in api
        assert ("days old: check it" in api) == prices.price_is_stale(p)
