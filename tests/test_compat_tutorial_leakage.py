"""The issue's reference measurement, redone through the AIJack-compatible layer on the real faces.

The MI-FACE issue quotes numbers measured with AIJack's MI_FACE and the tutorial's settings: nearest-mean
top-1 about 0.9 on a non-privately trained softmax model, about 0.1 after DP-SGD at sigma 2 (eps ~2.6), chance
0.025. Here the tutorial's own pipeline (its double-softmax Net, DPSGDManager with lot 40 and micro-batch 1,
10 epochs on all 400 faces, MI_FACE for 100 steps of 0.03 on each label) runs on dpmi's compat classes, and
dpmi's nearest-mean metric scores it. dpmi's own engine at its study settings is tested in test_metrics_faces.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import TensorDataset

from dpmi.compat import DPSGDManager, GeneralMomentAccountant, MI_FACE, NumpyDataset, transforms
from dpmi.metrics.nearest_mean import target_rank


class TutorialNet(nn.Module):
    """The tutorial's Net: softmax inside forward (so CrossEntropyLoss applies a second softmax)."""

    def __init__(self) -> None:
        super().__init__()
        self.fla = nn.Flatten()
        self.fc = nn.Linear(112 * 92, 40)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.fc(self.fla(x)), dim=1)


def _tutorial_dataset(faces) -> NumpyDataset:
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return NumpyDataset(faces.images, faces.labels, transform=transform)


def _invert_every_identity(net: nn.Module) -> torch.Tensor:
    images = []
    for label in range(40):
        x, _ = MI_FACE(net, (1, 1, 112, 92), target_label=label, num_itr=100, lam=0.03, log_interval=0).attack()
        images.append(x[0])
    return torch.stack(images)


def _nearest_mean_top1(images: torch.Tensor, faces) -> float:
    return float((target_rank(images, np.arange(40), faces.class_means()) == 1).mean())


@pytest.mark.slow
def test_tutorial_pipeline_leaks_without_dp_and_not_at_sigma_2(faces):
    torch.manual_seed(0)
    dataset = _tutorial_dataset(faces)

    # Non-private: the optimiser the tutorial defines (lr 0.005, momentum 0.9) on its loader (batch 4).
    net = TutorialNet()
    optimizer = optim.SGD(net.parameters(), lr=0.005, momentum=0.9)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True)
    for _ in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            nn.CrossEntropyLoss()(net(x), y.long()).backward()
            optimizer.step()
    non_private_top1 = _nearest_mean_top1(_invert_every_identity(net), faces)

    # DP-SGD as the tutorial runs it, at sigma 2.
    accountant = GeneralMomentAccountant(noise_type="Gaussian", search="ternary", precision=0.001, order_max=1,
                                         order_min=72, max_iterations=1000,
                                         bound_type="rdp_upperbound_closedformula", backend="python")
    manager = DPSGDManager(accountant, optim.SGD, l2_norm_clip=1, dataset=dataset, lot_size=40, batch_size=1,
                           iterations=10)
    dp_optimizer_cls, lot_loader, batch_loader = manager.privatize(noise_multiplier=2.0)
    net = TutorialNet()
    optimizer = dp_optimizer_cls(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(10):
        for x_lot, y_lot in lot_loader(optimizer):
            for x, y in batch_loader(TensorDataset(x_lot, y_lot)):
                optimizer.zero_grad()
                nn.CrossEntropyLoss()(net(x), y.long()).backward()
                optimizer.step()
    epsilon = accountant.get_epsilon(1e-5)
    dp_top1 = _nearest_mean_top1(_invert_every_identity(net), faces)

    assert epsilon <= 3.0 and epsilon == pytest.approx(2.6, abs=0.05)  # the "eps ~2.6"
    assert non_private_top1 >= 0.8  # the issue measured ~0.9 with AIJack
    assert dp_top1 <= 0.3  # the issue measured ~0.1 with AIJack; chance is 0.025
