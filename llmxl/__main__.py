"""``python -m llmxl``: the same command line as ``llmxl``."""

import sys

from .cli import main

sys.exit(main())
