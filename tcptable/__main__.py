"""``python -m tcptable``: the ``tcptable`` command (tcptable/cli.py)."""

from tcptable.cli import main

raise SystemExit(main())
