"""Builds ce's one optional compiled kernel, ``ce_cli.core._native`` (everything else is in
pyproject.toml). Where no C compiler is found, the build leaves it out and ce runs its numpy
kernels, which give the same losses (``ce --version`` says which one runs)."""

import platform
import sys

from setuptools import Extension, setup

GCC_LIKE = sys.platform != "win32"
X86 = platform.machine().lower() in {"x86_64", "amd64"}
flags = ["-O3", "-fno-trapping-math"] if GCC_LIKE else []
if GCC_LIKE and X86:
    flags.append("-mprefer-vector-width=512")  # the AVX-512 clone's sums in 8-wide vectors

setup(
    ext_modules=[
        Extension(
            "ce_cli.core._native",
            ["ce_cli/core/_native.c"],
            extra_compile_args=flags,
            optional=True,
        )
    ]
)
