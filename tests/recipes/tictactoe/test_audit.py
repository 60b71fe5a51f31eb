"""Board audit: every reachable position, scored through the env's own wrappers."""

from __future__ import annotations

import pytest

from textgym.core import Completion
from textgym.envs.tictactoe import rules, solver
from textgym.envs.tictactoe.players import (
    ScriptedPolicy,
    perfect_policy,
    random_policy,
)
from textgym.evaluation import evaluate
from textgym.policies.by_name import make_policy
from textgym.recipes.tictactoe.audit import audit_perfect_lines, audit_policy, reachable_positions
from textgym.view import View


def test_reachable_positions_are_every_unfinished_board_for_both_first_marks() -> None:
    positions = reachable_positions()
    assert len(positions) == len(set(positions)) == 9040
    assert (".........", "X") in positions and (".........", "O") in positions
    for board, mark in positions[::97]:
        assert not rules.is_over(board)
        first = mark if board.count("X") == board.count("O") else rules.other(mark)
        assert solver.optimal_moves(board, first)


def test_the_perfect_player_is_optimal_everywhere_and_random_is_not() -> None:
    perfect = audit_policy(perfect_policy(), "TextTicTacToe-LLM-Compact-v0")
    assert perfect.positions == 9040
    assert perfect.rate("optimal") == perfect.rate("legal") == perfect.rate("well_formed") == 100
    assert perfect.mistakes == []
    assert sum(p.positions for p in perfect.by_ply.values()) == 9040
    random = audit_policy(random_policy(seed=1), "TextTicTacToe-LLM-Compact-v0")
    assert random.rate("legal") == 100 and 40 < random.rate("optimal") < 80
    assert random.by_ply[8].optimal == random.by_ply[8].positions  # one free cell: forced


class _Fixed:
    """Always answers the same text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def complete(self, conversations):
        return [Completion(text=self.text) for _ in conversations]


def test_bad_answers_count_as_neither_legal_nor_optimal() -> None:
    positions = [("X...O....", "X"), ("XO.......", "X"), (".........", "O")]
    audit = audit_policy(_Fixed("<move>1</move>"), "TextTicTacToe-LLM-v0", positions=positions)
    # cell 1 is taken on the first two boards; on the empty board every move draws
    assert (audit.positions, audit.legal, audit.optimal, audit.well_formed) == (3, 1, 1, 3)
    assert [m[0] for m in audit.mistakes] == ["X...O....", "XO......."]
    unformatted = audit_policy(_Fixed("1"), "TextTicTacToe-LLM-v0", positions=positions)
    assert unformatted.well_formed == unformatted.legal == 0
    # the plain env takes the bare number
    plain = audit_policy(_Fixed("1"), "TextTicTacToe-v0", positions=positions[2:])
    assert plain.optimal == 1


def test_a_suboptimal_move_is_caught() -> None:
    # X to move wins at once in cell 3; cell 9 lets O complete the row 4-5-6
    board = "XX.OO...."
    assert solver.optimal_moves(board, "X") == (2,)
    audit = audit_policy(_Fixed("<move>9</move>"), positions=[(board, "X")])
    assert (audit.legal, audit.optimal) == (1, 0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        audit_policy(_Fixed("1"), batch_size=0)
    with pytest.raises(ValueError, match="unknown env"):
        audit_policy(_Fixed("1"), "Nope-v0")
    with pytest.raises(ValueError, match="optimal"):
        audit_policy(_Fixed("1"), positions=[]).rate("wins")


# --- every line of perfect play -------------------------------------------------------


def _tactician(board: str, mark: str) -> int:
    """Win at once if it can, else block a threat, else the lowest free cell (no foresight)."""
    for who in (mark, rules.other(mark)):
        for line in rules.LINES:
            cells = [board[i] for i in line]
            if cells.count(who) == 2 and cells.count(rules.EMPTY) == 1:
                return line[cells.index(rules.EMPTY)]
    return board.index(rules.EMPTY)


class _Tactician:
    """A deterministic player that perfect play can still beat (with forks)."""

    def act(self, board: str, rng: object, first: str = "X") -> int:
        mover = rules.to_move(board, first)
        return _tactician(board, mover)


def _tactician_loss(board: str, mark: str, first: str) -> float:
    """Exact loss probability of ``_Tactician`` against the uniform-optimal opponent."""
    if rules.is_over(board):
        return 1.0 if rules.winner(board) == rules.other(mark) else 0.0
    if rules.to_move(board, first) == mark:
        return _tactician_loss(rules.apply_move(board, _tactician(board, mark), mark), mark, first)
    replies = solver.optimal_moves(board, first)
    foe = rules.other(mark)
    return sum(
        _tactician_loss(rules.apply_move(board, c, foe), mark, first) for c in replies
    ) / len(replies)


def test_sound_players_never_lose_and_make_no_mistake() -> None:
    for spec in ("minimax", "teacher:1.0"):
        audit = audit_perfect_lines(
            make_policy(spec, "TextTicTacToe-LLM-Letters-v0"), "TextTicTacToe-LLM-Letters-v0"
        )
        assert (audit.win, audit.loss, audit.mistakes) == (0.0, 0.0, [])
        assert audit.draw == pytest.approx(1.0)
        assert audit.positions > 100


def test_outcomes_are_exact_for_a_deterministic_player() -> None:
    player = ScriptedPolicy(_Tactician())
    audit = audit_perfect_lines(player, "TextTicTacToe-LLM-v0")
    exact = (
        sum(
            _tactician_loss(rules.EMPTY_BOARD, mark, mark if first else rules.other(mark))
            for mark in "XO"
            for first in (True, False)
        )
        / 4
    )
    assert 0.05 < exact < 0.95
    assert audit.loss == pytest.approx(exact, abs=1e-12)
    assert audit.win + audit.draw + audit.loss == pytest.approx(1.0, abs=1e-12)
    # the mistakes are where its move gave the game away, with their probabilities
    for board, mark, text, probability in audit.mistakes:
        first = mark if board.count("X") == board.count("O") else rules.other(mark)
        assert int(text[6]) - 1 not in solver.optimal_moves(board, first)
        assert 0 < probability <= 0.25
    assert audit.mistakes
    assert sum(m[3] for m in audit.mistakes) >= audit.loss - 1e-12
    # and real games against the perfect opponent agree with it
    games = evaluate("tactician", "optimal", episodes=1000, seed=3, policy_obj=player)
    sd = (exact * (1 - exact) / 1000) ** 0.5
    assert abs(games.rate("loss") / 100 - exact) < 4 * sd


class _Recorder:
    """Delegates to a player and keeps every conversation it was shown."""

    def __init__(self, player: ScriptedPolicy) -> None:
        self.player = player
        self.seen: list[list[dict]] = []

    def complete(self, conversations):
        self.seen.extend(conversations)
        return self.player.complete(conversations)


def test_the_policy_sees_the_conversations_of_real_games() -> None:
    last = _Recorder(perfect_policy())
    audit_perfect_lines(last, View("TextTicTacToe-LLM-v0", system_prompt="sys", history="last"))
    assert {len(c) for c in last.seen} == {2}
    assert all(c[0] == {"role": "system", "content": "sys"} for c in last.seen)
    # the drawn-grid observation names the opponent's last move, as in a real game
    assert any("Opponent" in c[-1]["content"] or "opponent" in c[-1]["content"] for c in last.seen)
    full = _Recorder(perfect_policy())
    audit_perfect_lines(full, "TextTicTacToe-LLM-v0")  # the default view: full history
    assert max(len(c) for c in full.seen) >= 7
    assert all(c[-1]["role"] == "user" for c in full.seen)


def test_invalid_answers_are_retried_then_forfeit() -> None:
    audit = audit_perfect_lines(_Fixed("<move>5</move>"), "TextTicTacToe-LLM-v0")
    # cell 5 is free only until someone takes it; then every answer is invalid until the
    # env's tolerance runs out and the game is forfeited
    assert audit.loss == pytest.approx(1.0)
    assert any(text == "<move>5</move>" for _, _, text, _ in audit.mistakes)
    plain = audit_perfect_lines(_Fixed("5"), "TextTicTacToe-v0")
    assert plain.loss == pytest.approx(1.0)


def test_perfect_lines_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown env"):
        audit_perfect_lines(_Fixed("1"), "Nope-v0")
    with pytest.raises(ValueError, match="history"):
        audit_perfect_lines(_Fixed("1"), View(history="some"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_turns"):
        audit_perfect_lines(_Fixed("1"), max_turns=0)
