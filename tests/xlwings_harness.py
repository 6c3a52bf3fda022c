"""Load llmxl_udfs the way Excel on Windows does, on any OS.

xlwings' Windows UDF machinery (``xlwings.udfs``) imports pythoncom, pywintypes
and win32com.client. With those stubbed, its real decorators (xlfunc, xlarg,
xlret), its argument conversion (``xlwings.conversion.read``) and its VBA
generator run here, so tests see exactly the metadata and conversions that
Excel would get. A minimal stand-in for the COM engine supplies what the
conversion pipeline asks of it (empty cells become None).

Run as a script to regenerate the committed ``udfs/llmxl_udfs.bas``:

    python tests/xlwings_harness.py
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAS = ROOT / "udfs" / "llmxl_udfs.bas"
_STUBS = ("pythoncom", "pywintypes", "win32com", "win32com.client")
MISSING = -2147352572  # what COM passes for an omitted optional argument


class _ComEngineImpl:
    """What xlwings' conversion stages ask of the Windows engine, for values COM hands over."""

    name = "excel"
    type = "desktop"

    # COM hands an error cell over as one of these integers (xlwings' _xlwindows.cell_errors).
    CELL_ERRORS = {
        -2146826281: "#DIV/0!",
        -2146826246: "#N/A",
        -2146826259: "#NAME?",
        -2146826288: "#NULL!",
        -2146826252: "#NUM!",
        -2146826265: "#REF!",
        -2146826273: "#VALUE!",
    }

    @classmethod
    def clean_value_data(cls, data, datetime_builder, empty_as, number_builder, err_to_str):
        def one(c):
            if c in ("", None):
                return empty_as
            if isinstance(c, int) and not isinstance(c, bool) and c in cls.CELL_ERRORS:
                return cls.CELL_ERRORS[c] if err_to_str else None
            return number_builder(c) if number_builder and isinstance(c, float) else c

        return [[one(c) for c in row] for row in data]

    @staticmethod
    def prepare_xl_data_element(x, options):
        return x


@contextlib.contextmanager
def windows_xlwings():
    """Yield (llmxl_udfs loaded with xlwings' Windows decorators, xlwings.udfs)."""
    ours = [name for name in sys.modules if name == "llmxl_udfs" or name.startswith("llmxl_udfs.")]
    saved = {name: sys.modules.get(name) for name in (*_STUBS, "xlwings.udfs", "llmxl_udfs", *ours)}
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: None
    pywintypes = types.ModuleType("pywintypes")
    pywintypes.com_error = type("com_error", (Exception,), {})
    win32com = types.ModuleType("win32com")
    client = types.ModuleType("win32com.client")
    client.Dispatch = lambda *a, **k: None
    win32com.client = client
    sys.modules.update(
        {"pythoncom": pythoncom, "pywintypes": pywintypes, "win32com": win32com, "win32com.client": client}
    )
    import xlwings

    sys.modules.pop("xlwings.udfs", None)
    xlu = importlib.import_module("xlwings.udfs")
    added_engine = None
    if "excel" not in [e.name for e in xlwings.engines]:
        from xlwings.main import Engine

        added_engine = Engine(impl=_ComEngineImpl())
        xlwings.engines.add(added_engine)
    originals = (xlwings.func, xlwings.arg, xlwings.ret)
    xlwings.func, xlwings.arg, xlwings.ret = xlu.xlfunc, xlu.xlarg, xlu.xlret
    try:
        for name in [n for n in sys.modules if n == "llmxl_udfs" or n.startswith("llmxl_udfs.")]:
            sys.modules.pop(name)  # the package and its parts, so that the Windows decorators apply
        module = importlib.import_module("llmxl_udfs")
    finally:
        xlwings.func, xlwings.arg, xlwings.ret = originals
    try:
        yield module, xlu
    finally:
        if added_engine is not None:
            xlwings.engines.engines_by_name.pop("excel", None)
            with contextlib.suppress(ValueError):
                xlwings.engines.engines.remove(added_engine)
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def call_as_excel(func, *args):
    """Call a UDF as xlwings' call_udf does: missing -> optional default, others through conversion.read."""
    from xlwings import conversion

    info = func.__xlfunc__["args"]
    converted = []
    for i, value in enumerate(args):
        arg_info = info[min(i, len(info) - 1)]
        if isinstance(value, int) and not isinstance(value, bool) and value == MISSING:
            converted.append(arg_info.get("optional", None))
        else:
            converted.append(conversion.read(None, value, arg_info["options"]))
    return func(*converted)


def com_column(values):
    """A column range as COM hands it to Python: a tuple of one-element row tuples."""
    return tuple((v,) for v in values)


def functions(module):
    return {name: getattr(module, name) for name in dir(module) if hasattr(getattr(module, name), "__xlfunc__")}


def generate_bas(module, xlu) -> str:
    """The VBA that xlwings' "Import Functions" writes for llmxl_udfs, with CRLF line endings."""
    from xlwings.utils import VBAWriter

    class _Workbook:
        Name = "llmxl.xlsm"

    buf = io.StringIO()
    vba = VBAWriter(buf)
    vba.writeln('Attribute VB_Name = "xlwings_udfs"')
    vba.writeln("'Autogenerated code by xlwings - changes will be lost with next import!")
    vba.writeln("""#Const App = "Microsoft Excel" 'Adjust when using outside of Excel""")
    xlu.generate_vba_wrapper("llmxl_udfs", module, buf, _Workbook())
    text = buf.getvalue().replace("\r\n", "\n")
    return text.replace("\n", "\r\n")


if __name__ == "__main__":
    with windows_xlwings() as (mod, xlu):
        BAS.write_bytes(generate_bas(mod, xlu).encode("utf-8"))
    print(f"wrote {BAS.relative_to(ROOT)}")
