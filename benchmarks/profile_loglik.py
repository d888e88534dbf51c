"""Where the hf backend's log-likelihood time goes, by part of the model, on a real model.

    python benchmarks/profile_loglik.py [--model smollm2-135m-instruct] [--task arc_challenge]
        [--shots 25] [--items 4] [--busy N] [--threads N] [--torch-profile]

Wall time is split with forward hooks (CPU ops are synchronous, so a module's hook-to-hook time
is its cost): attention kernel (the attention function: sdpa, or tree attention with its gathers),
attention projections and rope (the rest of each attention module), MLP, norms, lm head, the rest
of the model call (embedding, mask preparation inside transformers), and everything outside the
model calls (tokenizing, trie and pack planning, tree layouts or dense masks, scoring). ``--busy
N`` runs N busy-loop processes meanwhile. Profile another checkout's code by putting its src first
on PYTHONPATH. For OpenMP waits, run it under ``py-spy record --native --format raw`` and count
samples in ``gomp_*barrier*``/``do_spin``/``futex`` frames (docs/perf_profile.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


def install_timers(model: Any, totals: dict[str, float]) -> None:
    """Accumulate wall seconds per part of the model into ``totals`` (nested parts subtract)."""
    import transformers.modeling_utils as modeling

    stack: list[tuple[str, float]] = []

    def enter(name: str) -> None:
        stack.append((name, time.perf_counter()))

    def leave() -> None:
        name, began = stack.pop()
        spent = time.perf_counter() - began
        totals[name] += spent
        if stack:
            totals[stack[-1][0]] -= spent  # self time only

    def hook(name: str) -> tuple[Callable[..., None], Callable[..., None]]:
        return (lambda *_: enter(name)), (lambda *_: leave())

    for module_name, module in model.named_modules():
        kind = type(module).__name__
        if module_name.endswith("lm_head"):
            part = "lm head"
        elif kind.endswith("Attention"):
            part = "attention projections + rope"
        elif kind.endswith("MLP"):
            part = "mlp"
        elif "Norm" in kind:
            part = "norms"
        elif module is model:
            part = "model call, other (embedding, masks)"
        else:
            continue
        pre, post = hook(part)
        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)
    functions = modeling.ALL_ATTENTION_FUNCTIONS
    for key in ("sdpa", "agimeter_tree"):
        if key in functions:
            inner = functions[key]

            def timed(*args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
                enter("attention kernel")
                try:
                    return _inner(*args, **kwargs)
                finally:
                    leave()

            functions.register(key, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--task", default="arc_challenge")
    parser.add_argument("--shots", type=int, default=25)
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--busy", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="fixed intra-op threads (default: the backend's)")
    parser.add_argument("--torch-profile", action="store_true", help="also print torch.profiler's top ops")
    args = parser.parse_args()

    from agimeter.backends.base import LoglikRequest
    from agimeter.backends.registry import create_backend
    from agimeter.tasks import Task, resolve_task

    options: dict[str, Any] = {"device": "cpu"}
    if args.threads:
        options["threads"] = args.threads
    try:
        backend: Any = create_backend(f"hf:{args.model}", **options)
    except TypeError:  # an older checkout without the threads option
        options.pop("threads", None)
        backend = create_backend(f"hf:{args.model}", **options)
    items = Task(resolve_task(args.task), None, num_fewshot=args.shots).items(limit=args.items)
    requests = [LoglikRequest(context=i.context, continuation=c) for i in items for c in i.continuations]
    backend.loglikelihood(requests[:1])  # warm-up: first-call allocations and kernel choices
    totals: dict[str, float] = defaultdict(float)
    install_timers(backend._model, totals)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        import torch

        load = os.getloadavg()[0]
        cpu, began = time.process_time(), time.perf_counter()
        if args.torch_profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                backend.loglikelihood(requests)
        else:
            backend.loglikelihood(requests)
        wall = time.perf_counter() - began
        cpu_s = time.process_time() - cpu
    finally:
        for process in busy:
            process.kill()
    in_model = sum(totals.values())
    totals["outside the model (tokenize, plan, layout/masks, scoring)"] = wall - in_model
    stats = backend.last_stats
    tuner = getattr(backend, "_tuner", None)
    print(
        f"{args.model} {args.task} {args.shots}-shot, {len(items)} items, {len(requests)} requests, "
        f"busy loops {args.busy}, load avg before {load:.1f}, threads at end {torch.get_num_threads()}"
        f"{f' (tuner: {tuner.switches} switches)' if tuner is not None else ''}"
    )
    print(f"wall {wall:.2f} s, process cpu {cpu_s:.2f} s, {stats}")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<58}{seconds:>8.2f} s {100 * seconds / wall:>5.1f}%")
    print(json.dumps({"wall": wall, "cpu": cpu_s, "load": load, "parts": totals}))
    if args.torch_profile:
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
