"""How fast can a tiny model learn to play from a given observation line? A diagnostic.

Trains a freshly built tiny model (``textgym.models.tiny.build_tiny_model``) on every position
of tic-tac-toe where a player is to move (the board audit's 9,040), with the solver's
optimal moves as the target (the loss is minus the log of the probability the model puts
on the optimal set), and prints the share of positions where its greedy cell is optimal.
The pipeline never sees solver labels; this only measures how hard an observation line
is to read. It produced the observation table in docs/tictactoe-study.md ("What was tried"):

    python examples/observation_probe.py --fmt compact --steps 3000 --batch 512
    python examples/observation_probe.py --fmt letters --steps 3000 --batch 512

``--device cuda`` runs it on a GPU (minutes); on 2 CPU cores one step of batch 512 takes
about a second.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from textgym.envs.tictactoe import rules, solver
from textgym.envs.tictactoe.text import compact_text, letters_text
from textgym.models.loading import load_model
from textgym.models.tiny import build_tiny_model
from textgym.policies.hf import encode_chat
from textgym.recipes.tictactoe.audit import reachable_positions

FORMATS = ("compact", "letters", "nolegal", "pairs", "lists")


def observation(fmt: str, board: str, mark: rules.Mark) -> str:
    """The one-line view of ``board`` for the player ``mark`` in format ``fmt``."""
    other = rules.other(mark)
    free = "".join(str(i + 1) for i, c in enumerate(board) if c == rules.EMPTY)
    if fmt == "compact":
        return compact_text(board, mark, None, "none")
    if fmt == "letters":
        return letters_text(board, mark, None, "none")
    if fmt == "nolegal":
        return compact_text(board, mark, None, "none").split(" legal ")[0]
    if fmt == "pairs":
        cells = " ".join(f"{i + 1}{c if c != rules.EMPTY else '.'}" for i, c in enumerate(board))
        return f"{mark} {cells}"
    if fmt == "lists":
        mine = "".join(str(i + 1) for i, c in enumerate(board) if c == mark) or "-"
        theirs = "".join(str(i + 1) for i, c in enumerate(board) if c == other) or "-"
        return f"me {mine} foe {theirs} free {free or '-'}"
    raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")


def main() -> None:
    """Parse the arguments, train, print the accuracy every tenth of the run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fmt", choices=FORMATS, default="letters")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    if args.steps < 1 or args.batch < 1 or not args.lr > 0:
        p.error("--steps and --batch must be >= 1 and --lr > 0")

    path = build_tiny_model(
        tempfile.mkdtemp(),
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        num_kv_heads=args.kv_heads,
        seed=args.seed,
    )
    model, tok = load_model(path, args.device)
    answer = tok("<move>", add_special_tokens=False)["input_ids"]
    digits = torch.tensor([tok.convert_tokens_to_ids(str(d)) for d in range(1, 10)])
    prompts, targets = [], []
    for board, mark in reachable_positions():
        text = observation(args.fmt, board, mark)
        prompts.append(encode_chat(tok, [{"role": "user", "content": text}]) + answer)
        first = mark if board.count("X") == board.count("O") else rules.other(mark)
        target = torch.zeros(9, dtype=torch.bool)
        target[list(solver.optimal_moves(board, first))] = True
        targets.append(target)
    n, width = len(prompts), max(map(len, prompts))
    ids = torch.full((n, width), tok.pad_token_id)
    mask = torch.zeros((n, width), dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left padding: the answer digit comes last
        ids[row, width - len(prompt) :] = torch.tensor(prompt)
        mask[row, width - len(prompt) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    device = args.device
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    optimal, digits = torch.stack(targets).to(device), digits.to(device)

    def digit_logprobs(rows: torch.Tensor) -> torch.Tensor:
        out = model(input_ids=ids[rows], attention_mask=mask[rows], position_ids=positions[rows])
        return out.logits[:, -1, :].log_softmax(-1)[:, digits]

    def accuracy() -> float:
        model.eval()
        hits = 0
        with torch.no_grad():
            for lo in range(0, n, 2048):
                rows = torch.arange(lo, min(lo + 2048, n), device=device)
                best = digit_logprobs(rows).argmax(-1)
                hits += int(optimal[rows].gather(1, best[:, None]).sum())
        model.train()
        return 100.0 * hits / n

    print(f"{args.fmt}: {n} positions, e.g. {observation(args.fmt, 'X...O....', 'X')!r}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    model.train()
    for step in range(1, args.steps + 1):
        rows = torch.randint(0, n, (args.batch,), generator=gen).to(device)
        logp = digit_logprobs(rows).masked_fill(~optimal[rows], float("-inf"))
        loss = -logp.logsumexp(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % max(args.steps // 10, 1) == 0 or step == args.steps:
            elapsed = time.perf_counter() - start
            score = accuracy()
            print(f"step {step}: loss {loss.item():.4f}, optimal {score:.1f} % ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
