"""The suite's own plumbing (tests/conftest.py), run by pytest in a sandbox directory: the data-dir
fixtures skip when the data is absent and fail under CI=true, and the ``timing`` marker retries a
failed test once and reports both attempts."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
INI = "[pytest]\nmarkers =\n    timing: elapsed-time bounds\n"

DATA_TESTS = """
def test_needs_data(data_dir):
    print("DATA", data_dir)

def test_needs_catalog(published_catalog):
    print("CATALOG", published_catalog)

def test_optional(data_dir_if_present):
    print("OPTIONAL", data_dir_if_present)
"""


@pytest.fixture()
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini(INI)
    for name in ("CI", "AGIMETER_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def test_missing_data_skips_outside_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGIMETER_DATA_DIR", str(suite.path / "absent"))
    suite.makepyfile(test_data=DATA_TESTS)
    result = suite.runpytest_subprocess("-rs", "-s")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*OPTIONAL None*"])
    result.stdout.fnmatch_lines(["*benchmark data not found at *absent*AGIMETER_DATA_DIR*"])


def test_missing_data_fails_under_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGIMETER_DATA_DIR", str(suite.path / "absent"))
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(test_data=DATA_TESTS)
    result = suite.runpytest_subprocess()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*benchmark data not found*CI=true: missing test data fails instead of skipping*"])
    result.stdout.fnmatch_lines(["*published catalog not found*CI=true*"])


def test_present_data_is_found_from_the_environment(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    data = suite.mkdir("snapshot") / "benchmarks"
    data.mkdir()
    (data / "MANIFEST.json").write_text("{}")
    (data.parent / "catalog").mkdir()
    (data.parent / "catalog" / "published.json").write_text("{}")
    monkeypatch.setenv("AGIMETER_DATA_DIR", str(data))
    monkeypatch.setenv("CI", "true")
    suite.makepyfile(test_data=DATA_TESTS)
    result = suite.runpytest_subprocess("-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [f"*DATA {data}", f"*CATALOG {data.parent / 'catalog' / 'published.json'}", f"*OPTIONAL {data}"]
    )


def test_timing_marker_retries_once_and_reports_both_attempts(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_timing="""
        import pytest

        attempts = {"flaky": 0, "slow": 0, "plain": 0}

        @pytest.mark.timing
        def test_flaky(tmp_path):
            attempts["flaky"] += 1
            assert attempts["flaky"] == 2, f"took 9 ms (attempt {attempts['flaky']})"

        @pytest.mark.timing
        def test_slow():
            attempts["slow"] += 1
            assert False, f"took 90 ms (attempt {attempts['slow']})"

        def test_plain():
            attempts["plain"] += 1
            assert False, f"plain attempt {attempts['plain']}"
        """
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "timing retries" in out
    assert "test_flaky: passed on the 2nd attempt; 1st failed: took 9 ms (attempt 1)" in out
    assert "test_slow: failed twice: 1st took 90 ms (attempt 1)" in out and "2nd took 90 ms (attempt 2)" in out
    assert "timing: failed on both attempts" in out
    assert "plain attempt 1" in out and "plain attempt 2" not in out  # unmarked tests are not retried
