"""graphql-transport-ws on WebSocket /graphql: strawberry's handler, with subscriptions taken over
by the process's live hub and a few answers made clearer.

- Every message to the client goes through the socket's `Outbox` (one ordered queue), so an
  acknowledgement, a `pong` or a `complete` never overtakes an event sent before it.
- A `subscribe` of a subscription document runs strawberry's whole pipeline once (parsing,
  validation, limits, sign-in) with a `LiveSlot` as its root value; the resolver hands the
  operation to the hub, which delivers its events from then on. The operation keeps no task.
  Queries and mutations sent over the socket run as strawberry runs them.
- A document that does not parse is answered with an `error` message (not a 4400 close).
- 4401 and 4403 closes say what to do; a token that could not be checked at `connection_init`
  (the database did not answer) is no refusal: 1013, which clients retry (`refusal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncGenerator
from json import JSONDecodeError
from typing import Any, cast

from graphql import GraphQLError, GraphQLSyntaxError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, Message
from strawberry.types.unset import UnsetType
from strawberry.utils.aio import aclosing

from resolvers.context import GraphQLContext, authorization_from_params
from resolvers.live.access import CLOSE_FORBIDDEN, AccessCheck
from resolvers.live.groups import LiveConnection, LiveSlot
from resolvers.live.hub import SIGN_IN_CACHE_LIMIT, LiveHub
from resolvers.live.lookups import SharedLookups
from resolvers.live.outbox import CLOSE_TRY_AGAIN, Outbox, close_reason
from updatedesk.live_documents import LiveDocuments

REASON_UNAUTHORIZED = "Unauthorized: send connection_init and wait for connection_ack before subscribing."
REASON_FORBIDDEN = 'Forbidden: connection_init must carry {"Authorization": "Bearer <token>"}.'
#: connection_init met a server fault (the database did not answer): no verdict on the token.
REASON_SIGN_IN_UNAVAILABLE = (
    "Try again later: the server could not check your token just now (not a refusal). Reconnect in a moment."
)


_FINISHED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[None]] = (
    weakref.WeakKeyDictionary()
)


def _finished() -> asyncio.Task[None]:
    """One finished future per loop that taken-over operations point to instead of their task."""
    loop = asyncio.get_running_loop()
    future = _FINISHED.get(loop)
    if future is None:
        future = loop.create_future()
        future.set_result(None)
        _FINISHED[loop] = future
    return cast(asyncio.Task[None], future)


def refusal(context: GraphQLContext) -> dict[str, object]:
    """How to close a socket whose connection_init did not sign in: `code` and `message`.

    Only a verdict on the token (missing, unknown, revoked, expired, account switched off) is
    4403, which graphql-ws clients take as final (the web page signs out). A token that could not
    be checked (the database did not answer) was not refused: 1013 "Try Again Later", which
    clients retry, resuming their subscriptions from their cursors."""
    if context.auth_fault:
        return {"code": CLOSE_TRY_AGAIN, "message": REASON_SIGN_IN_UNAVAILABLE}
    if authorization_from_params(context.connection_params) is None:
        return {"code": CLOSE_FORBIDDEN, "message": REASON_FORBIDDEN}
    error = context.auth_error
    # The sign-in's own message says what to do (copy the token whole, ask for a new one...).
    reason = close_reason(f"Forbidden: {error.message}" if error else REASON_FORBIDDEN)
    return {"code": CLOSE_FORBIDDEN, "message": reason}


class LeanWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, keeping nothing of the last message while it waits for the next
    (an idle socket would otherwise hold its subscribe document until it sends again)."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    yield self.view.decode_json(await self.ws.receive_text())
                except JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        context = self.context
        settings = context.settings
        hub = context.hub
        sign_ins = (
            hub.sign_ins if isinstance(hub, LiveHub) else SharedLookups[str, object](SIGN_IN_CACHE_LIMIT)
        )
        self.live = LiveConnection(
            context,
            Outbox(cast(WebSocket, context.request), settings.ws_subscriber_queue),
            AccessCheck(context, sign_ins, settings.ws_auth_recheck_seconds),
        )
        self.live_slots: dict[str, LiveSlot] = {}

    async def handle(self) -> None:
        """As strawberry's, without holding the last message between messages."""
        self.on_request_accepted()
        try:
            try:
                messages = self.websocket.iter_json()
                while True:
                    try:
                        message = await anext(messages)
                    except StopAsyncIteration:
                        break
                    await self.handle_message(cast(Message, message))
                    del message
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except WebSocketDisconnected:
            pass
        finally:
            await self.shutdown()

    async def send_message(self, message: Message) -> None:
        self.live.outbox.push(json.dumps(message, separators=(",", ":")))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """As strawberry's, with a reason a person can act on, and the close code of the refusal
        (`refusal`: 4403 for a verdict on the token, 1013 when it could not be checked)."""
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
            self.connection_init_timeout_task = None  # cancelled: nothing to keep per socket
        payload = message.get("payload", {})
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        self.context.connection_params = payload
        checked_at = time.monotonic()
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as rejection:
            payload = rejection.payload if isinstance(rejection.payload, dict) else {}
            code = payload.get("code", CLOSE_FORBIDDEN)
            reason = close_reason(str(payload.get("message") or REASON_FORBIDDEN))
            await self.websocket.close(code=code if isinstance(code, int) else CLOSE_FORBIDDEN, reason=reason)
            return
        self.live.access.checked_at = checked_at  # the sign-in is the socket's first access check
        if isinstance(ack_payload, UnsetType) or ack_payload is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True

    async def handle_subscribe(self, message: Any) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason=REASON_UNAUTHORIZED)
            return
        operation_id, payload = message["id"], message["payload"]
        limit = self.max_subscriptions_per_connection
        if operation_id in self.operations or (limit is not None and len(self.operations) >= limit):
            await super().handle_subscribe(message)  # 4409, or the limit's `error` message
            return
        operation = Operation(
            self, operation_id, payload["query"], payload.get("variables"), payload.get("operationName")
        )
        slot = self._slot(operation)
        if slot is None:
            await super().handle_subscribe(message)
            return
        # A subscription joins the hub before the socket's next message is read: a `ping` sent
        # after a `subscribe` is answered once the subscription listens.
        operation.task = _finished()
        self.operations[operation_id] = operation
        await self._run_live(operation, slot)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        if isinstance(error, GraphQLSyntaxError):
            return None  # answered with an `error` message, like any other document error
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)

    def _slot(self, operation: Operation[GraphQLContext, None]) -> LiveSlot | None:
        hub = self.context.hub
        documents = getattr(self.view, "live_documents", None)
        if not isinstance(hub, LiveHub) or not isinstance(documents, LiveDocuments):
            return None
        document = documents.get(operation.query, operation.operation_name, operation.variables)
        if document is None:
            return None
        operation_id = operation.id

        def ended() -> None:
            self.operations.pop(operation_id, None)
            self.live_slots.pop(operation_id, None)

        slot = LiveSlot(operation_id, self.live, document, ended)
        self.live_slots[operation_id] = slot
        return slot

    async def _run_live(self, operation: Operation[GraphQLContext, None], slot: LiveSlot) -> None:
        """Strawberry's whole pipeline once (parsing, validation, limits, sign-in), the resolver
        handing the operation to the hub; errors before that are the operation's `error`."""
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=slot,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            if slot.member is not None:
                # The hub delivers this operation's events from now on; its text and variables
                # live on in the shared document.
                operation.query, operation.variables = "", None
                return
            self.live_slots.pop(operation.id, None)
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except Exception as error:
            self.live_slots.pop(operation.id, None)
            if type(error).__name__ == "_OperationStreamClosed":
                return
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)

    async def cleanup_operation(self, operation_id: str) -> None:
        slot = self.live_slots.pop(operation_id, None)
        if slot is not None and slot.member is not None and isinstance(self.context.hub, LiveHub):
            self.context.hub.leave(slot.member)
        await super().cleanup_operation(operation_id)

    async def shutdown(self) -> None:
        await super().shutdown()
        for operation_id in list(self.live_slots):
            await self.cleanup_operation(operation_id)
        self.live.outbox.abandon()
