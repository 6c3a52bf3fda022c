"""docs/validation.md is what benchmarks/validate.py gives for the code, catalog and data as they are."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import pytest

from .conftest import ROOT


def _benchmark(name: str):
    """One of the scripts under benchmarks/, loaded as a module."""
    spec = importlib.util.spec_from_file_location(f"llmxl_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shared(name: str):
    """One of the modules the scripts under benchmarks/ share, imported as they import it (benchmarks/ on
    sys.path), so that the tests and the scripts see the same module."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(name)


def _validate_module():
    return _benchmark("validate")


def test_the_published_validation_is_current():
    v = _validate_module()
    res = v.results()
    assert len(res) >= 50 and {r["row"]["regime"] for r in res} == set(v.REGIMES)
    committed = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert v.markdown(res) == committed, "regenerate: python benchmarks/validate.py"


def test_every_measurement_names_its_source():
    v = _validate_module()
    for row in v.load():
        assert row["source"].strip() and float(row["value"]) > 0, row


def _fit_module():
    """The fit benchmarks/fit.py runs, in the module it shares with benchmarks/validate.py."""
    return _shared("fitting")


def test_each_regime_weighs_the_same_in_the_fit():
    fit = _fit_module()
    rows = [{"regime": r, "source": "x"} for r in ("a",) * 30 + ("b",) * 6 + ("c",) * 1]
    w = fit.weights(rows, "regime")
    for regime in "abc":
        assert sum(x * x for x, r in zip(w, rows, strict=True) if r["regime"] == regime) == pytest.approx(1.0)
    assert list(fit.weights(rows, "point")) == [1.0] * len(rows)


def test_the_catalog_constants_are_the_fit_to_the_data_as_it_is():
    """Refitting from the stored constants leaves them where they are: data or code changed without a refit
    (python benchmarks/fit.py --write) fail here."""
    import numpy as np

    import llmxl

    fit = _fit_module()
    points = _shared("measurements")
    rows = [r for r in points.load() if fit.fitted(r) and points.predict(r, "serving")[0] is not None]
    d = llmxl.catalog.method_defaults("serving")
    stored = np.array([getattr(d, n) for n in fit.NAMES])
    again = fit.fit(rows, stored)
    # methods.toml keeps 4 significant digits; a constant at 0 stays within a thousandth of its scale
    assert np.all(np.abs(again - stored) <= np.maximum(2e-3 * np.abs(stored), 1e-3 * fit.SCALE)), (stored, again)
