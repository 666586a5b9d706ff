// Steward's GraphiQL bootstrap: a file, not an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'. Globals: React, ReactDOM, GraphiQL,
// GraphiQLPluginExplorer, StewardRedactions, and StewardDevSession and StewardTokenBar in
// development mode.
"use strict";

(function () {
  const root = document.getElementById("graphiql");
  const config = JSON.parse(root.dataset.config);
  const e = React.createElement;
  const { ToolbarButton, useEditorContext, useSchemaContext } = GraphiQL.React;
  const JWT = /^Bearer\s+[\w-]+\.[\w-]+\.[\w-]+$/;
  // GraphiQL (3.8) does not remember which plugin pane was open; Steward does, so that the
  // docs are open on the first visit and the developer's choice holds after it.
  const VISIBLE_PLUGIN_KEY = "steward:visible-plugin";
  const COPIED_FOR_MS = 2000;

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

  // The headers a request carries: the development token's under those of the headers pane
  // (introspection needs no purpose). The fetcher, the token bar and "Copy as curl" all ask
  // here, so what the bar shows and what curl sends is what GraphiQL sends.
  function sentHeaders(pane, introspection) {
    if (!session) return { ...pane };
    const token = session.headers();
    if (introspection) {
      delete token["X-Purpose"];
      delete token["X-Legal-Reference"];
    }
    return { ...token, ...pane };
  }

  // The headers pane's current value, parsed, for the token bar (the fetcher gets its own).
  const paneHeaders = {
    value: {},
    listeners: new Set(),
    set(value) {
      this.value = value;
      for (const listener of this.listeners) listener(value);
    },
    subscribe(listener) {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    },
  };

  // A stale development token (a server with new keys, say) is replaced once.
  async function fetcher(params, options) {
    const pane = (options && options.headers) || {};
    const send = async () => {
      if (session) await session.ready();
      const headers = sentHeaders(pane, isIntrospection(params));
      return base(params, { ...options, headers });
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

  // A toolbar icon in GraphiQL's line style, drawn by its shapes.
  function toolbarIcon(...shapes) {
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
      ...shapes,
    );
  }

  function KeyIcon() {
    return toolbarIcon(
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

  function TerminalIcon() {
    return toolbarIcon(
      e("rect", { x: 2.5, y: 4, width: 19, height: 16, rx: 2 }),
      e("path", { d: "m6.5 9 3 3-3 3M12 15.5h5" }),
    );
  }

  // Publishes the headers pane's content (parsed) whenever it changes.
  function HeadersPaneWatcher() {
    const { headerEditor } = useEditorContext({ nonNull: true });
    React.useEffect(() => {
      if (!headerEditor) return undefined;
      const publish = () => paneHeaders.set(parseHeaders(headerEditor.getValue()) || {});
      publish();
      headerEditor.on("change", publish);
      return () => headerEditor.off("change", publish);
    }, [headerEditor]);
    return null;
  }

  // A POSIX shell word: single-quoted, each ' written as '\''.
  function shellWord(text) {
    return `'${String(text).replaceAll("'", "'\\''")}'`;
  }

  // The current operation as a curl command: the request GraphiQL's ▶ would send (the same
  // body as GraphiQL's fetcher, the same headers), to the server's absolute URL.
  function curlCommand({ query, variables, operationName, headers }) {
    const url = new URL(config.url, window.location.href).href;
    const body = { query };
    if (variables !== undefined) body.variables = variables;
    if (operationName) body.operationName = operationName;
    const all = header(headers, "Content-Type") === undefined
      ? { ...headers, "Content-Type": "application/json" }
      : headers;
    const lines = [`curl -s ${shellWord(url)}`];
    for (const [name, value] of Object.entries(all)) {
      lines.push(`-H ${shellWord(`${name}: ${value}`)}`);
    }
    lines.push(`-d ${shellWord(JSON.stringify(body))}`);
    return lines.join(" \\\n  ");
  }

  function parseVariables(text) {
    if (!text || !text.trim()) return undefined;
    const value = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new SyntaxError("Variables are not a JSON object.");
    }
    return value;
  }

  function CopyAsCurlButton() {
    const { queryEditor, variableEditor, headerEditor } = useEditorContext({ nonNull: true });
    const [status, setStatus] = React.useState(null);
    React.useEffect(() => {
      if (!status) return undefined;
      const timer = setTimeout(() => setStatus(null), COPIED_FOR_MS);
      return () => clearTimeout(timer);
    }, [status]);
    const copy = async () => {
      try {
        const pane = parseHeaders(headerEditor ? headerEditor.getValue() : "");
        if (pane === null) throw new SyntaxError("Headers are not a JSON object.");
        const variables = parseVariables(variableEditor ? variableEditor.getValue() : "");
        if (session) await session.ready();
        const command = curlCommand({
          query: queryEditor ? queryEditor.getValue() : "",
          variables,
          operationName: queryEditor ? queryEditor.operationName : null,
          headers: sentHeaders(pane, false),
        });
        await navigator.clipboard.writeText(command);
        setStatus("Copied as curl");
      } catch (failure) {
        setStatus(`Not copied: ${failure.message}`);
      }
    };
    return e(
      ToolbarButton,
      { label: status || "Copy as curl", onClick: copy },
      e(TerminalIcon),
    );
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

  // The plugin pane open at load: the one open when this browser last left, the docs at first.
  function initialPlugin() {
    const stored = localStorage.getItem(VISIBLE_PLUGIN_KEY);
    return stored === null ? GraphiQL.React.DOC_EXPLORER_PLUGIN.title : stored || undefined;
  }

  function onTogglePlugin(plugin) {
    localStorage.setItem(VISIBLE_PLUGIN_KEY, plugin ? plugin.title : "");
  }

  const visiblePlugin = initialPlugin();

  function App() {
    // undefined: GraphiQL introspects; null: it waits (no token to ask with yet).
    const [schema, setSchema] = React.useState(session ? undefined : null);
    const onToken = React.useCallback((usable) => setSchema(usable ? undefined : null), []);
    const additionalComponent = React.useCallback(
      () =>
        e(
          React.Fragment,
          null,
          e(CopyAsCurlButton),
          e(HeadersPaneWatcher),
          session ? e(DevTokenButton) : e(PastedTokenWatcher, { onToken }),
        ),
      [onToken],
    );
    const ide = e(
      GraphiQL,
      {
        fetcher,
        schema,
        plugins,
        visiblePlugin,
        onTogglePluginVisibility: onTogglePlugin,
        defaultQuery: config.query,
        defaultHeaders: config.headers,
        defaultEditorToolsVisibility: "headers",
        isHeadersEditorEnabled: true,
        toolbar: { additionalComponent },
      },
      e(GraphiQL.Logo, null, "Steward"),
    );
    return e(
      "div",
      { className: "steward-layout" },
      session
        ? e(StewardTokenBar.TokenBar, {
            session,
            dev: config.dev,
            sent: () => sentHeaders(paneHeaders.value, false),
            paneHeaders,
          })
        : null,
      e("div", { className: "steward-ide" }, ide),
    );
  }

  ReactDOM.createRoot(root).render(e(App));
})();
