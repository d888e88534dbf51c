"""Options and checks shared by every command (one definition, same help, same range checks).

Bad values are refused where the option is parsed: integer ranges by typer's ``min=``/``max=``,
strict and float bounds by the callbacks below. Either way the user sees one line naming the
option (``usage_error_line``), exit status 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from agimeter.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


def positive(value: float | None) -> float | None:
    """Callback: a finite number > 0 (typer's ``min=`` is inclusive)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a finite number > 0, got {value:g}")
    return value


def non_negative(value: float | None) -> float | None:
    """Callback: a finite number >= 0."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be a finite number >= 0, got {value:g}")
    return value


StoreOpt = Annotated[str | None, typer.Option("--store", help="SQLAlchemy URL (default: SQLite in the user data dir).")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config file (profiles, defaults).")]
ModelArgOpt = Annotated[list[str] | None, typer.Option("--model-arg", help="Backend option KEY=VALUE (repeatable).")]
FormatOpt = Annotated[str, typer.Option("--format", help="table or json.")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Random seed (>= 0).")]
UsdPerCnyOpt = Annotated[
    float | None, typer.Option("--usd-per-cny", callback=positive, help="Rate for CNY prices (else from config).")
]
MinItemsOpt = Annotated[
    int | None,
    typer.Option(
        "--min-items",
        min=1,
        help="Items a task's score needs to be ranked (default: 50, or the whole task if smaller).",
    ),
]
NoPinsOpt = Annotated[bool, typer.Option("--no-pins", help="Ignore `agimeter pin`: the default choice for every task.")]
PricePerHourOpt = Annotated[
    float | None,
    typer.Option("--price-per-hour", callback=non_negative, help="Hardware price in $/hour (overrides profile)."),
]


def check_choice(value: str, flag: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{flag} must be {_one_of(allowed)}, not {value!r}")


def check_format(value: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    check_choice(value, "--format", allowed)


def _one_of(allowed: tuple[str, ...]) -> str:
    return allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"


def parse_model_args(pairs: list[str] | None, flag: str = "--model-arg") -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {pair!r}")
        parsed[key.strip()] = value.strip()
    return parsed


def build_options(record: type[M], flags: Mapping[str, str] | None = None, /, **values: Any) -> M:
    """``record(**values)``, with a validation error reported as one line naming the option:
    field ``batch_size`` is ``--batch-size`` unless ``flags`` says otherwise."""
    try:
        return record(**values)
    except ValidationError as err:
        problem = err.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else ""
        flag = (flags or {}).get(field, "--" + field.replace("_", "-"))
        raise ConfigError(f"{flag}: {describe_problem(problem)}") from None


def describe_problem(problem: ErrorDetails) -> str:
    """A pydantic problem in the words of a command line: ``'ten' is not a valid integer``."""
    kind, value, ctx = problem["type"], problem.get("input"), problem.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{value!r} is not a valid integer"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{value!r} is not a valid number"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"must be {bounds[kind]} {f'{limit:g}' if isinstance(limit, float) else limit}, got {value}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}, got {value!r}"
    return str(problem["msg"])


def usage_error_line(err: typer.TyperException) -> str:
    """One line for a typer/click usage error: ``--limit: 'ten' is not a valid integer``."""
    param = getattr(err, "param", None)
    if isinstance(err, typer.BadParameter) and param is not None and not err.message:
        return f"missing {_param_name(param)}"  # a required option or argument not given
    if isinstance(err, typer.BadParameter) and param is not None:
        cause = err.__cause__
        text = describe_problem(cause.errors()[0]) if isinstance(cause, ValidationError) else err.message
        return f"{_param_name(param)}: {text}"
    return " ".join(err.format_message().split())


def _param_name(param: object) -> str:
    if getattr(param, "param_type_name", "") == "argument":  # named as in the help: RUN_ID
        return str(getattr(param, "metavar", None) or getattr(param, "name", None) or "argument").upper()
    opts = [str(o) for o in getattr(param, "opts", None) or ()]
    long = [o for o in opts if o.startswith("--")]
    if long or opts:
        return max(long or opts, key=len)
    return str(getattr(param, "human_readable_name", None) or getattr(param, "name", "argument"))
