# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Strict JSON scanner, compiled: the byte-walking twin of `jsonscan.py`.

Same contract as `jsonscan.scan` (read its docstring): one pass over UTF-8 bytes, an explicit
stack, no objects built except on rare paths (escaped keys, objects with many keys, errors).
Every decision point below has its counterpart in the Python twin, in the same order, so both
report the same first fault at the same offset.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.string cimport memcmp, memcpy

from .jsonscan import key_bytes
from . import types as _types
from .types import MAX_NUMBER_LENGTH, MAX_TOP_ELEMENTS, ScanError

# The fault kinds as C constants, equal to types.SCAN_* (checked below at import).
cdef enum:
    SCAN_UNEXPECTED = 1
    SCAN_BAD_ESCAPE = 2
    SCAN_LONE_SURROGATE = 3
    SCAN_CONTROL_CHARACTER = 4
    SCAN_NUMBER_TOO_LONG = 5
    SCAN_TOO_DEEP = 6
    SCAN_DUPLICATE_KEY = 7
    SCAN_TRAILING_DATA = 8

assert (
    _types.SCAN_UNEXPECTED, _types.SCAN_BAD_ESCAPE, _types.SCAN_LONE_SURROGATE,
    _types.SCAN_CONTROL_CHARACTER, _types.SCAN_NUMBER_TOO_LONG, _types.SCAN_TOO_DEEP,
    _types.SCAN_DUPLICATE_KEY, _types.SCAN_TRAILING_DATA,
) == (1, 2, 3, 4, 5, 6, 7, 8), "fault kinds out of step with types.py"

cdef Py_ssize_t _MAX_NUMBER_LENGTH = MAX_NUMBER_LENGTH
cdef Py_ssize_t _MAX_TOP_ELEMENTS = MAX_TOP_ELEMENTS
cdef enum:
    # Objects with up to this many keys are checked for duplicates pairwise in C; larger ones
    # switch to a set, so a hostile object with 100,000 keys costs linear time, not quadratic.
    PAIRWISE_KEYS = 16
    # Room on the C stack for the open containers and the keys of open objects. Real frames
    # never need more, so scanning one allocates nothing but its result; deeper or wider input
    # moves to the heap.
    INLINE_DEPTH = 72
    INLINE_KEYS = 64

cdef inline bint _is_ws(unsigned char c) noexcept nogil:
    return c == 0x20 or c == 0x09 or c == 0x0A or c == 0x0D

cdef inline Py_ssize_t _skip_ws(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    while i < n and _is_ws(p[i]):
        i += 1
    return i

cdef inline int _hex(unsigned char c) noexcept nogil:
    if 0x30 <= c <= 0x39:
        return c - 0x30
    if 0x61 <= c <= 0x66:
        return c - 0x61 + 10
    if 0x41 <= c <= 0x46:
        return c - 0x41 + 10
    return -1

cdef inline int _hex4(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The value of 4 hex digits at p[i:i+4], or -1."""
    cdef int v = 0, d, k
    if i + 4 > n:
        return -1
    for k in range(4):
        d = _hex(p[i + k])
        if d < 0:
            return -1
        v = v * 16 + d
    return v


cdef struct _Scan:
    const unsigned char* p
    Py_ssize_t n
    Py_ssize_t fault_offset
    int fault_kind
    bint escaped  # set by _string: the last string scanned had escapes


cdef inline Py_ssize_t _fail(_Scan* s, int kind, Py_ssize_t offset) noexcept nogil:
    s.fault_kind = kind
    s.fault_offset = offset
    return -1


cdef Py_ssize_t _string(_Scan* s, Py_ssize_t i) noexcept nogil:
    """Scan the string token at p[i] == '"'; return its end, or -1 with the fault set."""
    cdef const unsigned char* p = s.p
    cdef Py_ssize_t n = s.n
    cdef unsigned char c, e
    cdef int unit, low
    s.escaped = False
    i += 1
    while True:
        while i < n:
            c = p[i]
            if c == 0x22 or c == 0x5C or c < 0x20:
                break
            i += 1
        if i >= n:
            return _fail(s, SCAN_UNEXPECTED, n)
        if c == 0x22:
            return i + 1
        if c != 0x5C:
            return _fail(s, SCAN_CONTROL_CHARACTER, i)
        s.escaped = True
        if i + 1 >= n:
            return _fail(s, SCAN_BAD_ESCAPE, i)
        e = p[i + 1]
        if (e == 0x22 or e == 0x5C or e == 0x2F or e == 0x62 or e == 0x66 or e == 0x6E
                or e == 0x72 or e == 0x74):
            i += 2
            continue
        if e != 0x75:
            return _fail(s, SCAN_BAD_ESCAPE, i)
        unit = _hex4(p, i + 2, n)
        if unit < 0:
            return _fail(s, SCAN_BAD_ESCAPE, i)
        if 0xDC00 <= unit <= 0xDFFF:
            return _fail(s, SCAN_LONE_SURROGATE, i)
        if 0xD800 <= unit <= 0xDBFF:
            # A high surrogate must be followed at once by an escaped low surrogate.
            if i + 8 > n or p[i + 6] != 0x5C or p[i + 7] != 0x75:
                return _fail(s, SCAN_LONE_SURROGATE, i)
            low = _hex4(p, i + 8, n)
            if not (0xDC00 <= low <= 0xDFFF):
                return _fail(s, SCAN_LONE_SURROGATE, i)
            i += 12
        else:
            i += 6


cdef Py_ssize_t _number(_Scan* s, Py_ssize_t i) noexcept nogil:
    """Scan -?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)? at i, longest match, as the twin's
    regular expression does; return its end, or -1 with the fault set."""
    cdef const unsigned char* p = s.p
    cdef Py_ssize_t n = s.n, start = i, j
    if p[i] == 0x2D:
        i += 1
    if i >= n or not (0x30 <= p[i] <= 0x39):
        return _fail(s, SCAN_UNEXPECTED, start)
    if p[i] == 0x30:
        i += 1
    else:
        while i < n and 0x30 <= p[i] <= 0x39:
            i += 1
    if i + 1 < n and p[i] == 0x2E and 0x30 <= p[i + 1] <= 0x39:
        i += 2
        while i < n and 0x30 <= p[i] <= 0x39:
            i += 1
    if i < n and (p[i] == 0x65 or p[i] == 0x45):
        j = i + 1
        if j < n and (p[j] == 0x2B or p[j] == 0x2D):
            j += 1
        if j < n and 0x30 <= p[j] <= 0x39:
            while j < n and 0x30 <= p[j] <= 0x39:
                j += 1
            i = j
    if i - start > _MAX_NUMBER_LENGTH:
        return _fail(s, SCAN_NUMBER_TOO_LONG, start)
    return i


cdef struct _Key:
    Py_ssize_t start
    Py_ssize_t end
    bint escaped


# The keys of the open objects, innermost last, as the bounds of their string tokens.
cdef struct _Keys:
    _Key* items  # inline, or on the heap once it outgrew it
    Py_ssize_t size
    Py_ssize_t capacity
    _Key inline[INLINE_KEYS]


cdef int _keys_push(_Keys* keys, Py_ssize_t start, Py_ssize_t end, bint escaped) except -1:
    cdef _Key* grown
    if keys.size == keys.capacity:
        if keys.items == keys.inline:
            grown = <_Key*>PyMem_Malloc(2 * keys.capacity * sizeof(_Key))
            if grown:
                memcpy(grown, keys.items, keys.size * sizeof(_Key))
        else:
            grown = <_Key*>PyMem_Realloc(keys.items, 2 * keys.capacity * sizeof(_Key))
        if not grown:
            raise MemoryError()
        keys.items = grown
        keys.capacity *= 2
    keys.items[keys.size].start = start
    keys.items[keys.size].end = end
    keys.items[keys.size].escaped = escaped
    keys.size += 1
    return 0


cdef bint _same_key(bytes data, const unsigned char* p, _Key* other,
                    Py_ssize_t start, Py_ssize_t end, bint escaped) except -1:
    if not escaped and not other.escaped:
        return (other.end - other.start == end - start
                and memcmp(p + other.start, p + start, end - start) == 0)
    # Rare: compare unescaped values, as the twin does.
    return key_bytes(data, other.start, other.end, other.escaped) == key_bytes(
        data, start, end, escaped)


def scan(bytes data not None, Py_ssize_t max_depth):
    """Validate one strict JSON text; same contract as jsonscan.scan."""
    cdef _Scan s
    s.p = <const unsigned char*>PyBytes_AS_STRING(data)
    s.n = PyBytes_GET_SIZE(data)
    s.fault_kind = 0
    s.escaped = False
    cdef const unsigned char* p = s.p
    cdef Py_ssize_t n = s.n
    cdef Py_ssize_t pos = _skip_ws(p, 0, n)
    cdef int top = p[pos] if pos < n else -1
    cdef Py_ssize_t count = 0, element_start = 0, depth = 0
    cdef unsigned char c
    cdef list bounds = []
    # Per open container: 0 for an array, 1 for an object; for objects, the index of their first
    # key in `keys`, and (in `big`) a set once they outgrow the pairwise check. Every open
    # container took a byte of input, so at most min(max_depth, n) are open at once.
    cdef char is_object_inline[INLINE_DEPTH]
    cdef Py_ssize_t keys_from_inline[INLINE_DEPTH]
    cdef char* is_object = is_object_inline
    cdef Py_ssize_t* keys_from = keys_from_inline
    cdef Py_ssize_t slots = (max_depth if max_depth < n else n) + 1
    if slots > INLINE_DEPTH:
        is_object = <char*>PyMem_Malloc(slots)
        keys_from = <Py_ssize_t*>PyMem_Malloc(slots * sizeof(Py_ssize_t))
        if not is_object or not keys_from:
            PyMem_Free(is_object)
            PyMem_Free(keys_from)
            raise MemoryError()
    cdef _Keys keys
    keys.items = keys.inline
    keys.size = 0
    keys.capacity = INLINE_KEYS
    cdef dict big = {}
    try:
        while True:
            # ---- a value starts at pos
            if pos >= n:
                raise ScanError(SCAN_UNEXPECTED, n)
            if depth == 1 and not is_object[0]:
                element_start = pos
            c = p[pos]
            if c == 0x5B or c == 0x7B:
                if depth >= max_depth:
                    raise ScanError(SCAN_TOO_DEEP, pos)
                pos = _skip_ws(p, pos + 1, n)
                if c == 0x5B:
                    is_object[depth] = 0
                    depth += 1
                    if pos < n and p[pos] == 0x5D:
                        pos += 1
                        depth -= 1
                    else:
                        continue
                else:
                    is_object[depth] = 1
                    keys_from[depth] = keys.size
                    depth += 1
                    if pos < n and p[pos] == 0x7D:
                        pos += 1
                        depth -= 1
                    else:
                        pos = _key(data, &s, pos, &keys, keys_from[depth - 1], big, depth - 1)
                        continue
            elif c == 0x22:
                pos = _string(&s, pos)
                if pos < 0:
                    raise ScanError(s.fault_kind, s.fault_offset)
            elif c == 0x2D or 0x30 <= c <= 0x39:
                pos = _number(&s, pos)
                if pos < 0:
                    raise ScanError(s.fault_kind, s.fault_offset)
            elif c == 0x74 and pos + 4 <= n and memcmp(p + pos, b"true", 4) == 0:
                pos += 4
            elif c == 0x66 and pos + 5 <= n and memcmp(p + pos, b"false", 5) == 0:
                pos += 5
            elif c == 0x6E and pos + 4 <= n and memcmp(p + pos, b"null", 4) == 0:
                pos += 4
            else:
                raise ScanError(SCAN_UNEXPECTED, pos)

            # ---- after a value: close containers or move to the next element
            while True:
                if depth == 0:
                    pos = _skip_ws(p, pos, n)
                    if pos != n:
                        raise ScanError(SCAN_TRAILING_DATA, pos)
                    return top, count, bounds
                if depth == 1 and not is_object[0]:
                    if count < _MAX_TOP_ELEMENTS:
                        bounds.append(element_start)
                        bounds.append(pos)
                    count += 1
                pos = _skip_ws(p, pos, n)
                if pos >= n:
                    raise ScanError(SCAN_UNEXPECTED, n)
                c = p[pos]
                if c == 0x2C:
                    pos = _skip_ws(p, pos + 1, n)
                    if is_object[depth - 1]:
                        pos = _key(data, &s, pos, &keys, keys_from[depth - 1], big, depth - 1)
                    break
                if c == (0x7D if is_object[depth - 1] else 0x5D):
                    pos += 1
                    depth -= 1
                    if is_object[depth]:
                        keys.size = keys_from[depth]
                        if big:
                            big.pop(depth, None)
                    continue
                raise ScanError(SCAN_UNEXPECTED, pos)
    finally:
        if is_object != is_object_inline:
            PyMem_Free(is_object)
            PyMem_Free(keys_from)
        if keys.items != keys.inline:
            PyMem_Free(keys.items)


cdef Py_ssize_t _key(bytes data, _Scan* s, Py_ssize_t pos, _Keys* keys, Py_ssize_t first,
                     dict big, Py_ssize_t level) except -2:
    """Scan `"key" :` at pos inside an object; return where its value starts."""
    cdef const unsigned char* p = s.p
    cdef Py_ssize_t n = s.n, end, k
    cdef bint escaped
    cdef set key_set
    cdef bytes key
    if pos >= n or p[pos] != 0x22:
        raise ScanError(SCAN_UNEXPECTED, pos)
    end = _string(s, pos)
    if end < 0:
        raise ScanError(s.fault_kind, s.fault_offset)
    escaped = s.escaped
    if keys.size - first < PAIRWISE_KEYS:
        for k in range(first, keys.size):
            if _same_key(data, p, &keys.items[k], pos, end, escaped):
                raise ScanError(SCAN_DUPLICATE_KEY, pos)
    else:
        key_set = big.get(level)
        if key_set is None:
            key_set = {key_bytes(data, keys.items[k].start, keys.items[k].end,
                                 keys.items[k].escaped)
                       for k in range(first, keys.size)}
            big[level] = key_set
        key = key_bytes(data, pos, end, escaped)
        if key in key_set:
            raise ScanError(SCAN_DUPLICATE_KEY, pos)
        key_set.add(key)
    _keys_push(keys, pos, end, escaped)
    pos = _skip_ws(p, end, n)
    if pos >= n or p[pos] != 0x3A:
        raise ScanError(SCAN_UNEXPECTED, pos)
    return _skip_ws(p, pos + 1, n)
