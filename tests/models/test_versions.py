"""Version parsing and ordering: numeric parts, never string order."""

from __future__ import annotations

import pytest

from models.enums import ErrorCode
from models.errors import DomainError
from models.versions import Version, is_valid_version, parse_version, version_sort_key


def test_rx_pack_ten_is_newer_than_nine():
    assert parse_version("Campus.2435.10") > parse_version("Campus.2435.9")
    assert parse_version("Campus.2435.9") < parse_version("Campus.2435.10")
    # The string order says the opposite: the domain must not use it.
    assert "Campus.2435.10" < "Campus.2435.9"


def test_release_number_outranks_rx_pack():
    assert parse_version("Campus.2439.1") > parse_version("Campus.2435.10")
    assert parse_version("Campus.2500.0") > parse_version("Campus.2499.99")


def test_parse_splits_product_release_and_pack():
    version = parse_version("  Campus.2435.4 ")
    assert version == Version("Campus", (2435, 4))
    assert version.text == "Campus.2435.4"
    assert str(version) == "Campus.2435.4"


def test_missing_trailing_parts_compare_as_zero():
    assert parse_version("Campus.2435") == parse_version("Campus.2435.0")
    assert hash(parse_version("Campus.2435")) == hash(parse_version("Campus.2435.0"))
    assert parse_version("Campus.2435.1") > parse_version("Campus.2435")


def test_sorting_a_catalog_is_numeric():
    versions = ["Campus.2435.10", "Campus.2435.9", "Campus.2435.2", "Campus.2439.1", "Campus.2435.11"]
    assert sorted(versions, key=version_sort_key) == [
        "Campus.2435.2",
        "Campus.2435.9",
        "Campus.2435.10",
        "Campus.2435.11",
        "Campus.2439.1",
    ]
    assert sorted(versions, key=parse_version) == sorted(versions, key=version_sort_key)


def test_unparseable_versions_sort_first():
    assert version_sort_key("garbage") < version_sort_key("Campus.0.0")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "2435.4",
        "Campus",
        "Campus.",
        "Campus.2435.",
        "Campus.24a5.4",
        "Campus..4",
        "Campus 2435.4",
        "Campus.1.2.3.4.5",
        "Campus.1234567890.1",
        ".Campus.2435",
        "Campus.-1.2",
        # Digits of other scripts: int() reads them, but they are not the digits of a version.
        "Campus.\uff12\uff14\uff13\uff15.\uff14",  # fullwidth 2435.4
        "Campus.2435.\u0664",  # Arabic-Indic 4
    ],
)
def test_parse_errors_are_validation_on_the_given_field(text):
    assert not is_valid_version(text)
    with pytest.raises(DomainError) as caught:
        parse_version(text, field="targetVersion")
    assert caught.value.code is ErrorCode.VALIDATION
    assert caught.value.field == "targetVersion"
    assert "Campus.2435.4" in caught.value.message  # tells the person what a version looks like


def test_parse_error_names_the_field_it_is_told():
    with pytest.raises(DomainError) as caught:
        parse_version("nope", field="currentVersion")
    assert caught.value.field == "currentVersion"


@pytest.mark.parametrize("text", ["Campus.2435.4", "Campus.1.2.3.4", "Campus.7", "Other_Product-2.12.0"])
def test_valid_versions(text):
    assert is_valid_version(text)
    assert parse_version(text).text == text
