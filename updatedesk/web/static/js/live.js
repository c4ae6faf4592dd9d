// Live events over one WebSocket (graphql-transport-ws, via the graphql-ws client).
//
// The token goes in the `connection_init` payload, as {"Authorization": "Bearer <token>"}.
// How the page follows a list without losing an event (README, "Live events: records, cursors,
// resume"):
// - Subscribe first, then load the list. The server answers a `ping` sent after a `subscribe`
//   only once that subscription listens, so the page sends one right after each subscribe and
//   loads the list when its `pong` comes: every change after the list's read arrives as an event.
//   (Events that arrive while the list loads are applied after it, in order.)
// - Keep the `cursor` of the last event. When the connection drops, graphql-ws reconnects and
//   sends the same subscribe payload again; `variables.after` in it is that cursor, so the
//   server first replays every event missed meanwhile, then live ones: no reload.
// - A cursor the server no longer keeps (older than its retention, or its stream was lost) is
//   answered with SNAPSHOTs of the present instead of the missed moves: the page then reloads
//   the list. A reconnect before any event (no cursor yet) reloads too. The page says which:
//   "caught up" or "reloaded" (follow.js).

import { createClient } from "../vendor/graphql-ws/client.js";
import { GRAPHQL_PATH } from "./graphql.js";
import { REQUEST_EVENTS } from "./operations.js";
import { currentToken } from "./session.js";

// graphql-ws close codes the server uses when the token is no longer valid: do not retry.
const CLOSE_FORBIDDEN = 4403;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_NORMAL = 1000;
const RETRY_FIRST_MS = 500;
const RETRY_LONGEST_MS = 10_000;
// Keep the socket a moment after the last subscription ends, so switching district reuses it.
const LAZY_CLOSE_MS = 2_000;
// Where a subscribe payload keeps the id of its operation (a symbol: not sent to the server).
const OPERATION = Symbol("operation id");
const PING = JSON.stringify({ type: "ping" });

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${GRAPHQL_PATH}`;
}

/** The `type` and `id` of a graphql-transport-ws message (null for what is not one). */
function messageOf(data) {
  if (typeof data !== "string") return null;
  try {
    const message = JSON.parse(data);
    return typeof message?.type === "string" ? message : null;
  } catch {
    return null;
  }
}

/**
 * A WebSocket that sends a `ping` after each `subscribe` and, when its `pong` comes, tells
 * `listening(operationId, again)` that the server holds that subscription (`again`: it was
 * sent before, on an earlier socket, i.e. this is a resubscribe after a drop).
 */
function pingingWebSocket(listening) {
  const sentBefore = new Set(); // operation ids subscribed on an earlier socket
  return class PingAfterSubscribe extends WebSocket {
    constructor(...args) {
      super(...args);
      this.awaitingPong = []; // [operationId, again] per ping sent, in order
      this.subscribed = new Set();
      this.addEventListener("message", (event) => {
        if (messageOf(event.data)?.type !== "pong" || !this.awaitingPong.length) return;
        const [id, again] = this.awaitingPong.shift();
        listening(id, again);
      });
      this.addEventListener("close", () => {
        for (const id of this.subscribed) sentBefore.add(id);
      });
    }

    send(data) {
      super.send(data);
      const message = messageOf(data);
      if (message?.type !== "subscribe") return;
      this.subscribed.add(message.id);
      this.awaitingPong.push([message.id, sentBefore.has(message.id)]);
      super.send(PING);
    }
  };
}

/**
 * One client per signed-in page. `on` receives connection news: `connected()` when the server
 * acknowledged the connection, `lost()` when the socket dropped and a retry is under way,
 * `refused()` when the server will not take this token.
 */
export function createLiveClient(on) {
  const watchers = new Map(); // operation id -> the watch's `listening(again)`
  let operations = 0;
  const client = createClient({
    url: socketUrl(),
    webSocketImpl: pingingWebSocket((id, again) => watchers.get(id)?.(again)),
    generateID: (payload) => payload[OPERATION] ?? String(++operations),
    connectionParams: () => ({ Authorization: `Bearer ${currentToken()}` }),
    lazyCloseTimeout: LAZY_CLOSE_MS,
    retryAttempts: Infinity,
    shouldRetry: (event) => event?.code !== CLOSE_FORBIDDEN && event?.code !== CLOSE_UNAUTHORIZED,
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_FIRST_MS * 2 ** retries, RETRY_LONGEST_MS))),
    on: {
      connected: () => on.connected(),
      closed: (event) => {
        if (event?.code === CLOSE_FORBIDDEN || event?.code === CLOSE_UNAUTHORIZED) on.refused();
        else if (event?.code !== CLOSE_NORMAL) on.lost();
      },
    },
  });
  return {
    client,
    nextOperationId: () => String(++operations),
    watch: (id, listening) => watchers.set(id, listening),
    unwatch: (id) => watchers.delete(id),
    dispose: () => client.dispose(),
  };
}

/**
 * Follow the request events of one district (or, with districtId null, of everything the caller
 * may see). `on` gets:
 * - `event(event)`: each event, in order;
 * - `listening()`: the server holds the subscription (the first time): load the list now;
 * - `resumed()`: after a reconnect, subscribed again from the last cursor; the missed events
 *   follow as ordinary events;
 * - `stale()`: after a reconnect, what was missed cannot be replayed (no cursor yet, or the
 *   server answered with SNAPSHOTs): reload the list;
 * - `error(message)`: the subscription was refused or ended.
 * Returns a function that unsubscribes.
 */
export function watchRequests(live, districtId, on) {
  const id = live.nextOperationId();
  const payload = { query: REQUEST_EVENTS, variables: { districtId, after: null }, [OPERATION]: id };
  let resuming = false; // resubscribed with a cursor, no event since
  live.watch(id, (again) => {
    if (!again) on.listening();
    else if (payload.variables.after === null) on.stale();
    else {
      resuming = true;
      on.resumed();
    }
  });
  const unsubscribe = live.client.subscribe(payload, {
    next: (result) => {
      if (result.errors?.length) {
        on.error(result.errors[0].message);
        return;
      }
      const event = result.data.updateRequestEvents;
      // graphql-ws sends this same payload object again after a drop: resume after this event.
      payload.variables.after = event.cursor;
      if (resuming && event.type === "SNAPSHOT") {
        // The server no longer keeps the events after our cursor: it sends the present instead
        // (SNAPSHOTs, and REMOVED for what was cancelled or deleted), which a list of pages
        // cannot place: reload. REMOVED alone is applied as it comes.
        resuming = false;
        on.stale();
      } else if (event.type !== "REMOVED") {
        resuming = false;
      }
      on.event(event);
    },
    error: (error) => on.error(error?.message ?? error?.[0]?.message ?? "Live updates stopped."),
    complete: () => {},
  });
  return () => {
    live.unwatch(id);
    unsubscribe();
  };
}
