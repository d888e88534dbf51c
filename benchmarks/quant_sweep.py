"""The edge frontier on real models: ``agimeter sweep`` over llama.cpp quantizations of a GGUF.

Full run (the lead, on a quiet 2-core machine; one model at a time):

    python benchmarks/quant_sweep.py --model qwen2.5-coder-0.5b-instruct
    python benchmarks/quant_sweep.py --model smollm2-135m-instruct

Expected duration on 2 quiet cores: Qwen2.5-Coder-0.5B about 2 h (6 rows: the Q4_K_M source as the
reference + Q8_0, Q6_K, Q5_K_M, Q3_K_M, Q2_K; each row ~15-20 min of evaluation, ~1 min of
quantizing, ~1-2 min of divergence and speed probes); SmolLM2-135M about 30 min. The first run
assembles nothing new (the aliases' files are used as they are) and writes the variants into the
model cache (~2.5 GB for the Qwen sweep). A killed run resumes when started again with the same
arguments (same store).

Tiny end-to-end check (any machine, ~10 min while others share it): SmolLM2, two variants, 20 items:

    python benchmarks/quant_sweep.py --tiny

Why these tasks and sizes (Qwen): ``arc_challenge`` 0-shot, 200 items (multiple choice: cheap, one
forward pass per item and choice, ~2 min per row; paired McNemar needs a few hundred items to see a
5-point loss); ``humaneval_instruct``, 40 problems (Qwen's own EvalPlus protocol for Instruct models,
where coding models lose most under quantization; generation is the expensive part: ~8 min per row
at ~15 decode tok/s); ``gsm8k`` (8-shot CoT), 50 items (multi-step arithmetic, also sensitive to
quantization; the 8 exemplars are one shared prefix, so only each question's tail is prefilled;
~7 min per row). The same seed draws the same items for every row. SmolLM2-135M scores near zero on
HumanEval and GSM8K, so its sweep uses ``arc_challenge`` 0-shot 200 and ``hellaswag`` 0-shot 200.

The KL divergence text is the default: the first 4,096 tokens (Qwen's tokenizer) of
``gsm8k/train.jsonl``, each row's question and answer (not the test split the tasks score), in 8
chunks of 512 tokens, the second half of each scored (2,040 positions), as
``llama-perplexity --kl-divergence`` does. Speed: prefill 512 tokens, decode 64, 3 repeats, median.
``--model-arg n_threads=1`` (on this busy 2-core machine two llama.cpp threads wait on each other;
pass ``--threads 2`` on a quiet one).

Prints the sweep's table (``agimeter show SWEEP``), then a JSON summary with the wall time of the
whole sweep and each variant's quantization time; the JSON is also written to
``artifacts/benchmarks/quant_sweep-<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PLANS: dict[str, dict[str, Any]] = {
    "qwen2.5-coder-0.5b-instruct": {
        "quants": "q8_0,q6_k,q5_k_m,q4_k_m,q3_k_m,q2_k",
        "tasks": [("arc_challenge", 200, 0), ("humaneval_instruct", 40, None), ("gsm8k", 50, None)],
    },
    "smollm2-135m-instruct": {
        "quants": "q8_0,q6_k,q5_k_m,q4_k_m,q3_k_m,q2_k",
        "tasks": [("arc_challenge", 200, 0), ("hellaswag", 200, 0)],
    },
}
TINY = {"model": "smollm2-135m-instruct", "quants": "q8_0,q4_0", "tasks": [("arc_challenge", 20, 0)]}


def _cli(args: list[str], *, capture: bool) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "agimeter.cli.app", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(cmd, text=True, capture_output=capture, env=env, check=False)


def _sweep(model: str, quants: str, tasks: list[tuple[str, int, int | None]], args: argparse.Namespace) -> str:
    """One ``agimeter sweep``: each task with its own sample size (and few-shot count where given)."""
    command = [
        "sweep", "--model", f"gguf:{model}", "--quants", quants, "--tasks", ",".join(t[0] for t in tasks),
        "--seed", "1234", "--model-arg", f"n_threads={args.threads}", "--store", args.store,
        "--kl-tokens", str(args.kl_tokens), "--data-dir", args.data_dir,
    ]  # fmt: skip
    for name, sample, shots in tasks:
        command += ["--task-sample", f"{name}={sample}"]
        if shots is not None:
            command += ["--task-fewshot", f"{name}={shots}"]
    res = _cli(command, capture=False)
    if res.returncode != 0:
        raise SystemExit(res.returncode)
    listed = _cli(["sweeps", "--store", args.store, "--format", "json", "--limit", "1"], capture=True)
    return str(json.loads(listed.stdout)["sweeps"][0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", choices=sorted(PLANS))
    parser.add_argument("--tiny", action="store_true", help="SmolLM2, Q8_0 and Q4_0, 20 ARC items")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kl-tokens", type=int, default=4096)
    default_data = os.environ.get("AGIMETER_DATA_DIR") or str(REPO_ROOT.parent / "shared" / "benchmarks")
    parser.add_argument("--data-dir", default=default_data)
    parser.add_argument("--store", default=f"sqlite:///{REPO_ROOT / 'artifacts' / 'benchmarks' / 'quant_sweep.db'}")
    args = parser.parse_args()
    (REPO_ROOT / "artifacts" / "benchmarks").mkdir(parents=True, exist_ok=True)

    plan = TINY if args.tiny else {"model": args.model, **PLANS[args.model]}
    if args.tiny:
        args.kl_tokens = min(args.kl_tokens, 1024)
    started = time.perf_counter()
    sweep_id = _sweep(plan["model"], plan["quants"], plan["tasks"], args)
    wall = time.perf_counter() - started
    shown = _cli(["show", sweep_id, "--store", args.store, "--format", "json"], capture=True)
    report = json.loads(shown.stdout)
    _cli(["show", sweep_id, "--store", args.store], capture=False)
    summary = {
        "model": plan["model"],
        "sweep": sweep_id,
        "tasks": plan["tasks"],
        "wall_s_this_invocation": round(wall, 1),
        "quantize_s": {row["label"]: row["quantize_s"] for row in report["rows"] if row["quant"] != "reference"},
        "rows": [
            {
                "label": row["label"],
                "gb": round(row["weights_gb"], 4),
                "peak_rss_mib": round((row["peak_rss_bytes"] or 0) / 2**20),
                "prefill_tps": row["prefill_tokens_per_s"],
                "decode_tps": row["decode_tokens_per_s"],
                "overall": row["overall_score"],
                "mean_kld": (row["divergence"] or {}).get("mean_kld"),
                "same_top_p": (row["divergence"] or {}).get("same_top_p"),
            }
            for row in report["rows"]
        ],
        "recommended": report["recommended"],
    }
    text = json.dumps(summary, indent=2)
    print(text)
    name = "tiny" if args.tiny else plan["model"]
    (REPO_ROOT / "artifacts" / "benchmarks" / f"quant_sweep-{name}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
