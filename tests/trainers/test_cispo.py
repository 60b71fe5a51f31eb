"""cispo_loss on hand-built tensors: the gradient is what the math says."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from textgym.trainers.cispo import cispo_loss  # noqa: E402


def leaf(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


LOGP = [[-0.5, -1.0, -2.0], [-0.2, -0.3, -4.0]]
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
ADV = torch.tensor([0.5, -1.5], dtype=torch.float64)


def test_on_policy_gradient_equals_reinforce() -> None:
    logp = leaf(LOGP)
    loss, metrics = cispo_loss(logp, logp.detach().clone(), ADV, MASK)
    loss.backward()
    n = MASK.sum()
    expected = -ADV[:, None] * MASK / n  # d/dlogp of -(1/N) sum A * logp * m
    assert torch.allclose(logp.grad, expected)
    reinforce = -(ADV[:, None] * torch.tensor(LOGP, dtype=torch.float64) * MASK).sum() / n
    assert loss.item() == pytest.approx(reinforce.item())
    assert metrics["loss/ratio_mean"] == pytest.approx(1.0)
    assert metrics["loss/clip_frac"] == 0.0


def test_masked_tokens_get_zero_gradient() -> None:
    logp = leaf(LOGP)
    old = torch.tensor(LOGP, dtype=torch.float64) - 1.0  # ratios e, off-policy
    loss, _ = cispo_loss(logp, old, ADV, MASK)
    loss.backward()
    assert logp.grad[0, 2] == 0.0
    assert (logp.grad[MASK == 1] != 0).all()


def test_token_above_the_cap_keeps_a_capped_gradient() -> None:
    logp = leaf([[-1.0, -1.0]])
    old = torch.tensor([[-4.0, -1.0]], dtype=torch.float64)  # ratio e^3 ~ 20 > 5, and 1
    mask = torch.ones(1, 2, dtype=torch.float64)
    adv = torch.tensor([2.0], dtype=torch.float64)
    loss, metrics = cispo_loss(logp, old, adv, mask, clip_max=5.0)
    loss.backward()
    # PPO clipping would give this token zero gradient; CISPO gives cap * A * dlogp / N.
    assert logp.grad[0, 0].item() == pytest.approx(-5.0 * 2.0 / 2)
    assert logp.grad[0, 1].item() == pytest.approx(-1.0 * 2.0 / 2)
    assert metrics["loss/clip_frac"] == pytest.approx(0.5)
    assert metrics["loss/ratio_mean"] == pytest.approx((math.exp(3) + 1) / 2)


def test_low_ratio_is_not_clipped_from_below() -> None:
    logp = leaf([[-3.0]])
    old = torch.tensor([[-1.0]], dtype=torch.float64)  # ratio e^-2
    loss, _ = cispo_loss(
        logp, old, torch.tensor([1.0], dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    )
    loss.backward()
    assert logp.grad.item() == pytest.approx(-math.exp(-2))


def test_micro_batches_with_step_token_count_equal_one_batch() -> None:
    g = torch.Generator().manual_seed(0)
    logp_all = torch.randn(6, 5, generator=g, dtype=torch.float64) - 2
    old = logp_all + 0.3 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    mask = (torch.rand(6, 5, generator=g) > 0.3).to(torch.float64)
    adv = torch.randn(6, generator=g, dtype=torch.float64)

    full = logp_all.clone().requires_grad_(True)
    cispo_loss(full, old, adv, mask)[0].backward()

    split = logp_all.clone().requires_grad_(True)
    total = mask.sum()
    for rows in (slice(0, 2), slice(2, 3), slice(3, 6)):
        cispo_loss(split[rows], old[rows], adv[rows], mask[rows], num_tokens=total)[0].backward()
    assert torch.allclose(full.grad, split.grad)


def test_zero_advantages_give_zero_gradient() -> None:
    logp = leaf(LOGP)
    loss, _ = cispo_loss(
        logp,
        torch.tensor(LOGP, dtype=torch.float64) - 0.5,
        torch.zeros(2, dtype=torch.float64),
        MASK,
    )
    loss.backward()
    assert torch.count_nonzero(logp.grad) == 0


def test_gradient_reaches_model_parameters_through_log_softmax() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 7)
    x = torch.randn(2, 3, 4)
    tokens = torch.randint(0, 7, (2, 3))
    logp = torch.log_softmax(layer(x), -1).gather(-1, tokens[..., None]).squeeze(-1)
    loss, _ = cispo_loss(logp, logp.detach(), torch.tensor([1.0, -1.0]), torch.ones(2, 3))
    loss.backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_empty_mask_and_bad_input() -> None:
    logp = leaf(LOGP)
    loss, metrics = cispo_loss(logp, logp.detach(), ADV, torch.zeros_like(MASK))
    assert metrics["loss/clip_frac"] == 0.0
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(logp.grad) == 0
    with pytest.raises(ValueError, match="same"):
        cispo_loss(logp, logp.detach()[:, :2], ADV, MASK)
    with pytest.raises(ValueError, match="advantages"):
        cispo_loss(logp, logp.detach(), ADV[:1], MASK)
    with pytest.raises(ValueError, match="clip_max"):
        cispo_loss(logp, logp.detach(), ADV, MASK, clip_max=0)
