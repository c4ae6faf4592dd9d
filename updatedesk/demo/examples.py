"""Three things to try first, as `updatedesk dev` prints them: GraphiQL links whose `?query=` and
`?variables=` fill the editor (GraphiQL opens in a browser; nothing runs until Run is pressed).

1. A database refresh: no maintenance window and no version to choose, the quickest to try.
2. A version update "now": the Campus Cloud window allows it only with staff's override.
3. The live subscription that shows both moving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from models.ids import encode_global_id
from updatedesk.demo.world import LAKESIDE

#: The newest demo release: newer than anything the demo's sites run or have asked for.
NEWEST_VERSION = "Campus.2439.1"
#: What to paste into the variables once the first operation of an example has answered.
PASTE_HERE = "<paste the id the first operation returned>"

REFRESH = """# Copy Lakeside's production data into its staging
# site. Run AskForRefresh, copy the id it returns into
# the variables as "request", then run StartNow.
mutation AskForRefresh($district: ID!) {
  requestUpdate(input: {
    districtId: $district, kind: DATABASE_REFRESH, environment: STAGING
  }) {
    updateRequest { id status }
    errors { code message field }
  }
}

mutation StartNow($request: ID!, $start: DateTime!) {
  scheduleUpdateRequest(id: $request, start: $start) {
    updateRequest { id status scheduledStart }
    errors { code message field }
  }
}
"""

VERSION_UPDATE_NOW = """# Update Lakeside's preview site now. Campus Cloud
# updates start in the maintenance window unless staff
# override it. Run AskForUpdate, copy the id it returns
# into the variables as "request", then run StartNow.
# (Preview, not production: the refresh above copies
# production, which holds it; one job per site.)
mutation AskForUpdate($district: ID!, $version: String!) {
  requestUpdate(input: {
    districtId: $district, kind: VERSION_UPDATE,
    environment: PREVIEW, targetVersion: $version
  }) {
    updateRequest { id status }
    errors { code message field }
  }
}

mutation StartNow($request: ID!, $start: DateTime!) {
  scheduleUpdateRequest(
    id: $request, start: $start, overrideMaintenanceWindow: true
  ) {
    updateRequest { id status scheduledStart }
    errors { code message field }
  }
}
"""

WATCH = """# Every change to the requests you may see, live (over
# the WebSocket). Keep it running and try the other
# examples in another browser tab.
subscription Watch {
  updateRequestEvents {
    type at
    progress { percent step message }
    updateRequest {
      id kind status targetVersion
      district { name } environment { kind }
    }
  }
}
"""


@dataclass(frozen=True)
class Example:
    title: str
    query: str
    variables: dict[str, Any]

    def link(self, graphiql_url: str) -> str:
        """GraphiQL with this example filled in."""
        parameters = {"query": self.query}
        if self.variables:
            parameters["variables"] = json.dumps(self.variables)
        return f"{graphiql_url}?{urlencode(parameters)}"


def examples(district_id: int, now: datetime) -> list[Example]:
    """The three examples for Lakeside (its database id), starting at `now`."""
    district = encode_global_id("District", district_id)
    start = now.isoformat(timespec="seconds")
    return [
        Example(
            "A database refresh, the quickest thing to try (refreshes need no maintenance window)",
            REFRESH,
            {"district": district, "request": PASTE_HERE, "start": start},
        ),
        Example(
            f'A version update "now": {LAKESIDE} is Campus Cloud, so outside its maintenance '
            "window it needs overrideMaintenanceWindow: true",
            VERSION_UPDATE_NOW,
            {"district": district, "version": NEWEST_VERSION, "request": PASTE_HERE, "start": start},
        ),
        Example("Watch them run, live: a subscription to every request you may see", WATCH, {}),
    ]
