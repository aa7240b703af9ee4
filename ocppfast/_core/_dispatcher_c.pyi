# The compiled twin of dispatcher.py has the same API; type checkers read the twin.
from .dispatcher import *  # noqa: F403
