# The compiled twin of validator.py has the same API; type checkers read the twin.
from .validator import *  # noqa: F403
