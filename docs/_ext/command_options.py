"""``command-options`` directive: a command's reference built from its argparse parser, so the
page shows exactly the options the code accepts.

    ```{command-options} tcptable._cli_args:build_parser
    :prog: tcptable
    ```

The argument names a function taking the program name and returning the parser.  The
directive writes MyST Markdown (an ``{option}`` per option, grouped as the parser groups them)
and parses it in place, so it belongs in the docs' Markdown pages.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*`|_[]<>#{}"})


def _text(value: str) -> str:
    """Help text as plain Markdown text: no markup character means anything."""
    return " ".join(value.split()).translate(_SPECIAL)


def _parser(target: str, prog: str) -> argparse.ArgumentParser:
    module_name, _, function_name = target.partition(":")
    return getattr(importlib.import_module(module_name), function_name)(prog)


def _option_lines(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    formatter = parser._get_formatter()
    if action.option_strings:
        metavar = ""
        if action.nargs != 0:
            metavar = formatter._format_args(action, action.dest.upper())
        names = ", ".join(f"{name} {metavar}".strip() for name in action.option_strings)
    else:
        names = formatter._format_args(action, action.dest)
    help_text = formatter._expand_help(action) if action.help else ""
    choices = [str(choice) for choice in action.choices or ()]
    if action.option_strings and not all(choice in help_text for choice in choices):
        help_text += f" (one of: {', '.join(choices)})"
    return [f"```{{option}} {names}", _text(help_text) or "no description", "```", ""]


class CommandOptions(SphinxDirective):
    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"prog": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        prog = self.options.get("prog", "tcptable")
        parser = _parser(self.arguments[0], prog)
        lines = [f"```{{program}} {prog}", "```", "", "```text"]
        lines += parser.format_usage().strip().splitlines()
        lines += ["```", ""]
        if parser.description:
            lines += [_text(parser.description), ""]
        for group in parser._action_groups:
            actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS]
            if not actions:
                continue
            lines += [f"```{{rubric}} {_text(group.title or '')}", "```", ""]
            for action in actions:
                lines += _option_lines(parser, action)
        if parser.epilog:
            lines += [_text(parser.epilog), ""]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.arguments[0]), 0, container)
        return container.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("command-options", CommandOptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
