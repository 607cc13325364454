"""A load process: many client sockets, driven by the benchmark over a pipe.

The benchmark (``bench.processes.Agent``) sends one JSON command per line on
stdin and reads one JSON reply per line on stdout. Commands run one at a time.
Sockets are grouped by a tag so that one agent can hold the subscribers of
our server and of a bare baseline side by side and measure them alike.

Two kinds of socket:
- subscribers record, for every update, the delay from the server's ``ts``
  stamp to the arrival of its bytes, and keep the seat view a client would
  (held/booked sets and the offset, which must only grow), so the benchmark
  can compare every view with a fresh snapshot;
- holders hold and release their own seat and time each command from the
  moment it was due to its ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from seatserver.loadgen.wire import WireSocket as WsClient
from seatserver.loadgen.wire import connect

OPEN_CONCURRENCY = 64
DRAIN_S = 10.0


@dataclass
class SubscriberView:
    offset: tuple[int, int] = (0, 0)
    offset_text: str = "0-0"
    held: set[str] = field(default_factory=set)
    booked: set[str] = field(default_factory=set)
    subscribed: asyncio.Future[None] | None = None


@dataclass
class Group:
    """The sockets of one tag and what they have received since the last reset."""

    clients: list[WsClient] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    updates: int = 0
    violations: int = 0
    target: int = 0
    reached: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class HolderState:
    showtime: int
    seat: str
    # ref -> (when the command was due, when it was written, op)
    pending: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    # Closed loop: the op to send next and when the last one was written.
    next_op: str = "hold"
    last_sent: float = 0.0


class Agent:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.holders: dict[str, list[WsClient]] = {}
        self._last_payload = b""
        self._last_frame: dict[str, Any] = {}
        self._refs = itertools.count(1)
        self._recording = False
        self._hold_ms: list[float] = []  # from writing the hold to its ack
        self._hold_due_ms: list[float] = []  # from when the hold was due to its ack
        self._release_ms: list[float] = []
        self._errors: dict[str, int] = {}
        self._done_ops = 0
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._looping = False  # a closed loop is running
        self._gap = 0.0  # its least time between one socket's commands

    # -- subscribers -------------------------------------------------------------

    def _decode(self, payload: bytes) -> dict[str, Any]:
        # Every subscriber in this process gets the same bytes for one update:
        # decode them once.
        if payload != self._last_payload:
            self._last_frame = orjson.loads(payload)
            self._last_payload = payload
        return self._last_frame

    def _on_update(self, client: WsClient, payload: bytes, arrived: float) -> None:
        frame = self._decode(payload)
        state: tuple[SubscriberView | None, Group] = client.state  # type: ignore[assignment]
        view, group = state
        kind = frame.get("t")
        if kind == "update":
            ts = frame.get("ts")
            if ts is not None:
                group.delays.append(arrived * 1000 - ts)
            if view is not None:
                self._apply(view, group, frame)
            group.updates += 1
            if group.target and group.updates >= group.target:
                group.reached.set()
        elif kind == "snapshot" and view is not None:
            view.held = set(frame["held"])
            view.booked = set(frame["booked"])
            view.offset_text = frame["offset"]
            view.offset = _position(frame["offset"])
        elif (kind == "ack" and view is not None and view.subscribed is not None
              and not view.subscribed.done()):
            if frame.get("ok"):
                view.subscribed.set_result(None)
            else:
                view.subscribed.set_exception(RuntimeError(f"subscribe refused: {frame}"))

    @staticmethod
    def _apply(view: SubscriberView, group: Group, frame: dict[str, Any]) -> None:
        position = _position(frame["offset"])
        if position <= view.offset:
            group.violations += 1
        view.offset, view.offset_text = position, frame["offset"]
        held, booked = view.held, view.booked
        for seat, state in frame["seats"].items():
            held.discard(seat)
            booked.discard(seat)
            if state == "held":
                held.add(seat)
            elif state == "booked":
                booked.add(seat)

    async def subscribe(self, tag: str, port: int, n: int, token: str | None = None,
                        showtime: int | None = None, path: str = "/ws") -> dict[str, Any]:
        group = self.groups.setdefault(tag, Group())
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one() -> None:
            async with gate:
                # The bare servers speak no subprotocol: offering ours would only
                # make them log a warning per connection.
                client = await connect("127.0.0.1", port, self._on_update, path=path,
                                       token=token,
                                       protocol="seats.v1.json" if showtime else None)
                view = SubscriberView() if showtime is not None else None
                client.state = (view, group)
                if view is not None:
                    view.subscribed = asyncio.get_running_loop().create_future()
                    client.send(orjson.dumps({"op": "subscribe", "ref": "s",
                                              "showtime": showtime}))
                    await asyncio.wait_for(view.subscribed, 30)
                group.clients.append(client)

        await asyncio.gather(*(one() for _ in range(n)))
        return {"open": sum(not c.closed for c in group.clients)}

    def reset(self, tag: str) -> dict[str, Any]:
        group = self.groups[tag]
        group.delays, group.updates, group.violations, group.target = [], 0, 0, 0
        group.reached.clear()
        return {}

    async def await_updates(self, tag: str, per_client: int, within: float) -> dict[str, Any]:
        """Wait until the group has received ``per_client`` updates per socket."""
        group = self.groups[tag]
        group.target = per_client * len(group.clients)
        if group.updates < group.target:
            group.reached.clear()
            try:
                await asyncio.wait_for(group.reached.wait(), within)
            except TimeoutError:
                pass
        return {"updates": group.updates, "expected": group.target}

    def delays(self, tag: str) -> dict[str, Any]:
        group = self.groups[tag]
        reply = {"delays": group.delays, "updates": group.updates,
                 "violations": group.violations,
                 "closed": sum(c.closed for c in group.clients)}
        self.reset(tag)
        return reply

    def views(self, tag: str) -> dict[str, Any]:
        """How many sockets hold each distinct view (offset, held, booked)."""
        counts: dict[str, int] = {}
        for client in self.groups[tag].clients:
            view = client.state[0]  # type: ignore[index]
            digest = view_digest(view.offset_text, view.held, view.booked)
            if client.closed:
                digest = "closed:" + digest
            counts[digest] = counts.get(digest, 0) + 1
        return {"views": counts}

    def close(self, tag: str) -> dict[str, Any]:
        for client in self.groups.pop(tag, Group()).clients:
            client.close()
        for client in self.holders.pop(tag, []):
            client.close()
        return {}

    # -- holders -----------------------------------------------------------------

    async def open_holders(self, tag: str, port: int, holders: list[dict[str, Any]]
                           ) -> dict[str, Any]:
        """One socket per ``{"token", "showtime", "seat"}``."""
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        clients: list[WsClient] = []

        async def one(spec: dict[str, Any]) -> None:
            async with gate:
                client = await connect("127.0.0.1", port, self._on_ack, token=spec["token"])
                client.state = HolderState(spec["showtime"], spec["seat"])
                clients.append(client)

        await asyncio.gather(*(one(s) for s in holders))
        self.holders[tag] = clients
        return {"open": len(clients)}

    def _on_ack(self, client: WsClient, payload: bytes, arrived: float) -> None:
        frame = orjson.loads(payload)
        if frame.get("t") not in ("ack", "error"):
            return
        state: HolderState = client.state  # type: ignore[assignment]
        due, sent, op = state.pending.pop(str(frame.get("ref")), (0.0, 0.0, ""))
        if op:
            self._outstanding -= 1
            if not self._outstanding:
                self._idle.set()
        if self._looping and not state.pending:
            self._next_in_loop(client, state)
        if not self._recording or not due:
            return
        if not frame.get("ok"):
            code = str(frame.get("code"))
            self._errors[code] = self._errors.get(code, 0) + 1
            return
        if op == "hold":
            self._hold_ms.append((arrived - sent) * 1000)
            self._hold_due_ms.append((arrived - due) * 1000)
        else:
            self._release_ms.append((arrived - sent) * 1000)
        self._done_ops += 1

    def _send_op(self, client: WsClient, op: str, due: float) -> None:
        state: HolderState = client.state  # type: ignore[assignment]
        ref = str(next(self._refs))
        state.pending[ref] = (due, time.time(), op)
        self._outstanding += 1
        self._idle.clear()
        client.send(orjson.dumps({"op": op, "ref": ref, "showtime": state.showtime,
                                  "seats": [state.seat]}))

    async def paced(self, tag: str, rate_per_client: float, warmup: float,
                    duration: float) -> dict[str, Any]:
        """Open loop: each socket alternates hold and release at a fixed pace.

        The sender never waits for acks, so a slow server cannot slow it down
        (no coordinated omission); ``hold_ms`` runs from writing each hold to
        its ack. ``hold_due_ms`` runs from when it was due instead, and so also
        counts this process's own lateness in sending (timer granularity, a
        core taken by the server or the other agents).
        """
        clients = self.holders[tag]
        interval = 1.0 / rate_per_client
        start = time.time() + 0.05
        # Spread the sockets evenly over one interval.
        due = [start + interval * i / len(clients) for i in range(len(clients))]
        ops = ["hold"] * len(clients)
        record_from, end = start + warmup, start + warmup + duration
        self._begin_recording(False)
        while True:
            now = time.time()
            if now >= record_from and not self._recording:
                self._begin_recording(True)
            if now >= end:
                break
            for i, client in enumerate(clients):
                while due[i] <= now:
                    self._send_op(client, ops[i], due[i])
                    ops[i] = "release" if ops[i] == "hold" else "hold"
                    due[i] += interval
            await asyncio.sleep(max(0.0, min(due) - time.time()))
        await self._drain()
        self._recording = False
        return self._holder_report(duration)

    async def closed_loop(self, tag: str, max_rate_per_client: float, warmup: float,
                          duration: float) -> dict[str, Any]:
        """Each socket sends its next command when the last is acked, at most
        ``max_rate_per_client`` a second (below the server's per-client limit).

        Driven from the ack callbacks, with no task, future or timeout per
        command: this process shares the machine's cores with the server it
        measures, so every microsecond it spends per command is one the server
        under test cannot have (see the peak figures in docs/performance.md).
        """
        clients = self.holders[tag]
        self._gap = 1.0 / max_rate_per_client
        self._begin_recording(False)
        self._looping = True
        for client in clients:
            state: HolderState = client.state  # type: ignore[assignment]
            state.next_op = "hold"
            self._next_in_loop(client, state)
        await asyncio.sleep(warmup)
        self._begin_recording(True)
        began = time.time()
        await asyncio.sleep(duration)
        done, took = self._done_ops, time.time() - began
        self._looping = False
        await self._drain()
        if self._outstanding:
            raise RuntimeError(f"{self._outstanding} commands unanswered after {DRAIN_S:g} s")
        self._recording = False
        report = self._holder_report(took)
        report["ops"] = done
        report["ops_per_s"] = done / took
        return report

    def _next_in_loop(self, client: WsClient, state: HolderState) -> None:
        """Send the socket's next closed-loop command now, or when its rate cap allows."""
        wait = state.last_sent + self._gap - time.time()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self._send_in_loop, client, state)
        else:
            self._send_in_loop(client, state)

    def _send_in_loop(self, client: WsClient, state: HolderState) -> None:
        if not self._looping or client.closed:
            return
        now = time.time()
        state.last_sent = now
        op = state.next_op
        state.next_op = "release" if op == "hold" else "hold"
        self._send_op(client, op, now)

    def _begin_recording(self, on: bool) -> None:
        self._recording = on
        self._hold_ms, self._release_ms, self._errors, self._done_ops = [], [], {}, 0
        self._hold_due_ms = []

    async def _drain(self) -> None:
        """Wait (a while) for the acks of every command sent."""
        if self._outstanding:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), DRAIN_S)

    def _holder_report(self, duration: float) -> dict[str, Any]:
        return {"hold_ms": self._hold_ms, "hold_due_ms": self._hold_due_ms,
                "release_ms": self._release_ms, "errors": self._errors, "duration": duration}


def view_digest(offset: str, held: set[str] | list[str], booked: set[str] | list[str]) -> str:
    return f"{offset}|{','.join(sorted(held))}|{','.join(sorted(booked))}"


def _position(offset: str) -> tuple[int, int]:
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq)


def raise_fd_limit() -> None:
    """Thousands of sockets need more descriptors than the usual soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve_pipe() -> None:
    agent = Agent()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    while line := await reader.readline():
        request = json.loads(line)
        command = request.pop("cmd")
        if command == "quit":
            break
        try:
            handler = getattr(agent, command)
            result = handler(**request)
            if asyncio.iscoroutine(result):
                result = await result
            reply = {"ok": True, **result}
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(orjson.dumps(reply) + b"\n")
        out.flush()
    for tag in [*agent.groups, *agent.holders]:
        agent.close(tag)


def main() -> None:
    raise_fd_limit()
    try:
        import uvloop
        uvloop.run(serve_pipe())
    except ImportError:
        asyncio.run(serve_pipe())


if __name__ == "__main__":
    main()
