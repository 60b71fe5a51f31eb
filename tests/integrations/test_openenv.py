"""textgym envs behind an OpenEnv server (``textgym serve``), played by OpenEnv's clients.

openenv 0.10 needs ``mcp<2`` (through fastmcp) and textgym's MCP env needs ``mcp>=2.3``,
so these tests run in their own virtual environment: ``bash scripts/isolated_tests.sh
openenv`` (part of the README's test command), which sets ``TEXTGYM_ISOLATED=openenv``
so that a missing OpenEnv fails here instead of skipping.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

if os.environ.get("TEXTGYM_ISOLATED") != "openenv":
    pytest.importorskip(
        "openenv", reason="runs in its own venv: bash scripts/isolated_tests.sh openenv"
    )

from openenv.core import GenericEnvClient

import textgym  # noqa: F401
from tests.scripts import load_script
from textgym.integrations.openenv import (
    TextAction,
    TextgymClient,
    TextgymEnvironment,
    TRLTextgymEnv,
    jsonable,
)
from textgym.integrations.openenv_server import make_app

pytestmark = pytest.mark.server

ENV = "TextTicTacToe-LLM-v0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 60.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"textgym serve exited with {proc.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("textgym serve did not come up")


def _start(env_id: str, *args: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "textgym.cli", "serve", "--env", env_id, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(proc, port)
    except RuntimeError:
        proc.kill()
        raise
    return proc, port


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, port = _start(ENV, "--max-sessions", "8")
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


def _answer(info: dict, k: int) -> str:
    """A scripted answer: the k-th legal move in the answer format, or an illegal one."""
    legal = info.get("legal_actions") or ["1"]
    if k == 1:
        return "<move>0</move>"  # not a cell: the invalid-move penalty, within tolerance
    return f"<move>{legal[k % len(legal)]}</move>"


def _in_process(env_id: str, seed: int, options: dict | None = None) -> list:
    """The transcript of the scripted answers played in this process."""
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed, options=options)
    out = [(obs, None, False, jsonable({k: v for k, v in info.items() if k != "messages"}))]
    k = 0
    while True:
        obs, reward, term, trunc, info = env.step(_answer(info, k))
        info = jsonable({k2: v for k2, v in info.items() if k2 != "messages"})
        out.append((obs, float(reward), bool(term or trunc), info))
        k += 1
        if term or trunc:
            return out


def _over_client(client, seed: int, options: dict | None = None, step=None) -> list:
    result = client.reset(seed=seed, options=options)
    obs = result.observation
    get = (lambda o, key: o[key]) if isinstance(obs, dict) else getattr
    out = [(get(obs, "text"), None, result.done, get(obs, "info"))]
    k = 0
    while not result.done:
        result = client.step(step(_answer(get(result.observation, "info"), k)))
        o = result.observation
        out.append((get(o, "text"), float(result.reward), result.done, get(o, "info")))
        k += 1
    return out


def test_openenv_generic_client_plays_the_in_process_transcript(server):
    """OpenEnv's own client plays whole episodes; each equals the in-process one, the
    invalid-move penalty and the end of the episode included."""
    with GenericEnvClient(base_url=server).sync() as client:
        for seed in (0, 7):
            remote = _over_client(client, seed, step=lambda a: {"text": a})
            local = _in_process(ENV, seed)
            assert remote == local
            assert remote[2][3]["reward_components"]["invalid"] == pytest.approx(-0.1)
            assert remote[-1][2] is True
            assert remote[-1][3]["episode_metrics"]


def test_reset_options_and_system_prompt_reach_the_client(server):
    """Reset options (the opponent's skill) act as in process; the reset observation
    carries the env's system prompt."""
    options = {"random_move_prob": 1.0}
    with TextgymClient(base_url=server).sync() as client:
        remote = _over_client(client, 3, options, step=lambda a: TextAction(text=a))
        first = client.reset(seed=3).observation
    assert remote == _in_process(ENV, 3, options)
    assert first.system_prompt == gym.make(ENV).get_wrapper_attr("system_prompt")
    assert "<move>" in first.system_prompt


def test_state_reports_the_episode(server):
    with TextgymClient(base_url=server).sync() as client:
        client.reset(seed=5)
        r1 = client.step(TextAction(text="<move>5</move>"))
        state = client.state()
    assert state.env_id == ENV and state.seed == 5 and state.step_count == 1
    assert state.episode_return == pytest.approx(r1.reward)


def test_concurrent_sessions_are_isolated(server):
    """Two sessions stepped in turn keep their own games."""
    a = GenericEnvClient(base_url=server).sync()
    b = GenericEnvClient(base_url=server).sync()
    with a, b:
        ra, rb = a.reset(seed=11), b.reset(seed=12)
        got = {11: [ra.observation["text"]], 12: [rb.observation["text"]]}
        infos = {11: ra.observation["info"], 12: rb.observation["info"]}
        done = {11: False, 12: False}
        k = 0
        while not all(done.values()):
            for seed, client in ((11, a), (12, b)):
                if done[seed]:
                    continue
                r = client.step({"text": _answer(infos[seed], k)})
                got[seed].append(r.observation["text"])
                infos[seed], done[seed] = r.observation["info"], r.done
            k += 1
    for seed in (11, 12):
        assert got[seed] == [t[0] for t in _in_process(ENV, seed)]


def test_malformed_messages_get_errors_and_the_session_lives_on(server):
    """Bad JSON, an unknown type, a step without text, a step before reset, a bad seed,
    unknown reset fields, and a step after the end: each is an error message, and the
    same connection then plays normally."""
    from websockets.sync.client import connect

    url = server.replace("http://", "ws://") + "/ws"
    with connect(url) as ws:

        def ask(message) -> dict:
            ws.send(message if isinstance(message, str) else json.dumps(message))
            return json.loads(ws.recv(timeout=30))

        bad = [
            "{not json",
            {"type": "dance"},
            {"type": "step", "data": {"text": "<move>5</move>"}},  # before reset
            {"type": "reset", "data": {"seed": -1}},
            {"type": "reset", "data": {"seed": "three"}},
            {"type": "reset", "data": {"seed": 1, "opponent": "x"}},
            {"type": "reset", "data": {"seed": 1, "options": "fast"}},
        ]
        for message in bad:
            reply = ask(message)
            assert reply["type"] == "error", message
            assert reply["data"]["message"]
        assert "before reset" in ask(bad[2])["data"]["message"]
        assert "seed" in ask(bad[3])["data"]["message"]

        reply = ask({"type": "reset", "data": {"seed": 2}})
        assert reply["type"] == "observation"
        assert ask({"type": "step", "data": {}})["type"] == "error"  # no text
        assert ask({"type": "step", "data": {"text": 5}})["type"] == "error"  # not text
        info, k = reply["data"]["observation"]["info"], 0
        while True:
            reply = ask({"type": "step", "data": {"text": _answer(info, k)}})
            assert reply["type"] == "observation"
            info, k = reply["data"]["observation"]["info"], k + 1
            if reply["data"]["done"]:
                break
        after = ask({"type": "step", "data": {"text": "<move>5</move>"}})
        assert after["type"] == "error" and "over" in after["data"]["message"]
        assert ask({"type": "reset", "data": {"seed": 2}})["type"] == "observation"


def test_a_vanished_client_frees_its_env():
    """With room for one session, a second client is refused while the first is
    connected; once the first process is killed (no goodbye), a new client gets in."""
    proc, port = _start(ENV, "--max-sessions", "1")
    url = f"http://127.0.0.1:{port}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from openenv.core import GenericEnvClient\n"
            f"c = GenericEnvClient(base_url={url!r}).sync(); c.connect(); c.reset(seed=1)\n"
            "print('ready', flush=True); time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with (
            pytest.raises(Exception, match=r"(?i)capacity|max"),
            GenericEnvClient(base_url=url).sync() as client,
        ):
            client.reset(seed=1)
        holder.kill()
        holder.wait()
        deadline, result = time.monotonic() + 30, None
        while result is None and time.monotonic() < deadline:
            try:
                with GenericEnvClient(base_url=url).sync() as client:
                    result = client.reset(seed=1)
            except Exception:
                time.sleep(0.2)
        assert result is not None and result.observation["text"]
    finally:
        holder.kill()
        assert _stop(proc) == 0


def test_server_stops_cleanly_on_sigint_and_sigterm():
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc, port = _start(ENV)
        with GenericEnvClient(base_url=f"http://127.0.0.1:{port}").sync() as client:
            client.reset(seed=0)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # the port is closed


def test_a_stateful_tool_env_over_the_server():
    """TextSQL-v0 (a per-episode SQLite database) answers queries over the server, in
    the session's own thread."""
    proc, port = _start("TextSQL-v0")
    try:
        with TextgymClient(base_url=f"http://127.0.0.1:{port}").sync() as client:
            first = client.reset(seed=4)
            call = '<tool_call>{"name": "query", "arguments": {"sql": "SELECT 1+1"}}</tool_call>'
            result = client.step(TextAction(text=call))
    finally:
        _stop(proc)
    local = gym.make("TextSQL-v0")
    obs, _ = local.reset(seed=4)
    assert first.observation.text == obs
    assert result.observation.text == local.step(call)[0]
    assert "2" in result.observation.text


def test_a_package_env_is_served_by_its_package_id(tmp_path, monkeypatch):
    """A scaffolded package, its folder on the server's path, served and played under its
    ``package:Env-v0`` id with the reference player's answers."""
    from textgym.scaffold import scaffold

    root = scaffold("served-env", tmp_path, kind="multi-turn")
    path = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.syspath_prepend(str(root))
    env_id = "served_env:ServedEnv-v0"
    player = gym.make(env_id).unwrapped.reference_player()
    proc, port = _start(env_id)
    try:
        with TextgymClient(base_url=f"http://127.0.0.1:{port}").sync() as client:
            result = client.reset(seed=3)
            conversation = [{"role": "user", "content": result.observation.text}]
            while not result.done:
                answer = player.answer(conversation)
                result = client.step(TextAction(text=answer))
                conversation += [
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": result.observation.text},
                ]
    finally:
        _stop(proc)
    assert result.reward == 1.0 and result.observation.text == "Correct!"


def test_bad_env_id_is_one_clear_error():
    proc = subprocess.run(
        [sys.executable, "-m", "textgym.cli", "serve", "--env", "NoSuchEnv-v0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown env 'NoSuchEnv-v0'" in proc.stderr
    assert "TextTicTacToe-v0" in proc.stderr  # the ids it can serve are listed
    assert "Traceback" not in proc.stderr


def test_make_app_checks_its_arguments():
    with pytest.raises(ValueError, match="max_sessions"):
        make_app(ENV, max_sessions=0)
    with pytest.raises(ValueError, match="session_timeout"):
        make_app(ENV, session_timeout=0)


def test_trl_environment_factory_class_plays_and_scores(server):
    """TRLTextgymEnv (TRL's environment_factory shape): reset gives rules and board,
    the answer tool steps, get_reward is the episode's summed reward."""
    env = TRLTextgymEnv(server, seed=9)
    try:
        text = env.reset()
        assert text.startswith(gym.make(ENV).get_wrapper_attr("system_prompt"))
        local = _in_process(ENV, 9)
        assert text.endswith(local[0][0])
        info, k = local[0][3], 0
        while not env.done:
            env.answer(_answer(info, k))
            info, k = local[k + 1][3], k + 1
        assert env.get_reward() == pytest.approx(sum(t[1] for t in local[1:]))
        with pytest.raises(ValueError, match="over"):
            env.answer("<move>5</move>")
        env.reset()
        assert env.get_reward() == 0.0 and not env.done
    finally:
        env.close()


def test_the_example_client_earns_what_textgym_rollout_earns(server):
    """examples/openenv_play.py plays the reference:0.7 player over the server; its
    returns equal textgym's own rollout of the same player on the same seeds."""

    from textgym.policies.by_name import scripted_policy
    from textgym.rollout import rollout

    path = Path(__file__).resolve().parents[2] / "examples" / "openenv_play.py"
    example = load_script(path)
    remote = example.play(server, "reference:0.7", ENV, 6)
    local = rollout(scripted_policy("reference:0.7", ENV, seed=0), ENV, range(6), num_envs=1)
    assert remote == pytest.approx([e.total_reward for e in local])
    assert len(set(remote)) > 1  # the 0.7 player wins some and not others


def test_environment_in_process_matches_gymnasium():
    env = TextgymEnvironment(ENV, system_prompt="Play.")
    first = env.reset(seed=1)
    assert first.system_prompt == "Play." and first.reward is None and not first.done
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=True)
    assert env.get_metadata().name == ENV
    env.close()


def test_jsonable_makes_plain_json():
    import numpy as np

    value = {
        1: np.int64(3),
        "a": (np.float32(0.5), {np.bool_(True)}),
        "n": float("nan"),
        "arr": np.arange(2),
        "p": Path("x"),
    }
    out = jsonable(value)
    assert out == {"1": 3, "a": [0.5, [True]], "n": None, "arr": [0, 1], "p": "x"}
    json.dumps(out)
