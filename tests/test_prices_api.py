"""API prices: genai-prices' bundled snapshot read offline, llmxl's own file for what it lacks, the fallback,
their dates and the 180-day flag, and `llmxl catalog apis`."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import tomllib

import pytest

import llmxl
from llmxl import api_catalog, prices
from llmxl.cli import main
from llmxl.errors import CatalogError, LlmxlWarning, UnknownNameError

from .conftest import ROOT

PIN = "0.2.3"  # pyproject.toml's genai extra; the mapping is checked against this release
PUBLISHED = dt.date(2026, 11, 10)  # PyPI upload date of genai-prices 0.2.3


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def genai_entry(provider: str, model_id: str):
    """A model of genai-prices' bundled data, read here directly (not through llmxl)."""
    from genai_prices.data import providers

    p = next(p for p in providers if p.id == provider)
    return p, next(m for m in p.models if m.id == model_id)


@pytest.fixture
def without_genai(monkeypatch):
    """As if genai-prices were not installed (the metadata lookup is what llmxl asks first)."""
    import importlib.metadata as md

    real = md.version

    def version(name):
        if name == "genai-prices":
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(md, "version", version)
    llmxl.catalog.reset()


class TestPin:
    def test_the_installed_genai_prices_is_the_pinned_one(self):
        # Fails after an upgrade until the pin, the mapping's [genai_prices] and this test agree: see the README.
        from importlib.metadata import version

        status = api_catalog.snapshot_status()
        assert (status.pinned, status.published) == (PIN, PUBLISHED)
        assert version("genai-prices") == PIN, "installed genai-prices differs from the pin: re-check the mapping"
        assert status.usable

    def test_the_extras_pin_the_same_version(self):
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert extras["genai"] == [f"genai-prices=={PIN}"]
        assert f"genai-prices=={PIN}" in extras["test"]  # so CI reads the snapshot
        assert not any("genai" in d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                       ["dependencies"])  # fmt: skip


class TestMapping:
    def test_every_entry_resolves_to_a_price_in_the_pinned_snapshot(self):
        entries = api_catalog.api_models()
        assert len(entries) >= 250
        table = api_catalog.price_table(PUBLISHED)
        for e in entries:
            provider, info = genai_entry(e.genai_provider, e.genai_model)  # the exact id exists
            assert llmxl.get_model(e.model).id == e.model
            p = table[(e.provider, e.model)]
            assert p.date_basis == "snapshot" and p.provider_model == info.id
            assert p.prompt_usd_per_1m >= 0 and p.completion_usd_per_1m > 0, (e.provider, e.model)
            assert p.source.startswith(f"genai-prices {PIN} ") and provider.name in p.source
            assert p.source_url == provider.pricing_urls[0]

    def test_llmxl_own_file_holds_only_what_genai_prices_lacks(self):
        mapped = {(e.provider, e.model) for e in api_catalog.api_models()}
        own = tomllib.loads((ROOT / "llmxl" / "data" / "api_prices.toml").read_text())["api_prices"]
        assert own and not [(e["provider"], e["model"]) for e in own if (e["provider"], e["model"]) in mapped]
        assert {e["provider"] for e in own} == {"deepinfra"}  # genai-prices 0.2.3 has no DeepInfra

    def test_provider_names_follow_one_rule(self):
        for e in api_catalog.api_models():
            expected = "aws-bedrock" if e.genai_provider == "aws" else e.genai_provider.replace("_", "-")
            assert e.provider == expected

    def test_variants_are_mapped_to_the_dtype_they_serve(self):
        p = llmxl.api_price("llama-3.1-70b", "together")
        assert p.provider_model.endswith("-Turbo") and p.served_dtype == "w8a8e16-fp8"  # Together: Turbo is FP8
        assert not any(e.genai_model.endswith(("-Lite", "-awq")) for e in api_catalog.api_models())  # INT4 left out
        assert llmxl.api_price("llama-4-maverick", "together").served_dtype == "w8a8e16-fp8"  # the -FP8 checkpoint

    def test_a_bad_entry_is_named(self, monkeypatch):
        data = api_catalog._map_data()
        bad = {**data, "api_models": [*data["api_models"][:1], dict(data["api_models"][0])]}
        monkeypatch.setattr(api_catalog, "_map_data", lambda: bad)
        with pytest.raises(CatalogError, match=r"api_models\.toml: .* is listed twice; keep one"):
            api_catalog.api_models()
        wrong = {**data, "api_models": [{**data["api_models"][0], "genai_model": "no-such-model"}]}
        monkeypatch.setattr(api_catalog, "_map_data", lambda: wrong)
        with pytest.raises(CatalogError, match=r"genai-prices 0\.2\.3 has no model 'no-such-model'"):
            api_catalog.price_table(PUBLISHED)


class TestPrices:
    """Figures of genai-prices 0.2.3's bundled data (prices/providers/*.yml of that release)."""

    def test_published_prices_come_through(self):
        p = llmxl.api_price("meta-llama/Llama-3.3-70B-Instruct", "together")
        assert (p.prompt_usd_per_1m, p.completion_usd_per_1m, p.cached_input_usd_per_1m) == (0.88, 0.88, None)
        assert (p.checked, p.date_basis, p.since) == (PUBLISHED, "snapshot", None)
        assert p.source_url == "https://www.together.ai/pricing"
        c = llmxl.api_price("deepseek-v3", "deepseek")
        assert (c.prompt_usd_per_1m, c.completion_usd_per_1m, c.cached_input_usd_per_1m) == (0.27, 1.1, 0.07)

    def test_the_price_in_force_on_a_date_and_its_start(self):
        # OpenRouter's Llama-3.3-70B: 0.05/0.24 undated, then 0.10/0.32 from 2026-10-19, 0.45/0.90 from
        # 2026-11-03 and 0.59/0.79 from 2026-11-09.
        def on(day):
            return llmxl.api_price("llama-3.3-70b", "openrouter", today=day)

        late = on(dt.date(2026, 12, 4))
        assert (late.prompt_usd_per_1m, late.completion_usd_per_1m, late.since) == (0.59, 0.79, dt.date(2026, 11, 9))
        assert late.checked == PUBLISHED  # in force since 11-09, in the snapshot of 11-10
        mid = on(dt.date(2026, 11, 8))
        assert (mid.prompt_usd_per_1m, mid.completion_usd_per_1m, mid.since) == (0.45, 0.9, dt.date(2026, 11, 3))
        early = on(dt.date(2026, 10, 1))
        assert (early.prompt_usd_per_1m, early.since) == (0.05, None)
        assert "changes on 2026-10-19 to 0.1 / 0.32" in early.note

    def test_a_price_that_starts_after_the_snapshot_is_dated_by_its_start(self):
        from types import SimpleNamespace

        from genai_prices.types import ConditionalPrice, ModelInfo, ModelPrice, StartDateConstraint

        entry = next(e for e in api_catalog.api_models() if e.provider == "together" and e.model == "llama-3.3-70b")
        later = dt.date(2027, 1, 1)
        info = ModelInfo(id=entry.genai_model, match=None, prices=[
            ConditionalPrice(prices=ModelPrice(input_mtok=1, output_mtok=2)),
            ConditionalPrice(constraint=StartDateConstraint(start_date=later),
                             prices=ModelPrice(input_mtok=3, output_mtok=4)),
        ])  # fmt: skip
        notes: list[str] = []
        price, since = api_catalog._in_force(info, dt.date(2026, 12, 31), notes)
        assert (price.input_mtok, since, notes) == (1, None, ["changes on 2027-01-01 to 3 / 4"])
        price, since = api_catalog._in_force(info, later, [])
        assert (price.input_mtok, since) == (3, later)
        stand_in = {"together": SimpleNamespace(id="together", name="Together AI", pricing_urls=[], models=[info])}
        p = api_catalog._genai_price(entry, stand_in, api_catalog.snapshot_status(), later)
        assert (p.prompt_usd_per_1m, p.checked, p.since) == (3.0, later, later)  # known to hold from its start

    def test_time_of_day_prices_list_the_longer_window(self):
        # DeepSeek: 0.27/1.10 from 00:30 to 16:30 UTC (16 h), 0.135/0.55 the other 8 h.
        p = llmxl.api_price("deepseek-v3", "deepseek")
        assert (p.prompt_usd_per_1m, p.completion_usd_per_1m) == (0.27, 1.1)
        assert "0.135 / 0.55 the rest of the day" in p.note

    def test_a_start_date_never_makes_a_price_older_than_its_snapshot(self):
        for p in llmxl.api_prices(today=PUBLISHED):
            if p.date_basis == "snapshot":
                assert p.checked == PUBLISHED and (p.since is None or p.since <= PUBLISHED)


class TestAge:
    def test_a_read_price_ages_from_the_day_it_was_read(self):
        p = llmxl.api_price("llama-3.3-70b", "deepinfra")  # llmxl's own file: checked 2026-11-05
        assert (p.checked, p.date_basis) == (dt.date(2026, 11, 5), "checked")
        assert prices.price_age_days(p, today=dt.date(2026, 11, 5)) == 0
        assert not prices.price_is_stale(p, today=dt.date(2027, 5, 4))  # 180 days
        assert prices.price_is_stale(p, today=dt.date(2027, 5, 5))
        assert prices.age_text(p, today=dt.date(2027, 5, 5)) == "2026-11-05 (checked), 181 days old: check it"

    def test_a_snapshot_price_ages_from_its_snapshot(self):
        p = llmxl.api_price("gpt-oss-120b", "fireworks")  # since 2026-10-19 (a cache-read change)
        assert p.since == dt.date(2026, 10, 19) and p.cached_input_usd_per_1m == 0.015
        assert prices.price_age_days(p, today=PUBLISHED + dt.timedelta(days=180)) == 180
        assert not prices.price_is_stale(p, today=PUBLISHED + dt.timedelta(days=180))
        assert prices.price_is_stale(p, today=PUBLISHED + dt.timedelta(days=181))
        assert prices.date_text(p) == "2026-11-10 (snapshot; since 2026-10-19)"

    def test_no_price_is_dated_before_the_source_it_was_read_from(self):
        # Issue 18: seven entries were dated 2025-08-21 while their source, read "with the file's commit date
        # used", is the commit of 2026-08-21.
        for p in llmxl.api_prices():
            m = re.search(r"@\w+ \((\d{4}-\d{2}-\d{2})\); no check date in the source, the file's commit date used",
                          p.source)  # fmt: skip
            if m:
                assert p.checked.isoformat() == m.group(1), (p.provider, p.model)


class TestOffline:
    def test_a_lookup_opens_no_socket_and_starts_no_thread(self):
        # A fresh interpreter, sockets refused before anything is imported: the import of genai-prices and
        # every lookup must still work.
        code = (
            "import json, socket, sys, threading\n"
            "def refuse(*a, **k):\n"
            "    raise OSError('network access attempted')\n"
            "class Refused(socket.socket):\n"
            "    def __init__(self, *a, **k):\n"
            "        refuse()\n"
            "socket.socket = Refused\n"
            "socket.create_connection = refuse\n"
            "socket.getaddrinfo = refuse\n"
            "import llmxl\n"
            "ps = llmxl.api_prices()\n"
            "p = llmxl.api_price('llama-3.3-70b', 'together')\n"
            "print(json.dumps({'n': sum(x.date_basis == 'snapshot' for x in ps), 'price': p.prompt_usd_per_1m,\n"
            "                  'threads': [t.name for t in threading.enumerate()],\n"
            "                  'genai': 'genai_prices' in sys.modules}))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        doc = json.loads(out.stdout)
        assert doc["genai"] and doc["n"] >= 250 and doc["price"] == 0.88
        assert doc["threads"] == ["MainThread"]  # no updater thread

    def test_lookups_in_process_with_sockets_refused(self, monkeypatch):
        import socket
        import threading

        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")

        monkeypatch.setattr(socket, "socket", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        before = set(threading.enumerate())
        assert len(llmxl.api_prices(today=dt.date(2027, 2, 1))) >= 250
        assert set(threading.enumerate()) == before

    def test_import_llmxl_does_not_import_genai_prices(self):
        code = (
            "import sys, llmxl\n"
            "llmxl.estimate('llama-2-7b', 'a100-sxm-80gb', prompt_tokens=8, completion_tokens=8)\n"
            "print(','.join(m for m in ('genai_prices', 'httpx2') if m in sys.modules))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        assert out.stdout.strip() == ""  # an estimate loads the catalog, not the API prices


class TestFallback:
    def test_without_genai_prices_llmxl_own_prices_remain_with_a_warning(self, without_genai):
        with pytest.warns(LlmxlWarning, match=r"genai-prices is not installed; .*pip install 'llmxl\[genai\]'"):
            every = llmxl.api_prices()
        assert every and {p.provider for p in every} == {"deepinfra"}
        assert llmxl.api_price("llama-3.3-70b", "deepinfra").prompt_usd_per_1m == 0.1

    def test_the_error_for_a_provider_says_how_to_get_it(self, without_genai):
        with pytest.warns(LlmxlWarning), pytest.raises(UnknownNameError, match=r"genai-prices is not installed"):
            llmxl.api_price("llama-3.3-70b", "together")

    def test_another_version_is_not_read(self, monkeypatch):
        import importlib.metadata as md

        real = md.version
        monkeypatch.setattr(md, "version", lambda name: "0.2.4" if name == "genai-prices" else real(name))
        llmxl.catalog.reset()
        with pytest.warns(LlmxlWarning, match=r"genai-prices 0\.2\.4 is installed, but .* checked against 0\.2\.3"):
            assert {p.provider for p in llmxl.api_prices()} == {"deepinfra"}

    def test_the_cli_warns_in_one_line(self, capsys, without_genai):
        assert main(["catalog", "apis"]) == 0
        out, err = capsys.readouterr()
        assert err.startswith("llmxl: warning: API prices are llmxl's own (deepinfra)") and err.count("\n") == 1
        assert "Only llmxl's own prices and your catalog's: genai-prices is not installed" in out

    def test_a_user_price_replaces_both_sources(self, tmp_path):
        f = tmp_path / "mine.toml"
        f.write_text(
            '[[api_prices]]\nprovider = "together"\nmodel = "llama-3.3-70b"\nprompt_usd_per_1m = 0.5\n'
            'completion_usd_per_1m = 0.6\nsource = "our contract"\nchecked = 2026-12-01\n'
        )
        llmxl.add_catalog_file(f)
        p = llmxl.api_price("llama-3.3-70b", "together")
        assert (p.prompt_usd_per_1m, p.source, p.date_basis) == (0.5, "our contract", "checked")
        assert api_catalog.origin(p) == str(f)


class TestCli:
    def test_catalog_apis_lists_every_price_with_its_source_and_date(self, capsys):
        out = run(capsys, "catalog", "apis")
        lines = out.splitlines()
        assert lines[0].split()[:2] == ["provider", "model"]
        today = dt.date.today()
        every = llmxl.api_prices()
        body = lines[1 : 1 + len(every)]
        assert len(lines) == len(every) + 4  # header, one line per price, three lines of summary
        for p, line in zip(every, body, strict=True):
            assert line.startswith(p.provider + " ") and f" {p.model} " in line
            assert prices.date_text(p) in line
            assert ("STALE" in line) == prices.price_is_stale(p, today)
            if p.date_basis == "snapshot":
                assert f"genai-prices {PIN}: {p.source_url}" in line
        n_genai = sum(p.date_basis == "snapshot" for p in every)
        assert lines[len(every) + 1] == (
            f"{len(every)} prices: {n_genai} from genai-prices {PIN} (its snapshot of {PUBLISHED.isoformat()}), "
            f"{len(every) - n_genai} from llmxl's own file (llmxl/data/api_prices.toml)"
        )
        stale = sum(prices.price_is_stale(p, today) for p in every)
        assert lines[len(every) + 2].startswith(f"{stale} older than 180 days")

    def test_catalog_apis_json_and_one_model(self, capsys):
        doc = json.loads(run(capsys, "catalog", "apis", "--model", "meta-llama/Llama-3.3-70B-Instruct", "--json"))
        assert doc and {d["model"] for d in doc} == {"llama-3.3-70b"}
        for d in doc:
            assert {"prompt_usd_per_1m", "completion_usd_per_1m", "cached_input_usd_per_1m", "checked", "date_basis",
                    "since", "source", "source_url", "served_dtype", "note", "age_days", "stale"} <= set(d)  # fmt: skip
        assert {d["provider"] for d in doc} >= {"together", "groq", "deepinfra", "openrouter", "aws-bedrock"}

    @pytest.mark.parametrize("provider", ["together", "deepinfra"])
    def test_plan_api_names_the_price_date_source_and_flag(self, capsys, provider):
        out = run(capsys, "plan", "--model", "llama-3.3-70b", "--gpu", "h100-sxm-80gb", "--prompt", "1000",
                  "--completion", "300", "--rps", "5", "--tp", "2", "--api", provider)  # fmt: skip
        p = llmxl.api_price("llama-3.3-70b", provider)
        api = next(x for x in out.splitlines() if x.startswith(f"API {provider}:"))
        assert f"price of {prices.date_text(p)}" in api and p.source in api
        assert ("days old: check it" in api) == prices.price_is_stale(p)

    def test_plan_json_carries_the_price_record(self, capsys):
        doc = json.loads(run(capsys, "plan", "--model", "llama-3.3-70b", "--gpu", "h100-sxm-80gb", "--prompt",
                             "1000", "--completion", "300", "--rps", "5", "--tp", "2", "--api", "groq", "--json",
                             "-"))  # fmt: skip
        rec = doc["breakeven"]["api_price"]
        assert rec["provider"] == "groq" and rec["date_basis"] == "snapshot" and rec["checked"] == "2026-11-10"
        assert rec["source_url"] == "https://console.groq.com/docs/models"
        assert rec["stale"] == ((dt.date.today() - PUBLISHED).days > 180)
