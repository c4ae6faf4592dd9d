// Starts the offline GraphiQL page (updatedesk/graphiql/page.py). Our own code, not vendored.
(function () {
  "use strict";
  // Settings from the page, in a <script type="application/json"> that is data, never run: the
  // Content-Security-Policy allows only scripts served by us (script-src 'self').
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);

  // POST the operation as JSON to our endpoint, with the headers typed into
  // GraphiQL's headers editor (GraphiQL passes them parsed in opts.headers).
  async function fetcher(graphQLParams, opts) {
    var headers = Object.assign(
      {"Content-Type": "application/json", "Accept": "application/json"},
      (opts && opts.headers) || {}
    );
    var response = await fetch(config.endpoint, {
      method: "POST",
      headers: headers,
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

  // GraphiQL 3 drops its own saved headers on every mount (upstream issue
  // graphql/graphiql#3369: they survive one reload, not two), so we also keep
  // the headers under our own localStorage key and hand them back as `headers`.
  function loadHeaders() {
    try { return window.localStorage.getItem(config.headersKey); } catch (e) { return null; }
  }
  function saveHeaders(value) {
    try { window.localStorage.setItem(config.headersKey, value); } catch (e) { /* private mode */ }
  }

  var props = {
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    defaultHeaders: config.defaultHeaders,
    onEditHeaders: saveHeaders,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    // "headers" opens the editor tools pane on the Headers tab.
    defaultEditorToolsVisibility: "headers"
  };
  var savedHeaders = loadHeaders();
  if (savedHeaders !== null) {
    props.headers = savedHeaders;
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
