"""Every registered textgym env passes Gymnasium's check_env and textgym's check_text_env."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import textgym
from textgym.utils import check_text_env

ENV_IDS = textgym.registered_env_ids()


def test_envs_are_registered() -> None:
    assert "TextTicTacToe-v0" in ENV_IDS
    for env_id in ENV_IDS:
        assert env_id in gym.registry


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_on_unwrapped(env_id: str) -> None:
    check_env(gym.make(env_id).unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_text_env(env_id: str) -> None:
    check_text_env(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_env(env_id: str) -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(4)])
    obs, infos = envs.reset(seed=0)
    assert len(obs) == 4 and all(isinstance(o, str) for o in obs)
    for _ in range(12):  # autoreset keeps going across episode ends
        legal_sets = infos.get("legal_actions", [[]] * 4)  # envs without it get "1"
        obs, rewards, _, _, infos = envs.step(
            [legal[0] if len(legal) else "1" for legal in legal_sets]
        )
        assert rewards.shape == (4,)
    envs.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_with_module_prefix_from_a_fresh_interpreter(env_id: str) -> None:
    code = (
        "import gymnasium as gym\n"
        f"env = gym.make('textgym:{env_id}')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, isinstance(obs, str))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("True")
