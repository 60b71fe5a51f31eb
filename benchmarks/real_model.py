"""Where a real model's time and memory go: one CISPO step and one SFT step on SmolLM2,
each phase next to its bare baseline, in one run.

On SmolLM2-135M-Instruct (a converted folder; ``python scripts/fetch_smollm2.py`` and
``textgym model convert``), with the view of the real-model preset unless told otherwise:

- **views**: prompt and answer tokens per turn of each tic-tac-toe view (rules, compact,
  letters; history full or last; the env's system prompt or none), from the teacher's
  games (tokenization only);
- **sampling**: one CISPO step's games (``--games`` in groups of ``--group-size``) played
  by ``HFPolicy`` at T=1, split into prefill, decode and everything else (env, wrappers,
  bookkeeping); then, on every batch of prompts those games produced, ``HFPolicy``
  against raw ``model.generate`` (both greedy, so both make the same tokens);
- **update**: the CISPO step on those games' turns against a bare forward+backward with
  the full logits and a cross-entropy (what a trainer without textgym writes), on the
  same micro-batches;
- **SFT**: one SFT step on ``--sft-turns`` teacher turns against the same bare step;
- **turn cache**: ``--reuse-games`` games with the whole history in view, played greedily
  by ``HFPolicy`` with the previous turn's KV cache reused and without (same tokens: the
  table says whether they were), with the prompt tokens each prefilled.

Each phase prints wall time, CPU time over wall time (2.0 = both cores busy), tokens/s
and the peak resident memory of the process during the phase (VmHWM, reset before each
phase: it includes the model and the optimizer). Goals: sampling <= 1.1x raw generate,
update <= 1.1x bare, padding <= 10 % of the tokens trained on, CPU/wall >= 1.8, peak
<= 4 GB at 64 games.

    python benchmarks/real_model.py [--model DIR] [--games 64] [--lora 16 | --lora 0]
        [--json OUT.json]
    python benchmarks/real_model.py --smoke     # the tiny model, a few games (a test)
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from textgym.view import View

DEFAULT_MODEL = ".cache/models/smollm2-135m-instruct"


def _status(field: str) -> float:
    """A field of /proc/self/status in MB (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Phase:
    """Wall time, CPU time and peak memory of a block of work."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wall = self.cpu = self.peak_mb = 0.0
        self.tokens = 0

    def __enter__(self) -> Phase:
        _reset_peak()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.peak_mb = _status("VmHWM")

    @classmethod
    def of(cls, row: dict[str, Any]) -> Phase:
        """A phase measured elsewhere, from its :meth:`row`."""
        phase = cls(row["phase"])
        phase.wall = row["wall_s"]
        phase.cpu = row["cpu_over_wall"] * row["wall_s"]
        phase.peak_mb = row["peak_mb"]
        phase.tokens = row["tokens"]
        return phase

    def row(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "wall_s": round(self.wall, 3),
            "cpu_over_wall": round(self.cpu / self.wall, 2) if self.wall else 0.0,
            "tokens": self.tokens,
            "tokens_per_s": round(self.tokens / self.wall, 1) if self.wall else 0.0,
            "peak_mb": round(self.peak_mb),
        }


class ForwardClock:
    """Times a model's forward calls, split into prefill (more than one new token) and
    decode (one token per row)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.prefill = self.decode = 0.0
        self.prefill_tokens = self.decode_tokens = 0
        self._start = 0.0
        self._handles = [
            model.register_forward_pre_hook(self._before, with_kwargs=True),
            model.register_forward_hook(self._after, with_kwargs=True),
        ]

    def _before(self, module: Any, args: Any, kwargs: dict) -> None:
        self._start = time.perf_counter()

    def _after(self, module: Any, args: Any, kwargs: dict, out: Any) -> None:
        seconds = time.perf_counter() - self._start
        ids = kwargs.get("input_ids")
        if ids is None:
            return
        if ids.shape[1] > 1:
            self.prefill += seconds
            self.prefill_tokens += int(ids.numel())
        else:
            self.decode += seconds
            self.decode_tokens += int(ids.numel())

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def view_tokens(tokenizer: Any, games: int) -> list[dict[str, Any]]:
    """Prompt and answer tokens per turn of each tic-tac-toe view (the teacher's games)."""
    from textgym.policies.by_name import make_policy
    from textgym.policies.hf import encode_chat
    from textgym.rollout import rollout

    rows = []
    envs = {
        "rules": "TextTicTacToe-LLM-v0",
        "compact": "TextTicTacToe-LLM-Compact-v0",
        "letters": "TextTicTacToe-LLM-Letters-v0",
    }
    end = tokenizer.eos_token or ""
    for board, env_id in envs.items():
        for history in ("last", "full"):
            for system in (None, ""):
                view = View(env_id, system_prompt=system, history=history)
                teacher = make_policy("teacher:0.7", env_id=env_id, seed=0)
                episodes = rollout(teacher, view, list(range(games)))
                turns = [t for e in episodes for t in e.turns]
                prompt = [len(encode_chat(tokenizer, t.messages)) for t in turns]
                answer = [
                    len(tokenizer(t.completion.text + end, add_special_tokens=False).input_ids)
                    for t in turns
                ]
                rows.append(
                    {
                        "board": board,
                        "history": history,
                        "system_prompt": "env" if system is None else "none",
                        "prompt_tokens": round(statistics.mean(prompt), 1),
                        "last_prompt_tokens": max(prompt),
                        "answer_tokens": round(statistics.mean(answer), 1),
                    }
                )
    return rows


def bare_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    turns: list,
    pad_id: int,
    micro_batch_tokens: int,
) -> None:
    """Forward with the full logits, masked cross-entropy, backward, AdamW: the baseline
    (on the same micro-batches as textgym's step, in the same precision)."""
    from textgym.models.loading import compute_precision
    from textgym.trainers.tokens import collate, micro_batches

    model.train()
    optimizer.zero_grad(set_to_none=True)
    total = sum(sum(t.loss_mask) for t in turns)
    for part in micro_batches(turns, micro_batch_tokens):
        batch = collate(part, pad_id)
        with compute_precision(model):  # the same precision as textgym's step
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        ce = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), batch.input_ids[:, 1:].flatten(), reduction="none"
        )
        (ce * batch.loss_mask.flatten()).sum().div(total).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.eval()


def run_phase(args: argparse.Namespace) -> dict[str, Any]:
    """One update phase, in this (fresh) process: load, warm up on 4 turns, time."""
    from textgym.models.loading import load_model
    from textgym.models.lora import add_lora
    from textgym.trainers.config import SFTConfig
    from textgym.trainers.sft import sft_train
    from textgym.trainers.step import cispo_step

    torch.manual_seed(0)
    model, tok = load_model(args.model, "cpu", args.dtype)
    if args.lora:
        model = add_lora(model, args.lora, args.model, seed=0)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    kind = "rl" if args.phase.startswith("update") else "sft"
    turns = pickle.loads((Path(args.work) / f"{kind}.pkl").read_bytes())
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-5)
    budget = args.micro_batch_tokens

    def step(batch: list) -> None:
        if args.phase.endswith("bare"):
            bare_step(model, optimizer, batch, pad, budget)
        elif kind == "rl":
            cispo_step(model, optimizer, batch, pad, micro_batch_tokens=budget)
        else:  # one optimizer step: the whole batch, one epoch
            config = SFTConfig(epochs=1, batch_size=len(batch), micro_batch_tokens=budget)
            sft_train(model, tok, batch, config)

    step(turns[:4])  # first-call costs (allocations, the output layer's check)
    with Phase(args.phase) as phase:
        step(turns)
    phase.tokens = sum(len(t.input_ids) for t in turns)
    return phase.row()


def _ratio_line(name: str, ours: float, theirs: float, goal: float) -> str:
    ratio = ours / theirs if theirs else float("nan")
    verdict = "ok" if ratio <= goal else "above goal"
    return f"{name}: {ours:.2f}s vs {theirs:.2f}s, ratio {ratio:.2f} (goal <= {goal}: {verdict})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from textgym.models.loading import compute_precision, load_model
    from textgym.models.lora import add_lora
    from textgym.policies.by_name import make_policy
    from textgym.policies.hf import HFPolicy
    from textgym.rollout import rollout
    from textgym.trainers.groups import group_advantages
    from textgym.trainers.sft import sft_tokens, teacher_episodes
    from textgym.trainers.tokens import episode_tokens, micro_batches, padding_share

    torch.manual_seed(0)
    model_dir = args.model
    if args.smoke:
        from textgym.models.tiny import build_tiny_model

        model_dir = str(build_tiny_model(tempfile.mkdtemp() + "/tiny", seed=0))
    model, tok = load_model(model_dir, "cpu", args.dtype)
    if args.lora:
        model = add_lora(model, args.lora, model_dir, seed=0)
    system = None if args.system_prompt == "env" else args.system_prompt
    view = View(
        args.env, system_prompt=system, history=args.history, max_new_tokens=args.max_new_tokens
    )
    report: dict[str, Any] = {
        "model": model_dir,
        "lora": args.lora,
        "view": view.to_json(),
        "games": args.games,
        "group_size": args.group_size,
        "max_new_tokens": args.max_new_tokens,
        "micro_batch_tokens": args.micro_batch_tokens,
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
    }
    if args.views_games:
        report["views"] = view_tokens(tok, args.views_games)

    # -- sampling: one CISPO step's games
    policy = HFPolicy(model, tok, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    seeds = [s for s in range(args.games // args.group_size) for _ in range(args.group_size)]
    clock = ForwardClock(model)
    with Phase("sampling") as sampling:
        episodes = rollout(policy, view, seeds, num_envs=len(seeds))
    clock.close()
    sampling.tokens = clock.prefill_tokens + clock.decode_tokens
    phases = [sampling]
    split = {
        "prefill_s": round(clock.prefill, 3),
        "decode_s": round(clock.decode, 3),
        "other_s": round(sampling.wall - clock.prefill - clock.decode, 3),
        "prefill_tokens": clock.prefill_tokens,
        "decode_tokens": clock.decode_tokens,
    }

    # the same prompt batches, greedy: HFPolicy against raw generate (same tokens)
    waves: dict[int, list[list[int]]] = {}
    for e in episodes:
        for k, t in enumerate(e.turns):
            waves.setdefault(k, []).append(list(t.completion.prompt_ids))
    greedy = HFPolicy(model, tok, temperature=0.0, max_new_tokens=args.max_new_tokens)
    ours = theirs = 0.0
    for prompts in waves.values():
        start = time.perf_counter()
        greedy.generate_ids(prompts)
        ours += time.perf_counter() - start
        batch = tok.pad({"input_ids": prompts}, return_tensors="pt", padding_side="left")
        start = time.perf_counter()
        with torch.no_grad(), compute_precision(model):
            model.generate(
                **batch,
                do_sample=False,
                max_new_tokens=args.max_new_tokens,
                pad_token_id=tok.pad_token_id,
            )
        theirs += time.perf_counter() - start

    if args.reuse_games:
        report["turn_cache"] = turn_cache(model, tok, view, args)

    # -- update and SFT: each in a fresh process, so that its peak memory is its own
    adv = group_advantages([e.total_reward for e in episodes], [e.seed for e in episodes])
    adv = [a if any(adv) else (1.0 if i % 2 else -1.0) for i, a in enumerate(adv)]
    turns = [t for e, a in zip(episodes, adv, strict=True) for t in episode_tokens(e, a, True)]
    teacher = make_policy("teacher:0.7", env_id=view.env_id, seed=0)
    kept, _ = teacher_episodes(teacher, view, args.sft_games, seed=0)
    sft_turns = sft_tokens(kept, tok)[: args.sft_turns]
    work = Path(tempfile.mkdtemp())
    (work / "rl.pkl").write_bytes(pickle.dumps(turns))
    (work / "sft.pkl").write_bytes(pickle.dumps(sft_turns))
    del model, policy, greedy
    for name in ("update: bare", "update: CISPO", "SFT: bare", "SFT: textgym"):
        cmd = [sys.executable, __file__, "--phase", name, "--work", str(work)]
        cmd += ["--model", model_dir, "--lora", str(args.lora), "--dtype", args.dtype]
        cmd += ["--micro-batch-tokens", str(args.micro_batch_tokens)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"phase {name} failed:\n{proc.stderr[-3000:]}")
        phases.append(Phase.of(json.loads(proc.stdout.strip().splitlines()[-1])))
    by = {p.name: p for p in phases}
    bare, update = by["update: bare"], by["update: CISPO"]
    sft_bare, sft = by["SFT: bare"], by["SFT: textgym"]
    padding = padding_share(micro_batches(turns, args.micro_batch_tokens))

    report.update(
        {
            "phases": [p.row() for p in phases],
            "sampling_split": split,
            "generate": {"hfpolicy_s": round(ours, 3), "raw_generate_s": round(theirs, 3)},
            "turns": len(turns),
            "sft_turns": len(sft_turns),
            "padding_share": round(padding, 4),
            "ratios": {
                "sampling_vs_generate": round(ours / theirs, 3) if theirs else None,
                "update_vs_bare": round(update.wall / bare.wall, 3) if bare.wall else None,
                "sft_vs_bare": round(sft.wall / sft_bare.wall, 3) if sft_bare.wall else None,
            },
        }
    )
    return report


def turn_cache(model: Any, tok: Any, view: View, args: argparse.Namespace) -> dict[str, Any]:
    """The same greedy games with the whole history in view, with and without the
    previous turn's KV cache: wall time, prompt tokens prefilled and reused."""
    from dataclasses import replace

    from textgym.policies.hf import HFPolicy
    from textgym.rollout import rollout

    full = replace(view, history="full")
    seeds = list(range(args.reuse_games))
    rows, answers = {}, {}
    warm = HFPolicy(model, tok, temperature=0.0, max_new_tokens=args.max_new_tokens)
    rollout(warm, full, seeds[:2], num_envs=2)  # untimed: the first calls pay for warm-up
    for reuse in (False, True):
        policy = HFPolicy(
            model, tok, temperature=0.0, max_new_tokens=args.max_new_tokens, reuse_cache=reuse
        )
        start = time.perf_counter()
        episodes = rollout(policy, full, seeds, num_envs=len(seeds))
        wall = time.perf_counter() - start
        answers[reuse] = [t.completion.completion_ids for e in episodes for t in e.turns]
        rows["reuse" if reuse else "full prefill"] = {
            "wall_s": round(wall, 3),
            "prefill_tokens": policy.prefill_tokens,
            "reused_tokens": policy.reused_tokens,
            "turns": len(answers[reuse]),
        }
    same = sum(a == b for a, b in zip(answers[False], answers[True], strict=False))
    return {"rows": rows, "same_answers": same, "answers": len(answers[False])}


def show(report: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """Print the report as tables."""
    out(
        f"model {report['model']} (LoRA {report['lora'] or 'off'}, {report['dtype']}), "
        f"view {report['view']}, "
        f"{report['games']} games in groups of {report['group_size']}, "
        f"{report['threads']} threads, micro-batches of {report['micro_batch_tokens']} tokens"
    )
    if "views" in report:
        out("\nview tokens per turn (teacher's games)")
        out(f"{'board':<8} {'history':<8} {'system':<7} {'prompt':>7} {'longest':>8} {'answer':>7}")
        for r in report["views"]:
            out(
                f"{r['board']:<8} {r['history']:<8} {r['system_prompt']:<7} "
                f"{r['prompt_tokens']:>7} {r['last_prompt_tokens']:>8} {r['answer_tokens']:>7}"
            )
    out(
        f"\n{'phase':<15} {'wall s':>8} {'cpu/wall':>9} {'tokens':>8} {'tokens/s':>9} "
        f"{'peak MB':>8}"
    )
    for r in report["phases"]:
        out(
            f"{r['phase']:<15} {r['wall_s']:>8.2f} {r['cpu_over_wall']:>9.2f} {r['tokens']:>8} "
            f"{r['tokens_per_s']:>9.1f} {r['peak_mb']:>8}"
        )
    s = report["sampling_split"]
    out(
        f"\nsampling: prefill {s['prefill_s']}s ({s['prefill_tokens']} tokens), decode "
        f"{s['decode_s']}s ({s['decode_tokens']} tokens), everything else {s['other_s']}s"
    )
    g = report["generate"]
    out(_ratio_line("HFPolicy vs raw generate", g["hfpolicy_s"], g["raw_generate_s"], 1.1))
    by = {r["phase"]: r["wall_s"] for r in report["phases"]}
    out(_ratio_line("CISPO update vs bare", by["update: CISPO"], by["update: bare"], 1.1))
    out(_ratio_line("SFT step vs bare", by["SFT: textgym"], by["SFT: bare"], 1.1))
    out(f"padding: {report['padding_share']:.1%} of the tokens trained on (goal <= 10%)")
    if "turn_cache" in report:
        show_turn_cache(report["turn_cache"], out)


def show_turn_cache(t: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """Print the turn cache measurement."""
    out(f"\nhistory full, {t['answers']} greedy answers ({t['same_answers']} the same)")
    out(f"{'prefill':<13} {'wall s':>8} {'prefilled':>10} {'reused':>8}")
    for name, r in t["rows"].items():
        out(f"{name:<13} {r['wall_s']:>8.2f} {r['prefill_tokens']:>10} {r['reused_tokens']:>8}")


def turn_cache_report(args: argparse.Namespace) -> dict[str, Any]:
    """Only :func:`turn_cache`, on the model and view of the arguments."""
    from textgym.models.loading import load_model

    model_dir = args.model
    if args.smoke:
        from textgym.models.tiny import build_tiny_model

        model_dir = str(build_tiny_model(tempfile.mkdtemp() + "/tiny", seed=0))
    model, tok = load_model(model_dir, "cpu", args.dtype)
    system = None if args.system_prompt == "env" else args.system_prompt
    view = View(
        args.env, system_prompt=system, history=args.history, max_new_tokens=args.max_new_tokens
    )
    report = {"model": model_dir, "dtype": args.dtype, "view": view.to_json()}
    return report | {"turn_cache": turn_cache(model, tok, view, args)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a converted model folder")
    parser.add_argument("--env", default="TextTicTacToe-LLM-Letters-v0")
    parser.add_argument("--system-prompt", default="", help="env: the env's own; '': none")
    parser.add_argument("--history", choices=("last", "full"), default="last")
    parser.add_argument("--games", type=int, default=64)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--lora", type=int, default=16, help="LoRA rank; 0: full training")
    parser.add_argument("--micro-batch-tokens", type=int, default=4096)
    parser.add_argument("--sft-games", type=int, default=64)
    parser.add_argument("--sft-turns", type=int, default=256)
    parser.add_argument("--views-games", type=int, default=32, help="0: skip the view table")
    parser.add_argument("--reuse-games", type=int, default=32, help="0: skip the turn cache")
    parser.add_argument(
        "--turn-cache-only", action="store_true", help="only the turn cache measurement"
    )
    parser.add_argument("--smoke", action="store_true", help="the tiny model, a few games")
    parser.add_argument("--dtype", default="float32", help="float32 | bfloat16-mixed | ...")
    parser.add_argument("--json", default=None, help="also write the report here")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase is not None:
        print(json.dumps(run_phase(args)))
        return
    if args.smoke:
        args.games, args.group_size, args.sft_games, args.sft_turns = 8, 4, 8, 16
        args.views_games, args.lora, args.reuse_games = 2, 2, 4
    if args.turn_cache_only:
        report = turn_cache_report(args)
        show_turn_cache(report["turn_cache"])
    else:
        report = run(args)
        show(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
