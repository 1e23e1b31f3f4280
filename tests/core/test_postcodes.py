"""UK postcodes are validated and written one way; distances come from geopy."""

from __future__ import annotations

import pytest

from hubcore.districts import postcodes
from hubcore.districts.distance import distance_km, great_circle_km, nearest_district
from hubcore.districts.packs import load_pack
from hubcore.errors import InvalidInput
from hubcore.values import Location


@pytest.mark.parametrize(("typed", "normal"), [
    ("M1 1AE", "M1 1AE"),
    ("m11ae", "M1 1AE"),
    ("  m1   1ae ", "M1 1AE"),
    ("M 1 1 A E", "M1 1AE"),
    ("bl9\u00a00aa", "BL9 0AA"),  # a non-breaking space pasted from a web page
    ("sw1a1aa", "SW1A 1AA"),  # AA9A
    ("W1A 0AX", "W1A 0AX"),  # A9A
    ("EC1A 1BB", "EC1A 1BB"),
    ("B33 8TH", "B33 8TH"),  # A99
    ("CR2 6XH", "CR2 6XH"),  # AA9
    ("DN55 1PT", "DN55 1PT"),  # AA99
    ("NR1 3QA", "NR1 3QA"),
    ("gir 0aa", "GIR 0AA"),  # Girobank's special postcode
])
def test_postcodes_in_any_case_and_spacing_are_normalised(typed, normal):
    assert postcodes.normalise_postcode(typed) == normal
    assert postcodes.is_valid_postcode(typed)


@pytest.mark.parametrize("typed", [
    "M1 1A",  # inward code too short
    "M1 1AEX",
    "QM1 1AE",  # Q never starts a postcode
    "MI1 1AE",  # I never second
    "M1 1CE",  # C never in the inward code
    "M1 AAE",
    "1M1 1AE",
    "M1-1AE",
    "BFPO 123",  # forces mail: not a postcode
    "M1 1AE M1 1AE",
    "not a postcode",
    "M" * 500,
    "EC1Z 1BB",  # Z is not a fourth-position letter
])
def test_malformed_postcodes_are_refused_with_a_field_message(typed):
    with pytest.raises(InvalidInput) as caught:
        postcodes.normalise_postcode(typed)
    assert caught.value.message == "That is not a valid UK postcode."
    assert caught.value.fields == {"postcode": ["Enter a real UK postcode, like M1 1AE."]}
    assert not postcodes.is_valid_postcode(typed)


@pytest.mark.parametrize("typed", ["", "   ", None, 42])
def test_a_missing_postcode_is_asked_for(typed):
    with pytest.raises(InvalidInput) as caught:
        postcodes.normalise_postcode(typed)
    assert caught.value.fields == {"postcode": ["Enter a postcode."]}


def test_a_bare_outward_code_is_not_a_full_postcode():
    with pytest.raises(InvalidInput) as caught:
        postcodes.normalise_postcode("bl9")
    assert caught.value.fields["postcode"] == [
        "Enter the full postcode, like M1 1AE, not just the first part."]


def test_the_error_names_the_field_the_caller_uses():
    with pytest.raises(InvalidInput) as caught:
        postcodes.normalise_postcode("nonsense", field="home_postcode")
    assert set(caught.value.fields) == {"home_postcode"}


def test_outward_code_of_a_full_postcode():
    assert postcodes.outward_code("m11ae") == "M1"
    assert postcodes.outward_code("SW1A 1AA") == "SW1A"
    assert postcodes.outward_code("ol16 1aa") == "OL16"
    with pytest.raises(InvalidInput):
        postcodes.outward_code("M1")


def test_lookups_by_area_accept_a_bare_outward_code():
    assert postcodes.normalise_postcode_or_outward(" bl 9 ") == "BL9"
    assert postcodes.normalise_postcode_or_outward("bl90aa") == "BL9 0AA"
    assert postcodes.normalise_outward_code("sw1a") == "SW1A"
    with pytest.raises(InvalidInput) as caught:
        postcodes.normalise_postcode_or_outward("Q1")
    assert caught.value.fields == {
        "postcode": ["Enter a UK postcode, like M1 1AE, or its first part, like M1."]}
    with pytest.raises(InvalidInput):
        postcodes.normalise_outward_code("M1 1AE")


def test_postcode_area_is_the_leading_letters():
    assert postcodes.postcode_area("BL9") == "BL"
    assert postcodes.postcode_area("M1") == "M"
    assert postcodes.postcode_area("SW1A") == "SW"


MANCHESTER_TOWN_HALL = Location(53.4794, -2.2453)
BOLTON_TOWN_HALL = Location(53.5777, -2.4295)
NORWICH_CITY_HALL = Location(52.6283, 1.2915)


def test_exact_and_fast_distances_agree_closely():
    exact = distance_km(MANCHESTER_TOWN_HALL, BOLTON_TOWN_HALL)
    assert 15.0 < exact < 16.5  # about 15.7 km as the crow flies
    assert great_circle_km(MANCHESTER_TOWN_HALL, BOLTON_TOWN_HALL) == pytest.approx(exact, rel=0.005)
    assert distance_km(MANCHESTER_TOWN_HALL, MANCHESTER_TOWN_HALL) == 0.0


def test_nearest_district_of_a_place_in_the_region():
    gm = load_pack("greater_manchester")
    found = nearest_district(BOLTON_TOWN_HALL, gm)
    assert found.district.name == "Bolton"
    assert found.outward_code.startswith("BL")
    assert found.distance_km < 3
    assert nearest_district(NORWICH_CITY_HALL, load_pack("norfolk")).district.name == "Norwich"


def test_nearest_district_says_how_far_a_place_outside_the_region_is():
    found = nearest_district(NORWICH_CITY_HALL, load_pack("greater_manchester"))
    assert found.distance_km > 200
