"""TextMCPCalculator-v0 and the MCP env base class: a real MCP server over stdio."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("mcp")

import textgym  # noqa: F401
from tests.envs.calculator.test_env import call, scripted_solver
from textgym.envs.base import Task
from textgym.envs.base.mcp import MCPEnv, MCPServerError, MCPServerSpec

pytestmark = [pytest.mark.server]

FLAKY = str(Path(__file__).with_name("flaky_server.py"))


def server_pids(marker: str) -> list[int]:
    """Children of this process whose command line contains ``marker`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def wait_until_gone(pids: list[int], limit: float = 30.0) -> bool:
    """Poll until none of ``pids`` is a live child (zombies count as gone)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive:
            return True
        time.sleep(0.1)
    return False


class Flaky(MCPEnv):
    """Tools that echo, fail, crash and hang, served by tests/.../flaky_server.py."""

    def __init__(self, prefixes: tuple[str, ...] = ("",), **kwargs) -> None:
        self.prefixes = prefixes
        super().__init__(**kwargs)

    def servers(self) -> list[MCPServerSpec]:
        return [MCPServerSpec(sys.executable, (FLAKY, p)) for p in self.prefixes]

    def make_task(self, rng: np.random.Generator) -> Task:
        word = "".join(rng.choice(list("abcdef"), size=6))
        return Task(prompt=f"Repeat {word!r} twice, using the echo tool.", answer=word * 2)

    def score(self, answer: str, task: Task) -> float:
        return float(answer == task.answer)


@pytest.fixture(scope="module")
def calc():
    env = gym.make("TextMCPCalculator-v0", max_turns=20)
    yield env
    env.close()


def test_the_mcp_calculator_poses_the_same_problems_and_a_tool_user_solves_them(calc) -> None:
    plain = gym.make("TextCalculator-v0")
    schema = calc.unwrapped.schemas[0]
    assert schema["name"] == "calculate" and schema["parameters"]["required"] == ["expression"]
    for seed in range(10):
        assert calc.reset(seed=seed)[0] == plain.reset(seed=seed)[0]
        calc.reset(seed=seed)
        assert scripted_solver(calc) == (1.0, 2)


def test_bad_calls_are_answered_by_the_env_or_the_server(calc) -> None:
    cases = {
        "<tool_call>{not json</tool_call>": "not valid JSON",
        call("calc", expression="1"): "unknown tool 'calc'",
        call("calculate"): "'expression' is a required property",
        call("calculate", expression="1", base=2): "unexpected ['base']",
        call("calculate", expression=5): "5 is not of type 'string'",
        call("calculate", expression="1/0"): "ZeroDivisionError",  # raised in the server
        call("calculate", expression="2**1000"): "only numbers",
        call("calculate", expression="1") * 2: "several tool calls",
    }
    calc.reset(seed=0)
    for action, needle in cases.items():
        obs, reward, terminated, truncated, info = calc.step(action)
        assert needle in obs and info["tool_error"], (action, obs)
        assert (reward, terminated, truncated) == (0.0, False, False)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), text=st.text(max_size=40))
def test_any_text_is_an_observation_and_the_answer_stays_hidden(seed: int, text: str) -> None:
    env = _shared_env()
    obs, _ = env.reset(seed=seed)
    answer = env._task.answer
    assert answer not in obs
    for action in (text, f"<tool_call>{text}</tool_call>", call("calculate", expression=text)):
        obs, reward, terminated, truncated, info = env.step(action)
        assert 0.0 <= reward <= 1.0 and "server_error" not in info
        if terminated or truncated:
            break


_SHARED: list = []


def _shared_env():
    if not _SHARED:
        _SHARED.append(gym.make("TextMCPCalculator-v0", max_turns=3).unwrapped)
    return _SHARED[0]


@pytest.fixture(scope="module", autouse=True)
def _close_shared():
    yield
    for env in _SHARED:
        env.close()


def test_a_killed_server_ends_the_episode_and_reset_starts_a_fresh_one() -> None:
    marker = "textgym.envs.mcp_calculator.server"
    before = set(server_pids(marker))
    env = gym.make("TextMCPCalculator-v0")
    env.reset(seed=3)
    (pid,) = set(server_pids(marker)) - before
    os.kill(pid, signal.SIGKILL)
    assert wait_until_gone([pid])
    obs, reward, terminated, truncated, info = env.step(call("calculate", expression="1+1"))
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert "Connection closed" in info["server_error"] and "stopped working" in obs
    env.reset(seed=3)  # a fresh server
    (fresh,) = set(server_pids(marker)) - before
    assert fresh != pid
    assert scripted_solver_from_reset(env, seed=3) == (1.0, 2)
    env.close()
    assert wait_until_gone([fresh])  # close() stops the server


def scripted_solver_from_reset(env, seed: int) -> tuple[float, int]:
    env.reset(seed=seed)
    return scripted_solver(env)


def test_a_crashing_server_reports_its_stderr_and_a_hung_one_is_cut_off() -> None:
    env = Flaky(tool_timeout=1.0, max_turns=4)
    obs, _ = env.reset(seed=0)
    word = obs.split("'")[1]
    assert env.step(call("echo", text=word, times=2))[0] == f"Result of echo: {word * 2}"
    obs, *_, info = env.step(call("fail"))
    assert obs == "Error: fail failed: this tool always fails." and "server_error" not in info
    *_, truncated, info = env.step(call("crash"))
    assert truncated and "crashing on purpose" in info["server_error"]

    env.reset(seed=1)
    first = server_pids(FLAKY)
    obs, reward, terminated, truncated, info = env.step(call("hang"))
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert "timed out" in info["server_error"]
    assert wait_until_gone(first)  # the hung server is stopped in the background
    env.reset(seed=1)
    assert env.step(call("echo", text="ok"))[0] == "Result of echo: ok"
    env.close()


def test_copies_and_pickles_start_their_own_server() -> None:
    env = Flaky()
    env.reset(seed=5)
    for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
        assert clone._connections is None
        assert clone.step(call("echo", text="z"))[0] == "Result of echo: z"  # mid-episode
        assert clone._task == env._task
        clone.close()
    assert env.step(call("echo", text="y"))[0] == "Result of echo: y"
    env.close()


def test_tools_from_several_servers_and_name_clashes() -> None:
    env = Flaky(prefixes=("a_", "b_"))
    names = [s["name"] for s in env.schemas]
    assert names[:2] == ["a_echo", "a_fail"] and "b_echo" in names
    env.reset(seed=0)
    assert env.step(call("b_echo", text="q"))[0] == "Result of b_echo: q"
    env.close()
    with pytest.raises(ValueError, match="two MCP servers offer a tool named 'echo'"):
        Flaky(prefixes=("", ""))


def test_a_server_that_cannot_start_gives_one_clear_error() -> None:
    class Broken(Flaky):
        def __init__(self, spec: MCPServerSpec) -> None:
            self.spec = spec
            super().__init__(startup_timeout=20.0)

        def servers(self) -> list[MCPServerSpec]:
            return [self.spec]

    complain = "import sys; print('no mcp here', file=sys.stderr)"
    dying = MCPServerSpec(sys.executable, ("-c", complain))
    with pytest.raises(MCPServerError, match="could not start MCP server") as err:
        Broken(dying)
    assert "no mcp here" in str(err.value)
    with pytest.raises(MCPServerError, match="could not start MCP server `/no/such/server`"):
        Broken(MCPServerSpec("/no/such/server"))


def test_without_the_sdk_the_error_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(ImportError, match=r"pip install 'textgym\[mcp\]'"):
        gym.make("TextMCPCalculator-v0")
