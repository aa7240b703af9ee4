# C declarations for session.py when compiled as ocppfast._core._session_c.

from ocppfast._core._dispatcher_c cimport Dispatcher
from ocppfast._core._validator_c cimport Validator


cdef class PendingCall:
    cdef public str message_id
    cdef public str action
    cdef public bytes frame
    cdef public double timeout
    cdef public double deadline


cdef class Session:
    cdef public str version
    cdef public double call_timeout
    cdef public Py_ssize_t max_frame_bytes
    cdef public Py_ssize_t max_depth
    cdef public bint closed
    cdef public Validator validator
    cdef public Dispatcher dispatcher
    cdef str _id_prefix
    cdef Py_ssize_t _counter
    cdef list _outbox
    cdef PendingCall _outstanding
    cdef object _queue
    cdef dict _handling
    cdef object _timed_out

    cdef str _new_id(self)
    cdef str _not_a(self, str action, str kind)
    cpdef str call(self, str action, object payload, double now, object timeout=*)
    cpdef str send(self, str action, object payload)
    cpdef respond(self, str message_id, object payload)
    cpdef respond_error(self, str message_id, object error)
    cpdef reject_result(self, str message_id, object error)
    cpdef list data_to_send(self)
    cpdef list receive(self, object data, double now)
    cpdef list expire(self, double now)
    cdef _start(self, PendingCall pending, double now)
    cdef _finish(self, double now)
    cdef PendingCall _match(self, str message_id)
    cdef _expire(self, double now, list events)
    cdef _dispatch(self, object call, list events)
    cdef _completed(self, PendingCall pending, bytes payload, list events)
    cdef str _done_handling(self, str message_id)
