"""Packaging: the wheel carries the catalog and the UDF module; `import llmxl` stays light; ruff is clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """A fresh venv with only the built wheel installed; dependencies come from the interpreter under test."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", "workbooks", ".ruff_cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    wheels = list((tmp / "dist").glob("llmxl-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # The dependencies come from the interpreter under test (the user's venv, not the base
    # Python a system-site venv would see). Paths listed in a .pth file are added as they are,
    # without running their own .pth files, so an editable llmxl there stays invisible.
    target = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(target, "_llmxl_test_deps.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n", encoding="utf-8"
    )
    subprocess.run(  # without PYTHONPATH: an llmxl (or its egg-info) on it would read as installed already
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheels[0])],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    return py, wheels[0]


def test_wheel_ships_catalog_udfs_and_types(wheel_venv):
    import zipfile

    names = zipfile.ZipFile(wheel_venv[1]).namelist()
    assert "llmxl/data/dtypes.toml" in names
    assert any(n.startswith("llmxl/data/models/") and n.endswith(".toml") for n in names)
    assert any(n.startswith("llmxl/data/gpus/") and n.endswith(".toml") for n in names)
    assert "llmxl/py.typed" in names and "llmxl_udfs/__init__.py" in names and "llmxl_udfs/scenario.py" in names


def test_installed_wheel_works_from_anywhere(wheel_venv, tmp_path):
    py = wheel_venv[0]
    code = (
        "import json, llmxl, llmxl_udfs\n"
        "e = llmxl.estimate('llama-2-70b', 'a100-sxm-80gb', tp=2, prompt_tokens=128, completion_tokens=242,"
        " gpu_hour_usd=2.21, method='reference')\n"
        "print(json.dumps({'file': llmxl.__file__, 'udfs': llmxl_udfs.__file__, 'models': len(llmxl.models()),"
        " 'gpus': len(llmxl.gpus()), 'tps': round(e.tokens_per_s, 3)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["LLMXL_CATALOG"] = ""
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True, env=env)
    data = json.loads(out.stdout)
    venv_root = str(Path(py).parents[1])
    assert data["file"].startswith(venv_root) and data["udfs"].startswith(venv_root)
    assert data["models"] >= 11 and data["gpus"] >= 11 and data["tps"] == 25.568
    cli = Path(py).parent / "llmxl"
    ver = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True, env=env)
    assert ver.stdout.startswith("llmxl ")


def test_import_llmxl_stays_light():
    code = (
        "import sys, llmxl\n"
        "heavy = [m for m in ('openpyxl', 'xlwings', 'argparse', 'llmxl.cli', 'llmxl.workbook', 'tomllib',"
        " 'llmxl.specs', 'pydantic.main', 'genai_prices', 'httpx2', 'llmxl.api_catalog')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    proc = subprocess.run(
        [ruff, "check", "llmxl", "udfs", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
