"""Stand-in for the `cython` module where Cython is not installed.

The core's .py modules say `import cython` to branch on `cython.compiled`; compiled, Cython
resolves that at build time, and in pure Python it needs a module. Cython is a build dependency
only, so an installation without it (a wheel, or OCPPFAST_BUILD_EXTENSIONS=no) falls back here.
"""

compiled = False
