"""Webhooks: a job's final state POSTed to its `callback_url` (or its topic's `[topics.<name>] webhook`).

The outbox is in Redis, written by the script that ended the job (`ended` in common.lua), so a job never
ends without its webhook being due, whatever crashes after: the hash `hero:webhook:<job_id>:<version>`
(url, body = the final state's JSON, attempts, first = when it ended, ms) and the member
`<job_id>:<version>` of `hero:webhooks:due`, scored by when the next attempt is due (ms).

The server's `webhooks` loop (`Webhooks.step`) takes due members, a few at a time, and leases each by
moving its score `timeout + LEASE_MARGIN` seconds ahead in the same transaction that reads its hash: a
server killed mid-send leaves it due again later, never lost. A small pool of sender threads (`SENDERS`)
makes the attempts, at most PER_RECEIVER at a time to one receiver, so a hanging receiver holds two
threads for at most `[jobs] webhook_timeout` each, never the loop, other receivers or the job system; its
backlog moves out of the way of the deliveries due behind it (SLOW). Each attempt is one POST
(webhook_http.py: no redirects followed, private addresses refused unless allowed, a hard deadline, the
answer read up to 64 KiB):
- 2xx: delivered; the hash and the member are deleted.
- anything else (another status, a redirect, a timeout, a refused connection): attempt n+1 is due after
  `Backoff.delay` (10 s doubling to 1 h, times a random 0.5-1), until a day after the job ended; then
  the delivery is given up (dropped, said in the job's log and the server's log, counted in health's
  notices).
- a URL never to be sent to (a private address with `webhook_allow_private = false`, no http(s) URL):
  dropped at once, said in the job's log.

Every attempt and its answer (status and the first 200 characters of the body, or the error) is a line in
the job's log, whether or not the job was made with `log = true`: the server makes the attempts, and the
log is where whoever made the job looks for why its receiver saw nothing.

What a receiver gets: the job as the API shows it (`GET /api/jobs/<id>`) plus `"event": "job.ended"`, with
the headers `X-HeroAgent-Delivery: <job_id>:<version>` (one per final state), `X-HeroAgent-Attempt`,
`X-HeroAgent-Timestamp` and `X-HeroAgent-Signature` (signing.py). Delivery is at least once: a server
stopped between a receiver's 2xx and the delete sends that delivery again, so a receiver dedupes by
the delivery id.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

from heroagent.config import Config
from heroagent.jobs import fastjson, keys
from heroagent.jobs.live.joblog import JobLogs
from heroagent.jobs.model import Job
from heroagent.jobs.server.webhook_http import Answer, Deadlines, Interrupted, Refused, post
from heroagent.jobs.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, webhook_secret
from heroagent.redaction import redacted
from heroagent.threadnames import name_this_thread

log = logging.getLogger(__name__)

EVENT = "job.ended"
SENDERS = 8  # attempts in flight at once
# Attempts in flight at once to one receiver (host and port): a receiver that hangs holds at most these
# senders (each for at most webhook_timeout), and the others go on serving every other receiver.
PER_RECEIVER = 2
WINDOW = 100  # due deliveries looked at per claim, at most
# A receiver whose oldest attempt in flight has taken this long (seconds) is slow: its waiting deliveries
# go back in the outbox by that long (at most webhook_timeout), out of the way of the others due.
SLOW = 1.0
KNOWN_MAX = 50_000  # delivery ids whose receiver is kept in memory (so a waiting one is not read again)
POLL = 0.25  # seconds between looks at the outbox while nothing else wakes the loop
LEASE_MARGIN = 30.0  # seconds past webhook_timeout a claimed delivery stays leased (name resolution, writes)
BODY_SHOWN = 200  # characters of a receiver's answer put in the job's log


@dataclass(frozen=True)
class Backoff:
    """When a failed delivery is tried again, and for how long."""

    first: float = 10.0  # seconds before the second attempt
    cap: float = 3600.0  # the longest wait between two attempts
    give_up: float = 86400.0  # seconds after the job ended when the last attempt may be made

    def delay(self, attempts: int) -> float:
        """Seconds before the attempt after `attempts` failed ones: `first` doubling per attempt, capped,
        times a random 0.5-1, so receivers back from an outage are not hit by every delivery at once."""
        return min(self.cap, self.first * 2.0 ** min(attempts - 1, 60)) * random.uniform(0.5, 1.0)


BACKOFF = Backoff()


@dataclass(frozen=True)
class Delivery:
    """One webhook to deliver, as the outbox holds it."""

    member: str  # "<job_id>:<version>", the delivery's id
    job_id: int
    version: int
    url: str
    body: bytes  # the final state's JSON (wire names)
    attempts: int  # attempts made before this one
    first: float  # unix seconds: when the job ended


def receiver(url: str) -> str:
    """Who answers a URL, for PER_RECEIVER: its host and port (the URL itself when it has none)."""
    try:
        parts = urlsplit(url)
        return f"{(parts.hostname or '').lower()}:{parts.port or parts.scheme}"
    except ValueError:
        return url


def seconds(value: float) -> str:
    """A time as a log line says it: '0.2 s', '19 s', '45 min', '24.0 h'."""
    if value < 10:
        return f"{value:.1f} s"
    if value < 600:
        return f"{value:.0f} s"
    return f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h"


def payload(body: bytes) -> bytes:
    """What is POSTed: the job in its API form (as `GET /api/jobs/<id>` shows it) and the event's name."""
    return fastjson.dumps({"event": EVENT, **Job.from_json(body).to_api()})


def one_line(text: str, limit: int = BODY_SHOWN) -> str:
    """`text` fit for one log line: white space runs as one space, other control characters as '?', cut."""
    flat = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    return flat if len(flat) <= limit else flat[:limit] + "..."


def describe(answer: Answer) -> str:
    """A receiver's answer in a few words: the status, a redirect's target, the start of the body."""
    text = f"{answer.status} {one_line(answer.reason, 60)}".rstrip()
    if 300 <= answer.status < 400:
        text += f", a redirect to {one_line(redacted(answer.location)) or '(no Location)'} (not followed)"
    shown = one_line(answer.body.decode("utf-8", errors="replace"))
    return f"{text}: {shown}" if shown else text


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def publish_topics(client: redis.Redis, config: Config) -> None:
    """`[topics.<name>] webhook` into hash hero:webhooks:topics (the ending script reads it), replacing
    what an earlier start wrote: a topic no longer configured has no webhook any more."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.WEBHOOK_TOPICS)
    if webhooks := config.topic_webhooks():
        pipe.hset(keys.WEBHOOK_TOPICS, mapping=webhooks)  # type: ignore[arg-type]
    pipe.execute()


class Webhooks:
    """The delivery loop's step (`step`) and its sender threads (`start`, `stop`)."""

    def __init__(
        self,
        client: redis.Redis,
        logs: JobLogs,
        secret: str,
        *,
        timeout: float,
        allow_private: bool,
        backoff: Backoff | None = None,
        senders: int = SENDERS,
    ) -> None:
        self._client = client
        self._logs = logs
        self._secret = secret
        self.timeout = timeout
        self.allow_private = allow_private
        self.backoff = backoff if backoff is not None else BACKOFF
        self.senders = senders
        self._deadlines = Deadlines()
        self._work: queue.Queue[Delivery | None] = queue.Queue()
        self._in_flight: dict[str, tuple[str, float]] = {}  # delivery id -> its receiver, when it started
        self._receivers: dict[str, str] = {}  # delivery id -> its receiver, for those seen due
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.delivered = self.given_up = self.refused = 0  # since start (health's notices)

    @classmethod
    def from_config(cls, client: redis.Redis, logs: JobLogs, config: Config) -> Webhooks:
        """The server's: the secret made at the first start unless configured (signing.py)."""
        secret = webhook_secret(config, create=True)
        assert secret is not None  # create=True makes one
        jobs = config.jobs
        return cls(client, logs, secret, timeout=jobs.webhook_timeout, allow_private=jobs.webhook_allow_private)

    # ------------------------------------------------------------ the loop

    def start(self) -> None:
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._serve, name=f"heroagent-webhook-{n}", daemon=True)
            for n in range(self.senders)
        ]
        for thread in self._threads:
            thread.start()

    def step(self) -> None:
        """Cut off attempts past their time, hand due deliveries to the free senders, then wait until a
        sender is done or POLL seconds passed."""
        self._deadlines.expire()
        with self._lock:
            free = self.senders - len(self._in_flight)
        more = False
        if free > 0 and not self._stopping.is_set():
            found, more = self._claim(free)
            for delivery in found:
                self._work.put(delivery)
        if not more:  # else slow receivers' deliveries were moved back: look again at once
            self._wake.wait(POLL)
        self._wake.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Cut the attempts in flight short (each goes back in the outbox, due now, its attempt not
        counted) and end the senders within `timeout` seconds."""
        self._stopping.set()
        self._deadlines.abort_all()
        self._wake.set()
        for _ in self._threads:
            self._work.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def _claim(self, count: int) -> tuple[list[Delivery], bool]:
        """Up to `count` due deliveries, oldest first, each leased (its score moved ahead) as its hash is
        read, and whether to look again at once. One whose receiver has PER_RECEIVER attempts in flight
        waits: in its place if that receiver is quick, else (SLOW) moved back by as long as the receiver has
        held its oldest attempt, so the deliveries behind come into view (again at once when the look ahead
        was full). Those in flight here are passed over (their lease ran out while name resolution hung:
        this server still has them)."""
        now_ms = int(time.time() * 1000)
        with self._lock:
            flights = dict(self._in_flight)
        load = Counter(who for who, _ in flights.values())
        held: dict[str, float] = {}  # receiver -> how long its oldest attempt in flight has taken
        clock = time.monotonic()
        for who, started in flights.values():
            held[who] = max(held.get(who, 0.0), clock - started)
        window = WINDOW + len(flights)
        raw: list[bytes] = self._client.zrangebyscore(  # type: ignore[assignment]
            keys.WEBHOOKS_DUE, "-inf", now_ms, 0, window
        )
        due = [_text(m) for m in raw]
        candidates: list[tuple[str, int, int]] = []
        for member in due:
            try:
                job_id, version = keys.parse_webhook_member(member)
            except ValueError:
                log.warning("webhooks: %r in %s is no delivery; removed", member[:80], keys.WEBHOOKS_DUE)
                self._client.zrem(keys.WEBHOOKS_DUE, member)
                continue
            if member not in flights:
                candidates.append((member, job_id, version))
        self._learn_receivers(candidates)
        take: list[tuple[str, int, int, str]] = []
        moved: dict[str, int] = {}
        for member, job_id, version in candidates:
            who = self._receivers.get(member, "")
            if who and load[who] >= PER_RECEIVER:
                if held.get(who, 0.0) >= SLOW:
                    moved[member] = now_ms + int(min(held[who], self.timeout) * 1000)
            elif len(take) < count:
                load[who] += 1
                take.append((member, job_id, version, who))
        lease = now_ms + int((self.timeout + LEASE_MARGIN) * 1000)
        pipe = self._client.pipeline(transaction=True)
        if moved:
            pipe.zadd(keys.WEBHOOKS_DUE, moved, xx=True)
        for member, job_id, version, _ in take:
            pipe.zadd(keys.WEBHOOKS_DUE, {member: lease}, xx=True)
            pipe.hgetall(keys.webhook(job_id, version))
        hashes = [r for r in pipe.execute() if isinstance(r, dict)] if moved or take else []
        found: list[Delivery] = []
        for (member, job_id, version, who), stored in zip(take, hashes, strict=True):
            delivery = self._delivery(member, job_id, version, {_text(k): v for k, v in stored.items()})
            if delivery is not None:
                found.append(delivery)
                with self._lock:
                    self._in_flight[member] = (who, time.monotonic())
        return found, bool(moved) and len(due) == window

    def _learn_receivers(self, candidates: list[tuple[str, int, int]]) -> None:
        """The receiver of each candidate not seen before (one HGET each, pipelined); '' when its hash is gone."""
        unknown = [(m, j, v) for m, j, v in candidates if m not in self._receivers]
        if not unknown:
            return
        if len(self._receivers) + len(unknown) > KNOWN_MAX:
            self._receivers.clear()
        pipe = self._client.pipeline(transaction=False)
        for _, job_id, version in unknown:
            pipe.hget(keys.webhook(job_id, version), "url")
        for (member, _, _), url in zip(unknown, pipe.execute(), strict=True):
            self._receivers[member] = receiver(_text(url)) if url is not None else ""

    def _delivery(self, member: str, job_id: int, version: int, stored: dict[str, bytes]) -> Delivery | None:
        """The outbox entry as a Delivery; None (and the entry removed) when its hash is gone or damaged."""
        try:
            return Delivery(
                member,
                job_id,
                version,
                _text(stored["url"]),
                stored["body"],
                int(stored.get("attempts", b"0")),
                int(stored.get("first", b"0")) / 1000,
            )
        except (KeyError, ValueError, TypeError):
            log.warning("webhooks: delivery %s has no usable entry in the outbox; removed", member)
            self._forget(member, job_id, version)
            return None

    # ------------------------------------------------------------ the senders

    def _serve(self) -> None:
        name_this_thread()
        while True:
            delivery = self._work.get()
            if delivery is None:
                return
            try:
                self._attempt(delivery)
            except Exception:  # Redis away while the outcome was written: the lease brings the delivery back
                log.exception("webhooks: delivery %s: its outcome could not be written", delivery.member)
            finally:
                with self._lock:
                    self._in_flight.pop(delivery.member, None)
                self._wake.set()

    def _attempt(self, delivery: Delivery) -> None:
        attempt = delivery.attempts + 1
        where = f"webhook {delivery.member} attempt {attempt} to {one_line(redacted(delivery.url), 300)}"
        if self._stopping.is_set():
            self._due_again(delivery, time.time())
            return
        try:
            body = payload(delivery.body)
        except (ValueError, TypeError) as exc:
            self._drop(delivery, f"{where}: the final state in the outbox cannot be read ({exc}); dropped")
            return
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery.member,
            "X-HeroAgent-Event": EVENT,
            "X-HeroAgent-Attempt": str(attempt),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            answer = post(
                delivery.url,
                body,
                headers,
                timeout=self.timeout,
                allow_private=self.allow_private,
                deadlines=self._deadlines,
            )
        except Refused as exc:
            self._count("refused")
            self._drop(delivery, f"{where}: not sent: {exc}; dropped")
            return
        except Interrupted:
            self._logs.append(delivery.job_id, f"{where}: cut short by the server's stop; it is sent again")
            self._due_again(delivery, time.time())
            return
        except Exception as exc:  # any failure of the attempt (connection, timeout, TLS, HTTP) is retried
            self._failed(delivery, where, f"{type(exc).__name__}: {one_line(str(exc))}")
            return
        if answer.ok:
            self._forget(delivery.member, delivery.job_id, delivery.version)
            self._count("delivered")
            self._logs.append(delivery.job_id, f"{where}: {describe(answer)}; delivered")
            return
        self._failed(delivery, where, describe(answer))

    def _failed(self, delivery: Delivery, where: str, outcome: str) -> None:
        """Due again after the backoff; given up when that would be more than a day after the job ended."""
        attempts = delivery.attempts + 1
        now = time.time()
        delay = self.backoff.delay(attempts)
        if now + delay > delivery.first + self.backoff.give_up:
            self._count("given_up")
            self._drop(
                delivery,
                f"{where}: {outcome}; given up after {attempts} attempt(s) in {seconds(now - delivery.first)}",
            )
            return
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(keys.webhook(delivery.job_id, delivery.version), "attempts", attempts)
        pipe.zadd(keys.WEBHOOKS_DUE, {delivery.member: int((now + delay) * 1000)}, xx=True)
        pipe.execute()
        self._logs.append(delivery.job_id, f"{where}: {outcome}; next attempt in {seconds(delay)}")

    def _count(self, outcome: str) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def _due_again(self, delivery: Delivery, when: float) -> None:
        """Back in the outbox, due at `when`, its attempts as they were (the server stops)."""
        self._client.zadd(keys.WEBHOOKS_DUE, {delivery.member: int(when * 1000)}, xx=True)

    def _drop(self, delivery: Delivery, line: str) -> None:
        self._forget(delivery.member, delivery.job_id, delivery.version)
        self._logs.append(delivery.job_id, line)
        log.warning("job %d: %s", delivery.job_id, line)

    def _forget(self, member: str, job_id: int, version: int) -> None:
        self._receivers.pop(member, None)
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(keys.webhook(job_id, version))
        pipe.zrem(keys.WEBHOOKS_DUE, member)
        pipe.execute()
