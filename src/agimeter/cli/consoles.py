"""The terminal consoles of every command. Markup is off: what agimeter prints (error messages,
model names, paths, table cells) is data, and ``pip install 'agimeter[gguf]'`` must print as
written. Styled words are ``rich.text.Text`` objects, never markup strings."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def error_line(message: str) -> Text:
    """``error: <message>``, the prefix in bold red and the message exactly as given."""
    return Text.assemble(("error:", "bold red"), " ", message)
