// Steward's GraphiQL bootstrap: a file, not an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'. Globals: React, ReactDOM, GraphiQL,
// GraphiQLPluginExplorer, StewardRedactions, and StewardDevSession in development mode.
"use strict";

(function () {
  const root = document.getElementById("graphiql");
  const config = JSON.parse(root.dataset.config);
  const e = React.createElement;
  const { ToolbarButton, useEditorContext, useSchemaContext } = GraphiQL.React;
  const JWT = /^Bearer\s+[\w-]+\.[\w-]+\.[\w-]+$/;

  adoptRuntimeStyles();

  // GraphiQL's dialogs add one <style> element at run time (the scroll lock of
  // react-remove-scroll), which the strict style-src refuses, logging a violation. Its rules
  // are adopted through the CSSOM instead, which style-src does not govern, and the element
  // is parked in a detached node, whence GraphiQL removes it, and its rules with it.
  function adoptRuntimeStyles() {
    const head = document.head;
    const append = head.appendChild.bind(head);
    const parked = document.createElement("div");
    const adopted = new Map();
    head.appendChild = (node) => {
      if (!(node instanceof HTMLStyleElement)) return append(node);
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(node.textContent);
      adopted.set(node, sheet);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
      return parked.appendChild(node);
    };
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        for (const node of mutation.removedNodes) {
          const sheet = adopted.get(node);
          adopted.delete(node);
          document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
        }
      }
    }).observe(parked, { childList: true });
  }

  function parseHeaders(text) {
    try {
      const value = JSON.parse(text || "{}");
      return value && typeof value === "object" && !Array.isArray(value) ? value : null;
    } catch (_error) {
      return null;
    }
  }

  function header(headers, name) {
    const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : headers[key];
  }

  function hasToken(headers) {
    return JWT.test(header(headers, "Authorization") || "");
  }

  // Development mode: a token of this browser (dev-session.js), ready before any request.
  const session = config.dev
    ? new StewardDevSession.Session(config.dev.path, config.dev.defaultChoice)
    : null;
  const last = new StewardRedactions.LastResponse();
  const base = GraphiQL.createFetcher({ url: config.url, enableIncrementalDelivery: false });

  function isIntrospection(params) {
    return params.operationName === "IntrospectionQuery";
  }

  // The development token's headers under those of the headers pane (introspection needs no
  // purpose); a stale development token (a server with new keys, say) is replaced once.
  async function fetcher(params, options) {
    const pane = (options && options.headers) || {};
    const send = async () => {
      if (!session) return base(params, { ...options, headers: pane });
      await session.ready();
      const token = session.headers();
      if (isIntrospection(params)) {
        delete token["X-Purpose"];
        delete token["X-Legal-Reference"];
      }
      return base(params, { ...options, headers: { ...token, ...pane } });
    };
    let result = await send();
    const code = result && result.errors && result.errors[0].extensions?.code;
    if (session && code === "INVALID_TOKEN" && !hasToken(pane)) {
      await session.mint(session.choiceWith({}));
      result = await send();
    }
    if (!isIntrospection(params)) last.set(result);
    return result;
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

  // Without development mode, GraphiQL asks for the schema only once the headers pane holds
  // a token (an unauthenticated caller learns nothing of it), and again whenever it changes.
  function PastedTokenWatcher({ onToken }) {
    const { headerEditor } = useEditorContext({ nonNull: true });
    const { introspect } = useSchemaContext({ nonNull: true });

    React.useEffect(() => {
      if (!headerEditor) return undefined;
      const authorization = () => header(parseHeaders(headerEditor.getValue()), "Authorization");
      let lastValue = authorization();
      let timer;
      onToken(hasToken(parseHeaders(headerEditor.getValue())));
      const onChange = () => {
        const value = authorization();
        if (value === lastValue) return;
        lastValue = value;
        clearTimeout(timer);
        timer = setTimeout(() => {
          const usable = hasToken(parseHeaders(headerEditor.getValue()));
          onToken(usable);
          if (usable) introspect();
        }, 300);
      };
      headerEditor.on("change", onChange);
      return () => {
        headerEditor.off("change", onChange);
        clearTimeout(timer);
      };
    }, [headerEditor, introspect]);
    return null;
  }

  function DevTokenButton() {
    return e(
      ToolbarButton,
      {
        label: "Open the development token page",
        onClick: () => window.location.assign(config.dev.path),
      },
      e(KeyIcon),
    );
  }

  const plugins = [
    GraphiQLPluginExplorer.explorerPlugin(),
    StewardRedactions.plugin({ last, session }),
  ];

  function App() {
    // undefined: GraphiQL introspects; null: it waits (no token to ask with yet).
    const [schema, setSchema] = React.useState(session ? undefined : null);
    const onToken = React.useCallback((usable) => setSchema(usable ? undefined : null), []);
    const toolbar = session
      ? { additionalComponent: DevTokenButton }
      : { additionalComponent: () => e(PastedTokenWatcher, { onToken }) };
    const ide = e(
      GraphiQL,
      {
        fetcher,
        schema,
        plugins,
        defaultQuery: config.query,
        defaultHeaders: config.headers,
        defaultEditorToolsVisibility: "headers",
        isHeadersEditorEnabled: true,
        toolbar,
      },
      e(GraphiQL.Logo, null, "Steward"),
    );
    return e(
      "div",
      { className: "steward-layout" },
      session ? e(StewardTokenBar.TokenBar, { session, dev: config.dev }) : null,
      e("div", { className: "steward-ide" }, ide),
    );
  }

  ReactDOM.createRoot(root).render(e(App));
})();
