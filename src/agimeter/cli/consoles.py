"""The terminal consoles of every command. Markup is off: what agimeter prints (error messages,
model names, paths, table cells) is data, and ``pip install 'agimeter[gguf]'`` must print as
written. Styled words are ``rich.text.Text`` objects, never markup strings.

On a terminal, rich fits tables to its width. Anywhere else (a pipe, a file, ``$(...)``) rich would
assume 80 columns, or the width of whatever terminal stdin or stderr is, and cut cells to
``arc_cha…``, so ``agimeter tasks | grep arc_challenge`` would find nothing: there the width is
``PIPE_WIDTH``, wider than any table agimeter prints, so every cell is written in full.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

PIPE_WIDTH = 4096


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width on a terminal, ``PIPE_WIDTH`` elsewhere."""
    width = None if _is_terminal(sys.stderr if stderr else sys.stdout) else PIPE_WIDTH
    return Console(stderr=stderr, markup=False, width=width)


console = make_console()
err_console = make_console(stderr=True)


def error_line(message: str) -> Text:
    """``error: <message>``, the prefix in bold red and the message exactly as given."""
    return Text.assemble(("error:", "bold red"), " ", message)
