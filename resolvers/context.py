"""The GraphQL context: who is calling (from the bearer token) and the request's DataLoaders.

HTTP: `GraphQLContext.for_http(request, response)` authenticates the `Authorization` header once
per request. WebSocket: the view builds the context with `for_websocket(websocket)` (nobody signed
in yet) and `sign_in_with_params(connection_params)` once `connection_init` arrives.
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

from models.access import Actor
from models.errors import DomainError
from models.tables import Account
from models.tokens import Authenticated, authenticate, parse_bearer
from resolvers.errors import PublicError, unauthenticated
from resolvers.loaders import Loaders

logger = logging.getLogger(__name__)


@dataclass
class GraphQLContext:
    request: Request | WebSocket
    response: Response | WebSocket | None = None
    auth: Authenticated | None = None
    #: Why the caller is not signed in (message for the UNAUTHENTICATED error).
    auth_error: DomainError | None = None
    #: The token could not be checked at all (database unreachable...): an internal fault, answered
    #: with the masked error rather than UNAUTHENTICATED (the token may well be valid).
    auth_fault: bool = False
    #: The WebSocket `connection_init` payload; strawberry sets it on this attribute.
    connection_params: Mapping[str, Any] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.renew_loaders()

    @classmethod
    async def for_http(cls, request: Request, response: Response | None = None) -> GraphQLContext:
        context = cls(request, response)
        await context.sign_in(parse_bearer(request.headers.get("authorization")))
        return context

    @classmethod
    def for_websocket(cls, websocket: WebSocket) -> GraphQLContext:
        return cls(websocket, websocket)

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
        header = None
        if isinstance(params, Mapping):
            for key, value in params.items():
                if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                    header = value
        return await self.sign_in(parse_bearer(header))

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

__all__ = ["GraphQLContext", "Info", "PublicError"]
