import os

import torch

# Without a GPU, Triton kernels run in Triton's interpreter on CPU tensors.
# It is chosen when kernels are decorated, so before mmact is imported.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
