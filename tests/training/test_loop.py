import numpy as np
import torch

from starlabel.training import TrainConfig, fit_loop
from starlabel.training.losses import masked_mse


def test_masked_loss_equals_the_loss_on_the_known_labels():
    rng = np.random.default_rng(0)
    pred = torch.as_tensor(rng.normal(size=(50, 3)))
    target = torch.as_tensor(rng.normal(size=(50, 3)))
    mask = torch.as_tensor(rng.random((50, 3)) > 0.3)
    target_nan = torch.where(mask, target, torch.full_like(target, float("nan")))
    values, weights = masked_mse(pred, target_nan, mask)
    ours = values.sum() / weights.sum()
    # independent: plain MSE over the known entries only
    reference = ((pred[mask] - target[mask]) ** 2).mean()
    torch.testing.assert_close(ours, reference)
    assert torch.isfinite(values).all()


def test_loop_learns_early_stops_and_restores_the_best_weights():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.3
    net = torch.nn.Linear(4, 1)

    def loss(module, batch):
        return ((module(batch[0]) - batch[1]) ** 2).squeeze(1)

    cfg = TrainConfig(
        optimizer="adam", lr=0.05, batch_size=16, max_epochs=400, patience=20
    )
    history = fit_loop(
        net, loss, [x, y], [x, y], cfg, generator=torch.Generator().manual_seed(0)
    )
    assert history.valid_loss[0] > 0.5 and history.best_valid_loss < 1e-4
    assert "early stop" in history.stopped or "max_epochs" in history.stopped
    with torch.no_grad():
        final = float(((net(x) - y) ** 2).mean())
    assert (
        abs(final - history.best_valid_loss) < 1e-6
    )  # the best weights are the ones kept


def test_loop_is_reproducible_with_a_seed():
    def run():
        torch.manual_seed(1)
        net = torch.nn.Sequential(
            torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
        )
        x = torch.linspace(-1, 1, 90).reshape(30, 3)
        y = x.sum(1, keepdim=True) ** 2
        cfg = TrainConfig(
            optimizer="sgd", lr=0.05, batch_size=4, max_epochs=15, patience=50
        )
        fit_loop(
            net,
            lambda m, b: ((m(b[0]) - b[1]) ** 2).squeeze(1),
            [x, y],
            None,
            cfg,
            generator=torch.Generator().manual_seed(3),
        )
        return torch.cat([p.detach().ravel() for p in net.parameters()])

    torch.testing.assert_close(run(), run(), rtol=0, atol=0)


def test_a_deadline_stops_training_inside_its_first_epoch():
    import time

    import pytest

    from starlabel.training import TrainingDeadline, deadline

    x, y = torch.randn(64, 4), torch.randn(64, 1)
    net = torch.nn.Linear(4, 1)
    seen = []

    def slow_loss(module, batch):
        seen.append(len(batch[0]))
        time.sleep(0.02)
        return ((module(batch[0]) - batch[1]) ** 2).squeeze(1)

    cfg = TrainConfig(optimizer="adam", lr=0.01, batch_size=4, max_epochs=3, patience=5)
    gen = torch.Generator().manual_seed(0)
    with deadline(None):  # no limit: every batch of every epoch
        fit_loop(net, slow_loss, [x, y], None, cfg, generator=gen)
    assert len(seen) == 3 * 16
    seen.clear()
    with deadline(0.2), pytest.raises(TrainingDeadline, match="0.2 s"):
        fit_loop(net, slow_loss, [x, y], None, cfg, generator=gen)
    assert 1 <= len(seen) < 16  # stopped inside the first epoch (16 batches)
