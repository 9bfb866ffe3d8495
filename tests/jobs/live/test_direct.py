"""The hot path's direct calls (heroagent/jobs/live/direct.py) against a real redis-server: the same answers
as through redis-py, a connection per thread that is given back and closed, and no call that can read
another call's reply after a connection broke."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.commands.core import Script

from heroagent.jobs.live.direct import DirectCalls
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import external_redis, wait_until

ECHO = "return {KEYS[1], ARGV[1], #ARGV}"


@pytest.fixture
def server(data_dir: Path) -> Iterator[EmbeddedRedis]:
    embedded = external_redis(data_dir)
    yield embedded
    embedded.stop()


@pytest.fixture
def client(server: EmbeddedRedis) -> Iterator[redis.Redis]:
    connected = redis.Redis.from_url(server.url, socket_timeout=5)
    yield connected
    connected.close()


def held_connections(client: redis.Redis) -> int:
    """How many connections named as ours Redis sees."""
    listed: list[dict[str, str]] = client.client_list()
    return sum(1 for c in listed if c.get("name") == "direct-test")


def test_a_script_answers_as_through_redis_py(client: redis.Redis) -> None:
    script = client.register_script(ECHO)
    direct = DirectCalls(client)
    assert direct.script(script, keys=["k"], args=["a", 2, 1.5, b"\xff"]) == script(
        keys=["k"], args=["a", 2, 1.5, b"\xff"]
    )
    assert direct.script(script, keys=["k"], args=["é"]) == [b"k", "é".encode(), 1]


def test_a_script_redis_forgot_is_loaded_again(client: redis.Redis) -> None:
    script = client.register_script(ECHO)
    direct = DirectCalls(client)
    assert direct.script(script, keys=["k"], args=["a"])[0] == b"k"  # loaded now (NOSCRIPT first)
    client.script_flush()
    assert direct.script(script, keys=["k"], args=["b"])[1] == b"b"


def test_an_error_reply_is_raised_and_the_connection_goes_on(client: redis.Redis) -> None:
    failing = client.register_script("return redis.error_reply('NOPE ' .. ARGV[1])")
    echo = client.register_script(ECHO)
    direct = DirectCalls(client)
    with pytest.raises(redis.ResponseError, match="NOPE x"):
        direct.script(failing, args=["x"])
    assert direct.script(echo, keys=["k"], args=["after"])[1] == b"after"


def test_a_script_sent_with_a_blpop_runs_first_and_the_blpop_answers(client: redis.Redis) -> None:
    """`script_then_blpop`: one write, two replies read in order; the script's effect is there before
    the BLPOP looks, Redis forgetting the script costs that one call its effect, and an error reply of
    the script is raised only after the BLPOP's reply was read (the connection stays in step)."""
    push = client.register_script("redis.call('RPUSH', ARGV[1], ARGV[2]) return 1")
    direct = DirectCalls(client)
    assert direct.script_then_blpop(push, ["list", "first"], ["list"], 1) == (b"list", b"first")
    assert direct.script_then_blpop(push, ["other", "x"], ["list"], 0.05) is None  # timed out: nothing there
    client.script_flush()
    assert direct.script_then_blpop(push, ["list", "lost"], ["list", "other"], 1) == (b"other", b"x")
    assert client.llen("list") == 0, "NOSCRIPT: the script did not run"
    assert client.script_exists(push.sha) == [True], "loaded again for the next call"
    assert direct.script_then_blpop(push, ["list", "again"], ["list"], 1) == (b"list", b"again")
    failing = client.register_script("return redis.error_reply('NOPE ' .. ARGV[1])")
    client.rpush("list", "waiting")
    with pytest.raises(redis.ResponseError, match="NOPE y"):
        direct.script_then_blpop(failing, ["y"], ["list"], 1)
    assert client.llen("list") == 0, "the BLPOP ran"
    assert direct.command("PING") in (b"PONG", "PONG"), "and its reply was read: the next call gets its own"


def test_an_argument_redis_cannot_take_is_refused_before_anything_is_sent(client: redis.Redis) -> None:
    echo = client.register_script(ECHO)
    direct = DirectCalls(client)
    for bad in (None, True, object()):
        with pytest.raises(redis.DataError):
            direct.script(echo, keys=["k"], args=[bad])  # type: ignore[list-item]
    assert direct.script(echo, keys=["k"], args=["fine"])[1] == b"fine"


def test_a_killed_connection_and_a_restarted_redis_are_reconnected(client: redis.Redis, server: EmbeddedRedis) -> None:
    echo = client.register_script(ECHO)
    direct = DirectCalls(client)
    direct.script(echo, keys=["k"], args=["a"])
    client.client_kill_filter(skipme=True)  # every connection but the one asking
    assert direct.script(echo, keys=["k"], args=["b"])[1] == b"b"
    server.stop()
    server.start()  # same port; the scripts are gone with the old process
    assert direct.script(echo, keys=["k"], args=["c"])[1] == b"c"
    assert direct.blpop(["nothing-here"], 0.01) is None


def test_a_reply_left_unread_is_never_taken_for_the_next_one(server: EmbeddedRedis) -> None:
    """A BLPOP that gave up on the socket (timeout) leaves its reply coming; that connection is dropped,
    so the next call cannot read the popped value as its own answer."""
    impatient = redis.Redis.from_url(server.url, socket_timeout=0.2, retry=None)
    other = redis.Redis.from_url(server.url)
    try:
        echo = impatient.register_script(ECHO)
        direct = DirectCalls(impatient)
        with pytest.raises(redis.TimeoutError):
            direct.blpop(["late"], 2)
        other.rpush("late", "popped")
        assert direct.script(echo, keys=["k"], args=["mine"]) == [b"k", b"mine", 1]
        assert direct.blpop(["late"], 1) == (b"late", b"popped")  # the value waited for the next pop
    finally:
        impatient.close()
        other.close()


@pytest.fixture
def counted(server: EmbeddedRedis) -> Iterator[tuple[redis.Redis, redis.Redis, Script]]:
    """A client whose connections Redis lists as "direct-test", a watcher that counts them, and ECHO
    loaded already (no NOSCRIPT fallback through the pool to count)."""
    client = redis.Redis.from_url(server.url, client_name="direct-test")
    watcher = redis.Redis.from_url(server.url)
    watcher.script_load(ECHO)
    yield client, watcher, client.register_script(ECHO)
    client.close()
    watcher.close()


def test_each_thread_has_a_connection_of_its_own_given_back_when_it_ends(
    counted: tuple[redis.Redis, redis.Redis, Script],
) -> None:
    client, watcher, echo = counted
    direct = DirectCalls(client)
    barrier = threading.Barrier(6)
    answers: list[object] = []

    def call(n: int) -> None:
        answers.append(direct.script(echo, keys=["k"], args=[n])[1])
        barrier.wait(timeout=10)  # every thread holds its connection at once

    threads = [threading.Thread(target=call, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [str(n).encode() for n in range(6)]  # type: ignore[type-var]
    assert held_connections(watcher) == 6  # one per thread
    direct.script(echo, keys=["k"], args=["main"])  # a new thread takes one: the ended threads' go back
    assert len(client.connection_pool._available_connections) >= 5
    assert held_connections(watcher) == 6  # one of theirs reused, none made anew


def test_closing_the_client_closes_the_held_connections_and_a_later_call_reconnects(
    counted: tuple[redis.Redis, redis.Redis, Script],
) -> None:
    client, watcher, echo = counted
    direct = DirectCalls(client)
    direct.script(echo, keys=["k"], args=["a"])
    assert held_connections(watcher) == 1
    client.close()
    assert wait_until(lambda: held_connections(watcher) == 0)  # Redis sees a close when it next polls
    assert direct.script(echo, keys=["k"], args=["b"])[1] == b"b"


def test_a_forked_child_uses_a_connection_of_its_own(client: redis.Redis) -> None:
    echo = client.register_script(ECHO)
    direct = DirectCalls(client)
    direct.script(echo, keys=["k"], args=["parent"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answers over the pipe, never returns into pytest
        try:
            reply = direct.script(echo, keys=["k"], args=["child"])
            os.write(write, reply[1])
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 100) == b"child"
    os.close(read)
    assert status == 0
    for n in range(20):  # the parent's connection was not used by the child: its replies are its own
        assert direct.script(echo, keys=["k"], args=[n])[1] == str(n).encode()


BUSY = """
redis.call('INCR', KEYS[1])
local start = redis.call('TIME')
local now = start
while (now[1] - start[1]) * 1000000 + (now[2] - start[2]) < 500000 do now = redis.call('TIME') end
return 1
"""


def test_a_client_that_gives_up_at_once_is_not_retried(server: EmbeddedRedis) -> None:
    """A request-path client (`request_options`: retries 0) gets a timeout once, as it would through
    redis-py: the call is not made again through the client's pool (whose ready connection would then
    time out too and be closed)."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    impatient = redis.Redis.from_url(
        server.url, socket_timeout=0.2, retry=Retry(NoBackoff(), 0), client_name="direct-test"
    )
    other = redis.Redis.from_url(server.url)
    try:
        busy = impatient.register_script(BUSY)
        other.script_load(BUSY)
        direct = DirectCalls(impatient)
        direct.command("PING")  # this thread's connection, held
        impatient.ping()  # and a second one, ready in the pool
        with pytest.raises(redis.TimeoutError):
            direct.script(busy, keys=["runs"])
        assert wait_until(lambda: other.get("runs") == b"1")
        assert wait_until(lambda: held_connections(other) == 1)  # the pool's, never used for a retry
        assert not wait_until(lambda: held_connections(other) != 1, timeout=1.5)
    finally:
        impatient.close()
        other.close()


def test_a_client_that_gives_up_at_once_still_takes_a_fresh_connection_after_a_restart(
    server: EmbeddedRedis,
) -> None:
    """Redis restarted: the connection a thread holds is dead, and is made anew before the call (as
    the pool checks what it hands out), so even a client that never retries does not fail once."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(server.url, retry=Retry(NoBackoff(), 0))
    try:
        echo = client.register_script(ECHO)
        direct = DirectCalls(client)
        assert direct.script(echo, keys=["k"], args=["before"])[1] == b"before"
        server.stop()
        server.start()
        client.script_load(ECHO)  # the new Redis knows it (its NOSCRIPT path is tested above)
        assert direct.script(echo, keys=["k"], args=["after"])[1] == b"after"
        assert direct.blpop(["nothing-here"], 0.01) is None
    finally:
        client.close()
