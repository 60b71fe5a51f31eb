"""The Kuhn poker audit reads back exactly the strategy a policy plays."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import textgym  # noqa: F401
from textgym.core import Completion
from textgym.envs.kuhn.players import read_information_set
from textgym.envs.kuhn.solver import INFOSETS, exploitability, pure_strategies
from textgym.recipes.kuhn.audit import audit_kuhn


class PureStrategyPolicy:
    """Plays a pure strategy (for both seats) from the latest observation, in tags or bare."""

    def __init__(self, strategy, tagged: bool, junk_at=None) -> None:
        self.strategy, self.tagged, self.junk_at = strategy, tagged, junk_at

    def complete(self, conversations):
        out = []
        for conversation in conversations:
            card, history = read_information_set(conversation[-1]["content"])
            facing = bool(history) and history[-1] == "bet"
            aggressive = self.strategy[(card, history)] == 1
            action = (
                ("call" if aggressive else "fold") if facing else ("bet" if aggressive else "check")
            )
            if (card, history) == self.junk_at:
                action = "all in"
            out.append(Completion(text=f"<action>{action}</action>" if self.tagged else action))
        return out


@pytest.mark.parametrize("env_id", ["TextKuhnPoker-LLM-v0", "TextKuhnPoker-v0"])
def test_the_audit_reads_back_any_pure_strategy_exactly(env_id) -> None:
    rng = np.random.default_rng(0)
    for _ in range(6):
        first = pure_strategies(0)[int(rng.integers(64))]
        second = pure_strategies(1)[int(rng.integers(64))]
        strategy = {**{s: first[s] for s in INFOSETS[0]}, **{s: second[s] for s in INFOSETS[1]}}
        audit = audit_kuhn(PureStrategyPolicy(strategy, "LLM" in env_id), env_id)
        assert audit.strategy == strategy and audit.invalid == 0
        assert audit.exploitability == exploitability(strategy)


def test_an_answer_that_is_no_action_counts_as_passive() -> None:
    always = dict.fromkeys(INFOSETS[0] + INFOSETS[1], Fraction(1))
    audit = audit_kuhn(PureStrategyPolicy(always, True, junk_at=("K", ())), "TextKuhnPoker-LLM-v0")
    assert audit.invalid == 1 and audit.strategy[("K", ())] == 0  # counted as passive
    assert audit.value_first < Fraction(-1, 18) or audit.value_second < Fraction(1, 18)


class MixedStrategyPolicy:
    """Samples a mixed strategy (for both seats) from the latest observation."""

    def __init__(self, strategy, seed: int = 0) -> None:
        self.strategy, self.rng = strategy, np.random.default_rng(seed)

    def complete(self, conversations):
        out = []
        for conversation in conversations:
            card, history = read_information_set(conversation[-1]["content"])
            facing = bool(history) and history[-1] == "bet"
            aggressive = self.rng.random() < float(self.strategy[(card, history)])
            action = (
                ("call" if aggressive else "fold") if facing else ("bet" if aggressive else "check")
            )
            out.append(Completion(text=f"<action>{action}</action>"))
        return out


def test_sampled_answers_estimate_a_mixed_strategy() -> None:
    from textgym.envs.kuhn.solver import equilibrium

    eq = equilibrium(Fraction(1, 6))
    samples = 800
    audit = audit_kuhn(MixedStrategyPolicy(eq), "TextKuhnPoker-LLM-v0", samples=samples)
    for key, p in eq.items():  # each share within 4 standard errors of the truth
        se = max(float(p * (1 - p)), 1e-9) ** 0.5 / samples**0.5
        assert abs(float(audit.strategy[key]) - float(p)) <= 4 * se + 1e-12, key
    assert audit.invalid == 0 and 0 <= audit.exploitability < Fraction(5, 100)
    with pytest.raises(ValueError, match="samples"):
        audit_kuhn(MixedStrategyPolicy(eq), samples=0)
