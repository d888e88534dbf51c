"""Real GGUF models on both stacks (``hf:`` dequantized, ``gguf:`` llama.cpp): load time, memory,
throughput, accuracy and pass@1.

    python benchmarks/real_models.py [--items 200] [--code-items 20] [--stacks hf,gguf]
        [--threads N] [--json artifacts/real_models.json] [--aliases A,B,...]

Default aliases: smollm2-135m-instruct, gemma-3-270m, qwen2.5-coder-0.5b-instruct,
qwen2.5-coder-1.5b-instruct.

Each (stack, model) runs in fresh subprocesses sharing a new temporary model cache, so every
number is per model: the first loads from nothing (cold: ``hf:`` converts the GGUF to an fp32
checkpoint, ``gguf:`` assembles multi-part GGUFs; its peak RSS includes that), the second loads
the cached result and measures the rest (its peak RSS is inference only). The third, for models
that write code (``--code-items`` > 0 and an instruct alias), runs ``agimeter run --tasks
humaneval_instruct --limit N`` through the CLI (chat template, sandbox) and reads pass@1 with its
95% CI and items/s from the stored run.

Expected duration on this 2-core machine, all four models, both stacks, defaults: ~60-90 min
(the 1.5B's hf conversion alone ~8 min; HumanEval answers ~5-30 s each).

- prefill / decode tokens/s: greedy ``generate`` at batch size 1 over the first 8 prompts of
  ``offline_arith_gen`` (few-shot arithmetic), 64 new tokens, no stop sequence. Prefill is prompt
  tokens / time to the first new token; decode is (new tokens - 1) / time after the first.
- items/s: one ``loglikelihood`` call over all choices of N multiple-choice items (arc_challenge
  0-shot from the data dir, else offline_arith_mc), tree-packed; accuracy is ``acc`` with a 95%
  Wilson CI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ALIASES = ("smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
STACKS = ("hf", "gguf")
CODE_TASK = "humaneval_instruct"
REPO_ROOT = Path(__file__).resolve().parents[1]
PROMPTS = 8
NEW_TOKENS = 64


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def data_dir() -> Path | None:
    configured = os.environ.get("AGIMETER_DATA_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "benchmarks"
    return path if (path / "arc_challenge").is_dir() else None


def backend_options(stack: str) -> dict[str, Any]:
    """``--threads`` (env ``BENCH_THREADS``) for llama.cpp: on a busy machine fewer threads than
    cores avoid its spin-waiting barriers stalling on a descheduled thread."""
    threads = os.environ.get("BENCH_THREADS")
    return {"n_threads": int(threads)} if threads and stack == "gguf" else {}


def child_convert(stack: str, alias: str) -> dict[str, Any]:
    from agimeter.backends.registry import create_backend

    start = time.perf_counter()
    backend = create_backend(f"{stack}:{alias}", device="cpu", **backend_options(stack))
    seconds = time.perf_counter() - start
    return {"cold_load_s": seconds, "convert_peak_rss_mib": peak_rss_mib(), "params": backend.info.num_parameters}


def child_measure(stack: str, alias: str, n_items: int) -> dict[str, Any]:
    from agimeter.analysis.stats import estimate
    from agimeter.backends.base import GenRequest, LoglikRequest
    from agimeter.backends.registry import create_backend
    from agimeter.scoring import score_item
    from agimeter.tasks import Task, resolve_task

    start = time.perf_counter()
    backend = create_backend(f"{stack}:{alias}", device="cpu", batch_size=1, **backend_options(stack))
    cached_load_s = time.perf_counter() - start

    prompts = [item.context for item in Task(resolve_task("offline_arith_gen")).items(limit=PROMPTS)]
    backend.generate([GenRequest(prompt=prompts[0], max_tokens=2)])  # warm-up
    gens = backend.generate([GenRequest(prompt=p, max_tokens=NEW_TOKENS) for p in prompts])
    prompt_tokens = sum(g.usage.prompt_tokens for g in gens)
    prefill_s = sum(g.timing.prefill_s for g in gens)
    decoded = sum(max(g.usage.completion_tokens - 1, 0) for g in gens)
    decode_s = sum(g.timing.decode_s for g in gens)

    directory = data_dir()
    if directory is not None:
        task, task_name = Task(resolve_task("arc_challenge"), directory, num_fewshot=0), "arc_challenge 0-shot"
    else:
        task, task_name = Task(resolve_task("offline_arith_mc")), "offline_arith_mc"
    items = task.items(limit=n_items)
    requests = [LoglikRequest(context=i.context, continuation=c) for i in items for c in i.continuations]
    start = time.perf_counter()
    results = backend.loglikelihood(requests)
    mc_s = time.perf_counter() - start
    flat = iter(results)
    correct = []
    for item in items:
        outs = [next(flat) for _ in item.continuations]
        scored = score_item(task.spec, item, loglikelihoods=[r.logprob for r in outs])
        correct.append(float(scored.correct))
    accuracy = estimate(correct)
    return {
        "cached_load_s": cached_load_s,
        "prompt_tokens": prompt_tokens,
        "prefill_tokens_per_s": prompt_tokens / prefill_s,
        "decoded_tokens": decoded,
        "decode_tokens_per_s": decoded / decode_s if decode_s > 0 else float("nan"),
        "mc_task": task_name,
        "mc_items": len(items),
        "mc_requests": len(requests),
        "mc_items_per_s": len(items) / mc_s,
        "accuracy": accuracy.mean,
        "ci_low": accuracy.ci_low,
        "ci_high": accuracy.ci_high,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_child(mode: str, stack: str, alias: str, cache: Path, n_items: int) -> dict[str, Any]:
    env = {**os.environ, "AGIMETER_MODEL_CACHE": str(cache)}
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--stacks",
        stack,
        "--aliases",
        alias,
        "--items",
        str(n_items),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{stack}:{alias} {mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_code(stack: str, alias: str, cache: Path, n_items: int) -> dict[str, Any]:
    """pass@1 on the first ``n_items`` HumanEval problems under the instruct protocol, through the CLI
    (fresh store, no cache reuse): the same path a user's run takes, sandbox included."""
    directory = data_dir()
    if n_items <= 0 or directory is None or "instruct" not in alias:
        return {}
    with tempfile.TemporaryDirectory(prefix="agimeter-bench-store-") as tmp:
        store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = {**os.environ, "AGIMETER_MODEL_CACHE": str(cache), "AGIMETER_DATA_DIR": str(directory)}
        run = [
            str(Path(sys.executable).parent / "agimeter"),
            "run",
            "--model",
            f"{stack}:{alias}",
            "--tasks",
            CODE_TASK,
        ]
        run += ["--limit", str(n_items), "--store", store, "--format", "json"]
        run += [f"--model-arg=n_threads={v}" for k, v in backend_options(stack).items()]
        done = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{stack}:{alias} {CODE_TASK} failed:\n{done.stderr[-3000:]}")
        summary = json.loads(done.stdout)
    score = next(s for s in summary["scores"] if s["task"] == CODE_TASK)
    metric = score["metrics"]["pass@1"]
    seconds = summary["measurement"]["wall_s"]
    return {
        "code_items": n_items,
        "pass_at_1": metric["mean"],
        "pass_ci_low": metric["ci_low"],
        "pass_ci_high": metric["ci_high"],
        "code_items_per_s": n_items / seconds if seconds > 0 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aliases", default=",".join(ALIASES))
    parser.add_argument("--stacks", default=",".join(STACKS))
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--code-items", type=int, default=20, help="HumanEval problems for pass@1 (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--threads", type=int, help="llama.cpp threads for gguf rows (default: physical cores)")
    parser.add_argument("--child", choices=["convert", "measure"])
    args = parser.parse_args()
    if args.child:
        alias, stack = args.aliases, args.stacks
        out = child_convert(stack, alias) if args.child == "convert" else child_measure(stack, alias, args.items)
        print(json.dumps(out))
        return
    if args.threads:
        os.environ["BENCH_THREADS"] = str(args.threads)
    rows = []
    for alias in args.aliases.split(","):
        for stack in args.stacks.split(","):
            with tempfile.TemporaryDirectory(prefix="agimeter-bench-cache-") as tmp:
                row = {"alias": alias, "stack": stack, **run_child("convert", stack, alias, Path(tmp), args.items)}
                row.update(run_child("measure", stack, alias, Path(tmp), args.items))
                row.update(run_code(stack, alias, Path(tmp), args.code_items))
            rows.append(row)
            print(f"# {stack}:{alias}: {json.dumps(row)}", file=sys.stderr, flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"cpu threads: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.1f}, device cpu")
    print("hf: dequantized to float32; gguf: llama.cpp on the shipped quantized file")
    print(f"generation: batch 1, greedy, {PROMPTS} offline_arith_gen prompts, {NEW_TOKENS} new tokens")
    print(f"multiple choice: {rows[0]['mc_task']}, {rows[0]['mc_items']} items, one loglikelihood call")
    print(f"pass@1: {CODE_TASK}, first {args.code_items} problems, instruct aliases only\n")
    header = (
        f"{'model':<30}{'stack':<6}{'params':>8}{'cold load':>11}{'cached':>8}{'RSS cold':>10}{'RSS run':>9}"
        f"{'prefill':>10}{'decode':>9}{'items/s':>9}  {'acc [95% CI]':<22}{'pass@1 [95% CI]':<22}{'code it/s':>9}"
    )
    print(header)
    print(f"{'':<36}{'M':>8}{'s':>11}{'s':>8}{'MiB':>10}{'MiB':>9}{'tok/s':>10}{'tok/s':>9}")
    print("-" * len(header))
    for row in rows:
        code = (
            f"{row['pass_at_1']:.3f} [{row['pass_ci_low']:.3f}, {row['pass_ci_high']:.3f}]"
            f"  {row['code_items_per_s']:>7.3f}"
            if "pass_at_1" in row
            else "-"
        )
        print(
            f"{row['alias']:<30}{row['stack']:<6}{row['params'] / 1e6:>8.1f}{row['cold_load_s']:>11.1f}"
            f"{row['cached_load_s']:>8.2f}{row['convert_peak_rss_mib']:>10.0f}{row['peak_rss_mib']:>9.0f}"
            f"{row['prefill_tokens_per_s']:>10.0f}{row['decode_tokens_per_s']:>9.1f}"
            f"{row['mc_items_per_s']:>9.2f}  "
            f"{row['accuracy']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]  {code}"
        )


if __name__ == "__main__":
    main()
