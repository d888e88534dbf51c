"""The typed, versioned records that several layers share: below all of them, importing only
pydantic, the standard library and ``agimeter.errors``.

- ``run``: the run record (``RunRecord``), its stored-row loader and migrations, ``BadRunError``
- ``summary``: ``RunSummary`` = ``EvalSummary`` | ``PerfSummary`` (tagged by ``kind``)
- ``protocol``: a task's protocol as stored with a run
- ``options``: a run's config, ``RunOptions`` | ``PerfOptions``
- ``measurement``, ``hardware``, ``model``: what a run consumed, on what, with which model
- ``perf``: sweep points and serving cost of a perf run
- ``items``, ``sessions``, ``pins``: scored items, a run's sessions and sums, pinned runs
- ``prices``: a hosted API's price
"""

from agimeter.records.hardware import HardwareInfo
from agimeter.records.items import ItemRecord
from agimeter.records.measurement import Measurement
from agimeter.records.model import ModelInfo
from agimeter.records.options import ChatMode, PerfOptions, RunConfig, RunOptions
from agimeter.records.perf import PerfResult, PointSummary, ServingCost
from agimeter.records.protocol import TaskProtocol
from agimeter.records.run import BadRunError, RunRecord, RunStatus, load_run
from agimeter.records.summary import EvalSummary, PerfSummary, RunSummary, SequentialResult

__all__ = [
    "BadRunError",
    "ChatMode",
    "EvalSummary",
    "HardwareInfo",
    "ItemRecord",
    "Measurement",
    "ModelInfo",
    "PerfOptions",
    "PerfResult",
    "PerfSummary",
    "PointSummary",
    "RunConfig",
    "RunOptions",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "SequentialResult",
    "ServingCost",
    "TaskProtocol",
    "load_run",
]
