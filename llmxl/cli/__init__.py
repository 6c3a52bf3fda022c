"""The ``llmxl`` command line: one module per subcommand, one for how output looks.

``llmxl`` and ``python -m llmxl`` both run :func:`main`. Each subcommand module
(``estimate``, ``catalog``, ``workbook``, ``report``, ``plan``, ``calibrate``) has
``add_parser(sub)`` and ``run(args)``; :mod:`.options` holds the options several share and
:mod:`.output` the formatting every one of them prints with.
"""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
