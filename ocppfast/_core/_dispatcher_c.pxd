# C declarations for dispatcher.py when compiled as ocppfast._core._dispatcher_c.

from ocppfast._core._validator_c cimport Validator


cdef class Dispatcher:
    cdef public str version
    cdef public str role
    cdef public Validator validator
    cdef frozenset _incoming_calls
    cdef frozenset _incoming_sends
    cdef frozenset _known
    cdef dict _handlers
    cdef object _owner
    cdef bint _copied

    cdef _check(self, str action)

    cpdef object dispatch(self, object message)
