"""Frame protocol between the TypeScript server and the Python worker (stdlib only).

A frame is: 4-byte magic b"ZIF1", uint32 BE header length, uint32 BE payload length,
the header as UTF-8 JSON (always an object with a "type"), then the raw payload bytes.
The same framing is used in both directions; pixels travel as payload, never as JSON.
The magic makes a stray library print on the protocol stream fail loudly instead of
silently desynchronising the stream.
"""
import json
import struct
import threading

MAGIC = b"ZIF1"
PREFIX = struct.Struct(">4sII")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 31


class ProtocolError(Exception):
    pass


def _read_exact(stream, n, at_start=False):
    """n bytes into one preallocated buffer: a 12 MB image arriving in pipe-sized pieces is
    neither joined nor copied again (the runner slices it with memoryviews). None at a clean
    end of stream, which only the start of a frame may be."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            if got == 0 and at_start:
                return None
            raise ProtocolError("stream ended inside a frame")
        got += k
    return buf


def read_frame(stream):
    """Returns (header dict, payload bytearray), or None at a clean end of stream."""
    prefix = _read_exact(stream, PREFIX.size, at_start=True)
    if prefix is None:
        return None
    magic, header_len, payload_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise ProtocolError("bad frame magic %r" % magic)
    if header_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
        raise ProtocolError("frame too large")
    header = json.loads(_read_exact(stream, header_len).decode("utf-8"))
    payload = _read_exact(stream, payload_len) if payload_len else b""
    return header, payload


class FrameWriter:
    """Writes whole frames under a lock: the heartbeat thread and the main thread share the stream."""

    def __init__(self, stream):
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, header, payload=b""):
        data = json.dumps(header, separators=(",", ":")).encode("utf-8")
        with self._lock:
            self._stream.write(PREFIX.pack(MAGIC, len(data), len(payload)))
            self._stream.write(data)
            if payload:
                self._stream.write(payload)
            self._stream.flush()
