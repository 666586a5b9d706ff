// The token bar above GraphiQL, in development mode: the current token's scopes, purpose
// (a switcher among the purposes a request may declare: each switch mints a token for that
// purpose), legal reference, expiry, a button for a new token, and the headers an operation
// sends. Globals: React, StewardDevSession.
"use strict";

window.StewardTokenBar = (function () {
  const e = React.createElement;
  const LEGAL_ORDER = "legal_order";

  function useToken(session) {
    const [token, setToken] = React.useState(() => session.current());
    React.useEffect(() => {
      setToken(session.current());
      return session.subscribe(setToken);
    }, [session]);
    return token;
  }

  function useNow() {
    const [now, setNow] = React.useState(() => Date.now());
    React.useEffect(() => {
      const timer = setInterval(() => setNow(Date.now()), 1000);
      return () => clearInterval(timer);
    }, []);
    return now;
  }

  function expiry(token, now) {
    const seconds = token.expires_locally - Math.floor(now / 1000);
    const at = new Date(token.expires_locally * 1000).toLocaleTimeString([], { hour12: false });
    if (seconds <= 0) return `expired at ${at}`;
    const minutes = Math.floor(seconds / 60);
    const rest = String(seconds % 60).padStart(2, "0");
    return `expires ${at} (${minutes}:${rest} left)`;
  }

  function usePaneHeaders(paneHeaders) {
    const [value, setValue] = React.useState(() => paneHeaders.value);
    React.useEffect(() => paneHeaders.subscribe(setValue), [paneHeaders]);
    return value;
  }

  // What an operation sends now: the token's headers, and the headers pane's over them.
  function SentHeaders({ headers }) {
    return e(
      "span",
      { className: "steward-sent", role: "group", "aria-label": "Headers sent" },
      "Sends",
      Object.entries(headers).map(([name, value]) =>
        e(
          "code",
          { key: name, className: "steward-chip steward-header", title: `${name}: ${value}` },
          `${name}: ${value}`,
        ),
      ),
    );
  }

  function TokenBar({ session, dev, sent, paneHeaders }) {
    const token = useToken(session);
    const now = useNow();
    usePaneHeaders(paneHeaders);
    const [error, setError] = React.useState(null);
    const [purpose, setPurpose] = React.useState(null);
    const [reference, setReference] = React.useState("");

    React.useEffect(() => {
      // The first token of this browser, or the one other tabs and reloads left behind.
      session.ready().catch((failure) => setError(failure.message));
    }, [session]);
    React.useEffect(() => {
      if (!token) return;
      setPurpose(token.purpose || "");
      setReference(token.legal_reference || "");
    }, [token]);

    // A refused choice leaves the current token, and the switcher shows its purpose again.
    const mint = (changes) => {
      setError(null);
      session.mint(session.choiceWith(changes)).catch((failure) => {
        setError(failure.message);
        const current = session.current();
        setPurpose(current ? current.purpose || "" : "");
      });
    };

    const onPurpose = (event) => {
      const chosen = event.target.value;
      setError(null);
      setPurpose(chosen);
      // legal_order needs its reference first: the field below asks for it.
      if (chosen === LEGAL_ORDER && !reference.trim()) return;
      mint({ purpose: chosen || null, legal_reference: reference.trim() || null });
    };

    if (!token) {
      return e(
        "div",
        { className: "graphiql-container steward-token-bar", role: "status" },
        error ? e("span", { className: "steward-error", role: "alert" }, error) : "Getting a development token…",
      );
    }
    const customer = token.choice.customer;
    const scopes = token.scope.split(" ").filter((scope) => !scope.startsWith("purpose:"));
    return e(
      "div",
      { className: "graphiql-container steward-token-bar", "aria-label": "Development token" },
      e("strong", null, customer ? "Customer token" : "Development token"),
      e(
        "span",
        { className: "steward-chips", title: "The token's scopes" },
        scopes.map((scope) => e("code", { key: scope, className: "steward-chip" }, scope)),
      ),
      customer
        ? e("span", null, "sub ", e("code", null, token.sub))
        : e(
            "label",
            null,
            "Purpose ",
            e(
              "select",
              { value: purpose || "", onChange: onPurpose, "aria-label": "Purpose" },
              e("option", { value: "" }, "none"),
              dev.purposes.map((item) =>
                e("option", { key: item.id, value: item.id, title: item.description }, item.id),
              ),
            ),
          ),
      purpose === LEGAL_ORDER
        ? e(
            "form",
            {
              className: "steward-legal",
              onSubmit: (event) => {
                event.preventDefault();
                mint({ purpose: LEGAL_ORDER, legal_reference: reference.trim() || null });
              },
            },
            e(
              "label",
              null,
              "X-Legal-Reference ",
              e("input", {
                type: "text",
                value: reference,
                maxLength: 128,
                placeholder: "e.g. LR-2026-0042",
                onChange: (event) => setReference(event.target.value),
              }),
            ),
            e("button", { type: "submit", className: "steward-button" }, "Use"),
          )
        : null,
      e(
        "span",
        { className: "steward-expiry", title: "Renewed a minute before it expires." },
        expiry(token, now),
      ),
      e(
        "button",
        { type: "button", className: "steward-button", onClick: () => mint({}) },
        "New token",
      ),
      e("a", { href: dev.path }, "Other scopes or a customer…"),
      error ? e("span", { className: "steward-error", role: "alert" }, error) : null,
      e(SentHeaders, { headers: sent() }),
    );
  }

  return { TokenBar };
})();
