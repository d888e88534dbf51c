"""What the runner needs of a result store: the seam between running and storing.

The runner writes through these protocols and never imports ``agimeter.store`` (which comes after it
in the data flow); ``store.Store`` implements it, and the CLI hands one in. Every method commits
on its own, so a killed run loses at most the item in flight."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from agimeter.records.items import CompletionRecord, ItemRecord
from agimeter.records.run import RunRecord, RunStatus
from agimeter.records.sessions import Owner, RunTotals, SessionRecord, SessionTick
from agimeter.records.summary import RunSummary
from agimeter.records.sweeps import SweepRecord, SweepStatus, VariantRecord


class RunStore(Protocol):
    # runs and their sessions (leases)
    def find_resumable_run(self, run_key: str) -> RunRecord | None:
        """The newest unfinished run started by the same command (same run key)."""
        ...

    def start_run(self, run: RunRecord, owner: Owner, load_s: float) -> SessionRecord:
        """Create the run and its first session, held by ``owner``."""
        ...

    def claim_run(self, run_id: str, owner: Owner, load_s: float) -> SessionRecord:
        """A new session of an unfinished run; refused while the latest session's owner lives."""
        ...

    def run_sessions(self, run_id: str) -> list[SessionRecord]: ...

    def heartbeat(self, session_id: int) -> bool:
        """Refresh the session's lease; False when it was lost."""
        ...

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        summary: RunSummary | None = None,
        error: str | None = None,
        tick: SessionTick | None = None,
    ) -> None: ...

    def get_run(self, run_id: str) -> RunRecord: ...

    # items
    def cached_items(self, cache_keys: Iterable[str]) -> dict[str, ItemRecord]: ...

    def run_item_keys(self, run_id: str) -> set[str]: ...

    def link_cached(self, run_id: str, records: Sequence[ItemRecord]) -> None: ...

    def add_item(self, run_id: str, record: ItemRecord, tick: SessionTick | None = None) -> None: ...

    def run_items(self, run_id: str) -> list[ItemRecord]: ...

    def run_totals(self, run_id: str) -> RunTotals: ...

    # kept generation results (the completion cache of judged tasks)
    def cached_completions(self, cache_keys: Iterable[str]) -> dict[str, CompletionRecord]: ...

    def add_completion(self, record: CompletionRecord) -> None: ...


class SweepStore(RunStore, Protocol):
    """What a quantization sweep (``runner.sweep``, ``runner.sweep_row``) needs of the store besides
    its rows' runs: the sweep, its lease, and each row's progress."""

    def find_sweep(self, sweep_key: str) -> SweepRecord | None: ...

    def start_sweep(self, sweep: SweepRecord, variants: list[VariantRecord]) -> None: ...

    def claim_sweep(self, sweep_id: str, owner: Owner) -> SweepRecord: ...

    def sweep_heartbeat(self, sweep_id: str) -> bool: ...

    def set_sweep_status(self, sweep_id: str, status: SweepStatus, error: str | None = None) -> None: ...

    def get_sweep(self, sweep_id: str) -> SweepRecord: ...

    def sweep_variants(self, sweep_id: str) -> list[VariantRecord]: ...

    def save_variant(self, variant: VariantRecord) -> None: ...

    def runs_of_model(self, model_identity: str) -> list[RunRecord]:
        """Every run of the model with this identity, newest first."""
        ...
