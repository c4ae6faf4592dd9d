// Live events over one WebSocket (graphql-transport-ws, via the graphql-ws client).
//
// The token goes in the `connection_init` payload, as {"Authorization": "Bearer <token>"}.
// When the connection drops, graphql-ws reconnects and subscribes again with the same payload;
// `onReconnected` then tells the page to reload what it shows, since events sent while it was
// away are lost. (Once the API can resume a stream, `watchRequests` is the one place to pass
// the last event's cursor as `after:` instead of reloading. Today it cannot, so nothing is sent.)

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

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${GRAPHQL_PATH}`;
}

/**
 * One client per signed-in page. `on` receives connection news: `connected(wasRetry)` when the
 * server acknowledged the connection (`wasRetry`: after a drop), `lost()` when the socket
 * dropped and a retry is under way, `refused()` when the server will not take this token.
 */
export function createLiveClient(on) {
  return createClient({
    url: socketUrl(),
    connectionParams: () => ({ Authorization: `Bearer ${currentToken()}` }),
    lazyCloseTimeout: LAZY_CLOSE_MS,
    retryAttempts: Infinity,
    shouldRetry: (event) => event?.code !== CLOSE_FORBIDDEN && event?.code !== CLOSE_UNAUTHORIZED,
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_FIRST_MS * 2 ** retries, RETRY_LONGEST_MS))),
    on: {
      connected: (_socket, _payload, wasRetry) => on.connected(wasRetry),
      closed: (event) => {
        if (event?.code === CLOSE_FORBIDDEN || event?.code === CLOSE_UNAUTHORIZED) on.refused();
        else if (event?.code !== CLOSE_NORMAL) on.lost();
      },
    },
  });
}

/**
 * Subscribe to the request events of one district (or, with districtId null, of everything the
 * caller may see). Calls `onEvent(event)` per event; returns a function that unsubscribes.
 */
export function watchRequests(client, districtId, onEvent, onError) {
  return client.subscribe(
    { query: REQUEST_EVENTS, variables: { districtId } },
    {
      next: (result) => {
        if (result.errors?.length) onError(result.errors[0].message);
        else onEvent(result.data.updateRequestEvents);
      },
      error: (error) => onError(error?.message ?? error?.[0]?.message ?? "Live updates stopped."),
      complete: () => {},
    },
  );
}
