"""A/B of the hf backend's CPU thread policy, interleaved rounds, quiet and with busy loops.

    python benchmarks/thread_policy_ab.py [--rounds 3] [--busy 0,1] [--items 3] [--old-src DIR]

Each configuration runs ``benchmarks/profile_loglik.py`` (one scoring call on a real model) in a
fresh process, because OpenMP's wait policy is fixed when libgomp loads. In every round all
configurations run once, in turn, so a load that drifts during the run touches all of them
alike; the table gives the median wall seconds and each one's ratio to the default. Configs:
the default (passive waits, tuned thread count), libgomp's spinning wait (GOMP_SPINCOUNT=300000,
its built-in default), fixed thread counts, and optionally another checkout (``--old-src``: its
``src`` directory, e.g. a worktree of the previous commit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
SPIN = {"GOMP_SPINCOUNT": "300000"}  # libgomp's default when no policy is set


def configs(max_threads: int, old_src: str | None) -> dict[str, tuple[dict[str, str], list[str], str]]:
    """name -> (environment additions, extra arguments, src directory)."""
    out = {
        "default (passive, tuned)": ({}, [], str(SRC)),
        "spin wait, tuned": (SPIN, [], str(SRC)),
        f"passive, {max_threads} threads fixed": ({}, ["--threads", str(max_threads)], str(SRC)),
        f"spin wait, {max_threads} threads fixed": (SPIN, ["--threads", str(max_threads)], str(SRC)),
        "1 thread fixed": ({}, ["--threads", "1"], str(SRC)),
    }
    if old_src:
        out["--old-src (its defaults)"] = ({}, [], old_src)
    return out


def run_once(env_extra: dict[str, str], extra: list[str], src: str, args: argparse.Namespace) -> float:
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    env["PYTHONPATH"] = src
    command = [sys.executable, str(HERE / "profile_loglik.py"), "--model", args.model, "--task", args.task]
    command += ["--shots", str(args.shots), "--items", str(args.items), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{command} failed:\n{done.stderr[-2000:]}")
    last = done.stdout.strip().splitlines()
    wall: float = json.loads(next(line for line in reversed(last) if line.startswith("{")))["wall"]
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", default="0,1", help="comma-separated busy-loop counts, one block each")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--task", default="arc_challenge")
    parser.add_argument("--shots", type=int, default=25)
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--old-src", default=None)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    table = configs(cores, args.old_src)
    for busy in (int(b) for b in args.busy.split(",")):
        loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        walls: dict[str, list[float]] = {name: [] for name in table}
        loads = []
        try:
            for _ in range(args.rounds):
                loads.append(os.getloadavg()[0])
                for name, (env_extra, extra, src) in table.items():
                    walls[name].append(run_once(env_extra, extra, src, args))
                    print(f"# busy={busy} {name}: {walls[name][-1]:.2f} s", file=sys.stderr, flush=True)
        finally:
            for loop in loops:
                loop.kill()
        base = statistics.median(walls["default (passive, tuned)"])
        print(f"\n{args.model} {args.task} {args.shots}-shot, {args.items} items, {cores} cores, busy loops {busy}")
        print(f"load average at each round's start: {', '.join(f'{x:.1f}' for x in loads)}")
        print("| config | median s | runs | vs default |\n|---|---|---|---|")
        for name, values in walls.items():
            median = statistics.median(values)
            runs = " ".join(f"{v:.1f}" for v in values)
            print(f"| {name} | {median:.2f} | {runs} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
