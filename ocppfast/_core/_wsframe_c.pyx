# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""WebSocket data frames, compiled: the twin of `wsframe.py` (read its docstrings).

Every decision below has its counterpart in the Python twin, in the same order, so both give
the same result for every input; masking works on eight bytes at a time.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

__all__ = ["read_data_frame", "text_frame", "unmask"]

cdef enum:
    FIN_TEXT = 0x81
    FIN_BINARY = 0x82
    MASK_BIT = 0x80


cdef void _xor(unsigned char* dst, const unsigned char* src, Py_ssize_t size,
               const unsigned char* mask) noexcept:
    cdef uint32_t key32
    cdef uint64_t key64, chunk
    cdef Py_ssize_t i = 0
    memcpy(&key32, mask, 4)
    # The mask repeated over eight bytes, in memory order whatever the byte order: each step
    # starts at a multiple of four, where the mask starts again.
    key64 = (<uint64_t>key32 << 32) | key32
    while i + 8 <= size:
        memcpy(&chunk, src + i, 8)
        chunk ^= key64
        memcpy(dst + i, &chunk, 8)
        i += 8
    while i < size:
        dst[i] = src[i] ^ mask[i & 3]
        i += 1


cdef bytes _masked(const unsigned char* src, Py_ssize_t size, const unsigned char* mask):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    _xor(<unsigned char*>PyBytes_AS_STRING(out), src, size, mask)
    return out


def unmask(bytes data, bytes mask):
    if PyBytes_GET_SIZE(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    return _masked(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                   <const unsigned char*>PyBytes_AS_STRING(mask))


def read_data_frame(bytes data, Py_ssize_t pos, bint masked, Py_ssize_t limit):
    cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t start, end, i
    cdef unsigned char head, second
    cdef uint64_t length
    if pos < 0 or size - pos < 2:
        return None
    head = buf[pos]
    if head != FIN_TEXT and head != FIN_BINARY:
        return None
    second = buf[pos + 1]
    if ((second & MASK_BIT) != 0) != masked:
        return None
    length = second & 0x7F
    start = pos + 2
    if length == 126:
        if size - start < 2:
            return None
        length = (<uint64_t>buf[start] << 8) | buf[start + 1]
        start += 2
    elif length == 127:
        if size - start < 8:
            return None
        length = 0
        for i in range(8):
            length = (length << 8) | buf[start + i]
        start += 8
    if limit < 0 or length > <uint64_t>limit:
        return None
    if masked:
        if <uint64_t>(size - start) < 4 + length:
            return None
        end = start + 4 + <Py_ssize_t>length
        return _masked(buf + start + 4, <Py_ssize_t>length, buf + start), end
    if <uint64_t>(size - start) < length:
        return None
    end = start + <Py_ssize_t>length
    return PyBytes_FromStringAndSize(<const char*>buf + start, end - start), end


def text_frame(bytes payload, bytes mask=None):
    cdef Py_ssize_t size = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t header_size, i
    cdef unsigned char mask_bit = 0 if mask is None else MASK_BIT
    cdef bytes out
    cdef unsigned char* dst
    if mask is not None and PyBytes_GET_SIZE(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    header_size = 2 if size < 126 else (4 if size < 65536 else 10)
    if mask is not None:
        header_size += 4
    out = PyBytes_FromStringAndSize(NULL, header_size + size)
    dst = <unsigned char*>PyBytes_AS_STRING(out)
    dst[0] = FIN_TEXT
    if size < 126:
        dst[1] = mask_bit | <unsigned char>size
        i = 2
    elif size < 65536:
        dst[1] = mask_bit | 126
        dst[2] = <unsigned char>(size >> 8)
        dst[3] = <unsigned char>(size & 0xFF)
        i = 4
    else:
        dst[1] = mask_bit | 127
        for i in range(8):
            dst[2 + i] = <unsigned char>((<uint64_t>size >> (8 * (7 - i))) & 0xFF)
        i = 10
    if mask is None:
        memcpy(dst + i, PyBytes_AS_STRING(payload), size)
        return out
    memcpy(dst + i, PyBytes_AS_STRING(mask), 4)
    _xor(dst + i + 4, <const unsigned char*>PyBytes_AS_STRING(payload), size,
         <const unsigned char*>PyBytes_AS_STRING(mask))
    return out
