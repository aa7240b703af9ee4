# The compiled twin of session.py has the same API; type checkers read the twin.
from .session import *  # noqa: F403
