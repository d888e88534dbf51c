"""Session-wide fixtures shared by all test packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_conftest.py runs this file's fixtures and hooks in a sandbox

CliRunner = Callable[..., "subprocess.CompletedProcess[str]"]
REPO = Path(__file__).resolve().parents[1]
# Under CI (``.ci/run`` exports CI=true) missing test data fails the tests that need it: a CI run must
# never pass by skipping them. Elsewhere (a clone without ../shared) they skip, saying what to set.
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


# Test data: the benchmark snapshot and the published catalog ------------------------------------
def _configured_data_dir() -> Path:
    """AGIMETER_DATA_DIR, else ``../shared/benchmarks`` beside the repository (never an absolute path)."""
    configured = os.environ.get("AGIMETER_DATA_DIR")
    return Path(configured).expanduser() if configured else REPO.parent / "shared" / "benchmarks"


def _configured_catalog() -> Path:
    """AGIMETER_CATALOG, else ``catalog/published.json`` beside the benchmark data dir."""
    configured = os.environ.get("AGIMETER_CATALOG")
    return Path(configured).expanduser() if configured else _configured_data_dir().parent / "catalog" / "published.json"


def _missing(what: str) -> None:
    """Fail under CI (a missing data dir is a broken CI setup); elsewhere let the caller skip."""
    if CI:
        pytest.fail(f"{what} (CI=true: missing test data fails instead of skipping)", pytrace=False)


@pytest.fixture(scope="session")
def data_dir_if_present() -> Path | None:
    """The benchmark data dir, or None outside CI when it is absent (for tests with a fallback)."""
    path = _configured_data_dir()
    if (path / "MANIFEST.json").is_file():
        return path
    _missing(f"benchmark data not found at {path}: set AGIMETER_DATA_DIR or put shared/benchmarks beside the repo")
    return None


@pytest.fixture(scope="session")
def data_dir(data_dir_if_present: Path | None) -> Path:
    """The benchmark data dir (``MANIFEST.json`` inside); skips when absent, fails under CI=true."""
    if data_dir_if_present is None:
        pytest.skip(f"benchmark data not found at {_configured_data_dir()} (set AGIMETER_DATA_DIR)")
    return data_dir_if_present


@pytest.fixture(scope="session")
def published_catalog() -> Path:
    """The published catalog (``published.json``); skips when absent, fails under CI=true."""
    path = _configured_catalog()
    if not path.is_file():
        _missing(f"published catalog not found at {path}: set AGIMETER_CATALOG or AGIMETER_DATA_DIR")
        pytest.skip(f"published catalog not found at {path} (set AGIMETER_CATALOG or AGIMETER_DATA_DIR)")
    return path


def _run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``agimeter ARGS`` in a subprocess, as a user would, without colours."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "agimeter.cli.app", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="session")
def agimeter() -> CliRunner:
    """The CLI as a fixture: ``agimeter("run", "--model", ...)``."""
    return _run_cli


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Qwen2 with a small BPE tokenizer, built once per session (~2 s)."""
    from agimeter.testing import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"), seed=0)


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2 of ``tiny_model_dir`` as an all-F32 GGUF file (built once, <1 s)."""
    from agimeter.testing.gguf_model import build_tiny_gguf

    return build_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny-qwen2.gguf")


TOY_MC = """\
name: toy_mc
version: "1"
dimension: knowledge
output_type: multiple_choice
source: {kind: file, path: toy/toy.jsonl, format: jsonl}
prompt:
  doc_to_text: "Question: {{question}}\\nAnswer:"
  doc_to_target: gold
  doc_to_choice: choices
metrics: [acc, acc_norm]
"""

TOY_GEN = """\
name: toy_gen
version: "1"
dimension: math
output_type: generate
source: {kind: file, path: toy/toy.jsonl, format: jsonl}
prompt:
  doc_to_text: "Q: {{question}}\\nA:"
  doc_to_target: "{{answer}}"
generation: {stop: ["\\n"], max_tokens: 16}
extraction: {kind: regex, pattern: "The answer is (\\\\-?[0-9\\\\.\\\\,]+)", fallback: last_number}
metrics: [exact_match]
"""


@pytest.fixture()
def toy_env(tmp_path: Path) -> dict[str, Path]:
    """A data dir with a 40-item toy task, two task YAMLs and a fresh SQLite store."""
    data = tmp_path / "data" / "toy"
    data.mkdir(parents=True)
    rows = [
        {
            "question": f"What is {i} + 1?",
            "choices": [str(i), str(i + 1), str(i + 2), str(i - 1)],
            "gold": 1,
            "answer": str(i + 1),
        }
        for i in range(40)
    ]
    (data / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mc = tmp_path / "toy_mc.yaml"
    mc.write_text(TOY_MC)
    gen = tmp_path / "toy_gen.yaml"
    gen.write_text(TOY_GEN)
    return {
        "data": tmp_path / "data",
        "mc": mc,
        "gen": gen,
        "store": tmp_path / "store.db",
        "tmp": tmp_path,
    }


StubFactory = Callable[..., str]


@pytest.fixture()
def stub_server() -> Iterator[StubFactory]:
    """Factory: ``stub_server("--first-ms", "20", ...)`` starts a stub and returns its base URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        from agimeter.testing.stub_server import start_process

        proc, url = start_process(*args)
        procs.append(proc)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One local Ray cluster of 2 CPUs for the whole session (started on first use, ~5-15 s), in a
    temp dir and without the auth token Ray writes to ~/.ray; yields its address for subprocesses."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(tmp_path_factory.mktemp("ray"))
        )
        try:
            yield str(ray.get_runtime_context().gcs_address)
        finally:
            ray.shutdown()


# Browser tests ------------------------------------------------------------------------------
# Playwright drives Debian's chromium (``playwright install`` cannot download browsers here;
# .ci/run installs the ``chromium`` package). Screenshots land in artifacts/screenshots/.
ARTIFACTS = REPO / "artifacts" / "screenshots"


def _chromium_path() -> str | None:
    import shutil

    return os.environ.get("AGIMETER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium (Playwright ``Browser``), one per test module: Playwright's sync API
    keeps an event loop running in this thread while it is open, which would break later tests
    that call ``asyncio.run``."""
    path = _chromium_path()
    if path is None:
        pytest.skip("no chromium binary: apt-get install chromium (done by .ci/run) or set AGIMETER_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh page that fails the test on any request leaving 127.0.0.1/file:// and on JS errors;
    a screenshot of the final state is saved as a test artifact."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    pg = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def check(req: object) -> None:
        url = req.url  # type: ignore[attr-defined]
        if not url.startswith(("file://", "http://127.0.0.1", "data:", "about:", "blob:")):
            outside.append(url)

    pg.on("request", check)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests outside the machine: {outside}"


# Timing assertions ---------------------------------------------------------------------------
# A test marked ``@pytest.mark.timing`` asserts a bound on elapsed time that a busy shared machine
# can miss once. It is run a second time when its first attempt fails an assertion; both attempts
# are reported (the terminal summary lists every retry, the failure message holds both reasons),
# so a bound that only passes on retry is visible rather than quietly loosened.
_TIMING_RETRIES: list[str] = []


def _retry_once(item: pytest.Function) -> None:
    import functools

    test = item.obj

    @functools.wraps(test)
    def run_twice(*args: object, **kwargs: object) -> None:
        try:
            test(*args, **kwargs)
            return
        except AssertionError as first:
            reason = _one_line(first)
        try:
            test(*args, **kwargs)
        except AssertionError as second:
            _TIMING_RETRIES.append(f"{item.nodeid}: failed twice: 1st {reason}; 2nd {_one_line(second)}")
            raise AssertionError(f"timing: failed on both attempts\n1st: {reason}\n2nd: {second}") from second
        _TIMING_RETRIES.append(f"{item.nodeid}: passed on the 2nd attempt; 1st failed: {reason}")
        item.user_properties.append(("timing_first_attempt", reason))

    item.obj = run_twice


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker("timing") is not None:
            _retry_once(item)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TIMING_RETRIES:
        terminalreporter.section("timing retries")
        for line in _TIMING_RETRIES:
            terminalreporter.write_line(line)
