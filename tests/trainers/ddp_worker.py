"""Worker for test_distributed.py, started by ``torchrun --nproc_per_node 2`` (gloo, CPU).

``step MODEL OUT``: one DDP ``cispo_step`` where rank r trains on turns r::2 of a fixed
batch; rank 0 saves the parameters to OUT.
``rl MODEL OUT``: two steps of ``train_rl`` with each rank playing half of every batch.
``rl-lora MODEL OUT``: the same, training a rank-2 LoRA adapter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from textgym.trainers.rl import RLConfig, train_rl
from textgym.trainers.step import cispo_step


def fixed_turns(model_path: str):
    """The batch of test_distributed.fixed_turns (same seeds, same model, same samples)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_distributed import fixed_turns as make

    return make(model_path)


def main() -> None:
    mode, model_path, out = sys.argv[1:4]
    torch.set_num_threads(1)
    if mode == "step":
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        model, tok, turns = fixed_turns(model_path)
        model = model.double()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        cispo_step(
            ddp, opt, turns[rank::world], tok.pad_token_id, micro_batch_tokens=150, grad_clip=1e9
        )
        if rank == 0:
            torch.save(model.state_dict(), out)
    else:
        config = RLConfig(
            model=model_path,
            out_dir=out,
            steps=2,
            games_per_batch=8,
            group_size=4,
            max_new_tokens=16,
            num_envs=4,
            micro_batch_tokens=512,
            lora_rank=2 if mode == "rl-lora" else None,
            device="cpu",
        )
        history = train_rl(config, progress=False)
        assert [h["step"] for h in history] == [1, 2]
        assert not dist.is_initialized()  # train_rl joined the group, so it left it
        return
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
