"""``agimeter pin``: a run chosen by hand stands for a model's task in the report; --list, --clear,
and one-line errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from agimeter.store.repository import Store
from agimeter.testing.runs import eval_run

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/s.db"
    store = Store.open(url)
    eval_run(store, "big", {"arc_challenge": (80, 0.5)}, created=datetime(2026, 1, 1))
    eval_run(store, "mid", {"arc_challenge": (60, 0.8)}, created=datetime(2026, 2, 1))
    eval_run(store, "other", {"arc_challenge": (60, 0.8)}, identity="sha-other", model="hf:org/N-1B")
    store.close()
    return url


def _report_runs(agimeter: CliRunner, url: str, tmp_path: Path, *extra: str) -> dict[str, str]:
    out = tmp_path / "r.html"
    res = agimeter("report", "--no-published", "--out", str(out), "--store", url, *extra)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text().split('id="report-data">', 1)[1].split("</script>", 1)[0])
    return {e["model"]: e["scores"][0]["run_id"] for e in data["entries"]}


def test_pin_list_clear_and_the_report_honours_it(agimeter: CliRunner, tmp_path: Path) -> None:
    url = _store(tmp_path)
    assert _report_runs(agimeter, url, tmp_path)["hf:org/M-1B"] == "big"  # most items
    res = agimeter("pin", "hf:org/M-1B", "mid", "--task", "arc_challenge", "--store", url)
    assert res.returncode == 0, res.stderr
    assert "pinned run mid for m-hf-org-m-1b-sha-mode: task arc_challenge" in res.stdout
    assert _report_runs(agimeter, url, tmp_path)["hf:org/M-1B"] == "mid"
    assert _report_runs(agimeter, url, tmp_path, "--no-pins")["hf:org/M-1B"] == "big"
    assert _report_runs(agimeter, url, tmp_path, "big", "other")["hf:org/M-1B"] == "big"  # pinned run not selected
    listed = json.loads(agimeter("pin", "--list", "--format", "json", "--store", url).stdout)
    assert [(p["run_id"], p["task"]) for p in listed] == [("mid", "arc_challenge")]
    assert "mid" in agimeter("pin", "--list", "--store", url).stdout
    cleared = agimeter("pin", "--clear", "m-hf-org-m-1b-sha-mode", "--store", url)
    assert cleared.returncode == 0 and "removed 1 pin(s)" in cleared.stdout
    assert json.loads(agimeter("pin", "--list", "--format", "json", "--store", url).stdout) == []


def test_pin_errors_are_one_line(agimeter: CliRunner, tmp_path: Path) -> None:
    url = _store(tmp_path)
    for args, words in (
        (("hf:org/M-1B", "other"), "is a run of hf:org/N-1B"),
        (("hf:org/M-1B", "mid", "--task", "mmlu"), "has no task 'mmlu'"),
        (("hf:nobody", "mid"), "no stored run of a model 'hf:nobody'"),
        (("hf:org/M-1B",), "give MODEL and RUN_ID"),
        (("hf:org/M-1B", "nope"), "'nope' not found"),
        (("--list", "--clear"), "contradict"),
    ):
        res = agimeter("pin", *args, "--store", url)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    store = Store.open(url)
    assert store.pins() == []
    store.close()
