"""The hf: vs gguf: gap of one model alias on the same multiple-choice items.

    python benchmarks/stack_gap.py [--alias qwen2.5-coder-0.5b-instruct] [--items 100] [--subset 20]

``hf:<alias>`` dequantizes the GGUF to fp32 (transformers); ``gguf:<alias>`` runs the same file with
llama.cpp's quantized kernels (f32 KV cache). Both score the first N ARC-Challenge items 0-shot
(lm-eval's prompt, log-likelihood per choice). Printed as JSON: accuracy on each stack, how often
the chosen answer agrees, mean and max |delta log-likelihood| per choice, and, for a CI test that
scores only ``--subset`` items, the 1st percentile of agreement and the 99th percentiles of the
mean and max |delta| over 10,000 random subsets of that size (the tolerances such a test can
assert without failing by chance on a slightly different subset).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alias", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--subset", type=int, default=20)
    args = parser.parse_args()

    from agimeter.backends.registry import create_backend
    from agimeter.tasks import Task, resolve_task
    from agimeter.testing.stack_gap import score_choices, stack_gap

    data = Path(os.environ.get("AGIMETER_DATA_DIR") or REPO_ROOT.parent / "shared" / "benchmarks")
    task = Task(resolve_task("arc_challenge"), data, num_fewshot=0)
    items = task.items(limit=args.items)
    out: dict[str, Any] = {"alias": args.alias, "items": len(items), "task": "arc_challenge 0-shot"}
    scored = {}
    for stack, options in (("hf", {"device": "cpu", "dtype": "float32"}), ("gguf", {"kv_f32": True})):
        start = time.perf_counter()
        backend = create_backend(f"{stack}:{args.alias}", **options)
        out[f"{stack}_load_s"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        scored[stack] = score_choices(backend, task, items)
        out[f"{stack}_score_s"] = round(time.perf_counter() - start, 1)
        backend.close()
        out[f"{stack}_acc"] = sum(scored[stack][0]) / len(items)
    gap = stack_gap(scored["hf"][1], scored["gguf"][1])
    out.update(gap.summary())
    same, per_item = gap.same, gap.diffs
    rng = random.Random(0)
    agree, means, maxes = [], [], []
    for _ in range(10_000):
        pick = rng.sample(range(len(items)), min(args.subset, len(items)))
        diffs = [d for i in pick for d in per_item[i]]
        agree.append(sum(same[i] for i in pick) / len(pick))
        means.append(sum(diffs) / len(diffs))
        maxes.append(max(diffs))
    out[f"subset_{args.subset}"] = {
        "same_choice_p01": percentile(agree, 0.01),
        "mean_abs_loglik_diff_p99": percentile(means, 0.99),
        "max_abs_loglik_diff_p99": percentile(maxes, 0.99),
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
