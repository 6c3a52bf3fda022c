"""The cells of a worksheet as .xlsx XML, written as text rather than through openpyxl's element writer.

openpyxl serialises each cell through XML element objects, which is most of the time a large
report takes to write. llmxl's sheets hold only numbers, text, booleans and formulas (with
their cached values), so :func:`sheet_data` writes the ``<sheetData>`` element directly, with
the same cell types, styles and row attributes openpyxl would write; :func:`rows_elsewhere`
makes openpyxl leave that element empty, and :func:`splice` puts the text in its place.
A sheet holding anything else (dates, rich text, comments, hyperlinks) is left to openpyxl.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from openpyxl.cell.cell import MergedCell
from openpyxl.utils import get_column_letter

_LOCK = threading.Lock()
_EMPTY = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")


def _text(value: str) -> str:
    """Text as XML character data."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def sheet_data(ws: Any, cache: Any) -> bytes | None:
    """``ws``'s ``<sheetData>`` element (formula cells with their values from ``cache``, if any), or None
    when the sheet holds something this writer leaves to openpyxl."""
    from openpyxl.cell.rich_text import CellRichText

    if not hasattr(ws, "_cells"):
        return None
    cells = ws._cells
    by_row: dict[int, list[int]] = {}
    for row, col in cells:
        by_row.setdefault(row, []).append(col)
    dims = ws.row_dimensions
    for row in dims.keys() - by_row.keys():
        by_row[row] = []
    styles = ws.parent._cell_styles
    style_ids: dict[bytes, int] = {}
    columns: dict[int, tuple[int, list[tuple[str, str] | None]]] = {}
    empty: tuple[int, list[tuple[str, str] | None]] = (0, [])
    letters: dict[int, str] = {}
    chunks: list[bytes] = []
    out = ["<sheetData>"]
    for row in sorted(by_row):
        attrs = "".join(f' {k}="{v}"' for k, v in dims[row]) if row in dims else ""
        out.append(f'<row r="{row}"{attrs}>')
        for col in sorted(by_row[row]):
            cell = cells[(row, col)]
            if isinstance(cell, MergedCell):  # covered by a merged range's first cell (mergeCells says so)
                continue
            value = cell._value
            style = cell._style
            styled = style is not None and any(style)
            if cell._comment is not None or cell._hyperlink is not None:
                return None  # openpyxl writes these alongside the cell (comments, hyperlink relations)
            if value is None and not styled:
                continue
            letter = letters.get(col)
            if letter is None:
                letter = letters[col] = get_column_letter(col)
            if styled:
                key = style.tobytes()
                sid = style_ids.get(key)
                if sid is None:
                    sid = style_ids[key] = styles.add(style)  # registers the style, as cell.style_id does
                head = f'<c r="{letter}{row}" s="{sid}"'
            else:
                head = f'<c r="{letter}{row}"'
            kind = cell.data_type
            if value is None or value == "":
                out.append(f'{head} t="{"inlineStr" if kind == "s" else kind}"/>' if kind != "f" else f"{head}/>")
            elif kind == "f":
                if not isinstance(value, str):
                    return None  # array or data-table formulas
                lo, values = columns.get(col) or columns.setdefault(
                    col, empty if cache is None else cache.rendered(ws.title, col)
                )
                i = row - lo
                found = values[i] if 0 <= i < len(values) else None
                if found is None:
                    out.append(f"{head}><f>{_text(value[1:])}</f><v></v></c>")
                else:
                    out.append(f"{head}{found[0]}><f>{_text(value[1:])}</f><v>{found[1]}</v></c>")
            elif kind == "s":
                if isinstance(value, CellRichText) or not isinstance(value, str):
                    return None
                space = ' xml:space="preserve"' if value != value.strip() else ""
                out.append(f'{head} t="inlineStr"><is><t{space}>{_text(value)}</t></is></c>')
            elif kind == "n" and isinstance(value, (int, float)) and not isinstance(value, bool):
                number = f"{value:.16g}" if value == value and abs(value) != float("inf") else ""
                out.append(f'{head} t="n"><v>{number}</v></c>')
            elif kind == "b" and isinstance(value, bool):
                out.append(f'{head} t="b"><v>{1 if value else 0}</v></c>')
            else:
                return None  # dates, errors and whatever else: openpyxl writes the sheet
        out.append("</row>")
        if len(out) > 50_000:  # encode as we go: a list of small strings costs ~4× the text it holds
            chunks.append("".join(out).encode("utf-8"))
            out.clear()
    out.append("</sheetData>")
    chunks.append("".join(out).encode("utf-8"))
    return b"".join(chunks)


@contextlib.contextmanager
def rows_elsewhere(sheets: set[int]) -> Iterator[None]:
    """While openpyxl writes, the worksheets whose ids are in ``sheets`` get an empty ``<sheetData/>``."""
    from openpyxl.worksheet._writer import WorksheetWriter

    original = WorksheetWriter.write_rows

    def write_rows(self: Any) -> None:
        if id(self.ws) not in sheets:
            return original(self)
        xf = self.xf.send(True)
        with xf.element("sheetData"):
            pass
        self.xf.send(None)

    with _LOCK:
        WorksheetWriter.write_rows = write_rows
        try:
            yield
        finally:
            WorksheetWriter.write_rows = original


def splice(part: bytes, body: bytes) -> bytes:
    """``part`` (a worksheet written by openpyxl with an empty sheetData) with ``body`` in its place."""
    found = _EMPTY.search(part)
    if found is None:
        raise RuntimeError("the worksheet part has no empty sheetData to fill")  # an openpyxl change
    return part[: found.start()] + body + part[found.end() :]
