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
// - The server may end one subscription and keep the socket: it sends `complete` when it could
//   not send what the subscription was owed (a catch-up that failed). The page then says live
//   updates are interrupted and subscribes again, from the same cursor, after a wait that doubles
//   up to RETRY_LONGEST_MS while the server keeps ending it; "caught up" follows as after a drop.
//   A subscribe the server refuses for now (an `error` with code UNAVAILABLE: its database or
//   stream did not answer) is followed again the same way, sharing that wait; any other refusal
//   (a bad cursor, a district out of reach) would be refused again: the page stops and says why.
//   A close with 1013 ("Resubscribe with `after`: last cursor") is a drop: graphql-ws reconnects.
//   After an outage of the server's stream it resends at most its newest changes; when more
//   changed, it closes with 1013 and a reason that begins "More changed than was resent": the
//   page then reloads the list once subscribed again (what it missed is not all replayed).
// - 4403 (the token stopped being valid) and 4401 are not retried: the page signs out and shows
//   the server's reason. A `connection_init` the server could not check (its database did not
//   answer) is no verdict on the token: it closes with 1013, a drop like any other.

import { createClient } from "../vendor/graphql-ws/client.js";
import { GRAPHQL_PATH } from "./graphql.js";
import { REQUEST_EVENTS } from "./operations.js";
import { currentToken } from "./session.js";

// graphql-ws close codes the server uses when the token is no longer valid: do not retry.
const CLOSE_FORBIDDEN = 4403;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_NORMAL = 1000;
const CLOSE_TRY_AGAIN = 1013;
// The start of the server's 1013 reason when it resent fewer changes than there were.
const NOT_ALL_RESENT = "More changed than was resent";
// The code of a refused subscribe that is worth sending again in a moment.
const UNAVAILABLE = "UNAVAILABLE";
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
 * sent before, on an earlier socket, i.e. this is a resubscribe after a drop). A subscription
 * the server completed before that `pong` (its catch-up failed at once) is not held: no news.
 */
function pingingWebSocket(listening) {
  const sentBefore = new Set(); // operation ids subscribed on an earlier socket
  return class PingAfterSubscribe extends WebSocket {
    constructor(...args) {
      super(...args);
      this.awaitingPong = []; // {id, again, ended} per ping sent, in order
      this.subscribed = new Set();
      this.addEventListener("message", (event) => {
        const message = messageOf(event.data);
        if (message?.type === "complete") {
          for (const waiting of this.awaitingPong) if (waiting.id === message.id) waiting.ended = true;
        }
        if (message?.type !== "pong" || !this.awaitingPong.length) return;
        const { id, again, ended } = this.awaitingPong.shift();
        if (!ended) listening(id, again);
      });
      this.addEventListener("close", () => {
        for (const id of this.subscribed) sentBefore.add(id);
      });
    }

    send(data) {
      // The server closed the socket a moment ago (e.g. 4401, or a 1013 drop) and graphql-ws has
      // not heard yet: what it sends now is lost either way, and the browser would log an error.
      if (this.readyState === WebSocket.CLOSING || this.readyState === WebSocket.CLOSED) return;
      super.send(data);
      const message = messageOf(data);
      if (message?.type !== "subscribe") return;
      this.subscribed.add(message.id);
      this.awaitingPong.push({ id: message.id, again: sentBefore.has(message.id), ended: false });
      super.send(PING);
    }
  };
}

/** Whether the server refused a subscribe for now only (`error`: its GraphQL error list). */
function refusedForNow(error) {
  return Array.isArray(error) && error.some((e) => e?.extensions?.code === UNAVAILABLE);
}

/** Words for why a subscription stopped: a GraphQL error list, a close event, or an Error. */
function reasonOf(error) {
  return error?.[0]?.message || error?.reason || error?.message || "Live updates stopped.";
}

/**
 * One client per signed-in page. `on` receives connection news: `connected()` when the server
 * acknowledged the connection (and every subscription it ended is held again), `lost()` when the
 * socket dropped or the server ended a subscription, and a retry is under way, `refused(reason)`
 * when the server will not take this token (its reason, in words a person can act on).
 */
export function createLiveClient(on) {
  const watchers = new Map(); // operation id -> the watch's `listening(again)`
  const ended = new Set(); // operation ids the server ended that are not held again yet
  const incomplete = new Set(); // operation ids whose list must be read again once held again
  let open = false; // the socket is acknowledged
  let disposed = false;
  let operations = 0;
  // "on" again once the socket is up and no subscription waits to be held again.
  const settle = () => {
    if (open && !ended.size) on.connected();
  };
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
      connected: () => {
        open = true;
        settle();
      },
      closed: (event) => {
        open = false;
        if (event?.code === CLOSE_FORBIDDEN || event?.code === CLOSE_UNAUTHORIZED) on.refused(event.reason);
        else if (event?.code !== CLOSE_NORMAL) {
          if (event?.code === CLOSE_TRY_AGAIN && event.reason?.startsWith(NOT_ALL_RESENT)) {
            for (const id of watchers.keys()) incomplete.add(id);
          }
          on.lost();
        }
      },
    },
  });
  return {
    client,
    get disposed() {
      return disposed;
    },
    nextOperationId: () => String(++operations),
    watch: (id, listening) => watchers.set(id, listening),
    /** Whether operation `id` missed more than the server resent (take it once: reload). */
    takeIncomplete: (id) => incomplete.delete(id),
    unwatch: (id) => {
      watchers.delete(id);
      incomplete.delete(id);
      if (ended.delete(id)) settle();
    },
    /** The server ended operation `id`; its watch subscribes again. */
    ended: (id) => {
      ended.add(id);
      on.lost();
    },
    /** Operation `id`, ended by the server, is held again, or was refused for good (then the
     * watch's `error` says so): no longer waited for. */
    settled: (id) => {
      if (ended.delete(id)) settle();
    },
    dispose: () => {
      disposed = true;
      return client.dispose();
    },
  };
}

/**
 * Follow the request events of one district (or, with districtId null, of everything the caller
 * may see). `on` gets:
 * - `event(event)`: each event, in order;
 * - `listening()`: the server holds the subscription (the first time): load the list now;
 * - `resumed()`: after a reconnect, or after the server ended the subscription, subscribed again
 *   from the last cursor; the missed events follow as ordinary events;
 * - `stale()`: subscribed again, but what was missed cannot be replayed (no cursor yet, or the
 *   server answered with SNAPSHOTs): reload the list;
 * - `error(message)`: the subscription was refused, for good (it is not retried; a refusal for
 *   now is retried like a `complete`).
 * Returns a function that unsubscribes.
 */
export function watchRequests(live, districtId, on) {
  const id = live.nextOperationId();
  const payload = { query: REQUEST_EVENTS, variables: { districtId, after: null }, [OPERATION]: id };
  let resuming = false; // resubscribed with a cursor, no event since
  let restarted = false; // subscribed again after the server ended it, not yet held
  let stopped = false; // unsubscribed by the page: what graphql-ws reports next is no news
  let refused = false; // the server refused the subscribe for good: it does not listen
  let ends = 0; // the server ended or refused it this many times in a row, with no event between
  let retry = null; // the timer of the next subscribe after the server ended or refused it
  let unsubscribe = () => {};

  live.watch(id, (again) => {
    if (retry) return; // the `pong` after a subscribe the server ended or refused: it is not held
    again = again || restarted;
    restarted = false;
    if (refused) {
      if (!again) on.listening(); // the list still loads, without live updates
      return;
    }
    live.settled(id);
    if (!again) on.listening();
    else if (live.takeIncomplete(id) || payload.variables.after === null) on.stale();
    else {
      resuming = true;
      on.resumed();
    }
  });

  const sink = {
    next: (result) => {
      if (stopped) return;
      if (result.errors?.length) {
        on.error(result.errors[0].message);
        return;
      }
      ends = 0;
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
    error: (error) => {
      if (refusedForNow(error) && !stopped && !live.disposed) {
        followAgain();
        return;
      }
      refused = true;
      live.settled(id);
      if (!stopped && !live.disposed) on.error(reasonOf(error));
    },
    // graphql-ws calls this when the server sent `complete` (it ended the subscription: its
    // catch-up failed, or there is nothing more to follow), when the page unsubscribed, and when
    // the client was disposed. Only the first is news.
    complete: () => {
      if (!stopped && !live.disposed) followAgain();
    },
  };
  // Subscribe again from the last cursor, after a wait that grows while the server keeps ending
  // or refusing it (no storm of subscribes) and starts over once an event comes.
  function followAgain() {
    live.ended(id);
    const wait = Math.min(RETRY_FIRST_MS * 2 ** ends, RETRY_LONGEST_MS);
    ends += 1;
    retry = setTimeout(() => {
      retry = null;
      restarted = true;
      unsubscribe = live.client.subscribe(payload, sink);
    }, wait);
  }
  unsubscribe = live.client.subscribe(payload, sink);
  return () => {
    stopped = true;
    clearTimeout(retry);
    live.unwatch(id);
    unsubscribe();
  };
}
