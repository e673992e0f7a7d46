"""AIJack's DPSGDManager: the tutorial's loop as written, on the real faces, and the lot semantics (clip
each micro-batch, sum, noise once per lot, scale by batch_size / lot_size, one accountant step per lot)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import TensorDataset

from dpmi.compat.dpsgd_manager import DPSGDManager
from dpmi.compat.moment_accountant import GeneralMomentAccountant
from dpmi.compat.numpy_dataset import NumpyDataset
from dpmi.compat.transforms import Compose, Normalize, ToTensor


class Net(nn.Module):
    """The tutorial's model, softmax inside forward (then CrossEntropyLoss: a double softmax, as written)."""

    def __init__(self) -> None:
        super().__init__()
        self.fla = nn.Flatten()
        self.fc = nn.Linear(112 * 92, 40)

    def forward(self, x):
        return F.softmax(self.fc(self.fla(x)), dim=1)


def tutorial_accountant() -> GeneralMomentAccountant:
    return GeneralMomentAccountant(
        noise_type="Gaussian", search="ternary", precision=0.001, order_max=1, order_min=72,
        max_iterations=1000, bound_type="rdp_upperbound_closedformula", backend="python",
    )


@pytest.mark.slow
def test_tutorial_loop_runs_unchanged_on_the_faces(faces):
    torch.manual_seed(0)
    transform = Compose([ToTensor(), Normalize((0.5,), (0.5,))])
    trainset = NumpyDataset(faces.images, faces.labels, transform=transform)
    lot_size, batch_size, iterations, sigma, l2_norm_clip, delta = 40, 1, 10, 0.5, 1, 1e-5
    accountant = tutorial_accountant()
    manager = DPSGDManager(
        accountant, optim.SGD, l2_norm_clip=l2_norm_clip, dataset=trainset, lot_size=lot_size,
        batch_size=batch_size, iterations=iterations,
    )
    accountant.reset_step_info()
    accountant.add_step_info({"sigma": sigma}, lot_size / len(trainset), iterations * (len(trainset) / lot_size))
    estimated_epsilon = accountant.get_epsilon(delta=delta)
    accountant.reset_step_info()
    dpoptimizer_cls, lot_loader, batch_loader = manager.privatize(noise_multiplier=sigma)
    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = dpoptimizer_cls(net.parameters(), lr=0.05, momentum=0.9)
    epoch_losses = []
    for epoch in range(iterations):
        running_loss, data_size = 0.0, 0
        for X_lot, y_lot in lot_loader(optimizer):
            for X_batch, y_batch in batch_loader(TensorDataset(X_lot, y_lot)):
                optimizer.zero_grad()
                pred = net(X_batch)
                loss = criterion(pred, y_batch.to(torch.int64))
                loss.backward()
                optimizer.step()
                running_loss += loss.item()
                data_size += X_batch.shape[0]
        epoch_losses.append(running_loss / data_size)
    # The tutorial printed 35.149970335258836 before and after training, and loss 3.68 -> 2.94.
    assert estimated_epsilon == pytest.approx(35.149970335258836, abs=1e-6)
    assert accountant.get_epsilon(delta=delta) == pytest.approx(estimated_epsilon, rel=1e-12)
    assert epoch_losses[0] == pytest.approx(3.68, abs=0.03)
    assert epoch_losses[-1] < epoch_losses[0] - 0.4
    x_all = torch.stack([trainset[i][0] for i in range(len(trainset))])
    with torch.no_grad():
        train_accuracy = float((net(x_all).argmax(dim=1).numpy() == faces.labels).mean())
    assert train_accuracy >= 0.8  # the tutorial printed 0.9175


def test_one_lot_equals_clipped_microbatch_sum(faces):
    """sigma -> 0 (1e-12), SGD lr 1: the update is -(sum over micro-batches of the clipped micro-batch mean
    gradient) * batch_size / lot_size; micro-batches of 2, the last partial one dropped as in AIJack."""
    subset = faces.subset(np.arange(0, 400, 10))  # 40 faces, one per person
    x = torch.from_numpy(subset.images).float().div(127.5).sub(1).unsqueeze(1)
    dataset = TensorDataset(x, torch.from_numpy(subset.labels))
    accountant = tutorial_accountant()
    lot_size, batch_size, clip = 8, 2, 0.05
    manager = DPSGDManager(accountant, optim.SGD, clip, dataset, lot_size, batch_size, iterations=1, seed=0)
    cls, lot_loader, batch_loader = manager.privatize(noise_multiplier=1e-12)
    model = nn.Sequential(nn.Flatten(), nn.Linear(112 * 92, 40)).double()
    optimizer = cls(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    expected = [torch.zeros_like(p) for p in model.parameters()]
    lots = 0
    for X_lot, y_lot in lot_loader(optimizer):
        lots += 1
        X_lot = X_lot.double()
        usable = X_lot.shape[0] - X_lot.shape[0] % batch_size
        for start in range(0, usable, batch_size):
            xb, yb = X_lot[start : start + batch_size], y_lot[start : start + batch_size]
            grads = torch.autograd.grad(F.cross_entropy(model(xb), yb), list(model.parameters()))
            norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
            for e, g in zip(expected, grads):
                e.add_(g * min(1.0, clip / (float(norm) + 1e-6)))
        for X_batch, y_batch in batch_loader(TensorDataset(X_lot, y_lot)):
            optimizer.zero_grad()
            F.cross_entropy(model(X_batch), y_batch).backward()
            optimizer.step()
    assert lots == 1
    for p, p0, e in zip(model.parameters(), before, expected):
        torch.testing.assert_close(p.detach() - p0, -e * batch_size / lot_size, rtol=1e-6, atol=1e-9)
    assert accountant.steps_info == [({"sigma": 1e-12}, lot_size / 40, 1.0)]


def test_empty_lots_still_take_and_record_a_noise_step():
    dataset = TensorDataset(torch.randn(50, 3), torch.zeros(50, dtype=torch.long))
    accountant = tutorial_accountant()
    manager = DPSGDManager(accountant, optim.SGD, 1.0, dataset, lot_size=1, batch_size=1, iterations=40, seed=1)
    cls, lot_loader, batch_loader = manager.privatize(noise_multiplier=2.0)
    model = nn.Linear(3, 2)
    optimizer = cls(model.parameters(), lr=0.1)
    seen = 0
    for X_lot, y_lot in lot_loader(optimizer):
        seen += 1
        for xb, yb in batch_loader(TensorDataset(X_lot, y_lot)):
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    assert seen < 40  # q = 1/50: most lots are empty
    assert accountant.steps_info == [({"sigma": 2.0}, 1 / 50, 40.0)]


def test_seeded_manager_is_reproducible():
    dataset = TensorDataset(torch.randn(30, 3), torch.randint(0, 2, (30,)))
    results = []
    for _ in range(2):
        manager = DPSGDManager(tutorial_accountant(), optim.SGD, 1.0, dataset, 5, 1, iterations=6, seed=4)
        cls, lot_loader, batch_loader = manager.privatize(noise_multiplier=1.0)
        model = nn.Linear(3, 2)
        with torch.no_grad():
            model.weight.zero_()
            model.bias.zero_()
        optimizer = cls(model.parameters(), lr=0.1)
        for X_lot, y_lot in lot_loader(optimizer):
            for xb, yb in batch_loader(TensorDataset(X_lot, y_lot)):
                optimizer.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                optimizer.step()
        results.append(model.weight.detach().clone())
    assert torch.equal(results[0], results[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(l2_norm_clip=0.0), "l2_norm_clip"),
        (dict(lot_size=31), "lot_size"),
        (dict(batch_size=6), "batch_size"),
        (dict(iterations=0), "iterations"),
    ],
)
def test_invalid_arguments_are_named(kwargs, message):
    dataset = TensorDataset(torch.randn(30, 3), torch.zeros(30, dtype=torch.long))
    args = dict(l2_norm_clip=1.0, dataset=dataset, lot_size=5, batch_size=1, iterations=1)
    with pytest.raises(ValueError, match=message):
        DPSGDManager(tutorial_accountant(), optim.SGD, **{**args, **kwargs})
