"""``python -m benchmarks``: the same as ``python benchmarks/run.py``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import main

sys.exit(main())
