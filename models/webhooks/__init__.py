"""Webhooks: partners' endpoints get every event record of the districts their owner sees, as a
signed JSON POST, retried for 24 hours, in order per endpoint. One concern per module:

- `records`: the event record a delivery carries (what the event stream holds).
- `addresses`: which URLs and resolved addresses an endpoint may have (private-address safety).
- `signing`: the secret, the `Updatedesk-*` headers and the HMAC signature (and its verification).
- `payload`: the JSON body: the record and the request's public fields.
- `visibility`: which events an endpoint may carry (a subscriber's view of its owner).
- `retries`: what an answer means, when to try again, when an endpoint has failed too long.
- `registry`: create, delete and list an account's webhooks and their delivery log.
- `fanout`: one event record to one delivery per endpoint that may see it.
- `position`: how far the dispatcher has read the event stream, where it starts, what is a gap.
- `attempts`: claim the next delivery of an endpoint (in order) and record what came of it.
- `deactivation`: stop an endpoint that failed for 24 hours, give up its pending deliveries.
- `notices`: the mails when an endpoint is deactivated (its owner; the hosting team's alert).

The HTTP POST itself (resolve once, check, connect to that address) is `infra.outbound`; the job
that drives it is `workers.webhooks`; the dispatcher that reads the stream is
`workers.webhook_dispatch`.
"""
