"""The exceptions llmxl raises, and the one warning it gives.

Every error is an :class:`LlmxlError` with a one-line message that names the
field, the value and the fix. Each subclass carries the Excel error kind that a
spreadsheet cell shows for it (``excel_kind``), so the Excel face can prefix
its messages without guessing.
"""

from __future__ import annotations

__all__ = [
    "EXCEL_CELL_CHARS",
    "CatalogError",
    "DoesNotFitError",
    "InvalidInputError",
    "LlmxlError",
    "LlmxlWarning",
    "UnknownNameError",
    "cell_text",
]


class LlmxlError(Exception):
    """Base class of every error llmxl raises on purpose."""

    excel_kind = "#VALUE!"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        """The one-line message, without the Excel error kind."""
        return str(self.args[0]) if self.args else ""

    def excel_text(self) -> str:
        """The text a spreadsheet cell shows: Excel error kind, then the message, within Excel's cell limit."""
        return cell_text(f"{self.excel_kind} {self.message}")


#: The most characters an Excel cell holds.
EXCEL_CELL_CHARS = 32_767


def cell_text(text: str) -> str:
    """``text`` cut to Excel's 32,767 characters (ending "…") when longer: a cell never errors on its length."""
    if len(text) <= EXCEL_CELL_CHARS:
        return text
    return text[: EXCEL_CELL_CHARS - 1] + "…"


class UnknownNameError(LlmxlError, LookupError):
    """A model, GPU, dtype or method name that is not in the catalog."""

    excel_kind = "#N/A"


class InvalidInputError(LlmxlError, ValueError):
    """An input with a value outside what the model accepts."""

    excel_kind = "#VALUE!"


class DoesNotFitError(LlmxlError):
    """Weights, activations or KV cache that do not fit in GPU memory."""

    excel_kind = "#NUM!"


class CatalogError(LlmxlError):
    """A catalog file or config entry that cannot be read or is invalid."""

    excel_kind = "#VALUE!"


class LlmxlWarning(UserWarning):
    """Something a result rests on that the user should know, in one line (the CLI prints it as a warning)."""
