"""git's delta format, applied with every step checked: a delta names its base's size and its
result's size in its header, and no instruction may copy from outside the base or write past
the result."""

from __future__ import annotations


class DeltaError(ValueError):
    """A delta (or the pack holding it) that is not what git writes."""


def varint(raw: bytes, pos: int) -> tuple[int, int]:
    """A delta header's size (7 bits a byte, least significant first) and the next position."""
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise DeltaError("a delta header is cut short")
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def apply_delta(base: bytes, delta: bytes, cap: int) -> bytes:
    """git's delta format: copies from the base and inserted bytes, checked at every step."""
    base_size, pos = varint(delta, 0)
    size, pos = varint(delta, pos)
    if base_size != len(base):
        raise DeltaError("a delta names a base of another size")
    if size > cap:
        raise DeltaError(f"a delta makes an object of {size} bytes, over {cap}")
    out = bytearray()
    try:
        while pos < len(delta):
            op = delta[pos]
            pos += 1
            if op & 0x80:
                start = length = 0
                for bit in range(4):
                    if op & (1 << bit):
                        start |= delta[pos] << (8 * bit)
                        pos += 1
                for bit in range(3):
                    if op & (0x10 << bit):
                        length |= delta[pos] << (8 * bit)
                        pos += 1
                length = length or 0x10000
                if start + length > len(base) or len(out) + length > size:
                    raise DeltaError("a delta copies from outside its base")
                out += base[start : start + length]
            elif op:
                if pos + op > len(delta) or len(out) + op > size:
                    raise DeltaError("a delta inserts past its end")
                out += delta[pos : pos + op]
                pos += op
            else:
                raise DeltaError("a delta holds a reserved instruction")
    except IndexError:
        raise DeltaError("a delta is cut short") from None
    if len(out) != size:
        raise DeltaError("a delta makes an object of another size than it says")
    return bytes(out)
