# The compiled twin of frame.py has the same API; type checkers read the twin.
from .frame import *  # noqa: F403
