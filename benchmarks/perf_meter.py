"""How fast and how accurate is agimeter's load generator? Side by side with guidellm, one run.

Both tools drive the same fixed-delay stub server (its own process; first token after
``--first-ms``, then one every ``--itl-ms``) with Poisson arrivals at increasing rates. For each
rate it prints what each tool achieved (successful requests/s) and its TTFT error: the tool's
median TTFT minus the median TTFT the stub itself produced (stub ``/stats``), so transit, queueing
in the tool and parsing all count against the tool. For agimeter it also prints the error taken on
the machine-wide monotonic clock per request (its read time of the first token minus the stub's
write time of it). The answer line gives the highest rate each tool sustains (>= 95 % of the
asked rate) with a median TTFT error under 1 ms.

guidellm lives in its own venv (it pins its own dependencies):
    python3 -m venv /tmp/gl && /tmp/gl/bin/pip install torch==2.13.0 && /tmp/gl/bin/pip install guidellm
    python benchmarks/perf_meter.py --guidellm /tmp/gl/bin/guidellm
Without ``--guidellm`` only agimeter is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from agimeter.backends._openai_http import EndpointConfig
from agimeter.perf.loadgen import HTTPTarget, PointSpec, run_point
from agimeter.perf.metrics import summarize_point
from agimeter.perf.workload import synthetic_prompts


def start_stub(first_ms: float, itl_ms: float) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "agimeter.testing.stub_server", "--port", "0"]
    cmd += ["--first-ms", str(first_ms), "--itl-ms", str(itl_ms)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline().split()[-1])


def stub_stats(port: int, reset: bool = False) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats{'?reset=1' if reset else ''}") as resp:
        return dict(json.loads(resp.read()))


def run_agimeter(port: int, rate: float, n: int, out_tokens: int) -> dict[str, Any]:
    endpoint = EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", model="stub-model")

    def build(prompt: str, max_tokens: int) -> tuple[str, dict[str, object]]:
        body = {"model": "stub-model", "prompt": prompt, "max_tokens": max_tokens, "stream": True, "ignore_eos": True}
        return "completions", body

    async def go() -> Any:
        async with HTTPTarget(endpoint, build) as target:
            return await run_point(target, prompts, PointSpec("rate", rate, n, None, out_tokens, seed=1))

    prompts = synthetic_prompts(n, 32, encode=None)
    stub_stats(port, reset=True)
    summary = summarize_point(asyncio.run(go()), {})
    truth = stub_stats(port)["server_ttft_ms_p50"]
    assert summary.ttft is not None and summary.server is not None and summary.server.meter_ttft_error_ms
    return {
        "achieved": summary.request_per_s,
        "ttft_p50": summary.ttft.p50,
        "error_vs_stub": summary.ttft.p50 - truth,
        "error_shared_clock": summary.server.meter_ttft_error_ms.p50,
        "failed": sum(summary.errors.values()),
        "dispatch_lag_p50": summary.overhead.dispatch_lag_ms.p50 if summary.overhead.dispatch_lag_ms else None,
    }


def run_guidellm(
    exe: str, port: int, rate: float, n: int, out_tokens: int, tokenizer: Path, workers: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gl.json"
        cmd = [
            exe, "run",
            "--backend", f"kind=openai_http,target=http://127.0.0.1:{port},model=stub-model,request_format=/v1/completions",
            "--profile", f"kind=poisson,rate={rate}",
            "--constraint", f"kind=max_requests,count={n}",
            "--data", f"kind=synthetic_text,prompt_tokens=32,output_tokens={out_tokens}",
            "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
            "--output", f"kind=json,path={out}",
            "--disable-console",
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GUIDELLM__MAX_WORKER_PROCESSES": str(workers)}
        stub_stats(port, reset=True)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
        truth = stub_stats(port)["server_ttft_ms_p50"]
        bench = json.loads(out.read_text())["benchmarks"][0]
        metrics = bench["metrics"]
        ok = metrics["request_totals"]["successful"]
        ttft = metrics["time_to_first_token_ms"]["successful"]["median"]
        return {
            "achieved": ok / bench["duration"],
            "ttft_p50": ttft,
            "error_vs_stub": ttft - truth,
            "failed": metrics["request_totals"]["errored"] + metrics["request_totals"]["incomplete"],
        }


def fmt(row: dict[str, Any], key: str, spec: str) -> str:
    value = row.get(key)
    return format(value, spec) if isinstance(value, int | float) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", default="250,500,1000,1500,2000")
    parser.add_argument("--seconds", type=float, default=3.0, help="requests per point = rate x seconds")
    parser.add_argument("--first-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--output-tokens", type=int, default=4)
    parser.add_argument("--guidellm", default=None, help="path of a guidellm executable (its own venv)")
    parser.add_argument("--guidellm-workers", type=int, default=2)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    tokenizer_dir = Path(tempfile.mkdtemp()) / "tiny"
    if args.guidellm:
        from agimeter.testing import build_tiny_qwen2

        build_tiny_qwen2(tokenizer_dir, seed=0)  # guidellm needs a local tokenizer for synthetic data
    proc, port = start_stub(args.first_ms, args.itl_ms)
    rows: list[tuple[float, dict[str, Any], dict[str, Any] | None]] = []
    try:
        for rate in rates:
            n = int(rate * args.seconds)
            ours = run_agimeter(port, rate, n, args.output_tokens)
            time.sleep(0.5)
            theirs = (
                run_guidellm(args.guidellm, port, rate, n, args.output_tokens, tokenizer_dir, args.guidellm_workers)
                if args.guidellm
                else None
            )
            rows.append((rate, ours, theirs))
            print(f"rate {rate:g}: agimeter {json.dumps(ours)}; guidellm {json.dumps(theirs)}", file=sys.stderr)
    finally:
        proc.terminate()
    print(f"stub: first token {args.first_ms} ms, then every {args.itl_ms} ms; {args.output_tokens} tokens/request")
    header = f"{'asked/s':>8} | {'agimeter /s':>11} {'TTFT err ms':>11} {'clock err ms':>12}"
    print(header + f" | {'guidellm /s':>11} {'TTFT err ms':>11}")
    for rate, ours, theirs in rows:
        gl = theirs or {}
        print(
            f"{rate:8g} | {fmt(ours, 'achieved', '11.1f')} {fmt(ours, 'error_vs_stub', '11.2f')} "
            f"{fmt(ours, 'error_shared_clock', '12.3f')} | "
            f"{fmt(gl, 'achieved', '11.1f')} {fmt(gl, 'error_vs_stub', '11.2f')}"
        )

    def best(pick: int) -> float | None:
        good = [
            rate
            for rate, *tools in rows
            if (row := tools[pick])
            and "achieved" in row
            and row["achieved"] >= 0.95 * rate
            and row["error_vs_stub"] < 1.0
        ]
        return max(good) if good else None

    ours_best, theirs_best = best(0), best(1)
    line = f"highest sustained rate with median TTFT error < 1 ms: agimeter {ours_best or 'none'} req/s"
    if args.guidellm:
        line += f", guidellm {theirs_best or 'none'} req/s"
        if ours_best and theirs_best:
            line += f" (ratio {ours_best / theirs_best:.1f}x)"
    print(line)


if __name__ == "__main__":
    main()
