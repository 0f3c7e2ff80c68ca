"""Declares the Cython extensions under _media/; all metadata lives in pyproject.toml.

System libraries are found with pkg-config. A missing one stops the build with
the name of the Debian package that provides it (ci/install-deps installs them).
Set SIPCTL_DEBUG_KERNELS=1 to build with bounds checks and assertions on.
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

# pkg-config name -> Debian package providing its .pc file and headers
SYSTEM_LIBS = {
    "speexdsp": "libspeexdsp-dev",
}


def pkg_config(name: str) -> dict:
    """Compiler/linker flags of a system library, or exit naming its Debian package."""
    deb = SYSTEM_LIBS[name]
    if shutil.which("pkg-config") is None:
        sys.exit("sipctl build: 'pkg-config' not found; install the Debian package 'pkg-config' "
                 "(or run ci/install-deps)")
    try:
        cflags = subprocess.check_output(["pkg-config", "--cflags", name], text=True,
                                         stderr=subprocess.PIPE).split()
        libs = subprocess.check_output(["pkg-config", "--libs", name], text=True,
                                       stderr=subprocess.PIPE).split()
    except subprocess.CalledProcessError:
        sys.exit(f"sipctl build: system library '{name}' not found by pkg-config; "
                 f"install the Debian package '{deb}' (apt-get install {deb}, or run ci/install-deps)")
    return {
        "include_dirs": [f[2:] for f in cflags if f.startswith("-I")],
        "library_dirs": [f[2:] for f in libs if f.startswith("-L")],
        "libraries": [f[2:] for f in libs if f.startswith("-l")],
    }


DEBUG = os.environ.get("SIPCTL_DEBUG_KERNELS") == "1"
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
# -fno-math-errno: lets lrintf & co. inline as single instructions (no kernel reads errno)
CFLAGS = ["-O3", "-fno-strict-aliasing", "-fno-math-errno"] + ([] if not DEBUG else ["-UNDEBUG", "-O1", "-g"])


def ext(name: str, libs: tuple[str, ...] = ()) -> Extension:
    import numpy

    kw: dict = {"include_dirs": ["include", "_media", numpy.get_include()], "library_dirs": [], "libraries": [],
                "define_macros": [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]}
    for lib in libs:
        for key, val in pkg_config(lib).items():
            kw[key] += val
    return Extension(f"_media.{name}", [f"_media/{name}.pyx"],
                     extra_compile_args=CFLAGS, **kw)


def extensions():
    from Cython.Build import cythonize

    exts = [
        ext("g711"),
        ext("rtp"),
        ext("resampler"),
        ext("plc"),
        ext("mixer"),
        ext("jitter"),
        ext("tsm"),
        ext("udpio"),
        ext("speexdsp_peer", ("speexdsp",)),
    ]
    return cythonize(exts, compiler_directives=DIRECTIVES, include_path=["include", "."],
                     build_dir="build/cython")


setup(ext_modules=extensions())
