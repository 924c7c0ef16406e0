"""The networks; pure, no I/O. Each is rebuilt from a small JSON spec stored beside its weights."""

from __future__ import annotations

import torch
from torch import nn

REGIME_HIDDEN = 64  # fixed: hidden_size is a volatility-model setting


class VolatilityNet(nn.Module):
    """GRU over the lookback window plus a linear path from the last day's inputs (a learned HAR)."""

    def __init__(self, n_features: int, hidden_size: int):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size + n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return self.head(torch.cat([h[-1], x[:, -1, :]], dim=1)).squeeze(1)


class RegimeNet(nn.Module):
    """A small MLP from causal features to four regime logits."""

    def __init__(self, n_features: int, hidden_size: int = REGIME_HIDDEN, n_classes: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden_size),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
            nn.Linear(hidden_size, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class RegimeSeqNet(nn.Module):
    """A GRU over the recent path (kinds/regime_seq.py); its last state and the last day's inputs feed four
    regime logits."""

    def __init__(self, n_channels: int, hidden_size: int = 16, n_classes: int = 4):
        super().__init__()
        self.gru = nn.GRU(n_channels, hidden_size, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden_size + n_channels, REGIME_HIDDEN),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(REGIME_HIDDEN, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return self.head(torch.cat([h[-1], x[:, -1, :]], dim=1))
