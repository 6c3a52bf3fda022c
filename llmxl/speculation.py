"""Which speculative decoder a result assumes: the method, its draft tokens and its acceptance rate.

The published acceptance figures live in ``llmxl/data/speculative.toml`` (validated here, loaded by
:mod:`llmxl.catalog` with the other data files); :func:`resolve_speculative` checks what a caller gives and
fills the acceptance rate from a figure for the model when none is given. The arithmetic is
:mod:`llmxl.speculative`'s.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import InvalidInputError
from .speculative import DRAFT_METHODS, MAX_SPECULATIVE_TOKENS, acceptance_from_length

__all__ = ["AcceptanceFigure", "SpeculativeChoice", "SpeculativeData", "resolve_speculative"]


class AcceptanceFigure(BaseModel):
    """One published acceptance figure of a method on some models (llmxl/data/speculative.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["mtp", "eagle3", "ngram"]
    models: Annotated[list[str], Field(min_length=1)]
    """Catalog ids of the models the figure is for."""
    acceptance_rate: Annotated[float, Field(ge=0, lt=1)] | None = None
    """Per-position acceptance α."""
    acceptance_length: Annotated[float, Field(ge=1, lt=MAX_SPECULATIVE_TOKENS + 1)] | None = None
    """Mean tokens per verification step (bonus token included), at measured_k drafts."""
    measured_k: Annotated[int, Field(ge=1, le=MAX_SPECULATIVE_TOKENS, strict=True)]
    workload: str
    source: Annotated[str, Field(pattern=r"^https://")]
    published: str
    date: _dt.date

    @model_validator(mode="after")
    def _one_figure(self) -> AcceptanceFigure:
        if (self.acceptance_rate is None) == (self.acceptance_length is None):
            raise ValueError("give acceptance_rate or acceptance_length, one of them")
        if self.acceptance_length is not None and self.acceptance_length >= self.measured_k + 1:
            raise ValueError(f"acceptance_length must be below measured_k + 1 = {self.measured_k + 1}")
        return self

    @property
    def alpha(self) -> float:
        """α: the rate given, or the one whose τ over measured_k drafts is the length given."""
        if self.acceptance_rate is not None:
            return self.acceptance_rate
        return acceptance_from_length(self.acceptance_length, self.measured_k)  # type: ignore[arg-type]


class SpeculativeData(BaseModel):
    """llmxl/data/speculative.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    draft_vocab: Annotated[int, Field(ge=1, strict=True)]
    """Vocabulary of an EAGLE-3 head's output layer."""
    draft_vocab_source: str
    figure: list[AcceptanceFigure] = Field(default_factory=list)

    def find(self, method: str, model_id: str) -> AcceptanceFigure | None:
        for f in self.figure:
            if f.method == method and model_id in f.models:
                return f
        return None


class SpeculativeChoice(NamedTuple):
    """A checked speculative decoder: method, draft tokens, α and, when α is a default, what it comes from."""

    method: str
    k: int
    alpha: float
    draft_vocab: int
    note: str | None


def resolve_speculative(
    model_id: str, speculative: Any, num_speculative_tokens: Any, acceptance_rate: Any, data: SpeculativeData
) -> SpeculativeChoice | None:
    """Check the speculative inputs; None when there is no speculation (today's results exactly). ``data`` is
    the catalog's (``llmxl.catalog.get_catalog().speculative``).

    Raises InvalidInputError naming the field, the value and the fix: an unknown method (with the nearest
    name), k outside 1 to MAX_SPECULATIVE_TOKENS, an acceptance rate outside [0, 1), draft settings without a
    method, or no acceptance rate given where llmxl has no figure for the model and method.
    """
    if speculative is None or (isinstance(speculative, str) and speculative.strip().lower() in ("", "none", "off")):
        for field, value in (("num_speculative_tokens", num_speculative_tokens), ("acceptance_rate", acceptance_rate)):
            if value is not None:
                raise InvalidInputError(
                    f"{field} {value!r} is given without a speculative decoder; name one with speculative "
                    f"({', '.join(DRAFT_METHODS)}) or leave {field} out",
                    field=field,
                )
        return None
    if not isinstance(speculative, str):
        raise InvalidInputError(
            f"speculative must be one of {', '.join(DRAFT_METHODS)} or None, got {speculative!r}", field="speculative"
        )
    method = speculative.strip().lower().replace("-", "").replace("_", "")
    method = {"eagle3": "eagle3", "mtp": "mtp", "ngram": "ngram", "deepseekmtp": "mtp"}.get(method, method)
    if method not in DRAFT_METHODS:
        close = difflib.get_close_matches(method, DRAFT_METHODS, n=1, cutoff=0.4)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(DRAFT_METHODS)}"
        raise InvalidInputError(
            f"unknown speculative method {speculative!r}; {hint} (or None for no speculative decoding)",
            field="speculative",
        )
    figure = data.find(method, model_id)
    k: Any = num_speculative_tokens
    if k is None:
        if figure is None or acceptance_rate is not None:
            raise InvalidInputError(
                f"num_speculative_tokens is not given for speculative={method!r}; give the draft tokens per step, a "
                f"whole number from 1 to {MAX_SPECULATIVE_TOKENS} (e.g. 3)",
                field="num_speculative_tokens",
            )
        k = figure.measured_k
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if type(k) is not int or not 1 <= k <= MAX_SPECULATIVE_TOKENS:
        raise InvalidInputError(
            f"num_speculative_tokens must be a whole number from 1 to {MAX_SPECULATIVE_TOKENS} draft tokens per step, "
            f"got {k!r}; engines run 1 to about 8",
            field="num_speculative_tokens",
        )
    if acceptance_rate is None:
        if figure is None:
            raise InvalidInputError(
                f"llmxl/data/speculative.toml has no published acceptance rate of {method} for {model_id}; give "
                "acceptance_rate, the probability that a draft token is accepted (e.g. 0.7)",
                field="acceptance_rate",
            )
        alpha = figure.alpha
        note = (
            f"speculative {method}: acceptance_rate {alpha:.4g} per draft token is the published figure for "
            f"{model_id} ({figure.workload}; {figure.source}); pass acceptance_rate for your traffic"
        )
    else:
        try:
            alpha = float(acceptance_rate)
        except (TypeError, ValueError):
            alpha = math.nan
        if isinstance(acceptance_rate, bool) or not 0 <= alpha < 1:
            raise InvalidInputError(
                f"acceptance_rate must be in [0, 1), the probability that a draft token is accepted, got "
                f"{acceptance_rate!r}; give a fraction below 1 (e.g. 0.7)",
                field="acceptance_rate",
            )
        note = None
    return SpeculativeChoice(method, k, alpha, data.draft_vocab, note)


_SETTINGS = {"num_speculative_tokens": "num_speculative_tokens", "k": "num_speculative_tokens",
             "acceptance_rate": "acceptance_rate", "acceptance": "acceptance_rate"}  # fmt: skip


def parse_speculative(text: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`llmxl.estimate` a one-cell text names: ``"eagle3"``, or with settings
    after a colon, ``"mtp:num_speculative_tokens=2,acceptance_rate=0.8"`` (``k=`` and ``acceptance=`` for
    short). {} for a blank (no speculative decoding)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if not isinstance(text, str):
        raise InvalidInputError(
            f"speculative must be text such as 'mtp' or 'eagle3:k=3,acceptance_rate=0.7', got {text!r}",
            field="speculative",
        )
    method, _, rest = text.partition(":")
    out: dict[str, Any] = {"speculative": method.strip()}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        name, eq, value = (x.strip() for x in item.partition("="))
        key = _SETTINGS.get(name.lower())
        if key is None or not eq:
            close = difflib.get_close_matches(name.lower(), list(_SETTINGS), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else "use num_speculative_tokens= and acceptance_rate="
            raise InvalidInputError(f"speculative setting {item!r} is not name=value of a known setting; {hint}",
                                    field="speculative")  # fmt: skip
        try:
            number: Any = float(value)
        except ValueError:
            raise InvalidInputError(
                f"speculative setting {name} must be a number, got {value!r}; e.g. {name}=0.7", field=key
            ) from None
        out[key] = int(number) if key == "num_speculative_tokens" and number.is_integer() else number
    return out
