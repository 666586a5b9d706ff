// Steward's GraphiQL bootstrap: a file, not an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'. Globals: React, ReactDOM, GraphiQL.
"use strict";

(function () {
  // The development token page leaves the new headers here; read once, then removed.
  const PENDING_HEADERS = "steward:dev-token-headers";

  const root = document.getElementById("graphiql");
  const config = JSON.parse(root.dataset.config);
  const e = React.createElement;
  const { ToolbarButton, useEditorContext, useSchemaContext } = GraphiQL.React;

  function parseHeaders(text) {
    try {
      const value = JSON.parse(text || "");
      return value && typeof value === "object" && !Array.isArray(value) ? value : null;
    } catch (_error) {
      return null;
    }
  }

  function header(headers, name) {
    const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : headers[key];
  }

  // Sets each header of `changes` (case-insensitively), removing those whose value is null.
  function merge(headers, changes) {
    const merged = {};
    const changed = Object.keys(changes).map((name) => name.toLowerCase());
    for (const [name, value] of Object.entries(headers || {})) {
      if (!changed.includes(name.toLowerCase())) merged[name] = value;
    }
    for (const [name, value] of Object.entries(changes)) {
      if (value !== null) merged[name] = value;
    }
    return merged;
  }

  function takePendingHeaders() {
    const raw = sessionStorage.getItem(PENDING_HEADERS);
    sessionStorage.removeItem(PENDING_HEADERS);
    return parseHeaders(raw);
  }

  function KeyIcon() {
    return e(
      "svg",
      {
        className: "graphiql-toolbar-icon",
        viewBox: "0 0 24 24",
        fill: "none",
        stroke: "currentColor",
        strokeWidth: 1.5,
        "aria-hidden": true,
      },
      e("circle", { cx: 8, cy: 15, r: 4.5 }),
      e("path", { d: "M11.2 11.8 20.5 2.5M17 6l2.5 2.5M14.5 8.5 16.5 10.5" }),
    );
  }

  // Lives in GraphiQL's toolbar, inside its contexts: fills the headers pane (the template,
  // or a token from the development token page) and fetches the schema again whenever the
  // Authorization header changes, since an unauthenticated caller learns nothing of it.
  function StewardTools() {
    const { headerEditor } = useEditorContext({ nonNull: true });
    const { introspect } = useSchemaContext({ nonNull: true });

    React.useEffect(() => {
      if (!headerEditor) return undefined;
      // Deferred, so that GraphiQL's own change handlers (the tab's state) see the change.
      const timer = setTimeout(() => {
        const pending = takePendingHeaders();
        const current = parseHeaders(headerEditor.getValue());
        if (pending) {
          const base = current || parseHeaders(config.headers);
          headerEditor.setValue(JSON.stringify(merge(base, pending), null, 2));
        } else if (!headerEditor.getValue().trim()) {
          headerEditor.setValue(config.headers);
        }
      }, 0);
      return () => clearTimeout(timer);
    }, [headerEditor]);

    React.useEffect(() => {
      if (!headerEditor) return undefined;
      const authorization = () => header(parseHeaders(headerEditor.getValue()), "Authorization");
      let last = authorization();
      let timer;
      const onChange = () => {
        const value = authorization();
        if (value === last) return;
        last = value;
        clearTimeout(timer);
        timer = setTimeout(introspect, 300);
      };
      headerEditor.on("change", onChange);
      return () => {
        headerEditor.off("change", onChange);
        clearTimeout(timer);
      };
    }, [headerEditor, introspect]);

    if (!config.devToken) return null;
    return e(
      ToolbarButton,
      {
        label: "Get a development token",
        onClick: () => window.location.assign(config.devToken),
      },
      e(KeyIcon),
    );
  }

  const fetcher = GraphiQL.createFetcher({ url: config.url, enableIncrementalDelivery: false });

  ReactDOM.createRoot(root).render(
    e(
      GraphiQL,
      {
        fetcher,
        defaultQuery: config.query,
        defaultHeaders: config.headers,
        defaultEditorToolsVisibility: "headers",
        isHeadersEditorEnabled: true,
        toolbar: { additionalComponent: StewardTools },
      },
      e(GraphiQL.Logo, null, "Steward"),
    ),
  );
})();
