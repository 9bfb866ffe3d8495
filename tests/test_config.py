"""The config: defaults, file over defaults, environment overrides, and one clear line per mistake."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from heroagent import config as cfg
from heroagent.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "heroagent.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_design_card() -> None:
    c = cfg.default_config()
    assert c.data_dir == "~/hero/var/heroagent"
    assert (c.redis.enabled, c.redis.url, c.redis.host, c.redis.tcp_port) == (True, "", "127.0.0.1", 6379)
    assert c.redis.appendonly is True
    assert (c.webdav.host, c.webdav.port, c.webdav.readonly, c.webdav.users) == ("127.0.0.1", 9999, False, {})
    assert (c.ui.host, c.ui.port, c.ui.password, c.ui.api_token) == ("127.0.0.1", 9021, "", "")
    assert (c.jobs.worker_count, c.jobs.queue_poll_interval, c.jobs.default_timeout) == (5, 0.1, 60.0)
    assert c.jobs.topics == ["*"]
    assert c.redis_socket == Path("~/hero/var/heroagent/redis/redis.sock").expanduser()
    assert c.jobs_db_path == Path("~/hero/var/heroagent/jobsdb").expanduser()


def test_no_file_means_defaults() -> None:
    assert cfg.load_config(None, environ={}) == cfg.default_config()


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
data_dir = "/srv/hero"
[redis]
tcp_port = 6380
[webdav.users]
alice = "s3cret"
[jobs]
worker_count = 2
queue_poll_interval = 1
topics = ["mail", "backup"]
""",
    )
    c = cfg.load_config(path, environ={})
    assert c.data_dir == "/srv/hero"
    assert c.redis.tcp_port == 6380
    assert c.webdav.users == {"alice": "s3cret"}
    assert c.jobs.worker_count == 2
    assert c.jobs.queue_poll_interval == 1.0 and isinstance(c.jobs.queue_poll_interval, float)
    assert c.jobs.topics == ["mail", "backup"]
    assert c.webdav_root == Path("/srv/hero/webdav")


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[redis]\ntcp_port = 6380\n")
    env = {
        "HEROAGENT_REDIS_TCP_PORT": "6390",
        "HEROAGENT_UI_ENABLED": "false",
        "HEROAGENT_JOBS_TOPICS": "a, b",
        "HEROAGENT_DATA_DIR": "/tmp/x",
        "HEROAGENT_WEBDAV_USERS": "alice:pw1,bob:pw2",
    }
    c = cfg.load_config(path, environ=env)
    assert c.redis.tcp_port == 6390
    assert c.ui.enabled is False
    assert c.jobs.topics == ["a", "b"]
    assert c.data_dir == "/tmp/x"
    assert c.webdav.users == {"alice": "pw1", "bob": "pw2"}


def test_heroagent_config_variable_picks_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[ui]\nport = 9100\n")
    assert cfg.load_config(None, environ={"HEROAGENT_CONFIG": str(path)}).ui.port == 9100


SCHEDULE = '[[schedules]]\nname = "s"\ntopic = "t"\nparams = "!!x.y"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[redis]\nport = 1\n", "[redis] port: unknown key; allowed here:"),
        ("colour = 1\n", "colour: unknown key"),
        ('[redis]\ntcp_port = "6379"\n', "[redis] tcp_port = '6379': must be an integer"),
        ("[redis]\ntcp_port = 70000\n", "[redis] tcp_port = 70000: must be a port number from 1 to 65535"),
        ("[ui]\nport = 9999\n", "[ui] port = 9999: port already used by [webdav] port"),
        ("[jobs]\nworker_count = 0\n", "[jobs] worker_count = 0: must be greater than 0"),
        ("[jobs]\ntopics = [1]\n", "[jobs] topics[0] = 1: must be a string"),
        ("[jobs]\nstop_grace = -1\n", "[jobs] stop_grace = -1.0: must be 0 or more"),
        ("[webdav]\nreadonly = 1\n", "[webdav] readonly = 1: must be true or false"),
        ("redis = 5\n", "redis = 5: must be a table [redis]"),
        ("[redis\n", "not valid TOML"),
        ('[redis]\nurl = "http://x"\n', "must start with redis://"),
        ('[webdav]\ntls_cert = "c.pem"\n', "tls_cert and tls_key must be set together"),
        # Issue 10: NaN and infinity (TOML has nan, inf, and 1e400 reads as inf) are never a setting.
        ("[jobs]\ndefault_timeout = nan\n", "[jobs] default_timeout = nan: must be a finite number"),
        ("[jobs]\nretry_delay = inf\n", "[jobs] retry_delay = inf: must be a finite number"),
        ("[scheduler]\nlease_seconds = 1e400\n", "[scheduler] lease_seconds = inf: must be a finite number"),
        ("[jobs]\nstop_grace = -nan\n", "[jobs] stop_grace = nan: must be a finite number"),
        (SCHEDULE + "every = 1e400\n", "schedule 's': every: inf must be a finite number"),
        (SCHEDULE + "every = nan\n", "schedule 's': every: nan must be a finite number"),
        (SCHEDULE + "every = 1e9\n", "schedule 's': every: 1000000000.0 must be at most 31622400"),
        (SCHEDULE + "every = 5\ntimeout = -inf\n", "schedule 's': timeout: -inf must be a finite number"),
        ('[redis]\npassword = "a\\" b"\n', "[redis] password: must not hold quotes"),
        ('[redis]\nappendfsync = "no"\n', '[redis] appendfsync = \'no\': must be "everysec" or "always"'),
        # Sentinel (issue 28, item 3)
        (
            '[redis]\nsentinels = ["10.0.0.1"]\nsentinel_master = "m"\n',
            "[redis] sentinels: '10.0.0.1' is not \"host:port\"",
        ),
        ('[redis]\nsentinels = ["h:99999"]\nsentinel_master = "m"\n', "[redis] sentinels: 'h:99999' is not"),
        ('[redis]\nsentinels = ["h:1; rm -rf /"]\nsentinel_master = "m"\n', 'is not "host:port"'),
        ('[redis]\nsentinels = ["h:26379"]\n', "[redis] sentinel_master = '': name the master"),
        ('[redis]\nsentinels = ["h:26379"]\nsentinel_master = "a b"\n', "[redis] sentinel_master = 'a b'"),
        ('[redis]\nsentinel_master = "m"\n', "[redis] sentinel_master: needs [redis] sentinels"),
        ("[redis]\nsentinel_tls = true\n", "[redis] sentinel_tls: needs [redis] sentinels"),
        ("[redis]\npartitions = 0\n", "[redis] partitions = 0: must be 1 to 64"),
        ('[redis]\ncluster = true\nurl = "redis://h:1"\npartitions = 65\n', "[redis] partitions = 65: must be 1 to 64"),
        ("[redis]\npartitions = 2\n", "[redis] partitions = 2: needs [redis] cluster = true"),
        ("[redis]\npartitions = 1e400\n", "[redis] partitions = inf: must be an integer"),
        ('[redis]\ncluster = "yes"\nurl = "redis://h:1"\n', "[redis] cluster = 'yes': must be true or false"),
        ("[jobs]\nworker_processes = -1\n", "[jobs] worker_processes = -1: must be 0 or more"),
        ("[jobs]\nworker_processes = 1000\n", "[jobs] worker_processes = 1000: must be at most 256"),
        ("[jobs]\nworker_processes = nan\n", "[jobs] worker_processes = nan: must be an integer"),
        (
            '[redis]\nsentinels = ["h:1"]\nsentinel_master = "m"\ntls_ca = "/etc/hostname"\n',
            "[redis] tls_*: with sentinels, set [redis] sentinel_tls = true",
        ),
        ('[redis]\nsentinels = ["h:1"]\nsentinel_master = "m"\nurl = "redis://x"\n', "[redis] url and sentinels"),
        ("[redis]\nmin_replicas = -1\n", "[redis] min_replicas = -1: must be 0 or more"),
        ("[redis]\nmin_replicas = 17\n", "[redis] min_replicas = 17: must be at most 16"),
        ("[redis]\nreplica_timeout = 0\n", "[redis] replica_timeout = 0.0: must be greater than 0"),
        ("[redis]\nreplica_timeout = 5\n", "[redis] replica_timeout = 5.0: must be at most 1.5"),
        ("[redis]\nreplica_timeout = nan\n", "[redis] replica_timeout = nan: must be a finite number"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ={})
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_two_services_may_share_a_port_when_one_is_off(tmp_path: Path) -> None:
    path = write(tmp_path, "[ui]\nport = 9999\n[webdav]\nenabled = false\n")
    assert cfg.load_config(path, environ={}).ui.port == 9999


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HEROAGENT_REDIS_TCP_PORT": "abc"}, "HEROAGENT_REDIS_TCP_PORT = 'abc': must be an integer"),
        ({"HEROAGENT_REDIS_PORT": "1"}, "HEROAGENT_REDIS_PORT: not a config key"),
        ({"HEROAGENT_UI_ENABLED": "maybe"}, "must be true or false"),
        ({"HEROAGENT_WEBDAV_USERS": "alice"}, "as name:password"),
    ],
)
def test_bad_environment_override(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match="environment") as info:
        cfg.load_config(None, environ=env)
    assert expected in str(info.value)


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found") as info:
        cfg.load_config(tmp_path / "nope.toml", environ={})
    assert "--config" not in str(info.value)  # a Python caller has no --config (issue 30, item 8)


def test_show_round_trips(tmp_path: Path) -> None:
    c = cfg.default_config()
    c.webdav.users = {"alice": 'p"w', "bob smith": "x"}
    c.jobs.topics = ["a", "b"]
    c.jobs.openrpc = {"*": "http://127.0.0.1:1/rpc", "calc": "unix:///tmp/calc.sock"}
    c.jobs.rhai.command = "rhai-run --strict"
    text = cfg.to_toml(c)
    tomllib.loads(text)
    path = write(tmp_path, text)
    again = cfg.load_config(path, environ={})
    assert again == c


def test_example_file_lists_every_key_with_its_default() -> None:
    """config.example.toml, uncommented, must parse to exactly the defaults and name every key."""
    example = (REPO / "config.example.toml").read_text()
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and "=" in line else line for line in example.splitlines()
    )
    data = tomllib.loads(uncommented)
    defaults = tomllib.loads(cfg.to_toml(cfg.default_config()))

    def keys(d: dict[str, object], prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out |= keys(v, f"{prefix}{k}.") if isinstance(v, dict) and k not in ("users", "openrpc") else {prefix + k}
        return out

    assert keys(data) == keys(defaults)
    for section in ("redis", "webdav", "ui", "jobs"):
        for key, value in defaults[section].items():
            if key not in ("users", "openrpc"):
                assert data[section][key] == value, (section, key)


SECRET = "pw-s3cret"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        (f'[redis]\nurl = "http://:{SECRET}@x/0"\n', {}, "[redis] url = 'http://:***@x/0': must start with redis://"),
        (f'[ui]\napi_token = ["{SECRET}"]\n', {}, "[ui] api_token = ***: must be a string"),
        (f'[ui]\npassword = ["{SECRET}"]\n', {}, "[ui] password = ***: must be a string"),
        (f'[redis]\npassword = ["{SECRET}"]\n', {}, "[redis] password = ***: must be a string"),
        (f'[jobs.ai]\napi_key = ["{SECRET}"]\n', {}, "[jobs.ai] api_key = ***: must be a string"),
        (f'[webdav.users]\nalice = ["{SECRET}"]\n', {}, "[webdav] users = ***: must be a table of name = string"),
        ("", {"HEROAGENT_WEBDAV_USERS": f"alice:{SECRET},bob"}, "HEROAGENT_WEBDAV_USERS = ***: must be a table"),
    ],
)
def test_a_bad_secret_setting_is_named_and_its_value_never_printed(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    """Errors go to the terminal and the service's log: a password, a token, the WebDAV users or a Redis
    URL's password are shown as *** (the setting is named, and what is wrong with it)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ=env)
    message = str(info.value)
    assert expected in message and SECRET not in message


# ---------------------------------------------------------------- webhooks (issue 29, item 3)


def test_webhook_settings_and_a_topics_webhook(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[jobs]
webhook_secret = "0123456789abcdef0123"
webhook_allow_private = true
webhook_timeout = 2.5
[topics.mail]
max_running = 2
webhook = "https://hooks.example.com/mail?token=abc"
[topics.billing]
webhook = "http://10.0.0.5:8080/in"
""",
    )
    c = cfg.load_config(path, environ={})
    assert (c.jobs.webhook_secret, c.jobs.webhook_allow_private, c.jobs.webhook_timeout) == (
        "0123456789abcdef0123",
        True,
        2.5,
    )
    assert c.topic_webhooks() == {
        "mail": "https://hooks.example.com/mail?token=abc",
        "billing": "http://10.0.0.5:8080/in",
    }
    # A table that names only a webhook sets no limits (limits set at run time for that topic stay).
    assert set(c.topic_limits()) == {"mail"} and c.topic_limits()["mail"].max_running == 2
    assert c.webhook_secret_path == c.data_path / "webhooks" / "secret"
    defaults = cfg.default_config().jobs
    assert (defaults.webhook_secret, defaults.webhook_allow_private, defaults.webhook_timeout) == ("", False, 10.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[topics.mail]\nwebhook = "ftp://x/y"\n',
            "[topics.mail] webhook = 'ftp://x/y': must be an http:// or https://",
        ),
        ('[topics.mail]\nwebhook = "http://a b"\n', "[topics.mail] webhook = 'http://a b': must be an http:// or"),
        ("[topics.mail]\nwebhook = 5\n", "[topics.mail] webhook = 5: must be a string"),
        ('[topics.mail]\nwebhook = ""\n', "[topics.mail] webhook = '': must be an http"),
        ("[topics.mail]\nhook = 1\n", "[topics.mail] hook: unknown field(s); allowed: max_running, rate, webhook"),
        ("[jobs]\nwebhook_timeout = 0\n", "[jobs] webhook_timeout = 0.0: must be greater than 0"),
        ("[jobs]\nwebhook_timeout = 121\n", "[jobs] webhook_timeout = 121.0: must be at most 120"),
        ("[jobs]\nwebhook_timeout = inf\n", "[jobs] webhook_timeout = inf: must be a finite number"),
        ('[jobs]\nwebhook_allow_private = "no"\n', "[jobs] webhook_allow_private = 'no': must be true or false"),
    ],
)
def test_bad_webhook_settings_are_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ={})
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("secret", ["short-s3cret", "  leading-space-0123456789", "tab\there-0123456789abcdef"])
def test_a_weak_webhook_secret_is_refused_and_never_shown(tmp_path: Path, secret: str) -> None:
    path = write(tmp_path, f'[jobs]\nwebhook_secret = "{secret}"\n')
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ={})
    message = str(info.value)
    assert "[jobs] webhook_secret: must be at least 16 printable characters" in message
    assert secret.strip() not in message
    with pytest.raises(ConfigError) as info:
        cfg.load_config(None, environ={"HEROAGENT_JOBS_WEBHOOK_SECRET": secret})
    assert secret.strip() not in str(info.value)


def test_a_topic_webhooks_secret_query_is_redacted_in_its_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[topics.mail]\nwebhook = "gopher://h/x?token=pw-s3cret"\n')
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ={})
    assert "token=***" in str(info.value) and "pw-s3cret" not in str(info.value)


def test_config_show_hides_the_webhook_secret() -> None:
    c = cfg.default_config()
    c.jobs.webhook_secret = "0123456789abcdef-s3cret"
    assert "0123456789abcdef-s3cret" not in cfg.to_toml(c, hide_secrets=True)
    assert 'webhook_secret = "***"' in cfg.to_toml(c, hide_secrets=True)


def test_a_topics_pause_on_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[topics.fragile]\npause_on_error = true\nmax_running = 3\n[topics.other]\npause_on_error = false\n"
    )
    c = cfg.load_config(path, environ={})
    assert c.topics_pausing_on_error() == ["fragile"]
    assert c.topic_limits()["fragile"].max_running == 3 and "other" not in c.topic_limits()
    bad = write(tmp_path, '[topics.fragile]\npause_on_error = "yes"\n')
    with pytest.raises(ConfigError, match=r"\[topics.fragile\] pause_on_error = 'yes': must be true or false"):
        cfg.load_config(bad, environ={})


# ---------------------------------------------------------------- [redis] key_prefix (issue 28, item 5)


@pytest.mark.parametrize("prefix", ["team-a:", "a:", "prod:agent1:", "A.b_c-9:", "x" * 63 + ":"])
def test_a_key_prefix(tmp_path: Path, prefix: str) -> None:
    path = write(tmp_path, f'[redis]\nkey_prefix = "{prefix}"\n')
    assert cfg.load_config(path, environ={}).redis.key_prefix == prefix
    assert cfg.load_config(None, environ={"HEROAGENT_REDIS_KEY_PREFIX": prefix}).redis.key_prefix == prefix


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a", "must end with ':' (e.g. 'a:'), so the ACL pattern ~a:* matches only its keys"),
        ("team.a", "must end with ':' (e.g. 'team.a:')"),
        ("a b:", "may only hold letters, digits"),
        ("a*:", "may only hold letters, digits"),
        ("*", "may only hold letters, digits"),
        ("a?:", "no spaces, quotes, glob characters"),
        ("[a]:", "may only hold"),
        ('a":', "may only hold"),
        ("a'b:", "may only hold"),
        ("a\\:", "may only hold"),
        ("a::", "empty parts"),
        (":", "empty parts"),
        (":a:", "empty parts"),
        ("a:\n", "may only hold"),
        ("a:\x00", "may only hold"),
        ("\u00e4:", "may only hold"),
        ("a:~b:", "may only hold"),
        ("a:&b:", "may only hold"),
        ("x" * 64 + ":", "must be at most 64 characters (it is 65)"),
        ("hero:", "no part of it may start with 'hero'"),
        ("herojobs:", "no part of it may start with 'hero'"),
        ("a:herojobs:", "no part of it may start with 'hero'"),
        ("Hero-x:", "no part of it may start with 'hero'"),
    ],
)
def test_a_hostile_key_prefix_is_refused_naming_the_setting_and_the_fix(
    tmp_path: Path, prefix: str, expected: str
) -> None:
    path = write(tmp_path, f"[redis]\nkey_prefix = {json.dumps(prefix)}\n")
    with pytest.raises(ConfigError) as info:
        cfg.load_config(path, environ={})
    message = str(info.value)
    assert "[redis] key_prefix" in message and expected in message and str(path) in message
    assert "\n" not in message
    assert 'e.g. "team-a:"' in message or "(e.g. '" in message  # the fix


def test_a_hostile_key_prefix_from_the_environment_is_refused_too() -> None:
    with pytest.raises(ConfigError, match=r"\[redis\] key_prefix = 'a b' \(or HEROAGENT_REDIS_KEY_PREFIX\)"):
        cfg.load_config(None, environ={"HEROAGENT_REDIS_KEY_PREFIX": "a b"})
