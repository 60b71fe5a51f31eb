"""Run by test_step.py in a fresh process: the peak memory one CISPO step adds.

Usage: ``python memory_worker.py TURNS MICRO_BATCH_TOKENS``; prints the growth of the
process's peak resident memory (VmHWM, MB) over one step on TURNS turns of 64 tokens,
measured after a warm-up step so that the optimizer's state is already there.
"""

from __future__ import annotations

import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from textgym.trainers.step import cispo_step
from textgym.trainers.tokens import TurnTokens


def _status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    turns_n, budget = int(sys.argv[1]), int(sys.argv[2])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = LlamaConfig(
        vocab_size=8000,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
    )
    model = LlamaForCausalLM(config)
    gen = torch.Generator().manual_seed(1)

    def turns(n: int) -> list[TurnTokens]:
        ids = torch.randint(1, 8000, (n, 64), generator=gen).tolist()
        mask = [0] * 57 + [1] * 7
        old = [0.0] * 57 + [-9.0] * 7
        return [TurnTokens(row, mask, old, 1.0 if k % 2 else -1.0) for k, row in enumerate(ids)]

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    cispo_step(model, opt, turns(4), 0, micro_batch_tokens=budget)
    batch = turns(turns_n)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak starts again from the resident memory now
    before = _status("VmRSS")
    cispo_step(model, opt, batch, 0, micro_batch_tokens=budget)
    print(f"{_status('VmHWM') - before:.1f}")


if __name__ == "__main__":
    main()
