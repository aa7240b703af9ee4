# The compiled twin of wsframe.py has the same API; type checkers read the twin.
from .wsframe import *  # noqa: F403
