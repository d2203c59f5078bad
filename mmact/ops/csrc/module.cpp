// The importable mmact._C: importing it runs the static op registrations
// (TORCH_LIBRARY_FRAGMENT in the kernel files) of torch.ops.mmact.
#include <Python.h>

static PyModuleDef mmact_c_module = {PyModuleDef_HEAD_INIT, "_C",
                                     "mmact's CPU kernels (torch.ops.mmact)",
                                     -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&mmact_c_module); }
