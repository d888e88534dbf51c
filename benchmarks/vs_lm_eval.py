"""Side by side: lm-eval's HFLM.loglikelihood vs agimeter's HF backend on the same requests.

Uses a random model with Qwen2.5-0.5B's shapes (fp32, CPU) and prompts built from real benchmark
text (MMLU 5-shot with a shared per-subject prefix, HellaSwag 10-shot and ARC 25-shot with
per-item sampled exemplars, each also 0-shot). Prints items/s for both tools, the speed ratio,
the max |logprob| difference, and agimeter's achieved FLOP/s against a measured matmul peak.

FLOPs counted for agimeter (the work it actually runs after prefix sharing):
    2 * P_body * T            weights of all transformer blocks (P_body = params minus embeddings)
  + 4 * L * d_attn * K         QK^T and PV, K = sum over computed tokens of keys attended (depth+1)
  + 2 * d_model * V * R        lm head, applied only to the R rows whose distributions are scored
where T = trie nodes computed, L = layers, d_attn = heads * head_dim, V = vocab size.

    python benchmarks/vs_lm_eval.py [--items 6] [--fewshot-items 1] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from agimeter.backends.base import LoglikRequest
from agimeter.backends.hf import HFBackend
from agimeter.testing import build_qwen25_05b_shaped

REPO_ROOT = Path(__file__).resolve().parents[1]
LETTERS = "ABCD"


@dataclass
class Doc:
    query: str
    choices: list[str]
    gold: int


@dataclass
class Scenario:
    name: str
    items: int
    requests: list[LoglikRequest]


# ------------------------------------------------------------------------------ prompt building


def mmlu_docs(data_dir: Path, subject: str, split: str) -> list[Doc]:
    with (data_dir / "mmlu" / split / f"{subject}_{split}.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    docs = []
    for row in rows:
        choices = [row[f"choice{i}"] for i in range(4)]
        body = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
        query = f"{row['question'].strip()}\n{body}\nAnswer:"
        docs.append(Doc(query, [f" {x}" for x in LETTERS], int(row["answer"])))
    return docs


def hellaswag_docs(data_dir: Path) -> list[Doc]:
    lines = (data_dir / "hellaswag" / "hellaswag_val_full.txt").read_text().split("\n")
    docs = []
    for start in range(0, len(lines) - 5, 6):
        context, gold, endings = lines[start], int(lines[start + 1]), lines[start + 2 : start + 6]
        # Recover lm-eval's ctx_b.capitalize() (see the data set's SOURCE.md).
        head, sep, tail = context.rpartition(". ")
        if sep and tail[:1].islower() and not context.endswith((".", "!", "?")):
            context = f"{head}. {tail.capitalize()}"
        docs.append(Doc(context, [f" {e}" for e in endings], gold))
    return docs


def arc_docs(data_dir: Path) -> list[Doc]:
    docs = []
    with (data_dir / "arc_challenge" / "arc_challenge.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            docs.append(Doc(f"{row['query']}\nAnswer:", [f" {c}" for c in row["choices"]], int(row["gold"])))
    return docs


def requests_for(docs: list[Doc], prefixes: list[str]) -> list[LoglikRequest]:
    return [
        LoglikRequest(context=prefix + doc.query, continuation=choice)
        for doc, prefix in zip(docs, prefixes, strict=True)
        for choice in doc.choices
    ]


def shot_text(doc: Doc) -> str:
    return doc.query + doc.choices[doc.gold] + "\n\n"


def per_item_prefixes(pool: list[Doc], items: list[Doc], shots: int, seed: int) -> list[str]:
    """lm-eval samples exemplars per document; we do the same, excluding the document itself."""
    prefixes = []
    for index, doc in enumerate(items):
        rng = random.Random(seed + index)
        exemplars = [d for d in rng.sample(pool, shots + 1) if d is not doc][:shots]
        prefixes.append("".join(shot_text(d) for d in exemplars))
    return prefixes


def scenarios(data_dir: Path, items: int, fewshot_items: int) -> list[Scenario]:
    out: list[Scenario] = []
    # Several items per subject, so the 5-shot prefix (lm-eval's first_n on dev) is shared.
    subjects = ["high_school_biology", "philosophy"]
    for shots, count in ((0, items), (5, items)):
        docs: list[Doc] = []
        prefixes: list[str] = []
        for subject in subjects:
            test = mmlu_docs(data_dir, subject, "test")[: -(-count // len(subjects))]
            topic = subject.replace("_", " ")
            header = f"The following are multiple choice questions (with answers) about {topic}.\n\n"
            shots_text = "".join(shot_text(d) for d in mmlu_docs(data_dir, subject, "dev")[:shots])
            docs += test
            prefixes += [header + shots_text] * len(test)
        out.append(Scenario(f"mmlu {shots}-shot", len(docs), requests_for(docs, prefixes)))
    hella = hellaswag_docs(data_dir)
    arc = arc_docs(data_dir)
    for name, pool, shots in (("hellaswag", hella, 10), ("arc", arc, 25)):
        for k, count in ((0, items), (shots, fewshot_items)):
            docs = pool[:count]
            prefixes = per_item_prefixes(pool[count:], docs, k, seed=1) if k else [""] * count
            out.append(Scenario(f"{name} {k}-shot", count, requests_for(docs, prefixes)))
    return out


# ------------------------------------------------------------------------------------ measuring


def matmul_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def run_lm_eval(lm: object, requests: list[LoglikRequest]) -> tuple[list[float], float]:
    from lm_eval.api.instance import Instance

    instances = [
        Instance(request_type="loglikelihood", doc={}, arguments=(r.context, r.continuation), idx=i)
        for i, r in enumerate(requests)
    ]
    start = time.perf_counter()
    results = lm.loglikelihood(instances, disable_tqdm=True)  # type: ignore[attr-defined]
    return [float(lp) for lp, _ in results], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path(".agimeter/bench-models"))
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "benchmarks")
    parser.add_argument("--items", type=int, default=6, help="documents per MMLU and 0-shot scenario")
    parser.add_argument("--fewshot-items", type=int, default=1, help="documents per few-shot scenario")
    parser.add_argument("--pack-tokens", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated scenario name filter")
    args = parser.parse_args()

    torch.manual_seed(0)
    model_path = args.model_dir / "qwen2.5-0.5b-shaped-seed0"
    if not (model_path / "model.safetensors").exists():
        print(f"building {model_path} ...", flush=True)
        build_qwen25_05b_shaped(model_path, seed=0)

    from lm_eval.models.huggingface import HFLM

    ours = HFBackend.load(str(model_path), dtype="float32", device="cpu", pack_tokens=args.pack_tokens)
    lm = HFLM(pretrained=str(model_path), batch_size=8, device="cpu", dtype="float32")
    config = ours._model.config
    embedding_params = config.vocab_size * config.hidden_size * (1 if config.tie_word_embeddings else 2)
    body_params = (ours.info.num_parameters or 0) - config.vocab_size * config.hidden_size
    body_params -= 0 if config.tie_word_embeddings else config.vocab_size * config.hidden_size
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    attn_width = config.num_attention_heads * head_dim
    print(
        f"threads={torch.get_num_threads()} matmul fp32 peak={matmul_peak_flops() / 1e9:.1f} GFLOP/s "
        f"params={ours.info.num_parameters / 1e6:.0f}M body={body_params / 1e6:.0f}M "
        f"embedding={embedding_params / 1e6:.0f}M pack_tokens={ours.pack_tokens}",
        flush=True,
    )

    header = (
        f"{'scenario':<18}{'items':>6}{'reqs':>6}{'tok/req':>9}{'computed':>10}{'lm-eval it/s':>14}"
        f"{'agimeter it/s':>15}{'ratio':>7}{'max|diff|':>11}{'GFLOP/s':>9}{'peak':>7}{'%peak':>7}"
    )
    rows = []
    wanted = [w for w in args.only.split(",") if w]
    for scenario in scenarios(args.data_dir, args.items, args.fewshot_items):
        if wanted and not any(w in scenario.name for w in wanted):
            continue
        reference, lm_eval_s = run_lm_eval(lm, scenario.requests)
        # Re-measured next to each run: on a shared machine the available peak drifts.
        peak = matmul_peak_flops()
        start = time.perf_counter()
        results = ours.loglikelihood(scenario.requests)
        ours_s = time.perf_counter() - start
        stats = ours.last_stats
        flops = (
            2 * body_params * stats.computed_tokens
            + 4 * config.num_hidden_layers * attn_width * stats.attended_keys
            + 2 * config.hidden_size * config.vocab_size * stats.lm_head_rows
        )
        max_diff = max(abs(r.logprob - ref) for r, ref in zip(results, reference, strict=True))
        tokens = sum(r.usage.prompt_tokens for r in results) / len(results)
        row = (
            f"{scenario.name:<18}{scenario.items:>6}{len(results):>6}{tokens:>9.0f}"
            f"{stats.computed_tokens:>10}{scenario.items / lm_eval_s:>14.3f}"
            f"{scenario.items / ours_s:>15.3f}"
            f"{lm_eval_s / ours_s:>7.2f}{max_diff:>11.2e}{flops / ours_s / 1e9:>9.1f}"
            f"{peak / 1e9:>7.0f}{100 * flops / ours_s / peak:>6.0f}%"
        )
        rows.append(row)
        print(f"  {row}", flush=True)
    print()
    print(header)
    print("\n".join(rows))
    print(
        "tok/req: average prompt tokens per request (context + continuation, small BPE vocab); "
        "computed: tokens agimeter ran after prefix sharing; GFLOP/s: agimeter's achieved rate; "
        "peak: fp32 2048^3 matmul GFLOP/s measured just before agimeter's run."
    )


if __name__ == "__main__":
    main()
