"""The training loop the small classification reproductions share."""
import torch
from torch import Tensor, nn


def fit_classifier(model: nn.Module, x: Tensor, y: Tensor, lr: float,
                   epochs: int, seed: int, batch_size: int = 64) -> nn.Module:
    """Adam without weight decay, cross-entropy, seeded shuffles; returns the
    model in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()
