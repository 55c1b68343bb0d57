"""Cost figures of a network: parameters and FLOPs (torch.utils.flop_counter)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(net: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def forward_gflops(net: nn.Module, height: int, width: int, channels: int = 3) -> float:
    """GFLOPs of one forward pass on a single ``channels x height x width`` image.

    Counted by PyTorch's FLOP counter (a multiply-add is 2 FLOPs; convolutions, transpose
    convolutions and matrix products; pooling, unpooling and interpolation count as zero). The
    network runs once in eval mode on zeros; its training mode is restored afterwards.
    """
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = net.training
    net.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, channels, height, width, device=device))
    finally:
        net.train(was_training)
    return counter.get_total_flops() / 1e9
