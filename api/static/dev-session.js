// The development token of this browser, in development mode only: minted by /dev/token
// (same-origin JSON POST), kept in the origin's localStorage so that reloads and other tabs
// share it, and minted again with the same choice before it expires. Steward serves this
// file only in development mode; nothing else stores a token in the browser.
"use strict";

window.StewardDevSession = (function () {
  const STORAGE_KEY = "steward:dev-token";
  // Mint a new token this long before the current one expires.
  const REFRESH_MARGIN_SECONDS = 60;

  function now() {
    return Math.floor(Date.now() / 1000);
  }

  function load() {
    try {
      const token = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
      return token && typeof token.access_token === "string" ? token : null;
    } catch (_error) {
      return null;
    }
  }

  class MintError extends Error {}

  // The token, its choice (what to mint again) and whoever shows it.
  class Session {
    constructor(path, defaultChoice) {
      this.path = path;
      this.defaultChoice = defaultChoice;
      this.token = load();
      this.pending = null;
      this.listeners = new Set();
      this.timer = undefined;
      window.addEventListener("storage", (event) => {
        if (event.key !== STORAGE_KEY) return;
        this.token = load();
        this.schedule();
        this.notify();
      });
      this.schedule();
    }

    current() {
      return this.token;
    }

    subscribe(listener) {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    }

    notify() {
      for (const listener of this.listeners) listener(this.token);
    }

    fresh() {
      return this.token !== null && this.token.expires_locally - REFRESH_MARGIN_SECONDS > now();
    }

    // A token valid for at least the refresh margin: the kept one, or a new one.
    async ready() {
      if (this.fresh()) return this.token;
      return this.mint(this.token ? this.token.choice : this.defaultChoice);
    }

    // The choice of the current token, changed by `changes` (null removes a key).
    choiceWith(changes) {
      const base = this.token ? this.token.choice : this.defaultChoice;
      return { ...base, ...changes };
    }

    mint(choice) {
      if (this.pending) return this.pending;
      this.pending = this.request(choice).finally(() => {
        this.pending = null;
      });
      return this.pending;
    }

    async request(choice) {
      const response = await fetch(this.path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(choice),
        credentials: "same-origin",
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        throw new MintError(answer.error || `Steward answered ${response.status}.`);
      }
      // Expiry by this browser's clock, which need not agree with the server's.
      this.token = { ...answer, choice, expires_locally: now() + answer.expires_in };
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.token));
      this.schedule();
      this.notify();
      return this.token;
    }

    schedule() {
      clearTimeout(this.timer);
      if (!this.token) return;
      const delay = (this.token.expires_locally - REFRESH_MARGIN_SECONDS - now()) * 1000;
      this.timer = setTimeout(
        () => this.mint(this.token.choice).catch(() => this.notify()),
        Math.max(delay, 0),
      );
    }

    // The headers the token goes with; a header the headers pane sets wins over them.
    headers() {
      return this.token ? { ...this.token.headers } : {};
    }
  }

  return { Session, MintError, STORAGE_KEY };
})();
