"""Feed secrets: derived from a per-account nonce with the feed key, stored only as a digest,
dead after rotation or a change of key (SQLite and PostgreSQL)."""

from __future__ import annotations

from models.calendar_feed import account_of_secret, feed_key, feed_secret, hash_secret, rotate_feed
from models.enums import Role
from models.tables import CalendarFeed, ServiceKey
from tests.factories import make_account

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


async def test_a_secret_is_stable_stored_as_a_digest_and_dies_on_rotation(db):
    account = await make_account(Role.TECHNICAL_CONTACT)
    secret = await feed_secret(account.id, KEY)
    assert secret.startswith("ud_cal_") and len(secret) == len("ud_cal_") + 43
    assert await feed_secret(account.id, KEY) == secret
    (row,) = await CalendarFeed.all().values()
    assert row["secret_hash"] == hash_secret(secret) and secret not in {str(v) for v in row.values()}
    found = await account_of_secret(secret, KEY)
    assert found is not None and found.id == account.id
    rotated = await rotate_feed(account.id, KEY)
    assert rotated != secret
    assert await account_of_secret(secret, KEY) is None
    assert (await account_of_secret(rotated, KEY)) is not None


async def test_another_key_makes_every_old_url_unknown(db):
    account = await make_account(Role.VIEWER)
    old = await feed_secret(account.id, KEY)
    assert await account_of_secret(old, OTHER_KEY) is None
    new = await feed_secret(account.id, OTHER_KEY)
    assert new != old
    assert await account_of_secret(old, KEY) is None  # the stored digest moved to the new secret
    assert (await account_of_secret(new, OTHER_KEY)) is not None


async def test_without_a_configured_key_the_service_keeps_one(db):
    assert await ServiceKey.all().count() == 0
    made = await feed_key(None)
    assert len(made) >= 32 and await feed_key(None) == made
    assert await ServiceKey.all().count() == 1
    assert await feed_key("configured-key-configured-key-configured") != made
