"""Board audit: every reachable position, scored through the env's own wrappers."""

from __future__ import annotations

import pytest

from textgym.audit import audit_policy, reachable_positions
from textgym.envs.tictactoe import rules, solver
from textgym.evaluation import parse_player
from textgym.policies.base import Completion


def test_reachable_positions_are_every_unfinished_board_for_both_first_marks() -> None:
    positions = reachable_positions()
    assert len(positions) == len(set(positions)) == 9040
    assert (".........", "X") in positions and (".........", "O") in positions
    for board, mark in positions[::97]:
        assert not rules.is_over(board)
        first = mark if board.count("X") == board.count("O") else rules.other(mark)
        assert solver.optimal_moves(board, first)


def test_the_perfect_player_is_optimal_everywhere_and_random_is_not() -> None:
    perfect = audit_policy(parse_player("minimax"), "TextTicTacToe-LLM-Compact-v0")
    assert perfect.positions == 9040
    assert perfect.rate("optimal") == perfect.rate("legal") == perfect.rate("well_formed") == 100
    assert perfect.mistakes == []
    assert sum(p.positions for p in perfect.by_ply.values()) == 9040
    random = audit_policy(parse_player("random", seed=1), "TextTicTacToe-LLM-Compact-v0")
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
