"""A small CNN built to learn under DP-SGD: a fixed low-resolution, centre-surround front end, ONE narrow
convolution (GroupNorm, tanh) whose filters start large, and a zero-initialised linear classifier.

Why this shape. DP-SGD clips every example's gradient to norm C and adds N(0, sigma^2 C^2) noise to every
coordinate of the sum, so what a target learns at epsilon 8 or 3 from 140 private faces is decided by how
much of each clipped gradient points the same way for one person's faces and how little the noise can
scramble, not by capacity (non-private, every shape below is about 95 % accurate). Measured on AT&T (20
private people, 7 train / 3 test images each), test accuracy %, mean of seeds 0-2.

Search 1, each candidate with the study's recipe search on the public people (`dpmi.study.recipe`), so one
noisy pick per level: ~ +-5 points between two runs of the same model. eps 8 / eps 3 (softmax on the raw
pixels: 69.4 / 38.3; the previous cnn, two stride-2 5x5 convolutions 1->16->32, GroupNorm, ReLU: 53.9 / 18.9):

- Average-pool the input 4x4 first (faces stay identifiable at 28x23; small inputs and small models win
  under DP: Tramer & Boneh, "Differentially private learning needs better features (or much more data)",
  ICLR 2021), one 3x3 convolution, 8 channels, tanh, 2x2 pool: 69.4 / 28.9. Two convolutions (8, 16):
  46.7 / -. ReLU instead of tanh: 53.9 / - (tanh, the tempered sigmoid of Papernot et al., "Tempered
  sigmoid activations for deep learning with differential privacy", AAAI 2021, keeps activations bounded).
  4 channels: 71.7 / 35.0; 2: - / 21.7; 16: 68.3 / -. Without GroupNorm: 61.7 / 19.5.
- Centre-surround (below), window 5: 73.3 / 43.3, 9: 79.5 / 43.3, 11: 79.4 / 43.3, 13: 80.6 / 40.0.
- Tried and dropped: weight-standardised convolution (De et al. 2022) 35.5 at eps 3; the pooled input
  concatenated to the features 33.9; a linear model on the 4x4-pooled pixels 39.4.

Search 2, without the search's noise: every recipe of its grid (lr 0.01/0.03/0.1 x 30/60 epochs x lot
40/70 x clip 0.5/2) x 3 seeds, scored on the private test images (analysis only, never used to choose a
recipe), best / median / mean over the 24 recipes:

    model                                   eps 8               eps 3
    softmax                                 74.4 / 65.6 / 61.9  43.9 / 31.7 / 31.5
    window 11, GroupNorm affine, gain 1     74.4 / 66.7 / 61.9  38.3 / 27.5 / 23.5
    window 11, no affine, gain 1            77.8 / 73.1 / 68.3  41.1 / 33.3 / 30.6
    window 11, no affine, gain 10           78.3 / 72.8 / 70.7  48.9 / 38.6 / 36.6
    window 15, no affine, gain 10 (this)    78.9 / 73.3 / 70.2  43.9 / 37.5 / 34.8

Non-private (lr 0.01, 30 / 60 epochs, lot 40): window 11 94.4 / 95.6, window 15 95.0 / 96.1: the wider
window keeps more of what tells people apart, so it is the default.

The study with this model (`dpmi run --model cnn`, recipes from the public search, seeds 0-2): non-private
95.0 (softmax 96.7), sigma 0.5 85.6 (90.0), eps 8 73.3 +- 4.4 (69.4 +- 6.7), eps 3 43.9 +- 4.2 (38.3 +- 6.0),
eps 1 11.7 (8.9).

The ideas:
- Centre-surround: each pixel of the pooled face minus the mean of its s x s neighbourhood (a parameter-free
  high-pass, the subtractive normalisation of Jarrett et al., "What is the best multi-stage architecture for
  object recognition?", ICCV 2009, Sec. 2.1). The head's noise moves every logit by an amount proportional
  to the norm of the features, while only their person-specific part carries signal; the smooth component
  every face shares (average face, lighting) adds norm, hence noise, but no signal.
- GroupNorm with one group per channel (Wu & He, ECCV 2018; De et al., "Unlocking high-accuracy
  differentially private image classification through scale", 2022): each example normalised on its own
  (BatchNorm would mix a lot's examples and break per-example clipping), without an affine scale and shift,
  whose few parameters the noise would push around.
- Filters initialised FILTER_GAIN = 10 times PyTorch's default norm: GroupNorm makes the output blind to a
  filter's scale, so the noise (fixed per coordinate) turns a large filter less. In effect the filters stay
  near their random start under DP and the head learns.
- The classifier starts at zero (as De et al. 2022): the untrained model is indifferent between the people.

Every layer with weights is a Conv2d or Linear, whose per-example gradients dpmi's DP-SGD engine forms in
closed form. Every operation is differentiable in the input, so MI-FACE inverts it like the other targets.
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
        if size < 3 or size % 2 == 0:  # a 1x1 surround is the pixel itself: everything would map to 0
            raise ValueError(f"the centre-surround window must be an odd number of pixels >= 3, got {size}")
        self.surround = nn.AvgPool2d(size, stride=1, padding=size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.surround(x)


class SmallCNN(nn.Module):
    """AvgPool(input_pool) -> CentreSurround(surround) -> Conv(C->width, 3x3, no bias, filters x FILTER_GAIN)
    -> GroupNorm(one group per channel, no affine) -> tanh -> AvgPool(2) -> Linear (zero-initialised) -> logits.

    Args:
        input_shape: (C, H, W) of the images, in [-1, 1]; H and W must be >= 4 * input_pool, so the last
            feature map is at least 2x2 (ValueError otherwise).
        num_classes: number of identities K >= 1.
        width: convolution channels (4 measured best under DP-SGD; see the module docstring).
        input_pool: side of the average-pooling block applied to the input first (4: 112x92 -> 28x23).
        surround: side of the centre-surround window on the pooled image (odd, >= 3; 0 turns it off).

    For AT&T faces (1x112x92, 20 people): 36 convolution weights, 616 features into the head (12.3k weights).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 112, 92),
        num_classes: int = 40,
        width: int = 4,
        input_pool: int = 4,
        surround: int = 15,
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
            CentreSurround(surround) if surround else nn.Identity(),
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
