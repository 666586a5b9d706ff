// The Redactions panel, a GraphiQL plugin: the last response's hidden fields, why each was
// hidden, how often, and what would show it. In development mode one click gets a token
// with the missing scopes and purpose. Globals: React, GraphiQL.
"use strict";

window.StewardRedactions = (function () {
  const e = React.createElement;

  const REASONS = {
    MISSING_SCOPE: "The token lacks a scope this field needs.",
    PURPOSE_NOT_ALLOWED: "The declared purpose may not read this field.",
    NO_POLICY: "The field has no policy entry: it is hidden from everyone.",
    ERASED: "Erased at the customer's request: no token shows it.",
  };
  const UNLOCKABLE = new Set(["MISSING_SCOPE", "PURPOSE_NOT_ALLOWED"]);

  // The last response of an operation (introspection aside), for the panel to show.
  class LastResponse {
    constructor() {
      this.value = null;
      this.listeners = new Set();
    }

    set(result) {
      const extensions = (result && result.extensions) || {};
      this.value = { redactions: extensions.redactions || [] };
      for (const listener of this.listeners) listener(this.value);
    }

    subscribe(listener) {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    }
  }

  function useSubscription(source, read) {
    const [value, setValue] = React.useState(read);
    React.useEffect(() => source.subscribe(() => setValue(read())), [source]);
    return value;
  }

  function tokenScopes(token) {
    return new Set(((token && token.scope) || "").split(" ").filter(Boolean));
  }

  // What the current token needs to show `entry`: missing scopes, and the purposes to pick
  // from unless the current one may read it (`null`: any purpose may).
  function unlock(entry, token) {
    const needs = entry.needs || { scopes: [], purposes: null };
    const held = tokenScopes(token);
    const scopes = needs.scopes.filter((scope) => !held.has(scope));
    const purpose = token ? token.purpose : null;
    const purposes =
      needs.purposes === null || needs.purposes.includes(purpose) ? [] : needs.purposes;
    return { scopes, purposes };
  }

  function Chips({ items }) {
    return e(
      "span",
      { className: "steward-chips" },
      items.map((item) => e("code", { key: item, className: "steward-chip" }, item)),
    );
  }

  function Fix({ entry, session, token, onError }) {
    const { scopes, purposes } = unlock(entry, token);
    if (!scopes.length && !purposes.length) {
      return e("p", { className: "steward-hint" }, "The current token already shows it.");
    }
    if (!session || !token || token.choice.customer) {
      const parts = [];
      if (scopes.length) parts.push(`scopes ${scopes.join(" ")}`);
      if (purposes.length) parts.push(`one of the purposes ${purposes.join(", ")}`);
      return e("p", { className: "steward-hint" }, `Needs a token with ${parts.join(" and ")}.`);
    }
    const mint = (purpose) => {
      const changes = { scopes: [...new Set([...token.choice.scopes, ...scopes])] };
      if (purpose !== undefined) changes.purpose = purpose;
      session.mint(session.choiceWith(changes)).catch((error) => onError(error.message));
    };
    const added = scopes.length ? ` + ${scopes.join(" ")}` : "";
    // legal_order also needs a legal reference: the token bar asks for it.
    const choices = purposes.filter((purpose) => purpose !== "legal_order");
    if (!purposes.length) {
      return e(
        "button",
        { type: "button", className: "steward-button", onClick: () => mint() },
        `New token${added}`,
      );
    }
    const legal = purposes.includes("legal_order")
      ? e("p", { className: "steward-hint" }, "legal_order: set its reference in the token bar.")
      : null;
    return e(
      "div",
      { className: "steward-fixes" },
      legal,
      choices.map((purpose) =>
        e(
          "button",
          {
            key: purpose,
            type: "button",
            className: "steward-button",
            onClick: () => mint(purpose),
          },
          `New token: ${purpose}${added}`,
        ),
      ),
    );
  }

  function Entry({ entry, session, token, onError }) {
    const needs = entry.needs || { scopes: [], purposes: null };
    const places = entry.count === 1 ? "1 place" : `${entry.count} places`;
    return e(
      "li",
      { className: "steward-redaction" },
      e("div", { className: "steward-redaction-field" }, e("code", null, entry.field)),
      e(
        "div",
        { className: "steward-redaction-reason" },
        e("strong", null, entry.reason),
        ` · hidden in ${places}. `,
        REASONS[entry.reason] || "",
      ),
      needs.scopes.length
        ? e("div", null, "Scopes: ", e(Chips, { items: needs.scopes }))
        : null,
      e(
        "div",
        null,
        "Purposes: ",
        needs.purposes === null ? "any" : e(Chips, { items: needs.purposes }),
      ),
      UNLOCKABLE.has(entry.reason) ? e(Fix, { entry, session, token, onError }) : null,
    );
  }

  function Panel({ last, session }) {
    const response = useSubscription(last, () => last.value);
    const token = useSubscription(session || last, () => (session ? session.current() : null));
    const [error, setError] = React.useState(null);
    let body;
    if (response === null) {
      body = e("p", null, "Run an operation: the fields its response hides are listed here.");
    } else if (!response.redactions.length) {
      body = e("p", null, "The last response hid nothing.");
    } else {
      body = e(
        "ul",
        { className: "steward-redactions" },
        response.redactions.map((entry) =>
          e(Entry, {
            key: `${entry.field} ${entry.reason}`,
            entry,
            session,
            token,
            onError: setError,
          }),
        ),
      );
    }
    return e(
      "div",
      { className: "steward-redactions-panel" },
      e("div", { className: "graphiql-doc-explorer-title" }, "Redactions"),
      e(
        "p",
        { className: "steward-hint" },
        "Hidden values are null in the response; extensions.redactions says why.",
      ),
      body,
      error ? e("p", { role: "alert", className: "steward-error" }, error) : null,
    );
  }

  function ShieldIcon() {
    return e(
      "svg",
      {
        viewBox: "0 0 24 24",
        fill: "none",
        stroke: "currentColor",
        strokeWidth: 1.5,
        "aria-hidden": true,
      },
      e("path", { d: "M12 2.5 4 5.5v6c0 5 3.4 8.6 8 10 4.6-1.4 8-5 8-10v-6z" }),
      e("path", { d: "M8.5 12.5h7" }),
    );
  }

  function plugin({ last, session }) {
    return {
      title: "Redactions",
      icon: ShieldIcon,
      content: () => e(Panel, { last, session }),
    };
  }

  return { LastResponse, plugin, unlock };
})();
