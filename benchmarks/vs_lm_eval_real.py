"""Real models side by side: lm-eval 0.4.13 ``HFLM`` vs agimeter's hf backend, quiet or busy.

Both tools score the same log-likelihood requests on the same converted fp32 checkpoint (the
``hf:<alias>`` cache directory) on the CPU: agimeter's built-in MMLU, ARC-Challenge and
HellaSwag prompts (identical to lm-eval's, see tests/tasks/test_lm_eval_parity.py) at their
few-shot settings and at 0-shot. Each tool runs in its own subprocess per scenario, so its peak
RSS is its own and a crash (an OOM kill) costs one row; lm-eval's child never imports agimeter
and keeps OpenMP's default wait policy. ``--busy N`` starts N busy-loop processes
(``while True: pass``) before a model's first scenario and kills them after its last, so they run
beside both tools all the time. Only the log-likelihood call is timed (model loading is not).

Columns: items; seconds of each tool; ratio (lm-eval s / agimeter s); bound, the work-avoidance
bound = tokens lm-eval forwards (its padded batches, counted by a forward hook) / tokens agimeter
computes (trie nodes); achieved = ratio / bound (above 1: agimeter also skips lm-eval's
full-vocabulary head and log-softmax at every position); max |Δ loglik| over all requests;
flips = items whose argmax choice differs; peak RSS of each tool's process.

Full run, both models, one condition per command (the defaults: 20 MMLU 5-shot items, 30 ARC
25-shot, 10 HellaSwag 10-shot, 20 of each at 0-shot). Timed on this 2-core machine, quiet:
``--busy 0`` 50 min, plus 17 min for Qwen's ARC 25-shot once the cap below is lifted; with
``--busy 1`` the few-shot rows alone took 17 min for SmolLM2 and 43 min for Qwen (lm-eval's ARC
25-shot: 26 min, 18.6 GB peak RSS; HellaSwag 10-shot 8 min). lm-eval's batch of 8
on Qwen's ARC 25-shot needs more than the default address-space cap (80% of RAM: it failed to
allocate its 5.5 GB logits at 19.2 GB), so give Qwen ``--mem-limit-gb 0``:

    python benchmarks/vs_lm_eval_real.py --busy 0 --mem-limit-gb 0
    python benchmarks/vs_lm_eval_real.py --busy 1 --mem-limit-gb 0 --only 5-shot,25-shot,10-shot

Quick look (about a tenth of the items and time): ``--scale 0.1``; one model: ``--models
smollm2-135m-instruct``; some scenarios: ``--only arc,mmlu``; exact counts: ``--items 'mmlu
5-shot=10,hellaswag 0-shot=4'``. Results: a markdown table on stdout and in
artifacts/vs_lm_eval_real-busy<N>.md (``--out DIR`` elsewhere), every number in the matching .json.
Stopping the script (Ctrl-C, SIGINT, SIGTERM; on Linux also SIGKILL) stops the tool process it is
running and its busy loops.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = ("smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct")
# (name, task, shots, items): MMLU items come from one subject (abstract_algebra), so the 5-shot
# prefix is shared as in a real MMLU run; ARC and HellaSwag draw exemplars per item.
SCENARIOS = (
    ("mmlu 5-shot", "mmlu", 5, 20),
    ("arc_challenge 25-shot", "arc_challenge", 25, 30),
    ("hellaswag 10-shot", "hellaswag", 10, 10),
    ("mmlu 0-shot", "mmlu", 0, 20),
    ("arc_challenge 0-shot", "arc_challenge", 0, 20),
    ("hellaswag 0-shot", "hellaswag", 0, 20),
)
LM_EVAL_BATCH = 8
# The user's environment before agimeter is imported (agimeter asks OpenMP for passive waits).
USER_ENV = dict(os.environ)


def die_with_parent() -> None:
    """In a child before exec: the kernel kills it when this script dies, however it dies (Linux;
    elsewhere a no-op), so a stopped run leaves no tool or busy loop behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ------------------------------------------------------------------------------------ children


def child_lm_eval(model_dir: str, requests: list[list[str]]) -> dict[str, Any]:
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model_dir, batch_size=LM_EVAL_BATCH, device="cpu", dtype="float32")
    forwarded = [0]

    def count(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = args[0] if args else kwargs["input_ids"]
        forwarded[0] += int(ids.numel())

    instances = [
        Instance(request_type="loglikelihood", doc={}, arguments=(c, x), idx=i) for i, (c, x) in enumerate(requests)
    ]
    lm.loglikelihood(instances[:1], disable_tqdm=True)  # warm-up, as for agimeter: first-call costs
    lm.model.register_forward_pre_hook(count, with_kwargs=True)
    cpu, start = time.process_time(), time.perf_counter()
    results = lm.loglikelihood(instances, disable_tqdm=True)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "logprobs": [float(lp) for lp, _ in results],
        "tokens": forwarded[0],
        "threads": torch.get_num_threads(),
        "peak_rss_mib": peak_rss_mib(),
    }


def child_agimeter(model_dir: str, requests: list[list[str]]) -> dict[str, Any]:
    from agimeter.backends.base import LoglikRequest
    from agimeter.backends.hf import HFBackend

    backend = HFBackend.load(model_dir, dtype="float32", device="cpu")
    batch = [LoglikRequest(context=c, continuation=x) for c, x in requests]
    backend.loglikelihood(batch[:1])  # warm-up, as for lm-eval
    cpu, start = time.process_time(), time.perf_counter()
    results = backend.loglikelihood(batch)
    seconds = time.perf_counter() - start
    tuner = backend._tuner
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "logprobs": [r.logprob for r in results],
        "tokens": backend.last_stats.computed_tokens,
        "forwards": backend.last_stats.forwards,
        "threads": tuner.threads if tuner is not None else None,
        "thread_switches": tuner.switches if tuner is not None else 0,
        "omp_wait": backend.info.extra.get("omp_wait"),
        "peak_rss_mib": peak_rss_mib(),
    }


def run_child(tool: str, model_dir: Path, requests: list[list[str]], mem_limit_gb: float) -> dict[str, Any]:
    """One tool on one scenario in a fresh process; {"error": ...} when it fails."""
    with tempfile.TemporaryDirectory(prefix="agimeter-vs-lm-eval-") as tmp:
        source, target = Path(tmp) / "requests.json", Path(tmp) / "result.json"
        source.write_text(json.dumps(requests))
        env = {**USER_ENV, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        if tool == "agimeter":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), env.get("PYTHONPATH")]))
        command = [sys.executable, __file__, "--child", tool, str(model_dir), str(source), str(target)]
        command += ["--mem-limit-gb", str(mem_limit_gb)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, preexec_fn=die_with_parent)
        if done.returncode != 0 or not target.exists():
            tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return {"error": f"exit {done.returncode}: {tail[:200]}"}
        result: dict[str, Any] = json.loads(target.read_text())
        return result


# -------------------------------------------------------------------------------------- parent


def build_requests(task: str, shots: int, items: int, data_dir: Path) -> tuple[list[list[str]], list[int]]:
    """(context, continuation) pairs and the number of choices of each item."""
    from agimeter.tasks import Task, resolve_task

    loaded = Task(resolve_task(task), data_dir, num_fewshot=shots).items(limit=items)
    pairs = [[item.context, choice] for item in loaded for choice in item.continuations]
    return pairs, [len(item.continuations) for item in loaded]


def compare(theirs: list[float], ours: list[float], choices: list[int]) -> tuple[float, int]:
    """(max |difference|, items whose best choice differs)."""
    diff = max(abs(a - b) for a, b in zip(theirs, ours, strict=True))
    flips, begin = 0, 0
    for count in choices:
        a, b = theirs[begin : begin + count], ours[begin : begin + count]
        flips += a.index(max(a)) != b.index(max(b))
        begin += count
    return diff, flips


def selects(word: str, name: str) -> bool:
    """``--only`` words: a task name's prefix (``arc``) or a whole shot count (``0-shot`` is not
    ``10-shot``)."""
    task, shots = name.split(" ")
    return word in (name, shots) or task.startswith(word)


def start_busy(count: int) -> list[subprocess.Popen[bytes]]:
    loop = [sys.executable, "-c", "while True: pass"]
    return [subprocess.Popen(loop, preexec_fn=die_with_parent) for _ in range(count)]


def stop_busy(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
        process.wait()


def measure_model(alias: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from agimeter.backends.aliases import resolve_alias
    from agimeter.backends.gguf_convert import ensure_converted

    found = resolve_alias(alias)
    if found is None:
        raise SystemExit(f"unknown alias {alias!r}")
    model_dir, _ = ensure_converted(found)
    wanted = [w for w in args.only.split(",") if w]
    rows = []
    busy = start_busy(args.busy)
    try:
        for position, (name, task, shots, items) in enumerate(SCENARIOS):
            if wanted and not any(selects(w, name) for w in wanted):
                continue
            count = args.items.get(name, max(2, round(items * args.scale)))
            requests, choices = build_requests(task, shots, count, args.data_dir)
            # Alternate who goes first, so a drifting load favours neither tool.
            order = ("lm-eval", "agimeter") if position % 2 == 0 else ("agimeter", "lm-eval")
            load_before = os.getloadavg()[0]  # 1-minute load average, as `uptime` prints it
            outcome = {tool: run_child(tool, model_dir, requests, args.mem_limit_gb) for tool in order}
            row: dict[str, Any] = {"model": alias, "scenario": name, "items": count, "requests": len(requests)}
            row["busy"] = args.busy
            row["load_before"], row["load_after"] = load_before, os.getloadavg()[0]
            row["lm_eval"], row["agimeter"] = outcome["lm-eval"], outcome["agimeter"]
            theirs, ours = outcome["lm-eval"], outcome["agimeter"]
            if "error" not in theirs and "error" not in ours:
                row["ratio"] = theirs["seconds"] / ours["seconds"]
                row["bound"] = theirs["tokens"] / ours["tokens"]
                row["achieved"] = row["ratio"] / row["bound"]
                row["max_diff"], row["flips"] = compare(theirs["logprobs"], ours["logprobs"], choices)
            for side in (theirs, ours):
                side.pop("logprobs", None)
            rows.append(row)
            print(f"# {json.dumps(row)}", file=sys.stderr, flush=True)
    finally:
        stop_busy(busy)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | scenario | items | lm-eval s | agimeter s | ratio | bound | achieved | max \\|Δ loglik\\| "
        "| flips | lm-eval RSS MiB | agimeter RSS MiB | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        theirs, ours = row["lm_eval"], row["agimeter"]

        def cell(side: dict[str, Any], key: str, spec: str) -> str:
            return "error" if "error" in side else format(side[key], spec)

        if "ratio" in row:
            ratio, bound = f"**{row['ratio']:.1f}x**", f"{row['bound']:.1f}x"
            achieved, diff, flips = f"{row['achieved']:.2f}", f"{row['max_diff']:.1e}", str(row["flips"])
        else:
            ratio = bound = achieved = diff = flips = "-"
        lines.append(
            f"| {row['model']} | {row['scenario']} | {row['items']} | {cell(theirs, 'seconds', '.1f')} "
            f"| {cell(ours, 'seconds', '.1f')} | {ratio} | {bound} | {achieved} | {diff} | {flips} "
            f"| {cell(theirs, 'peak_rss_mib', '.0f')} | {cell(ours, 'peak_rss_mib', '.0f')} "
            f"| {row['load_before']:.1f} / {row['load_after']:.1f} |"
        )
    return "\n".join(lines)


def item_counts(text: str) -> dict[str, int]:
    """``--items`` value: scenario name=count pairs, names as in SCENARIOS."""
    counts, names = {}, {name for name, *_ in SCENARIOS}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.rpartition("=")
        if name not in names or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"{part!r}: expected one of {sorted(names)}=N with N >= 1")
        counts[name] = int(count)
    return counts


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["lm-eval", "agimeter"])
    parser.add_argument("model_dir")
    parser.add_argument("requests", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--mem-limit-gb", type=float, default=0)
    args = parser.parse_args(argv)
    if args.mem_limit_gb > 0:
        # A clean MemoryError instead of the kernel's OOM killer picking a process on the machine.
        limit = int(args.mem_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests = json.loads(args.requests.read_text())
    child = child_lm_eval if args.child == "lm-eval" else child_agimeter
    args.result.write_text(json.dumps(child(args.model_dir, requests)))


def main() -> None:
    if "--child" in sys.argv:
        child_main(sys.argv[1:])
        return
    # SIGTERM (kill, timeout) unwinds like Ctrl-C: the busy loops stop and the running child is
    # killed by subprocess.run before the script exits. SIGINT is set too: a shell starts a
    # background job with it ignored, and `kill -INT` would then leave the run going.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes beside both tools")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each scenario's items")
    parser.add_argument("--only", default="", help="comma-separated: task prefixes (arc) or shot counts (0-shot)")
    parser.add_argument(
        "--items", type=item_counts, default={}, help="exact item counts, e.g. 'mmlu 5-shot=10,hellaswag 0-shot=4'"
    )
    total_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    parser.add_argument("--mem-limit-gb", type=float, default=round(0.8 * total_gb, 1), help="address space per child")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artifacts")
    parser.add_argument("--data-dir", help="benchmark data dir (default: AGIMETER_DATA_DIR, else ../shared/benchmarks)")
    args = parser.parse_args()
    from agimeter.config import resolve_data_dir

    args.data_dir = resolve_data_dir(args.data_dir) or REPO_ROOT.parent / "shared" / "benchmarks"
    if not args.data_dir.is_dir():
        raise SystemExit(f"no benchmark data dir at {args.data_dir}: pass --data-dir or set AGIMETER_DATA_DIR")
    started = time.time()
    rows = [row for alias in args.models.split(",") for row in measure_model(alias, args)]
    table = markdown(rows)
    header = (
        f"cores {len(os.sched_getaffinity(0))}, busy-loop processes {args.busy}, fp32 CPU, lm-eval batch "
        f"{LM_EVAL_BATCH}, {time.time() - started:.0f} s in all"
    )
    print(header, table, sep="\n\n")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"vs_lm_eval_real-busy{args.busy}"
    stem.with_suffix(".md").write_text(f"{header}\n\n{table}\n")
    stem.with_suffix(".json").write_text(json.dumps({"busy": args.busy, "scale": args.scale, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
