"""The gazetteer: postcode to place and district, from the directory, the table or a geocoder."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask.cli import ScriptInfo
from geopy import exc as geopy_exc
from geopy.geocoders import SERVICE_TO_GEOCODER
from geopy.location import Location as GeopyLocation

from hubcore.cli import main
from hubcore.config import ConfigError
from hubcore.db import db as _db
from hubcore.districts import gazetteer
from hubcore.districts.gazetteer import GazetteerPostcode, PostcodeOutsideRegion
from hubcore.districts.outcodes import load_outcodes
from hubcore.districts.packs import available_packs, load_pack
from hubcore.errors import InvalidInput
from tests.conftest import BOLTON, MANCHESTER, make_app

TRAFFORD, WESTMINSTER, WARRINGTON, NORWICH = "E08000009", "E09000033", "E06000007", "E07000148"

ONSPD_HEADER = ("pcd,pcd2,pcds,dointr,doterm,oscty,ced,oslaua,osward,parish,usertype,oseast1m,"
                "osnrth1m,osgrdind,oshlthau,nhser,ctry,rgn,streg,pcon,eer,teclec,ttwa,pct,itl,"
                "statsward,oa01,casward,npark,lsoa01,msoa01,ur01ind,oac01,oa11,lsoa11,msoa11,wz11,"
                "sicbl,bua24,ru11ind,oac11,lat,long,lep1,lep2,pfa,imd,calncv,icb,oa21,lsoa21,msoa21")


def onspd_row(pcds: str, la: str, lat: str, long: str, *, doterm: str = "") -> str:
    """One ONSPD line: the columns we read filled in, the rest as the directory leaves them."""
    outward, inward = pcds.split(" ")
    values = dict.fromkeys(ONSPD_HEADER.split(","), "")
    values.update(pcd=f"{outward:<4}{inward}", pcd2=f"{outward:<5}{inward}", pcds=pcds,
                  dointr="198001", doterm=doterm, oslaua=la, ctry="E92000001",
                  lat=lat, long=long)
    return ",".join(values[name] for name in ONSPD_HEADER.split(","))


def onspd_file(*rows: str) -> io.StringIO:
    return io.StringIO("\n".join([ONSPD_HEADER, *rows]) + "\n")


def stored() -> dict[str, tuple]:
    rows = _db.session.execute(sa.select(GazetteerPostcode)).scalars()
    return {r.postcode: (r.latitude, r.longitude, r.district_code) for r in rows}


# -- The embedded tables ------------------------------------------------------------


@pytest.mark.parametrize("pack_name", available_packs())
def test_every_district_of_every_pack_has_a_postcode_district(pack_name):
    table = load_outcodes(pack_name)
    empty = [d.name for d in load_pack(pack_name).districts if not table.for_district(d.code)]
    assert not empty


def test_greater_manchester_table_covers_its_postcode_areas():
    table = load_outcodes("greater_manchester")
    assert table.areas == {"M", "BL", "OL", "SK", "WN", "WA"}
    for code in ("M1", "M90", "BL0", "BL9", "OL16", "SK16", "WN7", "WA14", "WA15"):
        assert table.get(code) is not None, code
    for outside in ("OL14", "SK9", "WN8", "WA13"):  # Todmorden, Wilmslow, Skelmersdale, Lymm
        assert table.get(outside) is None, outside


def test_the_migration_creates_the_postcode_table_as_the_model_declares_it(app, db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert [d for d in differences if "gazetteer_postcodes" in repr(d)] == []


# -- Lookups ------------------------------------------------------------------------


def test_a_postcode_is_placed_by_its_postcode_district_when_nothing_is_imported(app):
    place = gazetteer.locate(" m1 1ae")
    assert place.postcode == "M1 1AE"
    assert place.district_code == MANCHESTER
    assert place.precision == "district"
    assert place.source == "embedded:greater_manchester"
    assert place.outward_code == "M1"
    assert abs(place.latitude - 53.48) < 0.05 and abs(place.longitude + 2.24) < 0.05


def test_the_imported_directory_beats_the_embedded_table(app, db):
    gazetteer.import_onspd(onspd_file(onspd_row("M1 1AE", MANCHESTER, "53.477131", "-2.231414")))
    place = gazetteer.locate("M1 1AE")
    assert (place.precision, place.source) == ("postcode", "onspd")
    assert (place.latitude, place.longitude) == (53.477131, -2.231414)
    # A postcode the directory does not have falls back to its postcode district.
    assert gazetteer.locate("M1 2AA").precision == "district"


def test_a_postcode_outside_the_region_is_refused_on_the_postcode_field(app):
    with pytest.raises(PostcodeOutsideRegion) as caught:
        gazetteer.locate("SW1A 1AA")
    assert caught.value.status == 404
    assert caught.value.message == "SW1A 1AA is not a postcode in Greater Manchester."
    assert caught.value.fields == {
        "postcode": ["Enter a postcode in Greater Manchester: this service covers "
                     "Greater Manchester only."]}


def test_a_border_postcode_district_outside_the_region_is_refused_without_a_geocoder(app):
    with pytest.raises(PostcodeOutsideRegion):
        gazetteer.locate("WA13 0AA")  # Lymm, Warrington


def test_an_invalid_postcode_is_invalid_input_not_a_lookup(app):
    with pytest.raises(InvalidInput) as caught:
        gazetteer.locate("M1 1CE")
    assert caught.value.fields == {"postcode": ["Enter a real UK postcode, like M1 1AE."]}


def test_locate_area_answers_for_a_bare_outward_code(app):
    place = gazetteer.locate_area("bl9")
    assert (place.postcode, place.district_code, place.precision) == ("BL9", "E08000002", "district")
    with pytest.raises(InvalidInput):
        gazetteer.locate("bl9")  # people give full postcodes


@pytest.mark.parametrize("app_settings", [{"region": "norfolk"}])
def test_the_norfolk_pack_places_norfolk_postcodes_and_refuses_manchester(app):
    place = gazetteer.locate("nr2 1aa")
    assert place.district_code == NORWICH
    assert place.source == "embedded:norfolk"
    with pytest.raises(PostcodeOutsideRegion) as caught:
        gazetteer.locate("M1 1AE")
    assert "not a postcode in Norfolk" in caught.value.message


# -- Importing the ONS Postcode Directory -------------------------------------------


def test_onspd_import_keeps_the_regions_postcodes_and_counts_the_rest(app, db):
    result = gazetteer.import_onspd(onspd_file(
        onspd_row("M1 1AE", MANCHESTER, "53.477131", "-2.231414"),
        onspd_row("BL1 1RU", BOLTON, "53.578700", "-2.429800"),
        onspd_row("SW1A 1AA", WESTMINSTER, "51.501009", "-0.141588"),
        onspd_row("M1 9ZZ", MANCHESTER, "53.470000", "-2.230000", doterm="201905"),
        onspd_row("M2 9ZZ", MANCHESTER, "99.999999", "0.000000"),
        onspd_row("M1 1CE", MANCHESTER, "53.477", "-2.231"),  # not a real postcode
        onspd_row("M3 1AA", MANCHESTER, "", ""),
        "M4 1AA,short",
    ))
    db.session.commit()
    assert (result.imported, result.skipped_outside, result.skipped_invalid) == (2, 1, 5)
    assert stored() == {"M1 1AE": (53.477131, -2.231414, MANCHESTER),
                        "BL1 1RU": (53.5787, -2.4298, BOLTON)}


def test_reimporting_updates_postcodes_instead_of_duplicating_them(app, db):
    gazetteer.import_onspd(onspd_file(onspd_row("M1 1AE", MANCHESTER, "53.477131", "-2.231414")))
    db.session.commit()
    result = gazetteer.import_onspd(onspd_file(
        onspd_row("M1 1AE", MANCHESTER, "53.477200", "-2.231500"),
        onspd_row("M1 1AE", MANCHESTER, "53.477300", "-2.231600"),  # a repeat: the last wins
        onspd_row("M1 1AD", MANCHESTER, "53.477000", "-2.232000")))
    db.session.commit()
    assert result.imported == 3
    assert stored() == {"M1 1AE": (53.4773, -2.2316, MANCHESTER),
                        "M1 1AD": (53.477, -2.232, MANCHESTER)}


def test_imports_in_batches_of_any_size(app, db):
    rows = [onspd_row(f"M{n} {d}AB", MANCHESTER, f"53.4{n:02d}{d}", "-2.2300")
            for n in range(1, 21) for d in range(10)]
    result = gazetteer.import_onspd(onspd_file(*rows), batch_size=7)
    db.session.commit()
    assert result.imported == 200
    assert len(stored()) == 200


def test_nspl_headers_from_2024_are_recognised(app, db):
    header = ("pcd7,pcd8,pcds,dointr,doterm,usrtypind,east1m,north1m,gridind,oa21cd,cty25cd,"
              "ced25cd,lad25cd,wd25cd,nhser24cd,ctry25cd,rgn25cd,pcon24cd,ttwa15cd,itl25cd,"
              "npark16cd,lsoa21cd,msoa21cd,wz11cd,sicbl24cd,bua24cd,ruc21ind,oac11ind,lat,long,"
              "lep21cd1,lep21cd2,pfa23cd,imd20ind,icb23cd")
    blank = ["" for _ in header.split(",")]

    def line(pcd7, pcds, la, lat, long):
        values = list(blank)
        names = header.split(",")
        for name, value in (("pcd7", pcd7), ("pcds", pcds), ("lad25cd", la), ("lat", lat),
                            ("long", long)):
            values[names.index(name)] = value
        return ",".join(values)

    result = gazetteer.import_onspd(io.StringIO("\n".join([
        header,
        line("BL1 1RU", "BL1 1RU", BOLTON, "53.578700", "-2.429800"),
        line("NR2 1NH", "NR2 1NH", NORWICH, "52.628300", "1.291500"),
    ])))
    db.session.commit()
    assert (result.imported, result.skipped_outside, result.skipped_invalid) == (1, 1, 0)
    assert set(stored()) == {"BL1 1RU"}


def test_older_nspl_with_laua_and_only_the_seven_character_postcode(app, db):
    text = "pcd,dointr,doterm,laua,lat,long\nM1  1AE,198001,,E08000003,53.477131,-2.231414\n"
    result = gazetteer.import_onspd(io.StringIO(text))
    db.session.commit()
    assert result.imported == 1
    assert set(stored()) == {"M1 1AE"}


def test_a_file_without_the_directorys_columns_is_refused_and_nothing_is_stored(app, db):
    with pytest.raises(InvalidInput) as caught:
        gazetteer.import_onspd(io.StringIO("postcode,latitude,longitude\nM1 1AE,53.4,-2.2\n"))
    assert caught.value.fields["file"] == [
        "The header has no postcode (pcds or pcd) column.",
        "The header has no local authority (oslaua, laua or ladNNcd) column.",
        "The header has no lat column.", "The header has no long column."]
    with pytest.raises(InvalidInput):
        gazetteer.import_onspd(io.StringIO(""))
    assert stored() == {}


def test_postcodes_outside_the_region_in_a_border_postcode_district_are_refused(app, db):
    result = gazetteer.import_onspd(onspd_file(
        onspd_row("WA3 3AA", "E08000010", "53.476000", "-2.590000"),  # Golborne, Wigan
        onspd_row("WA3 6AA", WARRINGTON, "53.455000", "-2.510000"),  # Culcheth, Warrington
        onspd_row("WA1 1AA", WARRINGTON, "53.390000", "-2.590000")))  # Warrington town
    db.session.commit()
    assert (result.imported, result.boundary, result.skipped_outside) == (1, 1, 1)
    assert gazetteer.locate("WA3 3AA").district_code == "E08000010"
    with pytest.raises(PostcodeOutsideRegion):
        gazetteer.locate("WA3 6AA")
    # Without the directory, the border postcode district is Wigan's.
    assert gazetteer.locate("WA3 7ZZ").precision == "district"


def test_import_onspd_command_loads_the_file_and_reports(app, db, tmp_path):
    path = tmp_path / "ONSPD_MAY_2025_UK.csv"
    path.write_text("\ufeff" + onspd_file(
        onspd_row("M1 1AE", MANCHESTER, "53.477131", "-2.231414"),
        onspd_row("SW1A 1AA", WESTMINSTER, "51.501009", "-0.141588")).getvalue(),
        encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["import", "onspd", str(path)],
                           obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Imported 1 postcodes in the region; skipped 1 outside it, 0 invalid.")
    db.session.rollback()
    assert gazetteer.locate("M1 1AE").precision == "postcode"


def test_import_onspd_command_explains_a_wrong_file(app, tmp_path):
    path = tmp_path / "volunteers.csv"
    path.write_text("name,postcode\nAda,M1 1AE\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(main, ["import", "onspd", str(path)],
                                          obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 1
    assert "not an ONS Postcode Directory" in result.output


# -- The geocoder ---------------------------------------------------------------------


class FakeGeocoder:
    """A geopy-shaped geocoder that answers from a dict and remembers what it was asked."""

    places = {
        "WA13 9AA, United Kingdom": (53.4040, -2.4470),  # Warburton, Trafford
        "WA13 0AA, United Kingdom": (53.3810, -2.4760),  # Lymm, Warrington
    }
    asked: list[str] = []
    fail = False

    def __init__(self, *, user_agent=None, timeout=None):
        self.user_agent = user_agent

    def geocode(self, query, exactly_one=True):
        FakeGeocoder.asked.append(query)
        if FakeGeocoder.fail:
            raise geopy_exc.GeocoderTimedOut("Service timed out")
        if query not in self.places:
            return None
        return GeopyLocation(query, self.places[query], {})


@pytest.fixture
def geocoding_app(database_url, monkeypatch):
    monkeypatch.setitem(SERVICE_TO_GEOCODER, "fake", FakeGeocoder)
    monkeypatch.setattr(FakeGeocoder, "asked", [])
    monkeypatch.setattr(FakeGeocoder, "fail", False)
    app = make_app(database_url, geocoder="fake")
    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


def test_the_geocoder_places_a_border_postcode_in_the_nearest_district(geocoding_app):
    place = gazetteer.locate("wa13 9aa")
    assert place.district_code == TRAFFORD
    assert (place.precision, place.source) == ("geocoder", "geocoder:fake")
    assert (place.latitude, place.longitude) == (53.404, -2.447)
    assert FakeGeocoder.asked == ["WA13 9AA, United Kingdom"]


def test_a_geocoded_place_far_from_every_district_is_outside_the_region(geocoding_app):
    with pytest.raises(PostcodeOutsideRegion):
        gazetteer.locate("WA13 0AA")
    with pytest.raises(PostcodeOutsideRegion):
        gazetteer.locate("WA13 7ZZ")  # the geocoder does not know it


def test_the_geocoder_is_asked_only_when_the_tables_cannot_answer(geocoding_app):
    assert gazetteer.locate("M1 1AE").precision == "district"
    with pytest.raises(PostcodeOutsideRegion):
        gazetteer.locate("SW1A 1AA")  # a postcode area with no district in the region
    assert FakeGeocoder.asked == []


def test_a_geocoder_failure_is_a_temporary_error_not_a_wrong_answer(geocoding_app):
    FakeGeocoder.fail = True
    with pytest.raises(gazetteer.GeocoderUnavailable) as caught:
        gazetteer.locate("WA13 9AA")
    assert caught.value.status == 503


def test_an_unknown_geocoder_stops_the_app_from_starting(database_url):
    with pytest.raises(ConfigError, match="'no-such-service' is not a geopy geocoder"):
        make_app(database_url, geocoder="no-such-service")
