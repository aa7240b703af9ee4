# C declarations for validator.py when compiled as ocppfast._core._validator_c.

cdef class Validator:
    cdef public str version
    cdef public object quirks
    cdef public bint check_outgoing
    cdef dict _requests
    cdef dict _responses
    cdef dict _request_decoders
    cdef dict _response_decoders
    cdef public dict tolerated
    cdef list _new_tolerated

    cpdef object decode_request(self, str action, object payload)
    cpdef object decode_response(self, str action, object payload)
    cpdef bint has_response(self, str action)
    cdef object _no_response(self, str action)
    cpdef bytes encode_request(self, str action, object message)
    cpdef bytes encode_response(self, str action, object message)
