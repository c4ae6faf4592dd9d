"""Where the webhook dispatcher starts reading, and when that start is a gap (pure)."""

from __future__ import annotations

from models.webhooks.position import BEFORE_EVERY_RECORD, Start, start_at


def test_the_first_start_begins_at_the_newest_record_and_must_be_stored() -> None:
    assert start_at(None, "1700000000000-3", stored_is_kept=False) == Start("1700000000000-3", first=True)


def test_the_first_start_on_an_empty_stream_begins_before_every_record() -> None:
    assert start_at(None, None, stored_is_kept=False) == Start(BEFORE_EVERY_RECORD, first=True)


def test_a_kept_position_resumes_right_after_it() -> None:
    assert start_at("1700000000000-3", "1700000009999-0", stored_is_kept=True) == Start("1700000000000-3")


def test_a_position_no_longer_kept_resumes_after_it_but_is_a_gap() -> None:
    assert start_at("1700000000000-3", None, stored_is_kept=False) == Start("1700000000000-3", gap=True)


def test_a_start_before_every_record_is_no_gap() -> None:
    """Stored when the stream was empty: no record was ever skipped."""
    assert start_at(BEFORE_EVERY_RECORD, None, stored_is_kept=False) == Start(BEFORE_EVERY_RECORD)


def test_a_position_a_replaced_stream_never_held_starts_at_the_new_streams_start() -> None:
    """Redis lost its data and the new stream's ids sort before the position: reading after it
    would wait for the new server's clock to pass it."""
    start = start_at("1700000000000-3", "1699999000000-0", stored_is_kept=False, stream_replaced=True)
    assert start == Start(BEFORE_EVERY_RECORD, gap=True)
