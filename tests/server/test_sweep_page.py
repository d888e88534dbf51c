"""A model page shows the quantization sweeps its runs belong to: the sweep's rows, its own row
marked, links to the other rows' pages, the paired numbers and the guidance."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from agimeter.analysis.entry_model import measured_key
from agimeter.server.app import create_app
from agimeter.store.repository import Store
from agimeter.testing.sweeps import SWEEP_ID, build_sweep


def test_model_page_shows_its_sweep(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    build_sweep(Store.open(url))
    with TestClient(create_app(url)) as client:
        page = client.get(f"/models/{measured_key('gguf:/v/Q4_0.gguf', 'sha256:q4_0')}")
        assert page.status_code == 200
        html = page.text
        assert 'id="sweeps-title"' in html and f'data-sweep="{SWEEP_ID}"' in html
        assert 'data-row="Q4_0" class="this-row"' in html and "This model is the <b>Q4_0</b> row" in html
        links = re.findall(r'<a href="(/models/[^"]+)">(F32|Q8_0|Q2_K)</a>', html)
        assert sorted(label for _, label in links) == ["F32", "Q2_K", "Q8_0"]
        for href, _ in links:
            assert client.get(href).status_code == 200
        q2 = re.search(r'<tr data-row="Q2_K">.*?</tr>', html, re.S)
        assert q2 is not None and "(loss)" in q2.group(0)
        assert "Smallest variant without a significant paired loss at alpha = 0.05: Q4_0" in html
        # a model with no sweep has no such section
        assert 'id="sweeps-title"' not in client.get("/models/m-no-such").text
