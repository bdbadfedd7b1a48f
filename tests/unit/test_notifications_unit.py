"""Signing, URL safety, backoff and event ids of notifications (design §22), without AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.notifications import delivery, events, signing, urls
from local.receiver import verify_signature

BODY = b'{"id":"evt_1","type":"job.completed"}'


def test_signature_verifies_with_the_documented_snippet_and_with_verify() -> None:
    secret = signing.new_secret()
    header = signing.signature_header([secret], 1_800_000_000, BODY)
    assert verify_signature(secret, header, BODY, now=1_800_000_100)
    assert signing.verify(secret, header, BODY, now=1_800_000_100)
    assert not verify_signature(secret, header, BODY + b" ", now=1_800_000_100)  # body changed
    assert not verify_signature(secret, header, BODY, now=1_800_000_000 + 301)  # too old: a replay
    assert not verify_signature(signing.new_secret(), header, BODY, now=1_800_000_000)
    forged = header.replace("t=1800000000", "t=1800000100")  # a fresh time on an old signature
    assert not verify_signature(secret, forged, BODY, now=1_800_000_100)


def test_after_a_rotation_both_secrets_sign() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    header = signing.signature_header([new, old], 1_800_000_000, BODY)
    assert header.count("v1=") == 2
    assert verify_signature(old, header, BODY, now=1_800_000_000)
    assert verify_signature(new, header, BODY, now=1_800_000_000)


def resolver(table: dict[str, list[str]]) -> urls.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


DNS = resolver(
    {
        "hooks.example.org": ["93.184.216.34"],
        "rebind.example.org": ["93.184.216.34", "10.0.0.5"],
        "loop.example.org": ["127.0.0.1"],
        "metadata.example.org": ["169.254.169.254"],
        "v6.example.org": ["2606:2800:220:1:248:1893:25c8:1946"],
        "mapped.example.org": ["::ffff:192.168.1.1"],
        "localhost": ["127.0.0.1", "::1"],
    }
)


@pytest.mark.parametrize(
    "url, local",
    [
        ("https://hooks.example.org/amr", False),
        ("https://hooks.example.org:8443/amr?x=1", False),
        ("https://v6.example.org/amr", False),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost:8080/hook", True),
        ("https://loop.example.org/hook", True),
    ],
)
def test_allowed_urls(url: str, local: bool) -> None:
    target, addresses = urls.check(url, allow_loopback=local, resolver=DNS)
    assert addresses and target.host in url


@pytest.mark.parametrize(
    "url, local, why",
    [
        ("http://hooks.example.org/amr", False, "https"),
        ("http://hooks.example.org/amr", True, "https"),  # plain http to a public host, even locally
        ("https://10.1.2.3/amr", False, "private"),
        ("https://169.254.169.254/latest/meta-data/", False, "link-local"),
        ("https://metadata.example.org/", False, "169.254.169.254"),
        ("https://loop.example.org/hook", False, "127.0.0.1"),  # a name resolving to loopback, deployed
        ("https://localhost/hook", False, "127.0.0.1"),
        ("http://127.0.0.1:8080/hook", False, "https"),
        ("https://rebind.example.org/", False, "10.0.0.5"),  # one private address is enough
        ("https://mapped.example.org/", False, "192.168.1.1"),
        ("https://[::ffff:10.0.0.1]/", False, "private"),
        ("https://100.64.0.1/", False, "private"),
        ("https://0.0.0.0/", False, "private"),
        ("https://user:secret@hooks.example.org/", False, "credentials"),
        ("https://hooks.example.org/#frag", False, "fragment"),
        ("https://nowhere.example.org/", False, "does not resolve"),
        ("https://hooks.example.org:99999/", False, "valid URL"),
        ("ftp://hooks.example.org/", False, "https"),
        ("https:///path", False, "host"),
        ("https://hooks.example.org/a b", False, "spaces"),
        ("https://hooks.example.org/" + "a" * 2100, False, "longer"),
    ],
)
def test_refused_urls_say_why(url: str, local: bool, why: str) -> None:
    with pytest.raises(urls.UnsafeURL, match=why.replace("?", r"\?")):
        urls.check(url, allow_loopback=local, resolver=DNS)


def test_backoff_grows_fourfold_to_four_hours_and_ends_after_a_day() -> None:
    assert [delivery.retry_delay(n, 10).total_seconds() for n in range(1, 9)] == [
        10,
        40,
        160,
        640,
        2560,
        10240,
        14400,
        14400,
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert delivery.next_attempt(start, 1, start) is not None
    assert delivery.next_attempt(start, 9, start + timedelta(hours=21)) is None  # 21 h + 4 h > 24 h


def test_event_ids_are_stable_per_change_and_differ_between_changes() -> None:
    record = {
        "eventName": "MODIFY",
        "dynamodb": {
            "NewImage": {
                "job_id": {"S": "j1"},
                "user_id": {"S": "u1"},
                "status": {"S": "Completed"},
                "status_changed_at": {"S": "2026-11-24T12:00:00.000Z"},
                "progress": {"N": "100"},
            },
            "OldImage": {"job_id": {"S": "j1"}, "status": {"S": "Running"}},
        },
    }
    change = events.status_change(record)
    assert change is not None
    first, again = events.job_event(change[0]), events.job_event(events.status_change(record)[0])  # type: ignore[index]
    assert first is not None and again is not None and first.id == again.id and first.body() == again.body()
    assert json.loads(first.body())["type"] == "job.completed"
    later = dict(record["dynamodb"]["NewImage"], status_changed_at={"S": "2026-11-25T12:00:00.000Z"})
    other = events.job_event(events.image({"dynamodb": {"NewImage": later}}, "NewImage"))
    assert other is not None and other.id != first.id


def test_changes_that_announce_nothing() -> None:
    progress = {
        "eventName": "MODIFY",
        "dynamodb": {
            "NewImage": {"status": {"S": "Running"}, "progress": {"N": "40"}},
            "OldImage": {"status": {"S": "Running"}},
        },
    }
    assert events.status_change(progress) is None
    removed = {"eventName": "REMOVE", "dynamodb": {"OldImage": {"status": {"S": "Completed"}}}}
    assert events.status_change(removed) is None
    assert events.job_event({"job_id": "j", "user_id": "u", "status": "Cancelled"}) is None
