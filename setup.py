"""pip path for the ROS-agnostic core and the Sim3DR extension.

`pip install -e .` works on a machine without ROS. The ROS messages and
the node's install layout come from the CMake (colcon) build instead.
"""
import sys

import numpy
from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - Cython is a build requirement
    sys.exit("building Sim3DR needs Cython: pip install cython")

# --- Sim3DR: our C++ rasteriser with a Cython binding -------------------------
sim3dr = Extension(
    "faceverse_ros._sim3dr",
    sources=["Sim3DR/_sim3dr.pyx", "Sim3DR/rasterize.cpp"],
    depends=["Sim3DR/rasterize.h"],
    include_dirs=["Sim3DR", numpy.get_include()],
    language="c++",
    extra_compile_args=["-O3", "-std=c++17", "-fno-math-errno"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    name="faceverse_ros",
    version="0.1.0",
    description="Real-time FaceVerse V4 face tracking for ROS 2 (core, CLI, Sim3DR)",
    packages=["faceverse_ros"] + ["faceverse_ros." + p
                                  for p in ("core", "landmarks", "tracking", "runtime", "views", "io",
                                            "ros", "cli")],
    ext_modules=cythonize([sim3dr], language_level=3, quiet=True),
    python_requires=">=3.10",
    install_requires=["numpy"],
    entry_points={"console_scripts": ["faceverse-ros = faceverse_ros.cli.main:main"]},
    zip_safe=False,
)
