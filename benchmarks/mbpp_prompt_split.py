"""Split a stored ``mbpp_instruct`` run by whether agimeter's prompt equals EvalPlus's.

    python benchmarks/mbpp_prompt_split.py RUN_ID --store URL --evalplus MbppPlus-v0.1.0.jsonl

agimeter's ``mbpp_instruct`` rebuilds each prompt from the original MBPP record (task text and first
assert) and runs the three original asserts; EvalPlus rewrote many task texts and first asserts and
tests against its ground truth. The EvalPlus file is not part of ``../shared/benchmarks``; pass the
copy in Qwen's repository (``qwencoder-eval/instruct/eval_plus/data/MbppPlus-v0.1.0.jsonl``) or
EvalPlus's release. The script prints pass@1 with a 95% Wilson interval on the problems whose prompt
is identical and on those whose prompt differs, so a gap to the published MBPP number can be split
into "the same problem, other tests" and "another problem statement". It writes nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from agimeter.config import resolve_data_dir
from agimeter.scoring.stats import wilson_interval
from agimeter.store.repository import Store

_BLOCK = re.compile(r"```python\n(.*?)\n```\n", re.DOTALL)


def evalplus_prompts(path: Path) -> dict[int, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            out[int(row["task_id"].split("/")[1])] = row["prompt"].strip()
    return out


def mbpp_task_ids(items: dict[int, Any], wanted: set[int], data_dir: Path) -> dict[int, int]:
    """doc_id (position in the task) -> MBPP task_id: the task keeps mbpp.jsonl's order; each item's first
    assert is checked against the record's, so a wrong mapping fails loudly. MBPP repeats some problems
    (task 199 = task 388), so only records in ``wanted`` (the EvalPlus file's ids) are candidates."""
    rows = [json.loads(line) for line in (data_dir / "mbpp" / "mbpp.jsonl").read_text().splitlines() if line.strip()]
    by_first_assert: dict[str, int] = {}
    for row in rows:
        if int(row["task_id"]) in wanted:
            by_first_assert.setdefault(row["test_list"][0], int(row["task_id"]))
    out = {}
    for doc_id, item in items.items():
        hits = [tid for text, tid in by_first_assert.items() if text in item.context]
        if len(hits) != 1:
            raise SystemExit(f"mbpp_instruct doc {doc_id}: {len(hits)} MBPP records match its first assert")
        out[doc_id] = hits[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id")
    parser.add_argument("--store", required=True)
    parser.add_argument("--data-dir", help="benchmark data dir (default: the run's, else AGIMETER_DATA_DIR)")
    parser.add_argument("--evalplus", type=Path, required=True, help="MbppPlus jsonl (v0.1.0 or later)")
    args = parser.parse_args()

    from agimeter.tasks import Task, resolve_task

    store = Store.open(args.store)
    run = store.get_run(args.run_id)
    records = [r for r in store.run_items(args.run_id) if r.task == "mbpp_instruct"]
    spec = resolve_task("mbpp_instruct")
    data_dir = resolve_data_dir(args.data_dir or getattr(run.config, "data_dir", None))
    if data_dir is None:
        raise SystemExit("no data dir: pass --data-dir or set AGIMETER_DATA_DIR")
    items = {i.doc_id: i for i in Task(spec, data_dir).items()}
    theirs = evalplus_prompts(args.evalplus)
    task_ids = mbpp_task_ids(items, set(theirs), data_dir)
    groups: dict[str, list[bool]] = {"identical prompt": [], "different prompt": []}
    for r in records:
        match = _BLOCK.search(items[r.doc_id].context)
        ours = match.group(1).strip() if match else None
        key = "identical prompt" if ours == theirs[task_ids[r.doc_id]] else "different prompt"
        groups[key].append(bool(r.correct))
    print(f"run {run.id} ({run.model}), mbpp_instruct, {len(records)} items")
    for key, passed in groups.items():
        if passed:
            lo, hi = wilson_interval(sum(passed), len(passed))
            rate = 100 * sum(passed) / len(passed)
            print(f"  {key}: {sum(passed)}/{len(passed)} = {rate:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")


if __name__ == "__main__":
    main()
