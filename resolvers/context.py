"""The GraphQL context: who is calling (from the bearer token), the process's settings and live
hub, and the request's DataLoaders.

HTTP: the view builds it with `GraphQLContext.for_http(...)`, which authenticates the
`Authorization` header once per request. WebSocket: `for_websocket(...)` (nobody signed in yet),
then `sign_in_with_params(connection_params)` once `connection_init` arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from infra.rate_limit import Buckets
from infra.settings import Settings
from models.access import Actor
from models.errors import DomainError
from models.tables import Account
from models.tokens import Authenticated, authenticate, parse_bearer
from resolvers.errors import unauthenticated
from resolvers.loaders import Loaders

logger = logging.getLogger(__name__)


def authorization_from_params(params: object) -> str | None:
    """The `Authorization` value of a `connection_init` payload (any capitalisation of the key)."""
    if isinstance(params, Mapping):
        for key, value in params.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                return value
    return None


@dataclass
class GraphQLContext:
    request: Request | WebSocket
    settings: Settings
    response: Response | WebSocket | None = None
    #: The process's live events (a `resolvers.live.hub.LiveHub`, which imports this module, hence
    #: `object`); None where live events are off.
    hub: object | None = None
    auth: Authenticated | None = None
    #: Why the caller is not signed in (message for the UNAUTHENTICATED error).
    auth_error: DomainError | None = None
    #: The token could not be checked at all (database unreachable...): an internal fault, answered
    #: with the masked error rather than UNAUTHENTICATED (the token may well be valid).
    auth_fault: bool = False
    #: The WebSocket `connection_init` payload; strawberry sets it on this attribute.
    connection_params: Mapping[str, Any] | None = None
    #: Per-account budget of query cost (set by the app; None: no budget, e.g. in unit tests).
    cost_budget: Buckets | None = None
    #: WebSocket: when the connection's access was last re-checked (monotonic seconds).
    rechecked_at: float = float("-inf")
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.renew_loaders()

    @classmethod
    async def for_http(
        cls, request: Request, response: Response | None, settings: Settings, hub: object | None
    ) -> GraphQLContext:
        context = cls(request, settings, response, hub)
        await context.sign_in(parse_bearer(request.headers.get("authorization")))
        return context

    @classmethod
    def for_websocket(cls, websocket: WebSocket, settings: Settings, hub: object | None) -> GraphQLContext:
        return cls(websocket, settings, websocket, hub)

    async def sign_in(self, token: str | None) -> bool:
        """Authenticate `token`; False (and `auth_error` set) when it is missing or not valid."""
        try:
            self.auth = await authenticate(token)
            self.auth_error = None
            self.auth_fault = False
        except DomainError as error:
            self.auth = None
            self.auth_error = error
            self.auth_fault = False
        except Exception:  # the database or another dependency failed, not the caller
            logger.exception("sign-in failed: the token could not be checked")
            self.auth = None
            self.auth_error = None
            self.auth_fault = True
        self.renew_loaders()
        return self.auth is not None

    async def sign_in_with_params(self, params: Mapping[str, Any] | None) -> bool:
        """Authenticate from a `connection_init` payload `{"Authorization": "Bearer <token>"}`."""
        return await self.sign_in(parse_bearer(authorization_from_params(params)))

    def adopt_sign_in(self, other: GraphQLContext) -> None:
        """Take over the outcome of a sign-in made on another context (a shared re-check)."""
        self.auth, self.auth_error, self.auth_fault = other.auth, other.auth_error, other.auth_fault
        self.renew_loaders()

    def renew_loaders(self) -> None:
        """Fresh DataLoaders: call before resolving each subscription event (no stale cache)."""
        self.loaders = Loaders(self.auth.actor if self.auth else None)

    @property
    def authenticated(self) -> bool:
        return self.auth is not None

    def require_auth(self) -> Authenticated:
        if self.auth is None:
            if self.auth_error is not None:
                raise unauthenticated(self.auth_error.message)
            raise unauthenticated()
        return self.auth

    @property
    def actor(self) -> Actor:
        return self.require_auth().actor

    @property
    def account(self) -> Account:
        return self.require_auth().account


Info: TypeAlias = strawberry.Info[GraphQLContext, None]
