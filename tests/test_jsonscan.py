"""The strict JSON scanner, `scan(data, max_depth)`, on both backends.

The scanner is what makes "the whole message MUST be valid JSON encoded with UTF-8" (J16 4.1.2,
J201 4.1.2, J21 4.1.2) hold: RFC 8259 grammar, plus the limits a frame must never exceed. Each
fault is reported as (kind, byte offset) of the first fault, left to right; the compiled and the
pure scanner must agree on both, so every test here runs on both (the `core` fixture).
"""

from __future__ import annotations

import pytest

from ocppfast._core import Backend
from ocppfast._core.types import (
    MAX_NUMBER_LENGTH,
    MAX_TOP_ELEMENTS,
    SCAN_BAD_ESCAPE,
    SCAN_CONTROL_CHARACTER,
    SCAN_DUPLICATE_KEY,
    SCAN_FAULTS,
    SCAN_LONE_SURROGATE,
    SCAN_NUMBER_TOO_LONG,
    SCAN_TOO_DEEP,
    SCAN_TRAILING_DATA,
    SCAN_UNEXPECTED,
    ScanError,
)

DEPTH = 64  # the frame codec's default; plenty for every text below
MB10 = 10 * 1024 * 1024

ScanResult = tuple[int, int, list[int]]


def ok(core: Backend, data: bytes, max_depth: int = DEPTH) -> ScanResult:
    result: ScanResult = core.jsonscan.scan(data, max_depth)
    return result


def fault(core: Backend, data: bytes, max_depth: int = DEPTH) -> tuple[int, int]:
    """(kind, offset) of the ScanError that scanning `data` raises."""
    with pytest.raises(ScanError) as info:
        core.jsonscan.scan(data, max_depth)
    return info.value.kind, info.value.offset


# --------------------------------------------------------------------------------------------
# Accepted texts and what scan() returns for them


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # J16 4.2.1 example shape: [<MessageTypeId>, "<UniqueId>", "<Action>", {<Payload>}]
        (b'[2,"id","Heartbeat",{}]', (0x5B, 4, [1, 2, 3, 7, 8, 19, 20, 22])),
        # RFC 8259 2: insignificant whitespace around any structural character
        (b" \t\r\n[ 1 , 2 ]\n", (0x5B, 2, [6, 7, 10, 11])),
        (b"[]", (0x5B, 0, [])),
        (b"[ ]", (0x5B, 0, [])),
        (b"[[]]", (0x5B, 1, [1, 3])),
        (b'[[1,[2]],{"a":[3]},"s"]', (0x5B, 3, [1, 8, 9, 18, 19, 22])),
        (b'[{},[],"",0,true,false,null]', (0x5B, 7, [1, 3, 4, 6, 7, 9, 10, 11, 12, 16, 17, 22])),
        # RFC 8259 2: any value may be the top-level value; only arrays get bounds
        (b"{}", (0x7B, 0, [])),
        (b'{"a":[1,2,3]}', (0x7B, 0, [])),
        (b'"x"', (0x22, 0, [])),
        (b"-0.5e+10", (0x2D, 0, [])),
        (b"0", (0x30, 0, [])),
        (b"true", (0x74, 0, [])),
        (b"false", (0x66, 0, [])),
        (b" null ", (0x6E, 0, [])),
    ],
)
def test_accepted_texts_rfc8259_2(core: Backend, data: bytes, expected: ScanResult) -> None:
    """RFC 8259 2: a JSON text is one value; scan returns (first byte, element count, bounds)."""
    assert ok(core, data) == expected


def test_bounds_cover_only_the_first_max_top_elements_rfc8259_5(core: Backend) -> None:
    """RFC 8259 5 (arrays): all elements are counted, bounds kept for the first 6 only."""
    assert MAX_TOP_ELEMENTS == 6
    assert ok(core, b"[0,1,2,3,4,5,6,7]") == (0x5B, 8, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    data = b"[" + b",".join(b"%d" % i for i in range(1000)) + b"]"
    top, count, bounds = ok(core, data)
    assert (top, count, len(bounds)) == (0x5B, 1000, 12)


def test_bounds_slice_out_each_element_j16_4_2_3(core: Backend) -> None:
    """J16 4.2.3 / J201 4.2.3: a CALLERROR has 5 elements; bounds slice each one exactly."""
    data = b'[ 4 , "id-1" , "GenericError" , "it \\"broke\\"" , {"k": [1, {"x": null}]} ]'
    top, count, bounds = ok(core, data)
    assert (top, count) == (0x5B, 5)
    parts = [data[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
    assert parts == [
        b"4",
        b'"id-1"',
        b'"GenericError"',
        b'"it \\"broke\\""',
        b'{"k": [1, {"x": null}]}',
    ]


@pytest.mark.parametrize(
    "data",
    [
        b'["\\"\\\\\\/\\b\\f\\n\\r\\t"]',  # every two-character escape
        b'["\\u0000\\u001f\\u00e9\\uFFFF\\uffff"]',  # \u escapes, either case
        b'["\\uD83D\\uDE00", "\\ud800\\udc00", "\\udbff\\udfff"]',  # surrogate pairs
        '["é😀", {"ключ": "значение"}]'.encode(),  # raw UTF-8
        b'["\x7f"]',  # DEL is not a control character in RFC 8259 7
        b'["' + bytes(range(0x80, 0x100)) + b'"]',  # bytes >= 0x80 are passed through
        b'["a\\/b", "/", "\'"]',
    ],
)
def test_strings_rfc8259_7(core: Backend, data: bytes) -> None:
    """RFC 8259 7: escapes, surrogate pairs, raw non-ASCII bytes are accepted in strings."""
    top, count, _ = ok(core, data)
    assert top == 0x5B
    assert count >= 1


@pytest.mark.parametrize(
    "data",
    [
        b"[0,-0,1,-1,0.5,-0.5,1.25e3,1E3,1e+3,1e-3,0e0,-0.0E-0,123456789012345678]",
        b"[1.7976931348623157e308,5e-324,-1.7976931348623157E+308]",
    ],
)
def test_numbers_rfc8259_6(core: Backend, data: bytes) -> None:
    """RFC 8259 6: the number grammar -?int frac? exp? is accepted in all its forms."""
    assert ok(core, data)[0] == 0x5B


# --------------------------------------------------------------------------------------------
# SCAN_UNEXPECTED, including the end of input (offset len(data))


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),
        (b"   ", 3),
        (b"[", 1),
        (b"[1,2", 4),
        (b"[1,", 3),
        (b"[1 ", 3),
        (b"{", 1),
        (b'{"a"', 4),
        (b'{"a":', 5),
        (b'{"a":1', 6),
        (b'"abc', 4),  # unterminated string: the fault is the end of input
        (b'["abc', 5),
        (b"tr", 0),
        (b"[1 2]", 3),
        (b'{"a" 1}', 5),
        (b'{"a"=1}', 4),
        (b"{1:2}", 1),
        (b"{a:1}", 1),
        (b"[,1]", 1),
        (b"[1}", 2),
        (b'{"a":1]', 6),
        (b"['a']", 1),
        (b"[undefined]", 1),
        (b"]", 0),
        (b"}", 0),
        (b":", 0),
    ],
)
def test_unexpected_rfc8259_2(core: Backend, data: bytes, offset: int) -> None:
    """RFC 8259 2: anything the grammar does not allow at that point; the end of input counts
    as a fault at offset len(data)."""
    assert fault(core, data) == (SCAN_UNEXPECTED, offset)


# --------------------------------------------------------------------------------------------
# RFC 8259 grammar corners


@pytest.mark.parametrize(
    ("data", "kind", "offset"),
    [
        (b"[01]", SCAN_UNEXPECTED, 2),  # RFC 8259 6: leading zeros are not allowed
        (b"[-01]", SCAN_UNEXPECTED, 3),
        (b"[00]", SCAN_UNEXPECTED, 2),
        (b"01", SCAN_TRAILING_DATA, 1),
        (b"[1.]", SCAN_UNEXPECTED, 2),  # a fraction needs a digit
        (b"1.", SCAN_TRAILING_DATA, 1),
        (b"[.5]", SCAN_UNEXPECTED, 1),  # ... and an integer part
        (b"[1e]", SCAN_UNEXPECTED, 2),  # an exponent needs a digit
        (b"[1e+]", SCAN_UNEXPECTED, 2),
        (b"[1.5E]", SCAN_UNEXPECTED, 4),
        (b"[-]", SCAN_UNEXPECTED, 1),
        (b"-", SCAN_UNEXPECTED, 0),
        (b"[- 1]", SCAN_UNEXPECTED, 1),
        (b"[+1]", SCAN_UNEXPECTED, 1),  # no plus sign
        (b"[0x10]", SCAN_UNEXPECTED, 2),
        (b"[1_000]", SCAN_UNEXPECTED, 2),
        (b"[NaN]", SCAN_UNEXPECTED, 1),  # RFC 8259 6: NaN and Infinity are not permitted
        (b"NaN", SCAN_UNEXPECTED, 0),
        (b"[Infinity]", SCAN_UNEXPECTED, 1),
        (b"[-Infinity]", SCAN_UNEXPECTED, 1),
        (b'{"v":-Infinity}', SCAN_UNEXPECTED, 5),
        (b"[tru]", SCAN_UNEXPECTED, 1),  # RFC 8259 3: literals are lowercase and whole
        (b"tru", SCAN_UNEXPECTED, 0),
        (b"[nul]", SCAN_UNEXPECTED, 1),
        (b"[fals]", SCAN_UNEXPECTED, 1),
        (b"[True]", SCAN_UNEXPECTED, 1),
        (b"[NULL]", SCAN_UNEXPECTED, 1),
        (b"truex", SCAN_TRAILING_DATA, 4),
        (b"[truex]", SCAN_UNEXPECTED, 5),
        (b"[1,]", SCAN_UNEXPECTED, 3),  # RFC 8259 5: no trailing comma
        (b"[1,2,]", SCAN_UNEXPECTED, 5),
        (b'{"a":1,}', SCAN_UNEXPECTED, 7),  # RFC 8259 4
        (b"[1,,2]", SCAN_UNEXPECTED, 3),
    ],
)
def test_grammar_corners_rfc8259_3_to_6(core: Backend, data: bytes, kind: int, offset: int) -> None:
    """RFC 8259 3-6: leading zeros, bare '.', empty exponent, signs, NaN/Infinity, partial
    literals and trailing commas are all rejected."""
    assert fault(core, data) == (kind, offset)


@pytest.mark.parametrize(
    ("data", "kind", "offset"),
    [
        (b"[1,\x0b2]", SCAN_UNEXPECTED, 3),  # vertical tab
        (b"\x0c[]", SCAN_UNEXPECTED, 0),  # form feed
        (b"[\xc2\xa01]", SCAN_UNEXPECTED, 1),  # U+00A0 NO-BREAK SPACE
        (b"\xef\xbb\xbf[]", SCAN_UNEXPECTED, 0),  # a byte order mark is not whitespace
        (b"[1]\x0b", SCAN_TRAILING_DATA, 3),
        (b"[1]\x00", SCAN_TRAILING_DATA, 3),
        (b'{"a"\x0c:1}', SCAN_UNEXPECTED, 4),
    ],
)
def test_whitespace_is_only_space_tab_lf_cr_rfc8259_2(
    core: Backend, data: bytes, kind: int, offset: int
) -> None:
    """RFC 8259 2: ws = space / horizontal tab / line feed / carriage return, nothing else."""
    assert fault(core, data) == (kind, offset)


def test_all_four_whitespace_characters_anywhere_rfc8259_2(core: Backend) -> None:
    """RFC 8259 2: whitespace is allowed before or after any of the six structural characters."""
    ws = b" \t\n\r"
    data = ws.join([b"", b"[", b"1", b",", b"{", b'"a"', b":", b"[", b"]", b"}", b"]", b""])
    assert ok(core, data) == (0x5B, 2, [9, 10, 19, 47])


# --------------------------------------------------------------------------------------------
# SCAN_BAD_ESCAPE, SCAN_LONE_SURROGATE, SCAN_CONTROL_CHARACTER: offset of the backslash / byte


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b'"\\x"', 1),
        (b'"\\a"', 1),
        (b'"\\0"', 1),
        (b'"\\\'"', 1),
        (b'"\\U0041"', 1),  # \U is not \u
        (b'"\\u12G4"', 1),
        (b'"\\u12"', 1),  # too few hex digits before the quote
        (b'"\\u"', 1),
        (b'"\\', 1),  # a backslash at the very end of input
        (b'"abc\\', 4),
        (b'["ok", "\\0"]', 8),
        (b'{"k\\q":1}', 3),
    ],
)
def test_bad_escape_rfc8259_7(core: Backend, data: bytes, offset: int) -> None:
    """RFC 8259 7: only \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX are escapes."""
    assert fault(core, data) == (SCAN_BAD_ESCAPE, offset)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b'"\\ud800"', 1),  # lone high surrogate
        (b'"\\uDBFF"', 1),
        (b'"\\udc00"', 1),  # lone low surrogate
        (b'"\\uDFFF"', 1),
        (b'"x\\udc00\\ud800"', 2),  # a low before a high is not a pair
        (b'"\\ud800\\u0041"', 1),  # high followed by a non-surrogate escape
        (b'"\\ud800\\ud800"', 1),  # high followed by another high
        (b'"\\ud800x"', 1),  # high followed by a plain character
        (b'"\\ud800\\n"', 1),  # high followed by another escape
        (b'"\\ud800\\"', 1),  # high followed by an escaped quote
        (b'"\\ud800', 1),  # high at the end of input
        (b'"\\ud800\\u"', 1),
        (b'"\\ud800\\udc0"', 1),  # low surrogate escape cut short
        (b'"ab\\uD83D"', 3),
        (b'["ok","\\ud83d\\ude00","\\ude00"]', 22),
        (b'{"\\udc00":1}', 2),
    ],
)
def test_lone_surrogate_rfc8259_8_2(core: Backend, data: bytes, offset: int) -> None:
    """RFC 8259 8.2: escapes of unpaired UTF-16 surrogates are refused (they cannot become
    UTF-8, J16 4.1.2); the offset is the backslash of the offending escape."""
    assert fault(core, data) == (SCAN_LONE_SURROGATE, offset)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b'"a\x00"', 2),
        (b'"\tb"', 1),
        (b'"a\nb"', 2),
        (b'"a\rb"', 2),
        (b'"\x1f"', 1),
        (b'["ok", "x\x01"]', 9),
        (b'{"k\x01":1}', 3),
        (b'"\\n\x08"', 3),  # after an escape
    ],
)
def test_control_character_rfc8259_7(core: Backend, data: bytes, offset: int) -> None:
    """RFC 8259 7: U+0000 through U+001F must be escaped inside strings."""
    assert fault(core, data) == (SCAN_CONTROL_CHARACTER, offset)


# --------------------------------------------------------------------------------------------
# SCAN_NUMBER_TOO_LONG


def test_number_length_limit_is_64_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9 (implementations may limit the range and precision of numbers): a literal of
    MAX_NUMBER_LENGTH=64 characters is accepted, 65 is refused at the literal's first byte."""
    assert MAX_NUMBER_LENGTH == 64
    for literal in (b"1" * 64, b"-" + b"1" * 63, b"0." + b"1" * 62, b"1e" + b"1" * 62):
        assert len(literal) == 64
        assert ok(core, literal) == (literal[0], 0, [])
        assert ok(core, b"[" + literal + b"]") == (0x5B, 1, [1, 65])
    for literal in (b"1" * 65, b"-" + b"1" * 64, b"0." + b"1" * 63, b"1e" + b"1" * 63):
        assert len(literal) == 65
        assert fault(core, literal) == (SCAN_NUMBER_TOO_LONG, 0)
        assert fault(core, b'[1,"x",' + literal + b"]") == (SCAN_NUMBER_TOO_LONG, 7)
        assert fault(core, b'{"n": ' + literal + b"}") == (SCAN_NUMBER_TOO_LONG, 6)


def test_5000_digit_integer_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: a 5,000-digit integer (a decoder attack) is refused, not converted."""
    assert fault(core, b"9" * 5000) == (SCAN_NUMBER_TOO_LONG, 0)
    assert fault(core, b'[2,"id","A",{"n":' + b"9" * 5000 + b"}]") == (SCAN_NUMBER_TOO_LONG, 17)
    assert fault(core, b"[-" + b"1" * 5000 + b"]") == (SCAN_NUMBER_TOO_LONG, 1)


def test_number_too_long_comes_after_earlier_faults_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: faults are reported left to right; an earlier fault wins."""
    assert fault(core, b'["\\x", ' + b"1" * 100 + b"]") == (SCAN_BAD_ESCAPE, 2)
    assert fault(core, b"[" + b"1" * 100 + b', "\\x"]') == (SCAN_NUMBER_TOO_LONG, 1)


# --------------------------------------------------------------------------------------------
# SCAN_TOO_DEEP


@pytest.mark.parametrize("depth", [1, 2, 10, 64, 200])
def test_max_depth_exactly_is_accepted_rfc8259_9(core: Backend, depth: int) -> None:
    """RFC 8259 9 (an implementation may limit nesting depth): max_depth levels are accepted,
    one more is refused at the opening bracket that exceeds it."""
    arrays = b"[" * depth + b"]" * depth
    assert ok(core, arrays, depth)[:2] == (0x5B, 1 if depth > 1 else 0)
    deeper = b"[" * (depth + 1) + b"]" * (depth + 1)
    assert fault(core, deeper, depth) == (SCAN_TOO_DEEP, depth)
    objects = b'{"a":' * depth + b"1" + b"}" * depth
    assert ok(core, objects, depth) == (0x7B, 0, [])
    deeper = b'{"a":' * (depth + 1) + b"1" + b"}" * (depth + 1)
    assert fault(core, deeper, depth) == (SCAN_TOO_DEEP, 5 * depth)
    mixed = b'[{"a":' * depth + b"1" + b"}]" * depth
    assert fault(core, mixed, 2 * depth - 1) == (SCAN_TOO_DEEP, 6 * (depth - 1) + 1)
    assert ok(core, mixed, 2 * depth)[0] == 0x5B


def test_depth_counts_nesting_not_containers_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: depth is nesting depth; many sibling containers at one level are fine, and
    a closed container frees its level."""
    assert ok(core, b"[" + b",".join([b"[]"] * 1000) + b"]", 2)[1] == 1000
    assert ok(core, b'[[1],{"a":2},[3]]', 2) == (0x5B, 3, [1, 4, 5, 12, 13, 16])
    assert fault(core, b"[[1],[[2]]]", 2) == (SCAN_TOO_DEEP, 6)


def test_max_depth_zero_allows_only_scalars_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: with max_depth 0 any container is too deep; a scalar is still fine."""
    assert ok(core, b"1", 0) == (0x31, 0, [])
    assert ok(core, b'"s"', 0) == (0x22, 0, [])
    assert fault(core, b"[]", 0) == (SCAN_TOO_DEEP, 0)
    assert fault(core, b" {}", 0) == (SCAN_TOO_DEEP, 1)


def test_unusual_max_depth_values_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: a negative max_depth refuses every container, a huge one limits nothing;
    neither makes the scanner fail otherwise (both backends alike)."""
    assert ok(core, b"1", -5) == (0x31, 0, [])
    assert fault(core, b"[1]", -5) == (SCAN_TOO_DEEP, 0)
    assert ok(core, b"[[1]]", 2**62) == (0x5B, 1, [1, 4])


# --------------------------------------------------------------------------------------------
# SCAN_DUPLICATE_KEY


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b'{"a":1,"a":2}', 7),
        (b'{"a":1,"b":2,"a":3}', 13),
        (b'{"a":1,"\\u0061":2}', 7),  # compared after unescaping
        (b'{"\\u0061":1,"a":2}', 12),
        (b'{"\\u0061":1,"\\u0061":2}', 12),
        (b'{"\\u0061":1,"\\u0041":2,"\\u0061":3}', 23),
        ('{"\\u00e9":1,"é":2}'.encode(), 12),
        ('{"😀":1,"\\ud83d\\ude00":2}'.encode(), 10),
        (b'{"\\ud83d\\ude00":1,"\\uD83D\\uDE00":2}', 18),
        (b'{"a/b":1,"a\\/b":2}', 9),
        (b'{"\\n":1,"\\u000a":2}', 8),
        (b'{"":1,"":2}', 6),
        (b'{"a":{"b":1,"b":2}}', 12),  # inside a nested object
        (b'{"a":{"b":1},"a":2}', 13),  # after a nested object closed
        (b'[{"x":[{"y":1,"y":2}]}]', 14),
        (b'{"a":1, "a" :2}', 8),
    ],
)
def test_duplicate_key_rfc8259_4(core: Backend, data: bytes, offset: int) -> None:
    """RFC 8259 4: names within an object SHOULD be unique; a frame's objects MUST be, and
    keys are compared by their unescaped value. The offset is the repeated key's quote."""
    assert fault(core, data) == (SCAN_DUPLICATE_KEY, offset)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":{"a":1},"b":{"a":2}}',
        b'[{"a":1},{"a":2}]',
        b'{"a":{"b":1},"b":2}',
        b'{"a":1,"A":2,"a ":3," a":4}',
        b'{"\\u0061":1,"\\u0062":2}',
        b'{"\\ud83d\\ude00":1,"\\ud83d\\ude01":2}',
        b'{"a":[{"a":{"a":null}}]}',
    ],
)
def test_equal_keys_in_different_objects_are_fine_rfc8259_4(core: Backend, data: bytes) -> None:
    """RFC 8259 4: uniqueness is per object; the same name in another object is no duplicate."""
    assert ok(core, data)[0] in (0x5B, 0x7B)


def _big_object(keys: list[bytes]) -> bytes:
    return b"{" + b",".join(b'"%s":%d' % (k, i) for i, k in enumerate(keys)) + b"}"


def test_duplicate_after_1000_keys_rfc8259_4(core: Backend) -> None:
    """RFC 8259 4: in an object with 1,000 keys (past the compiled scanner's switch from
    pairwise checks to a set at 16 keys), a duplicate at the end is found, by raw or by escaped
    spelling, and nothing is found when there is none."""
    keys = [b"k%d" % i for i in range(1000)]
    assert ok(core, _big_object(keys)) == (0x7B, 0, [])
    for dup in (b"k0", b"k15", b"k16", b"k500", b"k999", b"\\u006b5", b"k\\u0039"):
        data = _big_object([*keys, dup])
        assert fault(core, data) == (SCAN_DUPLICATE_KEY, data.rindex(b'"' + dup + b'"'))
    # The first 16 keys escaped: the set built at the switch must hold them unescaped.
    escaped = [b"\\u006b%d" % i for i in range(16)] + keys[16:]
    assert ok(core, _big_object(escaped)) == (0x7B, 0, [])
    data = _big_object([*escaped, b"k3"])
    assert fault(core, data) == (SCAN_DUPLICATE_KEY, data.rindex(b'"k3"'))


@pytest.mark.parametrize("size", [15, 16, 17, 18, 33])
def test_duplicate_around_the_pairwise_switch_rfc8259_4(core: Backend, size: int) -> None:
    """RFC 8259 4: a duplicate of the first or last key is found whatever the object's size."""
    keys = [b"k%d" % i for i in range(size)]
    for dup in (keys[0], keys[-1]):
        data = _big_object([*keys, dup])
        assert fault(core, data) == (SCAN_DUPLICATE_KEY, data.rindex(b'"' + dup + b'"'))


def test_big_objects_at_the_same_level_do_not_share_keys_rfc8259_4(core: Backend) -> None:
    """RFC 8259 4: two large sibling objects with the same 1,000 keys are both fine, and the
    keys of a large inner object do not leak into its parent."""
    inner = _big_object([b"k%d" % i for i in range(1000)])
    assert ok(core, b"[" + inner + b"," + inner + b"]")[1] == 2
    assert ok(core, b'{"a":' + inner + b',"b":' + inner + b"}") == (0x7B, 0, [])
    assert ok(core, b'{"x":' + inner + b',"k0":1,"k1":2}') == (0x7B, 0, [])
    # A large parent with a large child in the middle: the parent's own keys still count.
    outer_keys = [b"o%d" % i for i in range(40)]
    data = (
        b"{"
        + b",".join(b'"%s":1' % k for k in outer_keys[:20])
        + b',"child":'
        + inner
        + b","
        + b",".join(b'"%s":1' % k for k in outer_keys[20:])
        + b',"o7":1}'
    )
    assert fault(core, data) == (SCAN_DUPLICATE_KEY, data.rindex(b'"o7"'))
    data = data.replace(b'"child"', b'"o39"')
    assert fault(core, data) == (SCAN_DUPLICATE_KEY, data.rindex(b'"o39"'))


def test_100000_keys_with_a_duplicate_at_the_end_rfc8259_4(core: Backend) -> None:
    """RFC 8259 4: a hostile object with 100,000 keys is checked (in linear time)."""
    keys = [b"%d" % i for i in range(100_000)]
    data = _big_object([*keys, b"99999"])
    assert fault(core, data) == (SCAN_DUPLICATE_KEY, data.rindex(b'"99999"'))


# --------------------------------------------------------------------------------------------
# SCAN_TRAILING_DATA


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"1 2", 2),
        (b"{} {}", 3),
        (b"[]]", 2),
        (b"[1]x", 3),
        (b'"a""b"', 3),
        (b"null\x00", 4),
        (b"[1] \n ,", 6),
        (b'[2,"id","A",{}]\n[3,"id",{}]', 16),
    ],
)
def test_trailing_data_rfc8259_2(core: Backend, data: bytes, offset: int) -> None:
    """RFC 8259 2: a JSON text is exactly one value; anything after it but whitespace is a
    fault at its first byte (one WebSocket message carries one frame, J16 4.1.2)."""
    assert fault(core, data) == (SCAN_TRAILING_DATA, offset)


# --------------------------------------------------------------------------------------------
# First fault wins; ScanError itself


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'[1,"\\x",\x01]', (SCAN_BAD_ESCAPE, 4)),
        (b'{"a":1,"a":"\\ud800"}', (SCAN_DUPLICATE_KEY, 7)),
        (b'{"a":"\\ud800","a":1}', (SCAN_LONE_SURROGATE, 6)),
        (b"[[[1]]] x", (SCAN_TRAILING_DATA, 8)),
        (b"[[[[1]]]] x", (SCAN_TOO_DEEP, 3)),
        (b'[[["\x00"]]]', (SCAN_CONTROL_CHARACTER, 4)),
        (b'[[[["\x00"]]]]', (SCAN_TOO_DEEP, 3)),
    ],
)
def test_first_fault_left_to_right_rfc8259(
    core: Backend, data: bytes, expected: tuple[int, int]
) -> None:
    """RFC 8259: with several faults, the leftmost decision point is the one reported."""
    assert fault(core, data, 3) == expected


def test_scan_error_is_a_value_error_with_kind_and_offset_rfc8259() -> None:
    """RFC 8259: ScanError names the fault kind and byte offset, readably."""
    error = ScanError(SCAN_DUPLICATE_KEY, 7)
    assert isinstance(error, ValueError)
    assert (error.kind, error.offset) == (SCAN_DUPLICATE_KEY, 7)
    assert str(error) == "duplicate key in object at byte 7"
    assert str(ScanError(99, 3)) == "invalid JSON at byte 3"
    assert set(SCAN_FAULTS) == set(range(1, 9))


# --------------------------------------------------------------------------------------------
# Hostile inputs: bounded work, a correct answer, never another exception


def test_hostile_deep_arrays_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: 100,000 '[' stop at the depth limit; with the limit raised, 100,000 levels
    are walked without recursion."""
    deep = b"[" * 100_000
    assert fault(core, deep) == (SCAN_TOO_DEEP, DEPTH)
    assert fault(core, deep, 100_000) == (SCAN_UNEXPECTED, 100_000)
    assert ok(core, deep + b"]" * 100_000, 100_000) == (0x5B, 1, [1, 199_999])


def test_hostile_deep_objects_rfc8259_9(core: Backend) -> None:
    """RFC 8259 9: 100,000 nested '{"a":' stop at the depth limit, or are walked iteratively."""
    deep = b'{"a":' * 100_000
    assert fault(core, deep) == (SCAN_TOO_DEEP, 5 * DEPTH)
    assert fault(core, deep, 100_000) == (SCAN_UNEXPECTED, 500_000)
    assert ok(core, deep + b"1" + b"}" * 100_000, 100_000) == (0x7B, 0, [])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"[NaN]", (SCAN_UNEXPECTED, 1)),
        (b"[Infinity, -Infinity]", (SCAN_UNEXPECTED, 1)),
        (b'{"a":1,"a":1}', (SCAN_DUPLICATE_KEY, 7)),
        (b'["\\ud800"]', (SCAN_LONE_SURROGATE, 2)),
        (b'["\\udfff\\udfff"]', (SCAN_LONE_SURROGATE, 2)),
        (b"[" + b"1" * 5000 + b"]", (SCAN_NUMBER_TOO_LONG, 1)),
    ],
)
def test_hostile_values_rfc8259(core: Backend, data: bytes, expected: tuple[int, int]) -> None:
    """RFC 8259 6, 4, 8.2, 9: NaN/Infinity, duplicate keys, lone surrogates, huge numbers."""
    assert fault(core, data) == expected


def test_hostile_10mb_string_rfc8259_7(core: Backend) -> None:
    """RFC 8259 7: scan itself has no size limit (the frame codec has one): a 10 MB string is
    accepted, and a fault at its end is still found at the right offset."""
    body = b"x" * MB10
    assert ok(core, b'"' + body + b'"') == (0x22, 0, [])
    assert ok(core, b'[2,"' + body + b'"]') == (0x5B, 2, [1, 2, 3, MB10 + 5])
    assert fault(core, b'"' + body) == (SCAN_UNEXPECTED, MB10 + 1)
    assert fault(core, b'"' + body + b'\\ud800"') == (SCAN_LONE_SURROGATE, MB10 + 1)
    assert fault(core, b'"' + body + b'\x00"') == (SCAN_CONTROL_CHARACTER, MB10 + 1)
    escaped = b'"' + b"\\n" * (MB10 // 2) + b'"'
    assert ok(core, escaped) == (0x22, 0, [])


def test_invalid_utf8_never_raises_anything_but_scan_error_rfc8259_8_1(core: Backend) -> None:
    """RFC 8259 8.1: scan expects UTF-8 that was already checked (the codec does that); handed
    bytes that are not, it still answers like its twin and never raises another exception."""
    assert ok(core, b'{"\\n\xff":1}') == (0x7B, 0, [])
    assert ok(core, b'{"\\n\xff":1,"\\n\xfe":2}') == (0x7B, 0, [])
    assert fault(core, b'{"\\n\xff":1,"\\n\xff":2}') == (SCAN_DUPLICATE_KEY, 9)
    assert ok(core, b'{"\xff":1,"\\n\xff":2}') == (0x7B, 0, [])
