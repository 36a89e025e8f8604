"""Read memcheck's XML (tests/valgrind/run.sh) and fail on what the shim did.

    python tests/valgrind/report.py memcheck.xml

An error counts against the shim when any frame of its stack is in one of the shim's C files
(tcptable/_shim/*.c); a definitely lost block counts when its allocation stack is.  CPython's
own reports (it frees little at exit, and some of its optimisations read memory memcheck
cannot follow) are counted and listed by kind only.
"""

from __future__ import annotations

import collections
import os
import sys
import xml.etree.ElementTree as ElementTree

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tcptable", "_shim")
SHIM_FILES = {
    name
    for folder in os.listdir(SHIM)
    if os.path.isdir(os.path.join(SHIM, folder))
    for name in os.listdir(os.path.join(SHIM, folder))
    if name.endswith(".c")
}


def in_shim(frame: ElementTree.Element) -> bool:
    """A frame in the shim's own C (not cffi's generated module around it)."""
    return (frame.findtext("file") or "") in SHIM_FILES


def describe(error: ElementTree.Element) -> str:
    what = error.findtext("what") or error.findtext("xwhat/text") or ""
    lines = [f"{error.findtext('kind')}: {what}"]
    for frame in error.iter("frame"):
        where = frame.findtext("file")
        line = f"{where}:{frame.findtext('line')}" if where else frame.findtext("obj")
        lines.append(f"    {frame.findtext('fn') or '???'}  {line}")
    return "\n".join(lines)


def main() -> int:
    tree = ElementTree.parse(sys.argv[1])
    shim_errors = []
    others: collections.Counter[str] = collections.Counter()
    lost_by_shim = 0
    for error in tree.getroot().iter("error"):
        kind = error.findtext("kind") or "?"
        if any(in_shim(frame) for frame in error.iter("frame")):
            shim_errors.append(error)
            if kind == "Leak_DefinitelyLost":
                lost_by_shim += int(error.findtext("xwhat/leakedbytes") or 0)
        else:
            others[kind] += 1
    print(
        f"memcheck: {len(shim_errors)} errors with the shim on their stack, "
        f"{lost_by_shim} bytes definitely lost by the shim"
    )
    if others:
        print(
            "outside the shim (CPython's own, not counted): "
            + ", ".join(f"{count} {kind}" for kind, count in sorted(others.items()))
        )
    for error in shim_errors:
        print(describe(error))
    return 1 if shim_errors else 0


if __name__ == "__main__":
    sys.exit(main())
