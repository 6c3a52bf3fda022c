"""A `serving` result on a GPU the constants were not fitted to says that they are borrowed, once."""

from __future__ import annotations

import importlib
import sys

import pytest

import llmxl
from llmxl import CatalogError
from llmxl.calibration import Measurement, _predict, calibrate
from llmxl.cli import main

from .conftest import CHECK_GPU, ROOT

KW = dict(prompt_tokens=512, completion_tokens=128)
FITTED = llmxl.catalog.method_defaults("serving").fitted_gpus


def borrowed(e) -> list[str]:
    return [w for w in e.warnings if w.startswith("serving constants")]


def test_methods_toml_records_the_gpus_of_the_fitted_points():
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    fitting, measurements = importlib.import_module("fitting"), importlib.import_module("measurements")
    rows = [r for r in measurements.load() if measurements.predict(r, "serving")[0] is not None]
    assert list(FITTED) == fitting.fitted_gpus(rows), "run python benchmarks/fit.py --write"
    # the data: A100, H100, H200 and L40S, and three full-load TensorRT-LLM points on B200
    assert {"a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "l40s", "b200"} <= set(FITTED)
    assert "mi300x" not in FITTED and "gb200" not in FITTED


def test_a_fitted_gpu_does_not_warn():
    for gpu in ("h100-sxm-80gb", "b200"):  # b200's three full-load points are fitted (benchmarks/data/measured.csv)
        assert borrowed(llmxl.estimate("llama-3.1-8b", gpu, **KW)) == []


@pytest.mark.parametrize("gpu", ["mi300x", "gb200", "b300"])
def test_a_gpu_outside_the_fit_warns_once_naming_the_fitted_gpus(gpu):
    (w,) = borrowed(llmxl.estimate("llama-3.1-8b", gpu, **KW))
    assert w == (
        f"serving constants for {gpu} come from the fit to {', '.join(FITTED)} (llmxl/data/methods.toml); "
        "calibrate to your own runs (llmxl calibrate) to replace them"
    )
    assert "\n" not in w and "a100-sxm-80gb" in w and "h100-sxm-80gb" in w


def test_given_efficiencies_still_borrow_the_overheads():
    e = llmxl.estimate("llama-3.1-8b", "mi300x", flops_efficiency=0.5, hbm_efficiency=0.7, **KW)
    assert len(borrowed(e)) == 1


@pytest.mark.parametrize("method", ["reference", "standard"])
def test_roofline_methods_do_not_warn(method):
    assert borrowed(llmxl.estimate("llama-3.1-8b", "mi300x", method=method, **KW)) == []


def test_an_array_estimate_warns_once():
    e = llmxl.estimate("llama-3.1-8b", "mi300x", batch_size=[1, 2, 4, 8], prompt_tokens=[256, 512, 1024, 2048],
                       completion_tokens=128, on_error="nan")  # fmt: skip
    assert len(borrowed(e)) == 1 and len(e.to_dict()["warnings"]) == len(e.warnings)


def test_a_gpu_with_its_own_constants_does_not_warn(tmp_path):
    path = tmp_path / "check.toml"
    path.write_text(CHECK_GPU)
    llmxl.add_catalog_file(path)
    assert borrowed(llmxl.estimate("llama-3.1-8b", "h100-check", **KW)) == []


def test_a_gpu_with_some_constants_of_its_own_names_the_borrowed_ones(tmp_path):
    path = tmp_path / "part.toml"
    path.write_text(CHECK_GPU.replace('"h100-check"', '"part-check"').replace("layer_overhead_s = 1e-5\n", ""))
    llmxl.add_catalog_file(path)
    (w,) = borrowed(llmxl.estimate("llama-3.1-8b", "part-check", **KW))
    assert w.startswith("serving constants layer_overhead_s for part-check come from the fit to ")


def test_a_gpu_given_as_fields_warns():
    fields = llmxl.get_gpu("mi300x").model_dump(exclude={"id", "aliases"})
    (w,) = borrowed(llmxl.estimate("llama-3.1-8b", fields, **KW))
    assert w.startswith("serving constants for custom-gpu come from the fit to ")


def test_a_calibrated_gpu_does_not_warn(tmp_path, monkeypatch):
    # "measurements" made on mi300x with constants of its own, fitted back and saved
    own = {"serving_hbm_efficiency": 0.7, "serving_flops_efficiency": 0.5, "decode_overhead_s": 8e-4,
           "prefill_overhead_s": 0.01, "allreduce_latency_s": 2e-5, "layer_overhead_s": 2e-5}  # fmt: skip
    truth = llmxl.get_gpu("mi300x").model_copy(update=own)
    runs = []
    for model, tp in (("llama-3.1-8b", 1), ("llama-3.1-70b", 2)):
        for conc in (1, 8, 64):
            for s, n in ((512, 128), (2048, 256)):
                m = Measurement(model=model, gpu="mi300x", tp=tp, dtype="fp8", prompt_tokens=s, completion_tokens=n,
                                concurrency=conc, metrics=dict.fromkeys(("ttft_s", "tpot_s", "output_tokens_per_s"), 1.0))  # fmt: skip
                runs.append(Measurement(**{**m.__dict__, "metrics": _predict(m, truth)}))
    cal = calibrate(runs)
    assert not cal.problems
    assert borrowed(llmxl.estimate("llama-3.1-8b", "mi300x", calibration=cal, **KW)) == []
    user = tmp_path / "catalog.toml"
    user.write_text("", encoding="utf-8")
    monkeypatch.setenv(llmxl.catalog.ENV_VAR, str(user))
    llmxl.catalog.reset()
    name = cal.save("mine")
    assert borrowed(llmxl.estimate("llama-3.1-8b", name, **KW)) == []
    assert len(borrowed(llmxl.estimate("llama-3.1-8b", "mi300x", **KW))) == 1


def test_a_simulation_carries_the_warning():
    kw = dict(prompt_tokens=256, completion_tokens=32, num_requests=8, max_concurrency=4)
    sim = llmxl.simulate("llama-3.1-8b", "mi300x", **kw)
    assert len([w for w in sim.warnings if w.startswith("serving constants")]) == 1
    assert not [w for w in llmxl.simulate("llama-3.1-8b", "h100-sxm-80gb", **kw).warnings
                if w.startswith("serving constants")]  # fmt: skip


def test_the_cli_prints_it_once(capsys):
    code = main(["estimate", "--model", "llama-3.1-8b", "--gpu", "mi300x", "--prompt", "512", "--completion", "128"])
    out = capsys.readouterr().out
    assert code == 0 and out.count("warning: serving constants for mi300x come from the fit to") == 1


def test_fitted_gpus_is_validated():
    from llmxl.specs import MethodDefaults

    base = dict(flops_efficiency=0.5, hbm_efficiency=0.5, source="s", checked="2026-01-01")
    assert MethodDefaults(**base, fitted_gpus=["H100-SXM-80GB"]).fitted_gpus == ("h100-sxm-80gb",)
    for bad, why in (("h100-sxm-80gb", "must be a list"), (["l40s", "l40s"], "more than once"), ([3], "text")):
        with pytest.raises(ValueError, match=why):
            MethodDefaults(**base, fitted_gpus=bad)


def test_an_unknown_fitted_gpu_is_a_catalog_error(monkeypatch):
    d = llmxl.catalog.method_defaults("serving")
    real = llmxl.catalog._load_methods

    def with_unknown(cat):
        real(cat)
        cat.methods["serving"] = d.model_copy(update={"fitted_gpus": ("h100-sxm-80gb", "h999")})

    monkeypatch.setattr(llmxl.catalog, "_load_methods", with_unknown)
    llmxl.catalog.reset()
    with pytest.raises(CatalogError, match=r"fitted_gpus names h999, not a built-in GPU id"):
        llmxl.catalog.get_catalog()


def test_the_workbook_catalog_says_which_gpus_borrow():
    from llmxl.workbook.build import _default_serving_source

    source = llmxl.catalog.method_defaults("serving").source
    assert _default_serving_source(llmxl.get_gpu("h100-sxm-80gb")) == source
    text = _default_serving_source(llmxl.get_gpu("mi300x"))
    assert text.startswith(f"borrowed from the fit to {', '.join(FITTED)}") and text.endswith(source)
