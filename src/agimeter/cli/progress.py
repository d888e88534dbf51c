"""Rich progress bars with ETA for long steps."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RichProgress:
    """Implements ``runner.execute.ProgressSink``: one bar per task, with ETA."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold", markup=False),  # a task name: data, not markup
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("items"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start_task(self, name: str, total: int, done: int) -> None:
        self._task = self._progress.add_task(name, total=total, completed=done)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish_task(self) -> None:
        self._task = None


def spinner(console: Console, message: str) -> Progress:
    """A spinner with elapsed time for steps whose length is unknown (model loading)."""
    text = TextColumn("{task.description}", markup=False)  # the message holds a model name: data, not markup
    # Off when stderr is not a terminal: a transient spinner would leave only a blank line there.
    progress = Progress(
        SpinnerColumn(), text, TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal
    )
    progress.add_task(message, total=None)
    return progress
