"""Small models whose own code calls activation functions in every spelling
(importable by name, so a pickled swapped model loads in a fresh process)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.functional as nnf
from torch.nn.functional import relu as imported_relu


class ReLUChild(nn.Module):
    """A child whose own forward calls F.relu."""

    def forward(self, x):
        return F.relu(x)


class Spellings(nn.Module):
    """Nine ReLU call sites, one per spelling, plus a leaky ReLU with its
    own slope, a branch that never runs and a child that calls F.relu."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 1)
        self.child = ReLUChild()
        self.never = False

    def forward(self, x):
        x = self.conv(x)
        # One call site per line: each gets its own parametric activation.
        outs = [F.relu(x)]
        outs.append(nnf.relu(x))
        outs.append(imported_relu(x))
        outs.append(torch.relu(x))
        outs.append(x.relu())
        a = x.clone()
        F.relu(a, inplace=True)
        b = x.clone()
        b.relu_()
        c = x.clone()
        torch.relu_(c)
        d = x.clone()
        F.relu_(d)
        outs += [a, b, c, d, F.leaky_relu(x, 0.2), self.child(x)]
        if self.never:
            outs.append(F.relu(x * 2))
        return torch.stack(outs)


class Net(nn.Module):
    """conv -> F.relu -> conv, for DDP and compile tests."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 2, 1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))
