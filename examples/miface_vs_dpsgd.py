"""AIJack's tutorial "MI-FACE vs DPSGD", run on dpmi with only its import lines changed.

Differences from the tutorial's text, all at the edges: PIL reads the PGM files instead of cv2, dpmi's
torchvision-free `transforms` stand in for torchvision's, accuracy is computed with torch instead of sklearn,
and the figure is saved to a file. The model, loop and hyperparameters are the tutorial's.

    python examples/miface_vs_dpsgd.py --data ../shared/datasets/att_faces --out miface_vs_dpsgd.png
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # a script, not a notebook: render to a file
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from matplotlib import pyplot as plt
from PIL import Image
from torch.utils.data import TensorDataset

from dpmi.attack import MI_FACE
from dpmi.compat import transforms
from dpmi.defense import DPSGDManager, GeneralMomentAccountant
from dpmi.utils import NumpyDataset


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fla = nn.Flatten()
        self.fc = nn.Linear(112 * 92, 40)

    def forward(self, x):
        x = self.fla(x)
        x = self.fc(x)
        x = F.softmax(x, dim=1)
        return x


def imread_grey(path: str) -> np.ndarray:
    """cv2.imread(path, 0) without OpenCV."""
    with Image.open(path) as img:
        return np.asarray(img.convert("L"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("DPMI_DATA", "data"), help="directory with s1..s40/*.pgm")
    parser.add_argument("--out", default="miface_vs_dpsgd.png", help="where to save the original-vs-extracted figure")
    parser.add_argument("--seed", type=int, default=0, help="torch seed (the tutorial set none)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    base = args.data.rstrip("/") + "/"

    # 8.2.1 Setup
    imgs = []
    labels = []
    for i in range(1, 41):
        for j in range(1, 11):
            img = imread_grey(base + f"s{i}/{j}.pgm")
            imgs.append(img)
            labels.append(i - 1)
    X = np.stack(imgs)
    y = np.array(labels)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    trainset = NumpyDataset(X, y, transform=transform)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=4, shuffle=True, num_workers=0)

    # 8.2.2 Training the target model
    lot_size = 40
    batch_size = 1
    iterations = 10
    sigma = 0.5
    l2_norm_clip = 1
    delta = 1e-5

    accountant = GeneralMomentAccountant(
        noise_type="Gaussian",
        search="ternary",
        precision=0.001,
        order_max=1,
        order_min=72,
        max_iterations=1000,
        bound_type="rdp_upperbound_closedformula",
        backend="python",
    )
    privacy_manager = DPSGDManager(
        accountant,
        optim.SGD,
        l2_norm_clip=l2_norm_clip,
        dataset=trainset,
        lot_size=lot_size,
        batch_size=batch_size,
        iterations=iterations,
    )
    accountant.reset_step_info()
    accountant.add_step_info({"sigma": sigma}, lot_size / len(trainset), iterations * (len(trainset) / lot_size))
    estimated_epsilon = accountant.get_epsilon(delta=delta)
    print(f"estimated epsilon is {estimated_epsilon}")
    accountant.reset_step_info()
    dpoptimizer_cls, lot_loader, batch_loader = privacy_manager.privatize(noise_multiplier=sigma)

    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = dpoptimizer_cls(net.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(iterations):
        running_loss = 0
        data_size = 0
        for X_lot, y_lot in lot_loader(optimizer):
            for X_batch, y_batch in batch_loader(TensorDataset(X_lot, y_lot)):
                optimizer.zero_grad()
                pred = net(X_batch)
                loss = criterion(pred, y_batch.to(torch.int64))
                loss.backward()
                optimizer.step()
                running_loss += loss.item()
                data_size += X_batch.shape[0]
        print(f"epoch {epoch}: loss is {running_loss/data_size}")
    print(f"final epsilon is {accountant.get_epsilon(delta=delta)}")

    in_preds = []
    in_label = []
    with torch.no_grad():
        for inputs, labels_batch in trainloader:
            in_preds.append(net(inputs))
            in_label.append(labels_batch)
    in_preds = torch.cat(in_preds)
    in_label = torch.cat(in_label)
    accuracy = (torch.argmax(in_preds, dim=1) == in_label).double().mean().item()
    print("Test Accuracy is: ", accuracy)  # on the training images, as in the tutorial

    # 8.2.3 Attack
    input_shape = (1, 1, 112, 92)
    target_label = 11
    lam = 0.03
    num_itr = 100
    mi = MI_FACE(net, input_shape, target_label=target_label, num_itr=num_itr, lam=lam, log_interval=0)
    x_result_1, log = mi.attack()

    fig, axes = plt.subplots(nrows=1, ncols=2, figsize=(4, 3))
    axes[0].imshow(np.mean([imread_grey(base + f"s12/{j}.pgm") for j in range(1, 11)], axis=0), cmap="gray")
    axes[0].axis("off")
    axes[0].set_title("original image")
    axes[1].imshow(x_result_1[0][0].detach().numpy(), cmap="gray")
    axes[1].axis("off")
    axes[1].set_title("extracted image")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"saved {args.out} (MI-FACE best cost {min(log):.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
