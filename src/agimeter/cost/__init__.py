"""Cost: price stored measurements with a hardware profile ($ per run, $ per 1M tokens)."""

from agimeter.cost.pricing import CostBlock, price_run

__all__ = ["CostBlock", "price_run"]
