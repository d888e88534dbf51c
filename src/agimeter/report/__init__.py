"""Reports over the store: one self-contained HTML file (plots inlined) or a markdown summary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from agimeter.report.data import ReportData
from agimeter.report.gather import gather

ReportFormat = Literal["html", "md"]

__all__ = ["ReportData", "ReportFormat", "gather", "render", "write_report"]


def render(data: ReportData, fmt: ReportFormat = "html") -> str:
    if fmt == "md":
        from agimeter.report.markdown import render_markdown

        return render_markdown(data)
    from agimeter.report.html import render_html  # plotly only for HTML

    return render_html(data)


def write_report(data: ReportData, out: Path, fmt: ReportFormat = "html") -> int:
    """Render and write atomically (temp file in the same folder, then rename); returns bytes written."""
    text = render(data, fmt).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the report from other users
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(text)
