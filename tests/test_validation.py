"""docs/validation.md is what benchmarks/validate.py gives for the code, catalog and data as they are."""

from __future__ import annotations

import importlib.util

from .conftest import ROOT


def _validate_module():
    spec = importlib.util.spec_from_file_location("llmxl_validate", ROOT / "benchmarks" / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
