"""Webhooks (issue 29, item 3): a receiver that checks the signature sees every final state exactly once per
job, despite 500s, a receiver down for a while and a server restart; hostile receivers (hanging, redirecting
forever, answering without end) hold nothing up; private addresses are refused unless allowed.

Real processes: the server (`HeroAgent` with its embedded Redis), and receivers that are `http.server`s on
127.0.0.1 on free ports in threads of this process. The backoff is made small through `webhooks.BACKOFF`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from heroagent import HeroAgent
from heroagent.config import Config
from heroagent.jobs import JobStatus, keys
from heroagent.jobs.server import webhooks
from heroagent.jobs.server.webhook_http import ANSWER_CAP, Deadlines, Refused, post, refusal
from heroagent.jobs.signing import sign, verify, webhook_secret
from tests.conftest import child_env, free_port, make_config, wait_until

QUICK = webhooks.Backoff(first=0.05, cap=0.2)  # the day of retries stays a day; the waits are short


@dataclass
class Request:
    """One request a receiver got."""

    path: str
    delivery: str
    attempt: int
    signed: bool  # the signature and the timestamp checked out
    body: dict[str, Any]
    status: int = 0  # what the receiver answered


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1: checks every request's signature with the secret (401 if it does not
    check out) and answers by path: /ok 200; /flaky 500 to a delivery's first attempt, then 200; /fail 500;
    /hang waits until `release` is set, then 200; /redirect 302 to itself; /endless 200 with a body that
    never ends; /big 200 with 10 MB; /drip the status line, then a byte of header every 0.3 s, forever."""

    port: int = field(default_factory=free_port)
    secret: str = ""
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hanging: int = 0
    most_hanging: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: set[str] = field(default_factory=set)
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def accepted(self) -> Counter[str]:
        """Delivery id -> how many times it was answered 2xx."""
        with self._lock:
            return Counter(r.delivery for r in self.requests if 200 <= r.status < 300)

    def of(self, delivery: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.delivery == delivery]

    def first_time(self, delivery: str) -> bool:
        """Whether this is the first request of that delivery (noted as it arrives)."""
        with self._lock:
            first = delivery not in self._arrived
            self._arrived.add(delivery)
            return first

    def note(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def hang(self) -> None:
        with self._lock:
            self.hanging += 1
            self.most_hanging = max(self.most_hanging, self.hanging)
        try:
            self.release.wait(60)
        finally:
            with self._lock:
                self.hanging -= 1


def checks_out(secret: str, timestamp: str, signature: str, raw: bytes) -> bool:
    """What a receiver does, with the standard library only (as the README shows it)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Handler(http.server.BaseHTTPRequestHandler):
    """A receiver's answers (`receiver` is set by `_handler`)."""

    protocol_version = "HTTP/1.1"
    receiver: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = Request(
            path=self.path,
            delivery=self.headers.get("X-HeroAgent-Delivery", ""),
            attempt=int(self.headers.get("X-HeroAgent-Attempt", "0")),
            signed=checks_out(
                self.receiver.secret,
                self.headers.get("X-HeroAgent-Timestamp", ""),
                self.headers.get("X-HeroAgent-Signature", ""),
                raw,
            ),
            body=json.loads(raw),
        )
        try:
            request.status = self._answer(request)
        except OSError:  # the sender hung up (a capped read, its deadline, its stop)
            request.status = -1
        self.receiver.note(request)

    def _send(self, status: int, body: bytes, **headers: str) -> int:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return status

    def _answer(self, request: Request) -> int:
        if not request.signed:
            return self._send(401, b"bad signature")
        if self.path == "/flaky":  # 500 to a delivery's first attempt
            first = self.receiver.first_time(request.delivery)
            return self._send(500, b"first attempt refused") if first else self._send(200, b"ok")
        answer = getattr(self, "answer_" + self.path.strip("/"), None)
        return int(answer()) if answer is not None else self._send(200, b"ok")

    def answer_fail(self) -> int:
        return self._send(500, b"always failing")

    def answer_hang(self) -> int:
        self.receiver.hang()
        return self._send(200, b"ok at last")

    def answer_redirect(self) -> int:
        return self._send(302, b"", Location=self.receiver.url("/redirect"))

    def answer_big(self) -> int:
        self.send_response(200)
        self.send_header("Content-Length", str(10 * 1024 * 1024))
        self.end_headers()
        for _ in range(160):
            self.wfile.write(b"x" * 65536)
        return 200

    def answer_endless(self) -> int:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:  # until the sender hangs up (OSError)
            self.wfile.write(b"10000\r\n" + b"y" * 65536 + b"\r\n")

    def answer_drip(self) -> int:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self.wfile.flush()
        while not self.receiver.release.wait(0.3):
            self.wfile.write(b"z")
            self.wfile.flush()
        return -1


def _handler(receiver: Receiver) -> type[Handler]:
    return type("ReceiverHandler", (Handler,), {"receiver": receiver})


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    """Start receivers; every one is stopped at the end."""
    started: list[Receiver] = []

    def start() -> Receiver:
        receiver = Receiver().start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def agents(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., HeroAgent]]:
    """Start servers on `data_dir` (one at a time), with a quick backoff; every one is stopped at the end."""
    monkeypatch.setattr(webhooks, "BACKOFF", QUICK)
    (data_dir / "share" / "scripts").mkdir(parents=True)
    started: list[HeroAgent] = []

    def start(config: Config | None = None, **jobs: object) -> HeroAgent:
        if config is None:
            config = make_config(
                data_dir,
                webdav={"enabled": False, "root": str(data_dir / "share")},
                ui={"enabled": False},
                jobs={"lease_seconds": 2.0, "worker_count": 3, "webhook_allow_private": True, **jobs},
            )
        agent = HeroAgent(config)
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in reversed(started):
        agent.stop()


def config_of(data_dir: Path, **sections: Any) -> Config:
    jobs: dict[str, object] = {"lease_seconds": 2.0, "worker_count": 3, "webhook_allow_private": True}
    jobs.update(sections.pop("jobs", {}))
    return make_config(
        data_dir,
        webdav={"enabled": False, "root": str(data_dir / "share")},
        ui={"enabled": False},
        jobs=jobs,
        **sections,
    )


def webhook_lines(agent: HeroAgent, job_id: int) -> list[str]:
    """The job's log lines about its webhook, without their time stamps."""
    lines = agent.get_job_manager().get_log(job_id).splitlines()
    return [line.split(" ", 2)[2] for line in lines if " webhook " in line]


def outbox_empty(agent: HeroAgent) -> bool:
    assert agent.redis is not None
    client = agent.redis.client()
    try:
        return client.zcard(keys.WEBHOOKS_DUE) == 0 and not list(client.scan_iter("hero:webhook:*"))
    finally:
        client.close()


def final_states(agent: HeroAgent, ids: list[int]) -> dict[str, Any]:
    """Delivery id -> the job's final state, for each job once it ended."""
    jm = agent.get_job_manager()
    finals = [jm.wait_for_job(job_id, timeout=30) for job_id in ids]
    return {keys.webhook_member(job.job_id, job.version): job for job in finals}


def assert_each_once(receiver: Receiver, finals: dict[str, Any]) -> None:
    """Every final state was answered 2xx once, signed, and its body is that state in the API's form."""
    assert receiver.accepted() == Counter(dict.fromkeys(finals, 1))
    for delivery, job in finals.items():
        taken = [r for r in receiver.of(delivery) if r.status == 200]
        body = taken[0].body
        assert taken[0].signed
        assert body["event"] == "job.ended"
        assert (body["job_id"], body["version"], body["status"]) == (job.job_id, job.version, job.status.value)
        assert body["result"] == job.result and body["error"] == job.error
    assert all(r.signed for r in receiver.requests)


# ---------------------------------------------------------------- exactly once


def test_every_final_state_arrives_once_signed_despite_500s_and_a_receiver_restart(
    agents: Callable[..., HeroAgent], receivers: Callable[[], Receiver]
) -> None:
    receiver = receivers()
    agent = agents()
    receiver.secret = webhook_secret(agent.config, create=False) or ""  # made by the server at its start
    assert len(receiver.secret) >= 32
    jm = agent.get_job_manager()
    hook = receiver.url("/flaky")
    ids = [
        jm.create_job("t", "!!fake.return_success message:'hi'", callback_url=hook, log=n % 2 == 0).job_id
        for n in range(6)
    ]
    ids += [jm.create_job("t", "!!fake.return_error message:'boom'", callback_url=hook).job_id for _ in range(3)]
    finals = final_states(agent, ids)
    assert {job.status for job in finals.values()} == {JobStatus.DONE, JobStatus.ERROR}
    assert wait_until(lambda: len(receiver.accepted()) == len(ids), timeout=30)
    assert_each_once(receiver, finals)
    for delivery in finals:  # the first attempt of each got a 500, the second a 200
        assert [(r.attempt, r.status) for r in receiver.of(delivery)] == [(1, 500), (2, 200)]

    # Every attempt and its answer is in the job's log, whether or not the job keeps a log of its own.
    lines = webhook_lines(agent, ids[1])
    member = keys.webhook_member(ids[1], jm.get_job(ids[1]).version)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"webhook {member} attempt 1 to {hook}: 500 Internal Server Error: first attempt")
    assert "; next attempt in " in lines[0]
    assert lines[1] == f"webhook {member} attempt 2 to {hook}: 200 OK: ok; delivered"

    # The receiver goes away; jobs end meanwhile; it comes back on the same port: each is delivered once.
    receiver.stop()
    more = [jm.create_job("t", "!!fake.return_success", callback_url=hook).job_id for _ in range(4)]
    more_finals = final_states(agent, more)
    refused = "ConnectionRefusedError: [Errno 111] Connection refused; next attempt in "
    assert wait_until(lambda: all(any(refused in line for line in webhook_lines(agent, i)) for i in more))
    receiver.start()
    assert wait_until(lambda: len(receiver.accepted()) == len(ids) + len(more), timeout=30)
    assert_each_once(receiver, {**finals, **more_finals})
    assert wait_until(lambda: outbox_empty(agent))
    assert not [line for line in agent.notices() if "webhooks" in line]


def test_a_server_restart_keeps_the_outbox_and_topic_webhooks_follow_the_config(
    agents: Callable[..., HeroAgent], receivers: Callable[[], Receiver], data_dir: Path
) -> None:
    """The outbox is in Redis (AOF): deliveries due when the server stopped are made after its restart.
    A topic's webhook serves its jobs without a callback_url; a job's own callback_url wins."""
    receiver = Receiver()  # not listening yet: every attempt is refused
    hooked = {"hooked": {"webhook": receiver.url("/ok")}}
    agent = agents(config_of(data_dir, topics=hooked))
    jm = agent.get_job_manager()
    by_topic = [jm.create_job("hooked", "!!fake.return_success").job_id for _ in range(3)]
    own = jm.create_job("hooked", "!!fake.return_success", callback_url=receiver.url("/own")).job_id
    plain = jm.create_job("other", "!!fake.return_success").job_id
    finals = final_states(agent, [*by_topic, own])
    jm.wait_for_job(plain, timeout=30)
    assert wait_until(lambda: all(webhook_lines(agent, i) for i in [*by_topic, own]))
    assert webhook_lines(agent, plain) == []
    agent.stop()

    try:
        receiver.start()
        receiver.secret = webhook_secret(agent.config, create=False) or ""
        again = agents(config_of(data_dir, topics={}))  # the same data dir: the same Redis, the same secret
        assert wait_until(lambda: len(receiver.accepted()) == 4, timeout=30)
    finally:
        receiver.stop()
    assert_each_once(receiver, finals)
    assert {r.path for r in receiver.requests} == {"/ok", "/own"}
    assert [r.path for r in receiver.requests if r.delivery.startswith(f"{own}:")] == ["/own"]
    assert wait_until(lambda: outbox_empty(again))
    assert again.redis is not None
    client = again.redis.client()
    try:
        assert client.hgetall(keys.WEBHOOK_TOPICS) == {}  # the topic left the config: its webhook went with it
    finally:
        client.close()
    jm = again.get_job_manager()
    jm.wait_for_job(jm.create_job("hooked", "!!fake.return_success").job_id, timeout=30)
    assert wait_until(lambda: outbox_empty(again)) and len(receiver.requests) == 4


def test_a_server_stopped_mid_delivery_sends_it_again_after_its_restart(
    agents: Callable[..., HeroAgent], receivers: Callable[[], Receiver], data_dir: Path
) -> None:
    """The stop cuts the attempt in flight (it does not wait out the receiver) and puts it back, due, its
    attempt not counted; the next server sends it, and the receiver sees it answered once."""
    receiver = receivers()
    config = config_of(data_dir, jobs={"webhook_timeout": 60.0})
    agent = agents(config)
    receiver.secret = webhook_secret(agent.config, create=False) or ""
    jm = agent.get_job_manager()
    job_id = jm.create_job("t", "!!fake.return_success", callback_url=receiver.url("/hang")).job_id
    (final,) = final_states(agent, [job_id]).values()
    assert wait_until(lambda: receiver.hanging == 1)
    agent.stop()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("heroagent-webhook")]
    member = keys.webhook_member(job_id, final.version)
    lines = [line.split(" ", 2)[2] for line in (data_dir / "logs" / f"{job_id}.log").read_text().splitlines()]
    assert lines == [
        f"webhook {member} attempt 1 to {receiver.url('/hang')}: cut short by the server's stop; it is sent again"
    ]
    receiver.release.set()  # the cut request's answer goes to no one; the next one is answered at once

    again = agents(config)
    assert wait_until(lambda: len(receiver.of(member)) == 2 and outbox_empty(again), timeout=30)
    assert webhook_lines(again, job_id)[-1].endswith(": 200 OK: ok at last; delivered")
    assert [r.attempt for r in receiver.of(member)] == [1, 1]  # the cut attempt did not count


# ---------------------------------------------------------------- hostile receivers


def test_a_hanging_receiver_holds_neither_other_receivers_nor_the_job_system(
    agents: Callable[..., HeroAgent], receivers: Callable[[], Receiver], data_dir: Path
) -> None:
    slow, fast = receivers(), receivers()
    topics = {"slow": {"webhook": slow.url("/hang")}, "fast": {"webhook": fast.url("/ok")}}
    agent = agents(config_of(data_dir, topics=topics, jobs={"webhook_timeout": 60.0}))
    slow.secret = fast.secret = webhook_secret(agent.config, create=False) or ""
    jm = agent.get_job_manager()
    # More waiting for the hanging receiver than the loop looks at in one claim: they must not hide the others.
    slow_ids = [job.job_id for job in jm.create_jobs([{"topic": "slow", "params": "!!fake.return_success"}] * 110)]
    assert len(slow_ids) > webhooks.WINDOW
    final_states(agent, slow_ids)
    assert wait_until(lambda: slow.hanging == webhooks.PER_RECEIVER)
    fast_ids = [jm.create_job("fast", "!!fake.return_success").job_id for _ in range(12)]
    fast_finals = final_states(agent, fast_ids)
    assert wait_until(lambda: len(fast.accepted()) == len(fast_ids), timeout=30)
    # All of that while the slow receiver still held its requests, and never more than PER_RECEIVER of them.
    assert slow.hanging == webhooks.PER_RECEIVER and not slow.release.is_set()
    assert all(jm.get_job(i).status is JobStatus.DONE for i in slow_ids)
    assert_each_once(fast, fast_finals)
    slow.release.set()
    slow_finals = final_states(agent, slow_ids)
    assert wait_until(lambda: len(slow.accepted()) == len(slow_ids), timeout=60)
    assert_each_once(slow, slow_finals)
    assert slow.most_hanging == webhooks.PER_RECEIVER


def test_redirects_endless_answers_and_drips_cost_one_capped_attempt_each(
    agents: Callable[..., HeroAgent], receivers: Callable[[], Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = receivers()
    monkeypatch.setattr(webhooks, "BACKOFF", webhooks.Backoff(first=0.05, cap=0.2, give_up=2.0))  # a short "day"
    agent = agents(webhook_timeout=1.0)
    receiver.secret = webhook_secret(agent.config, create=False) or ""
    jm = agent.get_job_manager()
    job = {
        path: jm.create_job("t", "!!fake.return_success", callback_url=receiver.url(path)).job_id
        for path in ("/redirect", "/endless", "/big", "/drip", "/fail")
    }
    for job_id in job.values():
        jm.wait_for_job(job_id, timeout=30)
    # Everything ends: delivered, or given up once the (here short) time for retries is over.
    assert wait_until(lambda: outbox_empty(agent), timeout=60)

    redirect = webhook_lines(agent, job["/redirect"])
    assert len(redirect) >= 2 and "given up after" in redirect[-1]
    assert all(f": 302 Found, a redirect to {receiver.url('/redirect')} (not followed)" in line for line in redirect), (
        redirect
    )
    member = keys.webhook_member(job["/redirect"], jm.get_job(job["/redirect"]).version)
    attempts = [r.attempt for r in receiver.of(member)]
    assert attempts == list(range(1, len(redirect) + 1))  # one request per attempt: the Location never followed

    for path in ("/endless", "/big"):  # 200, read up to 64 KiB: delivered at the first attempt
        lines = webhook_lines(agent, job[path])
        assert len(lines) == 1 and lines[0].endswith("; delivered") and ": 200 OK: " in lines[0], lines
        assert len(lines[0]) < 600

    drip = webhook_lines(agent, job["/drip"])
    assert drip and all("TimeoutError: no complete answer within 1 s ([jobs] webhook_timeout)" in line for line in drip)
    assert "given up after" in drip[-1]

    failed = webhook_lines(agent, job["/fail"])
    assert all(": 500 Internal Server Error: always failing" in line for line in failed)
    assert "given up after" in failed[-1] and all("next attempt in" in line for line in failed[:-1])
    notices = [line for line in agent.notices() if "webhooks" in line]
    assert notices and "delivery(ies) given up after a day of failed attempts" in notices[0]


def test_a_capped_answer_and_a_deadline_directly(receivers: Callable[[], Receiver]) -> None:
    """`post` alone: the first ANSWER_CAP bytes of an endless answer, and a drip cut at the deadline."""
    receiver = receivers()
    receiver.secret = "0123456789abcdef0123"
    body = json.dumps({"n": 1}).encode()
    headers = {"X-HeroAgent-Timestamp": str(int(time.time()))}
    headers["X-HeroAgent-Signature"] = sign(receiver.secret, int(headers["X-HeroAgent-Timestamp"]), body)
    deadlines = Deadlines()
    answer = post(receiver.url("/endless"), body, headers, timeout=5, allow_private=True, deadlines=deadlines)
    assert answer.ok and len(answer.body) == ANSWER_CAP

    watchdog_stop = threading.Event()

    def watchdog() -> None:  # what the delivery loop's step does
        while not watchdog_stop.wait(0.05):
            deadlines.expire()

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        with pytest.raises(TimeoutError, match=r"no complete answer within 0\.5 s"):
            post(receiver.url("/drip"), body, headers, timeout=0.5, allow_private=True, deadlines=deadlines)
    finally:
        watchdog_stop.set()
        thread.join(5)


# ---------------------------------------------------------------- private addresses


def test_a_private_address_is_refused_when_not_allowed(
    agents: Callable[..., HeroAgent], receivers: Callable[[], Receiver]
) -> None:
    receiver = receivers()
    agent = agents(webhook_allow_private=False)
    receiver.secret = webhook_secret(agent.config, create=False) or ""
    jm = agent.get_job_manager()
    urls = [f"http://127.0.0.1:{receiver.port}/ok", f"http://localhost:{receiver.port}/ok", "http://[::1]:9/x"]
    ids = [jm.create_job("t", "!!fake.return_success", callback_url=url).job_id for url in urls]
    for job_id in ids:
        jm.wait_for_job(job_id, timeout=30)
    assert wait_until(lambda: outbox_empty(agent) and all(webhook_lines(agent, i) for i in ids))
    assert receiver.requests == []
    for job_id, url in zip(ids, urls, strict=True):
        (line,) = webhook_lines(agent, job_id)
        assert line.startswith(f"webhook {job_id}:") and f" attempt 1 to {url}: not sent: " in line
        assert "a loopback address; webhooks to private addresses are off" in line
        assert line.endswith("([jobs] webhook_allow_private = false); dropped")
    notices = [line for line in agent.notices() if "webhooks" in line]
    assert notices and "3 refused (a private address or no http(s) URL)" in notices[0]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4 address inside an IPv6 one is checked as itself
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "private"),  # a cloud's metadata service (link-local, which Python counts private)
        ("fe80::1", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "private"),
        ("::", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("240.0.0.1", "private"),
        ("not-an-ip", "unparsable"),
        ("93.184.216.34", ""),
        ("2606:4700:4700::1111", ""),
    ],
)
def test_which_addresses_are_private(address: str, kind: str) -> None:
    assert refusal(address) == kind


def test_a_name_resolving_to_a_private_address_is_refused_before_any_connection() -> None:
    deadlines = Deadlines()
    with pytest.raises(Refused, match=r"localhost is (127\.0\.0\.1|::1), a loopback address"):
        post("http://localhost:1/x", b"{}", {}, timeout=1, allow_private=False, deadlines=deadlines)
    with pytest.raises(Refused, match=r"not an http:// or https:// URL"):
        post("ftp://example.com/x", b"{}", {}, timeout=1, allow_private=True, deadlines=deadlines)


# ---------------------------------------------------------------- the secret


def test_the_secret_is_kept_private_and_the_cli_prints_it(agents: Callable[..., HeroAgent], data_dir: Path) -> None:
    env = child_env(HEROAGENT_DATA_DIR=str(data_dir))
    before = subprocess.run(
        [sys.executable, "-m", "heroagent", "webhooks", "secret"], capture_output=True, text=True, env=env, timeout=60
    )
    assert before.returncode == 2 and "no webhook secret yet in" in before.stderr and "heroagent serve" in before.stderr
    agent = agents()
    path = agent.config.webhook_secret_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = path.read_text().strip()
    shown = subprocess.run(
        [sys.executable, "-m", "heroagent", "webhooks", "secret"], capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0 and shown.stdout.strip() == secret
    assert webhook_secret(agent.config, create=True) == secret  # kept: the receivers' copy stays right
    configured = subprocess.run(
        [sys.executable, "-m", "heroagent", "webhooks", "secret"],
        capture_output=True,
        text=True,
        env={**env, "HEROAGENT_JOBS_WEBHOOK_SECRET": "configured-0123456789"},
        timeout=60,
    )
    assert configured.stdout.strip() == "configured-0123456789"


def test_sign_and_verify() -> None:
    body = b'{"job_id":1}'
    signature = sign("s3cret-0123456789", 1_700_000_000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify("s3cret-0123456789", "1700000000", signature, body, now=1_700_000_100)
    with_stdlib = hmac.new(b"s3cret-0123456789", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={with_stdlib}"
    assert not verify("s3cret-0123456789", "1700000000", signature, body + b" ", now=1_700_000_100)
    assert not verify("other-secret-0123", "1700000000", signature, body, now=1_700_000_100)
    assert not verify("s3cret-0123456789", "1700000000", signature, body, now=1_700_000_301)  # a replay, late
    assert not verify("s3cret-0123456789", "-1", signature, body, now=0)
