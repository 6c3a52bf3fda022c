"""``python -m llmxl.cli``: the same command line as ``llmxl``."""

import sys

from .main import main

sys.exit(main())
