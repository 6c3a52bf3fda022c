"""Recalculate a workbook with LibreOffice headless (for tests and for checking a file).

LibreOffice gets a private profile whose ``OOXMLRecalcMode`` is 0 ("always"),
so every formula is recomputed on load; the file is converted to .xlsx with the
computed values cached, which openpyxl then reads with ``data_only=True``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import LlmxlError

_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def recalculate(src: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, timeout_s: float = 300) -> Path:
    """Recalculate ``src`` with LibreOffice; returns the path of the recalculated copy in ``out_dir``."""
    return recalculate_many([src], out_dir, timeout_s=timeout_s)[0]


def recalculate_many(
    srcs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *, timeout_s: float = 300
) -> list[Path]:
    """Recalculate several workbooks in one LibreOffice run (it starts once: a few seconds saved per file);
    returns the paths of the recalculated copies in ``out_dir``, in order. Their names must differ."""
    exe = soffice_path()
    if exe is None:
        raise LlmxlError("LibreOffice (soffice) is not installed; apt-get install libreoffice-calc-nogui")
    stems = [Path(src).stem for src in srcs]
    if len(set(stems)) != len(stems):
        raise LlmxlError("recalculate_many takes workbooks of different names (their copies share out_dir)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmxl-lo-") as profile:
        user = Path(profile) / "user"
        user.mkdir(parents=True)
        (user / "registrymodifications.xcu").write_text(_XCU, encoding="utf-8")
        proc = subprocess.run(
            [
                exe,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--norestore",
                "--convert-to",
                "xlsx",
                "--outdir",
                str(out),
                *(str(src) for src in srcs),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s * len(srcs),
        )
    results = [out / (stem + ".xlsx") for stem in stems]
    missing = [str(src) for src, result in zip(srcs, results, strict=True) if not result.exists()]
    if proc.returncode != 0 or missing:
        raise LlmxlError(
            f"LibreOffice could not recalculate {', '.join(missing) or srcs[0]}: "
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return results
