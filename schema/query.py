"""The Query root: the queries of every feature slice."""

from __future__ import annotations

import strawberry

from schema.accounts.queries import AccountQueries
from schema.catalog.queries import CatalogQueries
from schema.districts.queries import DistrictQueries
from schema.node import NodeQueries
from schema.requests.queries import RequestQueries
from schema.rollouts.queries import RolloutQueries
from schema.schedule.queries import ScheduleQueries
from schema.webhooks.queries import WebhookQueries


@strawberry.type
class Query(
    AccountQueries,
    DistrictQueries,
    NodeQueries,
    RequestQueries,
    RolloutQueries,
    CatalogQueries,
    ScheduleQueries,
    WebhookQueries,
):
    pass
