"""Saving workbooks: every formula cell with its cached value, fingerprinted, written atomically.

The fingerprint that lets a later run tell an untouched llmxl workbook from an edited one is
computed here and checked by :mod:`llmxl.outputs`, which also owns the safe-writing rules.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ..outputs import CUSTOM_PART, FINGERPRINT, MARK, PLACEHOLDER, atomic_write, fingerprint_digest, resolve_output

_LEVEL = 1  # deflate level: a large report compresses 3× faster than at the default 6, for a file ~25 % larger


def stamp(xlsx: bytes, bodies: dict[str, bytes] | None = None) -> bytes:
    """Replace the fingerprint placeholder in a freshly saved workbook with the real digest.

    ``bodies`` maps worksheet parts to the sheetData that goes into them (see :mod:`.sheetxml`).
    """
    from .sheetxml import splice

    src = zipfile.ZipFile(io.BytesIO(xlsx))
    infos = src.infolist()
    parts = {info.filename: src.read(info.filename) for info in infos}
    for name in list(bodies or {}):
        parts[name] = splice(parts[name], bodies.pop(name))  # each sheet's text held once
    digest = fingerprint_digest(parts)  # the custom part still holds the placeholder
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL) as dst:
        for info in infos:
            data = parts[info.filename]
            if info.filename == CUSTOM_PART:
                data = data.replace(PLACEHOLDER.encode(), digest.encode())
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_LEVEL)
    return out.getvalue()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a large workbook is built and written.

    A 10,000-scenario report holds ~400,000 cell objects, none of them garbage; the collector's full
    passes over them took about as long as building the cells (reference counting still frees memory).
    """
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def save_workbook(wb, path: str | os.PathLike[str], *, force: bool) -> Path:
    """Mark, fingerprint and atomically write an openpyxl workbook, every formula cell with its value."""
    with gc_paused():
        return _save(wb, path, force=force)


def _save(wb, path: str | os.PathLike[str], *, force: bool) -> Path:
    from openpyxl.packaging.custom import StringProperty

    from .._version import __version__

    target = resolve_output(path, force=force)
    props = wb.custom_doc_props
    for name in (MARK, FINGERPRINT):
        if name in props.names:
            del props[name]
    props.append(StringProperty(name=MARK, value=__version__))
    props.append(StringProperty(name=FINGERPRINT, value=PLACEHOLDER))
    wb.properties.creator = f"llmxl {__version__}"
    import warnings

    from openpyxl.writer.excel import ExcelWriter

    from .evaluate import Unsupported, evaluate
    from .sheetxml import rows_elsewhere, sheet_data

    try:  # every formula cell carries its value, for readers that do not recalculate
        cache = evaluate(wb)
    except Unsupported as exc:  # never a guessed value: these cells recalculate on load only
        warnings.warn(f"llmxl: workbook written without cached values ({exc})", stacklevel=3)
        cache = None
    except Exception as exc:  # a fault in the evaluator must not cost the user the file
        warnings.warn(
            f"llmxl: workbook written without cached values (the evaluator failed: {type(exc).__name__}: {exc}); "
            "please report this",
            stacklevel=3,
        )
        cache = None
    # Cells as text, before openpyxl writes the styles (style ids are registered as they are read).
    bodies = {ws: body for ws in wb.worksheets if (body := sheet_data(ws, cache)) is not None}
    left = [ws.title for ws in wb.worksheets if ws not in bodies and cache is not None]
    if left:
        warnings.warn(f"llmxl: sheets {', '.join(left)} written without cached values", stacklevel=3)
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
        rows_elsewhere({id(ws) for ws in bodies}),
    ):
        ExcelWriter(wb, archive).write_data()  # uncompressed: stamp() compresses once
    by_part = {ws.path[1:]: body for ws, body in bodies.items()}
    bodies.clear()
    return atomic_write(target, stamp(buf.getvalue(), by_part))
