// Starts the offline GraphiQL page (updatedesk/graphiql/page.py). Our own code, not vendored.
(function () {
  "use strict";
  // Settings from the page, in a <script type="application/json"> that is data, never run: the
  // Content-Security-Policy allows only scripts served by us (script-src 'self').
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);

  // --- Sign-in: is there a real token in the headers editor? ---------------------------------

  function hasToken(headersText) {
    var headers;
    try { headers = JSON.parse(headersText || "{}"); } catch (e) { return false; }
    if (!headers || typeof headers !== "object") { return false; }
    return Object.keys(headers).some(function (name) {
      var value = headers[name];
      return name.toLowerCase() === "authorization" && typeof value === "string" &&
        /^Bearer\s+\S+$/.test(value.trim()) && value.indexOf(config.tokenPlaceholder) === -1;
    });
  }

  // --- Subscriptions over the WebSocket (graphql-transport-ws) --------------------------------

  // The page's vendored graphql-ws client module, loaded on the first subscription only.
  var wsModule = null;
  function loadWsClient() {
    if (!config.wsClientModule) {
      return Promise.reject(new Error("Subscriptions are not available on this page."));
    }
    wsModule = wsModule || import(config.wsClientModule);
    return wsModule;
  }

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + config.endpoint;
  }

  function isSubscription(params, documentAST) {
    var operations = ((documentAST && documentAST.definitions) || []).filter(function (d) {
      return d.kind === "OperationDefinition";
    });
    var chosen = operations.filter(function (d) {
      return !params.operationName || (d.name && d.name.value === params.operationName);
    });
    return chosen.length > 0 && chosen[0].operation === "subscription";
  }

  function closedError(event) {
    var reason = event.reason ? ": " + event.reason : "";
    return new Error("The live connection closed (" + event.code + reason + ").");
  }

  // An Observable as GraphiQL expects one: it calls subscribe(), and unsubscribe() on Stop.
  function subscription(params, headers) {
    return {
      subscribe: function (observer) {
        var client = null;
        var stop = null;
        var stopped = false;
        function finish() { if (client) { client.dispose(); } }
        loadWsClient().then(function (ws) {
          if (stopped) { return; }
          // The token goes in connection_init, as {"Authorization": "Bearer <token>"}.
          client = ws.createClient({url: socketUrl(), connectionParams: headers, retryAttempts: 0});
          stop = client.subscribe(params, {
            next: function (value) { observer.next(value); },
            error: function (error) {
              if (Array.isArray(error)) {  // GraphQL errors of the subscribe itself
                observer.next({errors: error});
                observer.complete();
              } else if (error && typeof error.code === "number") {
                observer.error(closedError(error));
              } else {
                observer.error(error instanceof Error ? error : new Error(String(error)));
              }
              finish();
            },
            complete: function () { observer.complete(); finish(); }
          });
        }, function (error) { observer.error(error); });
        return {
          unsubscribe: function () {
            stopped = true;
            if (stop) { stop(); }
            finish();
          }
        };
      }
    };
  }

  // --- Queries and mutations: POST JSON ------------------------------------------------------

  // POST the operation as JSON to our endpoint, with the headers typed into
  // GraphiQL's headers editor (GraphiQL passes them parsed in opts.headers).
  async function post(graphQLParams, headers) {
    var response = await fetch(config.endpoint, {
      method: "POST",
      headers: Object.assign({"Content-Type": "application/json", "Accept": "application/json"}, headers),
      body: JSON.stringify(graphQLParams),
      credentials: "same-origin"
    });
    var text = await response.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      return {errors: [{message: "HTTP " + response.status + ": " + text}]};
    }
  }

  function fetcher(graphQLParams, opts) {
    var headers = (opts && opts.headers) || {};
    if (isSubscription(graphQLParams, opts && opts.documentAST)) {
      return subscription(graphQLParams, headers);
    }
    return post(graphQLParams, headers);
  }

  // --- Headers kept across reloads -----------------------------------------------------------

  // GraphiQL 3 drops its own saved headers on every mount (upstream issue
  // graphql/graphiql#3369: they survive one reload, not two), so we also keep
  // the headers under our own localStorage key and hand them back as `headers`.
  function loadHeaders() {
    try { return window.localStorage.getItem(config.headersKey); } catch (e) { return null; }
  }
  function saveHeaders(value) {
    try { window.localStorage.setItem(config.headersKey, value); } catch (e) { /* private mode */ }
  }

  // --- ?query= / ?variables= / ?operationName= ------------------------------------------------

  // A link such as /graphql?query=...&variables=... opens with that document. While the page
  // was opened that way, edits are written back into the address, so a reload keeps them and
  // the address can be shared.
  var search = new URLSearchParams(window.location.search);
  var fromLink = search.has("query") || search.has("variables") || search.has("operationName");

  function pretty(variables) {
    try { return JSON.stringify(JSON.parse(variables), null, 2); } catch (e) { return variables; }
  }

  function remember(name) {
    return function (value) {
      if (!fromLink) { return; }
      if (value) { search.set(name, value); } else { search.delete(name); }
      window.history.replaceState(null, "", "?" + search.toString());
    };
  }

  // --- The page ------------------------------------------------------------------------------

  var savedHeaders = loadHeaders();
  var schemaEnabled = hasToken(savedHeaders === null ? config.defaultHeaders : savedHeaders);
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));

  // Created once: GraphiQL gets the same functions on every render.
  var onEditQuery = remember("query");
  var onEditVariables = remember("variables");
  var onEditOperationName = remember("operationName");

  function render() {
    var props = {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      defaultHeaders: config.defaultHeaders,
      onEditHeaders: onEditHeaders,
      onEditQuery: onEditQuery,
      onEditVariables: onEditVariables,
      onEditOperationName: onEditOperationName,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      // "headers" opens the editor tools pane on the Headers tab.
      defaultEditorToolsVisibility: "headers"
    };
    if (!schemaEnabled) {
      // No token yet: do not ask for the schema (it would only answer UNAUTHENTICATED). Once a
      // token is typed, the page renders again without this, and GraphiQL loads the schema.
      props.schema = null;
    }
    if (savedHeaders !== null) { props.headers = savedHeaders; }
    if (search.has("query")) { props.query = search.get("query"); }
    if (search.has("variables")) { props.variables = pretty(search.get("variables")); }
    if (search.has("operationName")) { props.operationName = search.get("operationName"); }
    root.render(React.createElement(GraphiQL, props));
  }

  function onEditHeaders(value) {
    saveHeaders(value);
    if (!schemaEnabled && hasToken(value)) {
      schemaEnabled = true;
      render();
    }
  }

  render();
})();
