"""xlwings Lite: the functions register and compute through the path Lite's runtime takes.

Lite (Pyodide, inside Excel's add-in runtime) runs with ``XLWINGS_ON_SERVER=true``, so ``xw.func``
and ``xw.arg`` are xlwings' Office.js decorators. It execs the editor's ``main.py`` into a module named
``main``, registers every member carrying ``__xlfunc__`` (``xlwings.server.custom_functions_meta``,
which lists members with ``inspect.getmembers``, imported ones included) and calls them through
``xlwings.server.custom_functions_call``. This test does the same in a fresh interpreter, with
``main.py`` holding the one line udfs/README.md tells a user to write. Pyodide itself is not run here.
xlwings' Office.js module checks for a license key outside Lite; the test uses the key xlwings
documents for non-commercial use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import llmxl

_SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib.util, json, sys
    import xlwings, xlwings.server

    spec = importlib.util.spec_from_loader("main", loader=None)
    main = importlib.util.module_from_spec(spec)
    exec(open(sys.argv[1]).read(), main.__dict__)  # as Lite runs the editor's main.py
    sys.modules["main"] = main
    meta = xlwings.server.custom_functions_meta(main)

    def call(name, *args):
        data = {"func_name": name, "args": [[[a]] if a is not None else [[None]] for a in args],
                "version": xlwings.__version__, "client": "Office.js", "runtime": "1.4",
                "caller_address": "Sheet1!A1", "formula_name": name, "culture_info_name": "en-US",
                "date_format": "m/d/yyyy"}
        return asyncio.run(xlwings.server.custom_functions_call(data, main))

    print(json.dumps({
        "functions": [{"name": f["name"], "description": f["description"],
                       "parameters": [(p["name"], p.get("description", ""), p.get("optional", False))
                                      for p in f["parameters"]]} for f in meta["functions"]],
        "ttft": call("LLM_TTFT", "llama-3.1-8b", "h100-sxm-80gb", 8, 1000, 200),
        "bad": call("LLM_TTFT", "llama-3.1-8b", "h100-sxm-80gb", 2.5, 1000, 200),
        "calibrated_gpu_unknown": call("LLM_TTFT", "llama-3.1-8b", "h100-sxm-80gb@nowhere", 8, 1000, 200),
    }))
    """
)


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    import importlib.util

    assert importlib.util.find_spec("xlwings.server") is not None, "xlwings' Office.js module (xlwings ≥ 0.30)"
    folder = tmp_path_factory.mktemp("lite")
    (folder / "main.py").write_text("from llmxl_udfs import *  # noqa: F403\n")  # udfs/README.md, xlwings Lite, step 4
    (folder / "run.py").write_text(_SCRIPT)
    env = {**os.environ, "XLWINGS_ON_SERVER": "true", "XLWINGS_LICENSE_KEY": "noncommercial"}
    proc = subprocess.run(
        [sys.executable, str(folder / "run.py"), str(folder / "main.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_every_function_registers_from_main_py_with_its_documentation(lite):
    import llmxl_udfs

    names = {f["name"] for f in lite["functions"]}
    assert names == set(llmxl_udfs.__all__)
    for f in lite["functions"]:
        assert f["description"].strip(), f["name"]
        assert all(description.strip() for _, description, _ in f["parameters"]), f["name"]
    ttft = next(f for f in lite["functions"] if f["name"] == "LLM_TTFT")
    assert [p[0] for p in ttft["parameters"]][:5] == [
        "model",
        "gpu",
        "batch_size",
        "prompt_tokens",
        "completion_tokens",
    ]
    assert all(optional for _, _, optional in ttft["parameters"][5:])


def test_a_call_computes_what_the_library_computes(lite):
    expected = llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", batch_size=8, prompt_tokens=1000, completion_tokens=200)
    assert lite["ttft"] == [[pytest.approx(expected.ttft_s, rel=1e-12)]]


def test_bad_input_shows_one_line_naming_the_field(lite):
    ((text,),) = lite["bad"]
    assert text.startswith("#VALUE!") and "batch_size" in text and "2.5" in text and "\n" not in text
    ((text,),) = lite["calibrated_gpu_unknown"]
    assert "h100-sxm-80gb@nowhere" in text and "\n" not in text
