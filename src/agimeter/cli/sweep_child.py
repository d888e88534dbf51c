"""The process that measures one row of a sweep: ``python -m agimeter.cli.sweep_child STORE SWEEP QUANT PARENT_PID``.

Started by ``runner.sweep`` (never by hand). It dies with its parent (Linux ``PR_SET_PDEATHSIG``),
so a killed sweep leaves no row measuring on its own; the row's run is then interrupted and
resumes with the sweep. Errors are stored on the row (the sweep's process prints them); exit status 2.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from agimeter.cli.consoles import err_console, error_line
from agimeter.errors import AgimeterError

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the row may outlive a killed parent
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        raise SystemExit(130)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    from agimeter.cli.progress import RichProgress
    from agimeter.runner.sweep_row import measure_row
    from agimeter.store.repository import Store

    store_url, sweep_id, quant, parent = argv
    _die_with_parent(int(parent))
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        store = Store.open(store_url)
    except AgimeterError as err:  # nothing can be stored: say it here
        err_console.print(error_line(f"{quant}: {err}"), highlight=False, soft_wrap=True)
        return err.exit_code
    try:
        with RichProgress(err_console) as progress:
            measure_row(store, sweep_id, quant, progress)
    except AgimeterError as err:  # stored on the row: the sweep's process reports it
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
