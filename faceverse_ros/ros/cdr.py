"""CDR serialisation of ROS messages with NumPy arrays for their big sequences (ROS layer).

ROS 2's DDS middlewares carry a message as CDR: a 4-byte encapsulation header
(00 01 00 00: little-endian plain CDR) and then the fields in order, each
primitive aligned to its own size (at most 8) counted from the end of that
header; a string is a uint32 length (its NUL included), the bytes and the NUL;
a sequence a uint32 count and the elements; a fixed array its elements only;
a nested message its fields, in place.

rclpy converts a message by visiting one Python object per element, so a
visualization_msgs/Marker with 7500 geometry_msgs/Point corners took about
5 ms to build and 15 ms to convert, with the GIL held, on the machine of
issue 14, while the node's parameters waited for the lock it is published
under. :func:`serialize` writes a message from the field list of its own
generated class (``get_fields_and_field_types``, so each distro's definition
of Marker is followed), and takes the contents of chosen sequences from NumPy
arrays written in one copy: ``arrays`` maps a field of a message object to an
array whose rows are the elements (for a sequence of messages whose fields
all are of the array's one primitive type, e.g. Point as (N, 3) float64 or
ColorRGBA as (N, 4) float32). ``Publisher.publish`` sends the bytes as they
are (rclpy's raw publish). The tests compare the bytes with
``rclpy.serialization.serialize_message`` of the same message.
"""
from __future__ import annotations

import importlib
import struct
from functools import lru_cache
from typing import Dict, Tuple

import numpy as np

ENCAPSULATION = b"\x00\x01\x00\x00"   # CDR, little-endian, no options

# rosidl type names -> (struct code, size)
PRIMITIVES = {
    "boolean": ("?", 1), "octet": ("B", 1), "byte": ("B", 1), "char": ("B", 1),
    "uint8": ("B", 1), "int8": ("b", 1), "uint16": ("H", 2), "int16": ("h", 2),
    "uint32": ("I", 4), "int32": ("i", 4), "uint64": ("Q", 8), "int64": ("q", 8),
    "float": ("f", 4), "float32": ("f", 4), "double": ("d", 8), "float64": ("d", 8),
}


@lru_cache(maxsize=None)
def message_class(name: str):
    """The generated class of 'package/Type' (or 'package/msg/Type')."""
    pkg, _, typ = name.partition("/")
    typ = typ.rpartition("/")[2]
    return getattr(importlib.import_module(f"{pkg}.msg"), typ)


@lru_cache(maxsize=None)
def _fields(cls) -> Tuple[Tuple[str, str], ...]:
    return tuple(cls.get_fields_and_field_types().items())


def _is_string(type_name: str) -> bool:
    return type_name == "string" or type_name.startswith("string<")


def _parse(type_name: str):
    """('sequence' | 'array' | 'single', element type, fixed length or None)."""
    if type_name.startswith("sequence<"):
        inner = type_name[len("sequence<"):-1].split(",")[0].strip()   # a bound is ignored
        return "sequence", inner, None
    if type_name.endswith("]") and "[" in type_name:
        inner, _, n = type_name[:-1].partition("[")
        return "array", inner, int(n)
    return "single", type_name, None


class _Writer:
    def __init__(self):
        self.buf = bytearray(ENCAPSULATION)

    def align(self, size: int):
        pad = -(len(self.buf) - len(ENCAPSULATION)) % size
        if pad:
            self.buf += bytes(pad)

    def count(self, n: int):
        """A string's length or a sequence's element count (uint32)."""
        self.align(4)
        self.buf += struct.pack("<I", n)

    def primitive(self, type_name: str, value):
        code, size = PRIMITIVES[type_name]
        self.align(size)
        if code == "?":
            value = bool(value)
        elif code in "fd":
            value = float(value)
        elif isinstance(value, (bytes, bytearray)):   # a byte as rclpy holds it
            value = value[0]
        elif isinstance(value, str):                  # a char as rclpy holds it
            value = ord(value)
        else:
            value = int(value)
        self.buf += struct.pack("<" + code, value)

    def string(self, value):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        self.count(len(data) + 1)
        self.buf += data + b"\x00"

    def primitives(self, type_name: str, values):
        """The elements of a sequence or array of a primitive type, in order (values: any
        array-like, bytes too; a 2-D array row after row)."""
        code, size = PRIMITIVES[type_name]
        dtype = np.dtype("<" + {"?": "u1"}.get(code, code))
        if isinstance(values, (bytes, bytearray)):
            values = np.frombuffer(values, np.uint8)
        data = np.ascontiguousarray(values, dtype=dtype)
        if data.size:
            self.align(size)
            self.buf += data.tobytes()


def _element_primitive(type_name: str):
    """The one primitive type of all fields of message type ``type_name`` (None if mixed or
    not a message of primitives)."""
    kinds = {t for _, t in _fields(message_class(type_name))}
    return kinds.pop() if len(kinds) == 1 and next(iter(kinds)) in PRIMITIVES else None


def _write_value(w: _Writer, type_name: str, value, arrays):
    kind, inner, n = _parse(type_name)
    if kind == "single":
        if type_name in PRIMITIVES:
            w.primitive(type_name, value)
        elif _is_string(type_name):
            w.string(value)
        elif type_name == "wstring" or type_name.startswith("wstring<"):
            raise NotImplementedError("wstring fields are not supported")
        else:
            _write_message(w, value, arrays)
        return
    if kind == "sequence":
        w.count(len(value))
    elif len(value) != n:
        raise ValueError(f"{type_name}: {len(value)} elements")
    if inner in PRIMITIVES:
        w.primitives(inner, value)
    elif _is_string(inner):
        for v in value:
            w.string(v)
    else:
        for v in value:
            _write_message(w, v, arrays)


def _write_rows(w: _Writer, type_name: str, rows: np.ndarray):
    """A sequence of ``type_name`` messages from the rows of ``rows``."""
    kind, inner, _ = _parse(type_name)
    prim = _element_primitive(inner) if kind == "sequence" else None
    if prim is None:
        raise ValueError(f"{type_name}: an array can stand only for a sequence of messages "
                         f"whose fields share one primitive type")
    width = len(_fields(message_class(inner)))
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"{type_name}: rows of {width} values expected, got {rows.shape}")
    w.count(len(rows))
    w.primitives(prim, rows)


def _write_message(w: _Writer, msg, arrays):
    own = arrays.get(id(msg)) if arrays else None
    for name, type_name in _fields(type(msg)):
        if own is not None and name in own:
            _write_rows(w, type_name, own[name])
        else:
            _write_value(w, type_name, getattr(msg, name), arrays)


def serialize(msg, arrays: Dict[int, Dict[str, np.ndarray]] = None) -> bytes:
    """``msg`` as CDR bytes (module doc). ``arrays``: {id(a message object inside msg):
    {field name: rows}}; those fields are written from the rows instead of the object's
    own (e.g. an empty list)."""
    w = _Writer()
    _write_message(w, msg, arrays or {})
    return bytes(w.buf)


class _Header:
    def __init__(self, sec, nanosec, frame_id):
        self.stamp = _Stamp(sec, nanosec)
        self.frame_id = frame_id


class _Stamp:
    def __init__(self, sec, nanosec):
        self.sec, self.nanosec = sec, nanosec


class RawImage:
    """A sensor_msgs/Image read from its CDR bytes without rclpy's conversion: the same field
    names (header.stamp, header.frame_id, height, width, encoding, is_bigendian, step) and
    ``data`` a NumPy uint8 view of the bytes (no copy)."""

    def __init__(self, data):
        buf = memoryview(data)
        if len(buf) < 4 or bytes(buf[:2]) != ENCAPSULATION[:2]:
            raise ValueError("not a little-endian CDR message")
        pos = 4

        def align(n):
            nonlocal pos
            pos = 4 + -(-(pos - 4) // n) * n

        def u32():
            nonlocal pos
            align(4)
            if pos + 4 > len(buf):
                raise ValueError("sensor_msgs/Image CDR bytes end early")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
            return value

        def string():
            nonlocal pos
            n = u32()
            if pos + n > len(buf):
                raise ValueError("sensor_msgs/Image CDR bytes end early")
            text = bytes(buf[pos:pos + n]).rstrip(b"\x00").decode("utf-8", "replace")
            pos += n
            return text

        sec = struct.unpack("<i", struct.pack("<I", u32()))[0]
        nanosec = u32()
        self.header = _Header(sec, nanosec, string())
        self.height, self.width = u32(), u32()
        self.encoding = string()
        if pos + 1 > len(buf):
            raise ValueError("sensor_msgs/Image CDR bytes end early")
        self.is_bigendian = buf[pos]
        pos += 1
        self.step = u32()
        n = u32()
        if pos + n > len(buf):
            raise ValueError(f"sensor_msgs/Image CDR data holds {len(buf) - pos} of its {n} bytes")
        self.data = np.frombuffer(buf, dtype=np.uint8, count=n, offset=pos)
