import pytest

from ses_ramp.config import SettingsError, load_settings, mask_url


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("RAMP_MAX_MESSAGE_BYTES", "lots")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert str(info.value).startswith("RAMP_MAX_MESSAGE_BYTES:")
    assert "\n" not in str(info.value)


def test_trip_level_at_ses_suspension_line_is_refused(monkeypatch):
    monkeypatch.setenv("RAMP_BOUNCE_TRIP_RATE", "0.05")
    with pytest.raises(SettingsError, match="RAMP_BOUNCE_TRIP_RATE must stay below"):
        load_settings(_env_file=None)


def test_bad_redis_url_is_refused_with_password_masked(monkeypatch):
    monkeypatch.setenv("RAMP_REDIS_URL", "http://user:hunter2@host:6379/0")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert "RAMP_REDIS_URL" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_redis_url_defaults_to_embedded_and_broker_follows_redis(monkeypatch):
    monkeypatch.delenv("RAMP_REDIS_URL", raising=False)
    s = load_settings(_env_file=None)
    assert s.uses_embedded_redis and s.effective_redis_url.startswith("redis://127.0.0.1:")
    s = load_settings(_env_file=None, redis_url="rediss://:pw@cache.internal:6380/2")
    assert s.effective_broker_url == "rediss://:pw@cache.internal:6380/2"


def test_mask_url_hides_only_the_password():
    assert mask_url("rediss://app:s3cret@cache:6380/1") == "rediss://app:***@cache:6380/1"
    assert mask_url("redis://cache:6379/0") == "redis://cache:6379/0"


def test_too_short_ramp_is_refused():
    with pytest.raises(SettingsError, match="RAMP_WARMUP_DAYS=30 is too short"):
        load_settings(_env_file=None, warmup_profile="b2b", warmup_days=30)


def test_unknown_timezone_is_refused():
    with pytest.raises(SettingsError, match="RAMP_DAY_TIMEZONE"):
        load_settings(_env_file=None, day_timezone="Mars/Olympus")


@pytest.mark.parametrize("name, value", [
    ("RAMP_UNSUBSCRIBE_SECRET", "hunter2-short"), ("RAMP_SERVE_TOKEN_SHA256", "my-clear-bearer-token"),
])
def test_a_secret_setting_is_never_echoed_in_its_error(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert str(info.value).startswith(f"{name}:") and value not in str(info.value)
    assert f"{len(value)} characters" in str(info.value)


@pytest.mark.parametrize("name, value, says", [
    ("RAMP_PROVIDER_DOMAINS", "notjson", "not valid JSON"),
    ("RAMP_REDIS_URL", "redis://u:pw@host:notaport/0", "Port could not be cast"),
])
def test_an_unparsable_setting_is_one_line_naming_it(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    text = str(info.value)
    assert text.startswith(f"{name}:") and says in text and "\n" not in text and "pw" not in text


def test_mask_url_keeps_an_ipv6_host_and_a_port_as_given():
    assert mask_url("redis://u:pw@[::1]:6379/0") == "redis://u:***@[::1]:6379/0"
    assert mask_url("redis://u:pw@host:notaport/0") == "redis://u:***@host:notaport/0"


def test_settings_env_rebuilds_a_dict_setting_in_a_child_process(monkeypatch):
    from tests.helpers import settings_env

    s = load_settings(_env_file=None, provider_domains={"mail.example.test": "google"}, unsubscribe_secret="0123456789abcdef0")
    for name, value in settings_env(s).items():
        monkeypatch.setenv(name, value)
    again = load_settings(_env_file=None)
    assert again.provider_domains == {"mail.example.test": "google"}
    assert again.unsubscribe_secret is not None and again.unsubscribe_secret.get_secret_value() == "0123456789abcdef0"
