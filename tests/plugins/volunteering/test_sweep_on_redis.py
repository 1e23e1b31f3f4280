"""Expired offers move on when rq's scheduler and a real worker run the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Worker

from hubcore import jobs
from hubcore.db import db as _db
from hubcore.db import utcnow
from tests.conftest import REDIS_URL

from .conftest import a_task, signup_body

pytestmark = [pytest.mark.requires("redis"),
              pytest.mark.skipif(not REDIS_URL, reason="needs HUBCORE_TEST_REDIS_URL")]


def test_scheduled_sweep_on_a_worker_expires_the_offer_and_offers_the_next(redis_app):
    from hubcore.identity import accounts
    from plugins.volunteering import offers, signup, vetting
    from plugins.volunteering.models import Offer

    with redis_app.app_context():
        coordinator = accounts.create_account(email="coord@example.org", name="Coord",
                                              password="correct horse battery staple")
        ids = []
        for n, postcode in enumerate(("BL1 1AA", "BL3 1AA"), start=1):
            volunteer = signup.sign_up(signup_body(email=f"v{n}@example.org",
                                                   phone=f"07700 90011{n}",
                                                   postcode=postcode)).volunteer
            vetting.change_status(volunteer, "active", actor=coordinator)
            ids.append(volunteer.id)
        offer = offers.make_offer(a_task("55"), volunteer_id=None, actor=coordinator)
        offer.expires_at = utcnow() - timedelta(minutes=1)
        first_offer = offer.id
        _db.session.commit()
        cron = jobs.cron_scheduler(jobs.job_queue().connection)
        assert len(cron.enqueue_jobs()) == 1  # the periodic sweep is due
        _db.session.remove()
    jq = jobs.job_queue(redis_app)
    assert Worker([jq.queue], connection=jq.connection).work(burst=True)
    with redis_app.app_context():
        statuses = dict(_db.session.execute(
            sa.select(Offer.volunteer_id, Offer.status).order_by(Offer.id)).all())
        assert _db.session.get(Offer, first_offer).status == "expired"
        assert statuses == {ids[0]: "expired", ids[1]: "offered"}
        _db.session.remove()
