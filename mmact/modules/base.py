"""Base of the parameter-free activations."""
from torch import nn


class InplaceActivation(nn.Module):
    """Stores ``inplace``, which mmcv's ``ConvModule`` injects into every
    activation it builds; subclasses honour it where torch has an in-place
    kernel and otherwise compute out of place.

    Args:
        inplace: Overwrite the input where supported.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
