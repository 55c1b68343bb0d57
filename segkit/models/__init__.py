"""Models: encoders, upsamplers, decoder and the FCN (imports only torch)."""

from segkit.models.blocks import ConvNormAct, Skip
from segkit.models.encoders import ENCODERS, create_encoder
from segkit.models.fcn import FCN, build_model
from segkit.models.upsamplers import UPSAMPLERS, create_upsampler

__all__ = [
    "ENCODERS",
    "FCN",
    "UPSAMPLERS",
    "ConvNormAct",
    "Skip",
    "build_model",
    "create_encoder",
    "create_upsampler",
]
