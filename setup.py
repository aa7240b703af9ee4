"""Build the Cython extensions of ocppfast._core; all metadata lives in pyproject.toml.

OCPPFAST_BUILD_EXTENSIONS selects what happens to the compiled core:
  auto (default)  compile; if that fails, warn and install the pure-Python twin
  yes             compile, and fail the install if any extension does not build (CI)
  no              do not compile; the pure-Python twin is used
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

MODE = os.environ.get("OCPPFAST_BUILD_EXTENSIONS", "auto").strip().lower()
if MODE not in {"auto", "yes", "no"}:
    sys.exit(f"OCPPFAST_BUILD_EXTENSIONS must be auto, yes or no, not {MODE!r}")

# Each compiled module is built under a private name next to its pure-Python twin, so that both
# stay importable and ocppfast._core can choose at import time. A .pxd is matched by the
# extension's name (_frame_c.pxd), not by the source's.
EXTENSIONS = {
    "ocppfast._core._jsonscan_c": "ocppfast/_core/_jsonscan_c.pyx",
    "ocppfast._core._frame_c": "ocppfast/_core/frame.py",
    "ocppfast._core._session_c": "ocppfast/_core/session.py",
    "ocppfast._core._dispatcher_c": "ocppfast/_core/dispatcher.py",
    "ocppfast._core._validator_c": "ocppfast/_core/validator.py",
    "ocppfast._core._wsframe_c": "ocppfast/_core/_wsframe_c.pyx",
}


class OptionalBuildExt(build_ext):
    """Let a failed compile fall back to pure Python, unless the build was told it must not."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # the compiler may be missing altogether
            self._give_up(exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc, ext.name)

    def _give_up(self, exc: Exception, name: str = "the extensions") -> None:
        if MODE == "yes":
            raise
        print(
            f"WARNING: could not compile {name} ({exc}); ocppfast will use its pure-Python core. "
            "Set OCPPFAST_BUILD_EXTENSIONS=yes to make this an error.",
            file=sys.stderr,
        )


def extensions() -> list:
    if MODE == "no":
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        if MODE == "yes":
            raise
        print("WARNING: Cython is not installed; installing the pure-Python core.", file=sys.stderr)
        return []
    exts = [
        Extension(name, [src], extra_compile_args=["-O3"] if os.name == "posix" else [])
        for name, src in EXTENSIONS.items()
    ]
    compiled = cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            # The .py twins' annotations are for mypy and readers; C types come from the .pxd.
            "annotation_typing": False,
        },
    )
    # cythonize() drops optional=; set it again on what it returns.
    for ext in compiled:
        ext.optional = MODE != "yes"
    return compiled


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
