"""uvicorn's HTTP protocol with a response's head and first body chunk sent in one write.

uvicorn (httptools) writes the status line and headers when the app sends
`http.response.start`, then the body when it sends `http.response.body`: two `send` system calls
and two TCP segments for every answer. Starlette's `Response` sends both messages in one step of
its task, so they can leave together: on the 20-row page that is 3 to 4% more answers a second
(docs/serving.md).

`CoalescingTransport` holds the first write of a step and sends it with the next one, in one
`writelines` (one `writev`); if no other write follows in the same step of the event loop, the
held bytes go at the start of the next one (`call_soon`), so a streamed response whose first
chunk takes time still sends its headers at once. Bytes always leave in the order they were
written, and before a close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose write waits for the next write, or for the loop's next step."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            if data:
                self._held = bytes(data)
                self._loop.call_soon(self.flush)
            return
        self._held = None
        self._transport.writelines((held, data))

    def flush(self) -> None:
        """Send what is held, if anything (the loop calls it one step after it was held)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self.flush()
        self._transport.writelines(chunks)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held else 0)

    def __getattr__(self, name: str) -> Any:
        # is_closing, pause_reading, resume_reading, get_extra_info, set_protocol...
        return getattr(self._transport, name)


class CoalescingHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
