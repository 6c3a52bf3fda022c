"""Prefix caching as arithmetic: which prompt tokens a pass computes and which it reads from the cache.

A serving engine with prefix caching (vLLM's automatic prefix caching, SGLang's RadixAttention) keeps the KV
blocks of prompts it has computed; a new prompt whose first tokens match them starts with those blocks in
place and computes only the rest. ``prefix_cache_hit`` h is the fraction of prompt tokens served so (the
figure vLLM reports as its prefix-cache hit rate: hit tokens over queried tokens). Of a prompt of s tokens,
u = max((1 − h) s, 1) are computed and c = s − u are read: an engine always computes the last prompt token,
whose logits give the first completion token (docs/methodology.md, "Prefix caching").

Pure arithmetic on floats or numpy arrays; h = 0 gives back s and 0 unchanged, so every result with no hits
is today's to the last digit.
"""

from __future__ import annotations

import math
from typing import Any

from .checks import format_value, number
from .errors import InvalidInputError

__all__ = ["api_prompt_usd_per_1m", "check_prefix_cache_hit", "hit_message", "split"]


def hit_message(value: Any, field: str = "prefix_cache_hit") -> str:
    return (
        f"{field} must be in [0, 1), the fraction of prompt tokens served from the prefix cache, got "
        f"{format_value(value)}; give e.g. 0.5 (half of each prompt cached), or 0 for none"
    )


def check_prefix_cache_hit(value: Any, field: str = "prefix_cache_hit") -> float:
    """h in [0, 1) as a float (None: 0), else InvalidInputError naming the field, the value and the fix."""
    if value is None:
        return 0.0
    v = number(value, field)
    if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v < 1):
        raise InvalidInputError(hit_message(v, field), field=field)
    return float(v) + 0.0  # -0.0 is 0


def split(s: Any, h: float, mx: Any = max) -> tuple[Any, Any]:
    """(u, c): the prompt tokens a pass computes, u = max((1 − h) s, 1), and those it reads from the cache,
    c = s − u. With h = 0, (s, 0) exactly."""
    if not h:
        return s, 0
    u = mx((1 - h) * s, 1.0)
    return u, s - u


def api_prompt_usd_per_1m(prompt: float, cached: float | None, h: float) -> float:
    """What an API charges per 1M prompt tokens when a fraction h of them are cache hits [USD]:
    (1 − h) Pin + h Pcached (Pin where the API has no cached price); Pin at h = 0."""
    if not h or cached is None:
        return prompt
    return (1 - h) * prompt + h * cached
