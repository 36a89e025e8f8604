"""Sphinx configuration: Markdown pages (MyST), the API reference from the docstrings
(autodoc), the command's options from its argparse parsers (_ext/command_options.py)."""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "tcptable"
author = "tcptable developers"
copyright = "tcptable developers"
release = _version("tcptable")  # the installed package's: pyproject.toml is the one source
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "command_options",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "requirements.txt"]
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

# Every reference must resolve, except to other projects' objects: no intersphinx here
# (the docs build reads nothing from the network).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|prometheus_client|argparse|collections|typing|enum|socket|os)\..*"),
    (r"py:.*", r"(numpy|np)"),
    (r"py:class", r"(Any|Iterable|Iterator|Callable|Sequence|Generator|NamedTuple|Buffer)"),
    (r"py:class", r"(SupportsIndex|CollectorRegistry|Metric|Poller|StateLike|Filter)"),
    (r"py:class", r"NamespacesArgument"),  # a type alias: None, "all", or pids and paths
    (r"py:class", r"tcptable\._.*"),
]

# "--option" stays two hyphens in prose, as a reader types it.
smartquotes = False

html_theme = "alabaster"
html_title = f"tcptable {release}"
html_static_path: list[str] = []
