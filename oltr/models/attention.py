"""Modulated attention (OLTR stage 2): self-attention gated by a softmax spatial map.

For a feature map ``f`` of shape ``(B, C, H, W)`` with positions ``i, j`` in the ``H*W`` cells:

.. math::

    A_{ij} = \\mathrm{softmax}_j(\\theta(f)_i \\cdot \\phi(f)_j), \\quad
    SA(f)_i = W_m \\sum_j A_{ij}\\, g(f)_j, \\quad
    f_{att} = f + MA(f) \\odot SA(f)

``theta``, ``phi`` and ``g`` are 1x1 convolutions ``C -> C / reduction`` and ``W_m`` a 1x1 convolution back to
``C``. ``MA(f)`` is one weight per
position, a softmax over the ``H*W`` cells broadcast over channels, produced by one linear layer reading the whole
(flattened) map.

The reference hard-wires the spatial linear layer to 7x7 maps (224 crops). Here it reads the map pooled to a fixed
``grid x grid`` (identity when the map already is ``grid x grid``), and its ``grid*grid`` logits are resized
bilinearly to ``H x W`` before the softmax, so any input size works and 7x7 maps reproduce the reference exactly.

Two starts (``init``):

* ``identity``: Kaiming-normal ``theta``/``phi``/``g``, zero ``W_m``, so the layer starts as the identity (what
  the attention layer's own code intends);
* ``reference``: what the reference runs. Its ResNet re-runs the trunk's weight init after building the
  attention, so every attention convolution (``theta``, ``phi``, ``g`` and ``W_m``) is drawn from
  :math:`N(0, \\sqrt{2 / (k^2 C_{out})})` like the trunk's, and the layer is not the identity at the start of
  stage 2 (biases stay zero; the spatial linear layer keeps PyTorch's default init in both).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_INITS = ("identity", "reference")


class ModulatedAttention(nn.Module):
    """Self-attention (embedded Gaussian, no temperature) modulated by a spatial softmax map.

    Args:
        channels: ``C``, channels of the input map.
        reduction: channel reduction of the ``theta``/``phi``/``g`` embeddings (the reference uses 2).
        grid: side of the pooled map read by the spatial linear layer (the reference's fixed 7).
        init: ``identity`` (zero output projection) or ``reference`` (every conv re-drawn as the reference's
            trunk init does); see the module docstring.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)`` for any ``H, W``; channels_last inputs are accepted.
    """

    def __init__(self, channels: int, reduction: int = 2, grid: int = 7, init: str = "identity") -> None:
        super().__init__()
        if init not in ATTENTION_INITS:
            raise ValueError(f"unknown attention init {init!r}; expected one of {', '.join(ATTENTION_INITS)}")
        if channels % reduction:
            raise ValueError(f"channels ({channels}) must be divisible by reduction ({reduction})")
        inner = channels // reduction
        self.channels = channels
        self.grid = grid
        self.init = init
        self.theta = nn.Conv2d(channels, inner, kernel_size=1)
        self.phi = nn.Conv2d(channels, inner, kernel_size=1)
        self.g = nn.Conv2d(channels, inner, kernel_size=1)
        self.out = nn.Conv2d(inner, channels, kernel_size=1, bias=False)
        self.spatial = nn.Linear(channels * grid * grid, grid * grid)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero embedding biases; ``identity``: Kaiming-normal (fan-in) embeddings and zero ``W_m``;
        ``reference``: every conv weight ~ N(0, 2 / (k*k*C_out)), the trunk's He fan-out init."""
        for conv in (self.theta, self.phi, self.g):
            nn.init.kaiming_normal_(conv.weight)
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.out.weight)
        self.spatial.reset_parameters()
        if self.init == "reference":
            for conv in (self.theta, self.phi, self.g, self.out):
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    def self_attention(self, x: torch.Tensor) -> torch.Tensor:
        """``SA(f)``: non-local block output before modulation, shape ``(B, C, H, W)``."""
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (B, HW, C')
        phi = self.phi(x).flatten(2)  # (B, C', HW)
        g = self.g(x).flatten(2).transpose(1, 2)  # (B, HW, C')
        affinity = torch.bmm(theta, phi).softmax(dim=-1)  # rows: query position i, softmax over j
        y = torch.bmm(affinity, g).transpose(1, 2).reshape(b, -1, h, w)
        return self.out(y)

    def spatial_map(self, x: torch.Tensor) -> torch.Tensor:
        """``MA(f)``: softmax over the ``H*W`` positions, shape ``(B, 1, H, W)``."""
        b, _, h, w = x.shape
        pooled = F.adaptive_avg_pool2d(x, self.grid) if (h, w) != (self.grid, self.grid) else x
        # Flatten in (C, H, W) order, as the reference does, so its spatial weights keep their meaning.
        logits = self.spatial(pooled.flatten(1))
        if (h, w) != (self.grid, self.grid):
            grid_logits = logits.view(b, 1, self.grid, self.grid)
            logits = F.interpolate(grid_logits, size=(h, w), mode="bilinear", align_corners=False)
        return logits.reshape(b, h * w).softmax(dim=1).view(b, 1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + MA(x) * SA(x)``."""
        return x + self.spatial_map(x) * self.self_attention(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, grid={self.grid}, init={self.init!r}"
