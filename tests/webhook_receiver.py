"""A real webhook receiver on loopback for the delivery tests: an aiohttp server in the test's
event loop that verifies every request with the `standardwebhooks` package and records it.

Each webhook posts to a path of its own (`receiver.url("a")` is `http://127.0.0.1:<port>/a`). A
path answers 200 unless told otherwise: `receiver.answer("a", Answer(500), Answer(500))` makes its
next two requests fail; an Answer can also wait (a timeout), redirect or send a large body.

    async with Receiver() as receiver:
        receiver.secrets["a"] = [secret]
        ...
        assert receiver.delivered("a") == [...]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering
    hold: asyncio.Event | None = None  # answers only once the test sets it
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    # For each secret of the path: did the request verify with it?
    verified: list[bool]
    host: str
    server_name: str | None = None  # the TLS server name (SNI) of its connection, over https
    at: float = field(default_factory=time.time)  # when it came, Unix seconds

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.secrets: dict[str, list[str]] = {}
        self._answers: dict[str, deque[Answer]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self._ssl = ssl_context
        self.port = 0
        self.arrived = asyncio.Event()
        # TLS connections by their SSL object, with the server name each asked for.
        self._server_names: dict[int, str | None] = {}
        if ssl_context is not None:
            ssl_context.sni_callback = self._on_sni

    def _on_sni(self, ssl_object: Any, server_name: str | None, _: ssl.SSLContext) -> None:
        self._server_names[id(ssl_object)] = server_name

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{host}:{self.port}/{path}"

    def answer(self, path: str, *answers: Answer) -> None:
        self._answers[path].extend(answers)

    def reset(self, path: str) -> None:
        """Forgets the answers still planned for `path`: it answers 200 again."""
        self._answers[path].clear()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = []
        for secret in self.secrets.get(path, []):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                verified.append(False)
            else:
                verified.append(True)
        answer = self._answers[path].popleft() if self._answers[path] else Answer()
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        self.requests.append(
            Received(
                path=path,
                headers=headers,
                body=body,
                answered=answer.status,
                verified=verified,
                host=request.host,
                server_name=self._server_names.get(id(ssl_object)) if ssl_object is not None else None,
            )
        )
        self.arrived.set()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.hold is not None:
            await answer.hold.wait()
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Received]:
        """The requests of `path` it answered with success, in the order they came."""
        return [r for r in self.to(path) if 200 <= r.answered < 300]

    async def wait_until(self, done: Callable[[], bool], within: float) -> None:
        """Until `done()` holds after a request came, or `within` seconds passed (the test's
        assertions then tell what is missing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not done() and (remaining := deadline - loop.time()) > 0:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        """Until `count` requests answered with success have come."""
        await self.wait_until(lambda: sum(200 <= r.answered < 300 for r in self.requests) >= count, within)
