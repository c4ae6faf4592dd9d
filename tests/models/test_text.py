"""Text rules as plain functions: one address per field, one line of plain text."""

from __future__ import annotations

import pytest

from models.text import check_address, check_line, control_character


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tc@lakeside.example", "tc@lakeside.example"),
        ("  TC@Lakeside.Example ", "tc@lakeside.example"),
        (
            "first.last+updates@mail.district.k12.example.us",
            "first.last+updates@mail.district.k12.example.us",
        ),
    ],
)
def test_a_plain_address_passes(value: str, expected: str) -> None:
    assert check_address(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "tc@x.example, attacker@evil.example",
        "tc@x.example,attacker@evil.example",
        "tc@x.example;attacker@evil.example",
        "Pat Lee <tc@x.example>",
        "tc(comment)@x.example",
        '"tc x"@x.example',
        "tc@x.example\r\nBcc: attacker@evil.example",
        "tc@localhost",
        "tc@-x.example",
        "tc..x@x.example",
        "tc@",
        "@x.example",
        "tç@x.example",
        "t" * 65 + "@x.example",
    ],
)
def test_anything_but_one_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_address(value)
    assert "\n" not in str(refused.value) and "\r" not in str(refused.value)


def test_control_characters_and_lengths() -> None:
    assert control_character("Lakeside Public Schools") is None
    assert control_character("Lakeside\r\nBcc: x") == "U+000D"
    assert control_character("tab\there") == "U+0009"
    assert control_character("a\u2028b") == "U+2028"
    assert control_character("abc\u202edcba") == "U+202E"
    assert control_character("Écoles de Montréal 学区") is None
    assert check_line("  Lakeside  ", 20) == "Lakeside"
    with pytest.raises(ValueError, match="at most 5"):
        check_line("Lakeside", 5)
    with pytest.raises(ValueError, match="control character"):
        check_line("Lake\nside", 50)
