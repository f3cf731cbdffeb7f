"""Builds shmrt._shmrt against an installed libshmrt, found by pkg-config.

    pip install ./python            (libshmrt installed: make install PREFIX=...)

PKG_CONFIG_PATH selects another installation (PREFIX/lib/pkgconfig). The build tree's
CMake builds the same extension without pip (python/CMakeLists.txt).
"""
import shlex
import subprocess
import sys

from setuptools import Extension, setup


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "shmrt"], check=True,
                             capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit("shmrt: pkg-config is not installed (apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        sys.exit("shmrt: pkg-config does not find libshmrt (install it with "
                 "`make install PREFIX=...` and set PKG_CONFIG_PATH to PREFIX/lib/pkgconfig):\n"
                 + e.stderr)
    return shlex.split(out)


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
libdirs = [f[2:] for f in libs if f.startswith("-L")]

ext = Extension(
    "shmrt._shmrt",
    sources=["src/module.c", "src/convert.c", "src/value.c", "src/array.c", "src/array_view.c",
             "src/locks.c", "src/sync.c", "src/barrier.c",
             "src/queue.c", "src/queue_fast.c", "src/pipe.c", "src/shm.c", "src/mgr.c",
             "src/mgr_value.c"],
    depends=["src/pyshmrt.h"],
    include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
    library_dirs=libdirs,
    libraries=[f[2:] for f in libs if f.startswith("-l")]
    + ["shmrt_manager"],
    runtime_library_dirs=libdirs,
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
)

setup(ext_modules=[ext])
