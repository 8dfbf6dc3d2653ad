"""A real server for the live stream's tests, and a reader of Server-Sent Events.

httpx's in-process transport buffers a whole response, so a stream that never ends needs a socket:
`live_server` runs the app under uvicorn on a free loopback port inside the test's event loop,
lifespan included (the events hub starts with it). `EventStream` reads a stream in a task of its
own and hands out whole messages, so a test can wait for one with a timeout without cancelling a
read halfway through.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

WAIT = 5.0  # the longest any test waits for one message: a failing test fails, it does not hang


@contextlib.asynccontextmanager
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The app on http://127.0.0.1:<free port> until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@dataclass
class Message:
    """One message of a stream: an event (`id`, `event`, `data`) or a comment."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> dict[str, Any]:
        assert self.data is not None, self
        body: dict[str, Any] = json.loads(self.data)
        return body


class EventStream:
    """An open `GET /v1/me/events`; `messages` is everything read so far, in order."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.messages: list[Message] = []
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line.startswith(":"):
                    self._put(Message(comment=line[1:].strip()))
                elif line == "":
                    if fields:
                        self._put(Message(fields.get("id"), fields.get("event"), fields.get("data")))
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        except (httpx.ReadError, httpx.RemoteProtocolError):
            pass  # the server went away: the same as an end for these tests
        finally:
            self.ended.set()
            self._queue.put_nowait(None)

    def _put(self, message: Message) -> None:
        self.messages.append(message)
        self._queue.put_nowait(message)

    async def next(self, within: float = WAIT) -> Message:
        """The next message, comments included, if it comes `within` seconds."""
        message = await asyncio.wait_for(self._queue.get(), within)
        if message is None:
            self._queue.put_nowait(None)  # every later call sees the end too
            raise EOFError("the stream ended")
        return message

    async def next_event(self, within: float = WAIT) -> Message:
        """The next event, skipping comments."""
        deadline = time.monotonic() + within
        while True:
            message = await self.next(max(deadline - time.monotonic(), 0.001))
            if message.comment is None:
                return message

    async def events(self, count: int, within: float = WAIT) -> list[Message]:
        """The next `count` events, each coming `within` seconds of the one before."""
        return [await self.next_event(within) for _ in range(count)]

    async def quiet_for(self, seconds: float) -> list[Message]:
        """The events that arrive within `seconds` (a test that expects none asserts `== []`)."""
        deadline = time.monotonic() + seconds
        got: list[Message] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(await self.next_event(left))
            except TimeoutError:
                break
        return got

    @property
    def events_so_far(self) -> list[Message]:
        return [m for m in self.messages if m.comment is None]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.response.aclose()


@contextlib.asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient, headers: dict[str, str], last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    """`GET /v1/me/events` with `headers`, open until the block ends; refused streams fail here
    (see `open_stream` for a test that expects a refusal)."""
    response = await open_stream(client, headers, last_event_id)
    assert response.status_code == 200, response.text
    stream = EventStream(response)
    try:
        yield stream
    finally:
        await stream.close()


async def open_stream(
    client: httpx.AsyncClient, headers: dict[str, str], last_event_id: str | None = None
) -> httpx.Response:
    """The stream's response with its headers read; a refusal's body is read too."""
    extra = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    request = client.build_request("GET", "/v1/me/events", headers={**headers, **extra})
    response = await client.send(request, stream=True)
    if response.status_code != 200:
        await response.aread()
        await response.aclose()
    return response


def client_for(base_url: str) -> httpx.AsyncClient:
    # No read timeout on the connection: a stream is quiet between events; each test bounds its own
    # waits (`WAIT`).
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0, read=None))
