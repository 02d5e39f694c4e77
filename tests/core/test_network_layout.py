"""ARCH-012: the one ``cnn`` filter table in :mod:`ptycho.network_layout`."""

from __future__ import annotations

import pytest

from ptycho import network_layout as layout
from ptycho.config.config import ModelConfig


def test_cnn_filters_scale_the_table_by_n_filters_scale() -> None:
    """ARCH-012: encoder / decoder ladders times ``n_filters_scale``; border ``s_f*2048//N``."""
    assert layout.cnn_encoder_filters(64, 2) == [64, 128, 256]
    assert layout.cnn_encoder_filters(128, 1) == [16, 32, 64, 128]
    assert layout.cnn_decoder_filters(256, 1) == [256, 128, 64, 32]
    assert layout.cnn_decoder_filters(64, 2) == [128, 64]
    assert layout.cnn_border_filters(64, 2) == 64
    assert layout.cnn_border_filters(256, 1) == 8
    assert layout.SUPPORTED_N == (64, 128, 256)


def test_cnn_filters_reject_unsupported_n() -> None:
    """An N without a ladder is an error that names the supported sizes."""
    with pytest.raises(ValueError, match="64, 128, 256"):
        layout.cnn_encoder_filters(96, 1)
    with pytest.raises(ValueError, match="64, 128, 256"):
        layout.cnn_decoder_filters(32, 1)


def test_conv_specs_cnn_follow_the_ladders() -> None:
    """The ``cnn`` conv specs read the same ladders (N=64, gridsize 1, s_f 2)."""
    config = ModelConfig(N=64, gridsize=1, n_filters_scale=2, architecture="cnn")
    specs = {spec.name: spec for spec in layout.conv_specs(config)}
    assert specs["encoder_block1_conv1"].cout == 64
    assert specs["encoder_block3_conv2"].cout == 256
    assert specs["decoder_amp_block2_conv2"].cout == 64
