"""Subscription documents for the live hub: what a document's rendering depends on, and the
rendering itself (GraphQL executed once per render group and event, the same text for every
subscriber of the group).

`LiveDocuments(schema).get(query, operation_name, variables)` answers a `SubscriptionDocument`
(`resolvers.live.groups.LiveDocument`) for a subscription operation, None for anything else.
Its shape is worked out once per document text:
- `per_account`: a selected field outside `SHARED_FIELDS` may depend on the account itself (a
  saved preference, "oneself"), so its subscribers are grouped per account; fields in the list
  depend only on role and districts, which every group has in common. New fields are per
  account until they are added here.
- `request_fields`: the `UpdateRequest` fields selected, to tell whether the record suffices.
- variables used only as the root field's `after` do not split groups.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    get_operation_ast,
    parse,
    visit,
)
from graphql.execution.execute import execute_subscription_event
from strawberry import Schema
from strawberry.schema.base import BaseSchema

from models.errors import DatabaseUnavailable, database_unavailable
from resolvers.context import GraphQLContext
from resolvers.live.events import LiveEvent
from schema.extensions import DOCUMENT_CACHE_SIZE, MAX_TOKENS, is_internal_fault, log_errors, masked
from updatedesk.live_render import NotPlain, Plan, plain_plan, render_plain

#: Fields whose answer depends only on the caller's role and districts (`Type.field`).
SHARED_FIELDS = frozenset(
    {
        "Subscription.updateRequestEvents",
        *(f"UpdateRequestEvent.{name}" for name in
          ("type", "updateRequest", "progress", "at", "cursor", "fromStatus", "toStatus")),
        *(f"Progress.{name}" for name in ("percent", "step", "message", "at")),
        *(f"UpdateRequest.{name}" for name in
          ("id", "kind", "status", "district", "environment", "targetVersion", "preferredStart",
           "scheduledStart", "startedAt", "completedAt", "createdAt", "updatedAt", "requestedBy", "automatic",
           "notes", "statusMessage", "windowOverride", "progress", "supersededBy", "history", "canCancel",
           "canDelete")),
        *(f"StatusChange.{name}" for name in ("from", "to", "at", "by", "message", "windowOverride")),
        *(f"Account.{name}" for name in ("id", "email", "name", "role")),
        *(f"District.{name}" for name in ("id", "name", "hostingModel", "updateGroup", "environments")),
        *(f"Environment.{name}" for name in
          ("id", "kind", "url", "currentVersion", "versionUpdatedAt", "lastRefreshedAt", "online",
           "district")),
        *(f"UpdateGroup.{name}" for name in ("id", "name", "kind")),
    }
)  # fmt: skip


#: Documents with their variables kept for sharing (the least recently added go first).
SHARED_DOCUMENTS = 4096


@dataclass(frozen=True)
class DocumentShape:
    per_account: bool
    request_fields: frozenset[str] | None
    after_variables: frozenset[str]


class _Collector(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.per_account = False
        self.request_fields: set[str] = set()
        self.variable_uses: Counter[str] = Counter()
        self.after: set[str] = set()

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent, name = self.type_info.get_parent_type(), node.name.value
        if name == "__typename":
            return
        if parent is None or f"{parent.name}.{name}" not in SHARED_FIELDS:
            self.per_account = True
        if parent is not None and parent.name == "UpdateRequest":
            self.request_fields.add(name)
        if parent is not None and parent.name == "Subscription":
            for argument in node.arguments or ():
                if argument.name.value == "after" and isinstance(argument.value, VariableNode):
                    self.after.add(argument.value.name.value)

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.variable_uses[node.name.value] += 1


def shape_of(schema: GraphQLSchema, document: DocumentNode) -> DocumentShape:
    type_info = TypeInfo(schema)
    collector = _Collector(type_info)
    visit(document, TypeInfoVisitor(type_info, collector))
    # A variable is named once where it is defined; `after` alone is a second naming.
    only_after = frozenset(name for name in collector.after if collector.variable_uses[name] <= 2)
    return DocumentShape(collector.per_account, frozenset(collector.request_fields), only_after)


def _compact(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()


class PreparedRender:
    """One group's document, variables and context, ready to render events."""

    def __init__(self, executor: Any, context: GraphQLContext, plain: tuple[str, Plan] | None = None) -> None:
        self.executor = executor
        self.context = context
        #: (root key, plan) when the document selects only plain fields (`updatedesk.live_render`).
        self.plain = plain

    def render_now(self, event: LiveEvent) -> str | None:
        """The payload when the document renders the plain way (no waiting); None when
        graphql-core must render it (`render`)."""
        if self.plain is None:
            return None
        root, plan = self.plain
        try:
            return _compact({"data": {root: render_plain(plan, event)}})
        except NotPlain:
            return None  # graphql-core renders it, and reports what was wrong as GraphQL does

    async def render(self, event: LiveEvent) -> str:
        plain = self.render_now(event)
        if plain is not None:
            return plain
        self.context.renew_loaders()
        result: Any = execute_subscription_event(self.executor.build_per_event_executor(event))
        if isawaitable(result):
            result = await result
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            unanswered = next(
                (e for e in result.errors if is_internal_fault(e) and database_unavailable(e.original_error)),
                None,
            )
            if unanswered is not None:
                # Sent as it is, the event's error would stand in for its move and the
                # subscription would go on after a gap: the hub has its subscribers resume it.
                raise DatabaseUnavailable(
                    "the database did not answer a live event's rendering"
                ) from unanswered.original_error
            log_errors(result.errors)
            payload["errors"] = [_public(error) for error in result.errors]
        return _compact(payload)


def _public(error: GraphQLError) -> dict[str, Any]:
    if is_internal_fault(error):
        return dict(masked(error).formatted)
    return dict(error.formatted)


@dataclass(slots=True)
class SubscriptionDocument:
    schema: Schema
    document: DocumentNode
    key: str
    operation_name: str | None
    variables: dict[str, Any]
    variables_key: str
    per_account: bool
    request_fields: frozenset[str] | None
    plain: tuple[str, Plan] | None = None

    def prepare(self, context: GraphQLContext) -> PreparedRender:
        executor = self.schema.execution_context_class.build(
            self.schema._schema,
            self.document,
            context_value=context,
            raw_variable_values=self.variables,
            operation_name=self.operation_name,
        )
        if isinstance(executor, list):  # the subscribe was validated: cannot happen
            raise GraphQLError(f"The subscription cannot run: {executor[0].message}")
        return PreparedRender(executor, context, self.plain)


class LiveDocuments:
    """Parsed subscription documents and their shapes, cached per text."""

    def __init__(self, schema: BaseSchema) -> None:
        assert isinstance(schema, Schema), "live documents need a strawberry.Schema"
        self.schema = schema
        self._parsed = lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(self._parse)
        #: One document per text, operation and shaping variables: subscribers share it.
        self._shared: OrderedDict[tuple[str, str], SubscriptionDocument] = OrderedDict()

    def _parse(
        self, query: str, operation_name: str | None
    ) -> tuple[DocumentNode, DocumentShape, str] | None:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError:
            return None  # strawberry answers with the syntax error
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
            return None
        return document, shape_of(self.schema._schema, document), f"{operation_name or ''}\n{query}"

    def get(self, query: object, operation_name: object, variables: object) -> SubscriptionDocument | None:
        if not isinstance(query, str) or not (operation_name is None or isinstance(operation_name, str)):
            return None
        parsed = self._parsed(query, operation_name)
        if parsed is None:
            return None
        document, shape, key = parsed
        values = variables if isinstance(variables, dict) else {}
        shaping = {name: value for name, value in values.items() if name not in shape.after_variables}
        try:
            variables_key = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
        shared = self._shared.get((key, variables_key))
        if shared is None:
            # The first subscriber's variables serve all: they differ at most in `after`, which
            # only the subscription's start reads, never its rendering.
            shared = SubscriptionDocument(
                self.schema, document, key, operation_name, values, variables_key,
                shape.per_account, shape.request_fields,
                plain_plan(self.schema._schema, document, operation_name),
            )  # fmt: skip
            self._shared[(key, variables_key)] = shared
            while len(self._shared) > SHARED_DOCUMENTS:
                self._shared.popitem(last=False)
        return shared
