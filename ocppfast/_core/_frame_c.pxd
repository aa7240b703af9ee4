cimport cython

# C declarations for frame.py when compiled as ocppfast._core._frame_c (Cython pure-Python mode).

cdef object _string(bytes data, Py_ssize_t start, Py_ssize_t end)
cdef bytes _to_bytes(object data, str version, Py_ssize_t max_size)
cdef bytes _payload(bytes buf, Py_ssize_t start, Py_ssize_t end, str fault_code, str message_id,
                    Py_ssize_t message_type)

@cython.locals(buf=bytes, count=Py_ssize_t, b=list, first=int, message_id=object, action=object)
cpdef object decode_frame(object data, str version, Py_ssize_t max_size=*, Py_ssize_t max_depth=*)
cpdef bytes encode_call(str message_id, str action, object payload)
cpdef bytes encode_call_result(str message_id, object payload)
cpdef bytes encode_send(str message_id, str action, object payload)
cpdef bytes encode_call_error(str message_id, str code, str description=*, object details=*,
                              int message_type=*)
