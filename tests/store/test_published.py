"""Published catalog in the store: validation errors, atomic idempotent import, provenance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import select, update

from agimeter.errors import ConfigError
from agimeter.store.published import load_catalog
from agimeter.store.repository import Store
from agimeter.store.tables import PublishedRow
from agimeter.testing.catalog import MINI_CATALOG as MINI
from agimeter.testing.catalog import write_catalog as _write


def test_import_is_atomic_idempotent_and_replaces_by_label(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    path = _write(tmp_path, MINI)
    catalog, sha = load_catalog(path)
    record, changed = store.import_catalog(catalog, sha, path, "pub")
    assert changed and (record.models, record.scores, record.prices, record.laws) == (2, 1, 1, 1)
    assert store.import_catalog(catalog, sha, path, "pub")[1] is False  # same content: nothing to do
    got = store.published()
    assert [m.id for _, m in got.models] == ["org/A-1B", "org/B-7B"]
    assert got.cite("pub", "S1").text() == "A report <https://example.org/r>"
    # approximate month -> the middle of it
    assert got.models[1][1].release_date().isoformat() == "2023-07-15"

    smaller = {**MINI, "models": MINI["models"][:1]}  # type: ignore[index]
    path2 = _write(tmp_path, smaller, "c2.json")
    catalog2, sha2 = load_catalog(path2)
    assert store.import_catalog(catalog2, sha2, path2, "pub")[1] is True
    assert [m.id for _, m in store.published().models] == ["org/A-1B"]  # replaced, not appended
    store.import_catalog(catalog, sha, path, "other")  # a second label is kept apart
    assert len(store.published().models) == 3
    assert {i.catalog for i in store.published().imports} == {"pub", "other"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=9), "schema_version 9 is not supported"),
        (lambda d: d["models"][0].update(params_total_b=-1), "models.0.params_total_b"),
        (lambda d: d["models"][0].update(colour="red"), "models.0.colour"),
        (lambda d: d["prices"][0].update(currency="EUR"), "prices.0.currency"),
        (lambda d: d["models"][0]["scores"][0].update(source="S9"), "S9 are cited but not in sources"),
        # no NaN and nothing out of range: one NaN score silently moved a trend fit
        (
            lambda d: d["models"][0]["scores"][0].update(value=math.nan),
            "models.0.scores.0.value: Input should be a finite",
        ),
        (lambda d: d["models"][0]["scores"][0].update(value=-4.0), "models.0.scores.0.value: Input should be greater"),
        (lambda d: d["models"][0]["scores"][0].update(value=100.5), "models.0.scores.0.value: Input should be less"),
        (lambda d: d["models"][0]["scores"][0].update(shots=-1), "models.0.scores.0.shots"),
        (lambda d: d["models"][1].update(params_total_b=math.inf), "models.1.params_total_b: Input should be a finite"),
        (lambda d: d["prices"][0].update(output_per_mtok=-0.5), "prices.0.output_per_mtok"),
        (lambda d: d["prices"][0].update(input_per_mtok=math.nan), "prices.0.input_per_mtok"),
        (lambda d: d["laws"][0].update(doubling_months=0), "laws.0.doubling_months"),
        (lambda d: d["laws"][0].update(factor_per_year=-10), "laws.0.factor_per_year"),
    ],
)
def test_bad_catalog_names_the_field_and_stores_nothing(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(MINI))
    mutate(data)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_catalog(_write(tmp_path, data))


def test_catalog_import_refuses_nan_in_one_line(tmp_path: Path, agimeter) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(MINI))
    data["models"][0]["scores"][0]["value"] = math.nan  # json.dumps writes NaN, as a hand-edited file may hold
    path = _write(tmp_path, data)
    store = f"sqlite:///{tmp_path}/s.db"
    res = agimeter("catalog", "import", str(path), "--store", store)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert f"{path}: models.0.scores.0.value: Input should be a finite number" in res.stderr
    assert Store.open(store).published().imports == []


def test_a_stored_row_that_no_longer_validates_is_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    path = _write(tmp_path, MINI)
    catalog, sha = load_catalog(path)
    store.import_catalog(catalog, sha, path, "pub")
    with store.engine.begin() as conn:  # as an older version could have stored it
        row = conn.execute(select(PublishedRow).where(PublishedRow.key == "org/A-1B")).one()
        record = {**row.record, "scores": [{**row.record["scores"][0], "value": math.nan}]}
        conn.execute(update(PublishedRow).where(PublishedRow.id == row.id).values(record=record))
    with caplog.at_level("WARNING"):
        got = store.published()
    assert [m.id for _, m in got.models] == ["org/B-7B"] and len(got.prices) == 1
    assert "catalog 'pub', model 'org/A-1B': scores.0.value: Input should be a finite number" in caplog.text


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n"schema_version": 1,\n"models": [,]\n}')
    with pytest.raises(ConfigError, match=r"bad\.json: line 3: invalid JSON"):
        load_catalog(path)


def test_shared_catalog_imports_every_row(tmp_path: Path, published_catalog: Path) -> None:
    catalog, sha = load_catalog(published_catalog)
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    record, _ = store.import_catalog(catalog, sha, published_catalog, "published")
    raw = json.loads(published_catalog.read_text())
    assert record.models == len(raw["models"]) and record.prices == len(raw["prices"])
    assert record.scores == sum(len(m["scores"]) for m in raw["models"])
    got = store.published()
    assert len(got.models) == len(raw["models"]) and len(got.laws) == len(raw["laws"])
    assert all(got.cite("published", s.source).url for _, m in got.models for s in m.scores)
