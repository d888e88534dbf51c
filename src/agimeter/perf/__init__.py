"""The serving load generator behind ``agimeter perf``: workloads, closed/open loop, metrics."""
