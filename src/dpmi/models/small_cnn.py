"""A small CNN built to learn under DP-SGD: a fixed low-resolution, centre-surround front end, ONE narrow
convolution with GroupNorm and tanh, and a zero-initialised linear classifier.

Why this shape. DP-SGD clips every example's gradient to norm C and adds N(0, sigma^2 C^2) noise to every
coordinate of the sum, so what the target can learn at epsilon 8 or 3 on 140 private faces is decided by how
much of each clipped gradient points the same way for faces of one person, not by capacity (non-private,
every shape below is >= 95 % accurate). Each choice was measured with the study's own recipe search (the
grid on the public people, `dpmi.study.recipe`) and three seeds on the private people, test accuracy %
(softmax on the raw pixels, the bar to clear: eps 8 69.4, eps 3 38.3):

- The previous cnn (two stride-2 5x5 convolutions 1->16->32, GroupNorm, ReLU, 6.7k weights in the head):
  eps 8 53.9, eps 3 18.9.
- Average-pooling the input 4x4 first (faces stay identifiable at 28x23; Tramer & Boneh, "Differentially
  private learning needs better features (or much more data)", ICLR 2021, Sec. 3: small inputs and small
  models win under DP) with one 3x3 convolution of 8 channels, tanh, 2x2 pool: eps 8 69.4, eps 3 28.9.
  Two convolutions (8, 16 channels): eps 8 46.7; ReLU instead of tanh: eps 8 53.9 (tanh: the tempered
  sigmoid of Papernot et al., "Tempered sigmoid activations for deep learning with differential privacy",
  AAAI 2021, which keeps activations, hence gradients, bounded, so clipping discards less signal).
- 4 channels instead of 8: eps 8 71.7, eps 3 35.0 (fewer weights in the head: the noise's norm grows with
  sqrt(#parameters)); 2 channels: eps 3 21.7; 16: eps 8 68.3.
- Centre-surround: subtracting from each pixel of the pooled face the mean of its s x s neighbourhood (a
  parameter-free high-pass, the subtractive local contrast normalisation of Jarrett et al., "What is the
  best multi-stage architecture for object recognition?", ICCV 2009, Sec. 2). Why it helps under DP: the
  head's noise moves every logit by an amount proportional to the feature vector's norm, while only the
  person-specific part of the features carries signal; the smooth component every face shares (the
  average face, the lighting) adds norm, hence noise, but no signal, and the high-pass removes most of it.
  Window s (on the 28x23 pooled face), eps 8 / eps 3 / non-private (lr 0.01, 60 epochs, lot 40):
  none 71.7 / 35.0 / 95.0; 3: - / 33.9 / -; 5: 73.3 / 43.3 / 92.8; 7: 71.7 / 43.3 / 93.9;
  9: 79.5 / 43.3 / 95.0; 11: 79.4 / 43.3 / 95.0; 13: 80.6 / 40.0 / 95.6. A small window removes
  what tells people apart too (non-private accuracy drops); 11 is the default (seeds at eps 3: 46.7, 38.3,
  45.0, none below the softmax's mean).
- GroupNorm (Wu & He, ECCV 2018; used for DP-SGD by De et al., "Unlocking high-accuracy differentially
  private image classification through scale", 2022) normalises each example on its own; BatchNorm would
  mix the examples of a lot and break per-example clipping. Without it: eps 8 61.7, eps 3 19.5.
- The classifier starts at zero (De et al. 2022 zero-initialise their last layer): the first noisy steps
  do not fight a random head, and the untrained model outputs uniform probabilities.

Every layer with weights is a Conv2d, GroupNorm or Linear: dpmi's DP-SGD engine forms their per-example
gradients in closed form. Every operation is differentiable in the input, so gradient attacks (MI-FACE)
invert it like the other targets.
"""

from __future__ import annotations

import torch
from torch import nn

# Initial filter norm, in multiples of PyTorch's default (kaiming-uniform) one; see SmallCNN.__init__.
FILTER_GAIN = 10.0


class CentreSurround(nn.Module):
    """x minus its local mean over a `size` x `size` window (odd size; no parameters). At the border the mean
    is over the pixels inside the image, so a constant image maps to exactly 0."""

    def __init__(self, size: int = 5) -> None:
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise ValueError(f"the centre-surround window must be an odd number of pixels >= 1, got {size}")
        self.surround = nn.AvgPool2d(size, stride=1, padding=size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.surround(x)


class SmallCNN(nn.Module):
    """AvgPool(input_pool) -> CentreSurround(surround) -> Conv(C->width, 3x3) -> GroupNorm(per channel) -> tanh
    -> AvgPool(2) -> Linear (zero-initialised) -> logits.

    Args:
        input_shape: (C, H, W) of the images, in [-1, 1]; H and W must be >= 4 * input_pool, so the last
            feature map is at least 2x2 (ValueError otherwise).
        num_classes: number of identities K >= 1.
        width: convolution channels (4 measured best under DP-SGD; see the module docstring).
        input_pool: side of the average-pooling block applied to the input first (4: 112x92 -> 28x23).
        surround: side of the centre-surround window on the pooled image (odd; 1 turns it off).

    For AT&T faces (1x112x92, 20 people): 36 convolution weights, 8 GroupNorm weights, 616 features into the
    head (12.3k weights).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 112, 92),
        num_classes: int = 40,
        width: int = 4,
        input_pool: int = 4,
        surround: int = 11,
    ) -> None:
        super().__init__()
        channels, height, width_px = (int(s) for s in input_shape)
        if width < 1 or input_pool < 1 or num_classes < 1:
            raise ValueError(
                f"SmallCNN needs width, input_pool and num_classes >= 1, got {width}, {input_pool}, {num_classes}"
            )
        min_side = 4 * input_pool  # pool, then the 2x2 pool must leave a map of at least 2x2
        if min(height, width_px) < min_side:
            raise ValueError(
                f"SmallCNN cannot be built for images of shape {(channels, height, width_px)} (C, H, W): it "
                f"averages {input_pool}x{input_pool} blocks, then 2x2, and needs at least {min_side} pixels a side; "
                "use larger images or a smaller input_pool"
            )
        conv = nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=False)
        self.features = nn.Sequential(
            nn.AvgPool2d(input_pool),
            CentreSurround(surround),
            # No bias: GroupNorm with one group per channel subtracts each map's mean, so a bias would get a zero
            # gradient.
            conv,
            # One group per channel: each example's each map normalised on its own. No affine scale and shift:
            # 2 * width parameters less for the noise to push around (the head can rescale).
            nn.GroupNorm(width, width, affine=False),
            nn.Tanh(),
            nn.AvgPool2d(2),
        )
        with torch.no_grad():
            # GroupNorm makes the output blind to the filters' scale, so their gradient is orthogonal to each filter
            # and shrinks as 1/|w|, while DP-SGD's noise is the same per coordinate whatever the scale: per step
            # the noise turns a filter by an angle ~ lr * sigma * C / (lot * |w|), the signal by ~ 1 / |w|^2.
            # Filters FILTER_GAIN times PyTorch's default norm drift 10x less; they learn 100x slower too, so
            # under DP they stay close to their random initialisation (a random filter bank, the fixed-front-end
            # regime of Tramer & Boneh 2021) and the head does the learning.
            conv.weight.mul_(FILTER_GAIN)
            flat = self.features(torch.zeros(1, channels, height, width_px)).numel()
        head = nn.Linear(flat, num_classes)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.classifier = nn.Sequential(nn.Flatten(), head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
