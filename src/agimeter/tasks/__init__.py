"""Task specs (YAML → pydantic), data loaders, prompt building and the built-in benchmarks."""

from agimeter.tasks.item import Item
from agimeter.tasks.registry import builtin_task_names, load_spec, resolve_task
from agimeter.tasks.spec import TaskSpec
from agimeter.tasks.task import Task

__all__ = ["Item", "Task", "TaskSpec", "builtin_task_names", "load_spec", "resolve_task"]
