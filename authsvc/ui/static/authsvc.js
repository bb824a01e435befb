// authsvc browser client: an ES module for single-page apps on an allowed origin.
//
//   import { createClient } from "https://auth.example.com/ui/authsvc.js";
//   const auth = createClient({ baseUrl: "https://auth.example.com" });
//   const current = await auth.session();          // {user, session} or null
//   const result = await auth.login({ username, password, remember: true });
//   if (result.mfa_required) await auth.completeLogin({ code });  // or { recoveryCode }
//   const response = await auth.fetch("/api/orders");  // credentials, CSRF header, one refresh
//   await auth.logout({ everywhere: false });
//   auth.addEventListener("signedout", () => showLogin());
//
// Tokens never reach this code: they travel as HttpOnly cookies. The CSRF token is the one
// cookie a script may read (authsvc_csrf, or __Host-authsvc_csrf over HTTPS); pages on another
// host than authsvc need AUTHSVC_COOKIE_DOMAIN to read it. A refresh is shared by every tab of
// the app (Web Locks): when tokens expire in ten tabs at once, one tab refreshes and the others
// retry with the cookies it got.

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
// 401 codes that a refresh can cure: the access token expired (or the browser already dropped
// its cookie, which lives exactly as long), or its signing key was withdrawn.
const REFRESHABLE = new Set(["token_expired", "not_authenticated", "key_revoked", "key_retired"]);
const MARKER_KEY = "authsvc:refreshed";

/** An error answer of authsvc: `error` is the stable code, `detail` the message for people. */
export class AuthsvcError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.detail) || `authsvc answered ${status}`);
    this.name = "AuthsvcError";
    this.status = status;
    this.error = (body && body.error) || "unknown";
    this.detail = (body && body.detail) || "";
    // Seconds to wait before trying again, on 429 and 503.
    this.retryAfter = retryAfter === null ? null : Number(retryAfter);
  }
}

/** A client bound to one authsvc; events: "signedin", "refreshed", "signedout". */
export class AuthsvcClient extends EventTarget {
  constructor(options = {}) {
    super();
    this.baseUrl = String(options.baseUrl || new URL(import.meta.url).origin).replace(/\/+$/, "");
    this.csrfCookie = options.csrfCookie || "authsvc_csrf";
    this.csrfHeader = options.csrfHeader || "X-CSRF-Token";
    this.name = options.name || "authsvc";
    this._inflight = null;
    this._channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(this.name) : null;
    if (this._channel) {
      this._channel.onmessage = (message) => this._heard(message.data);
    }
  }

  /** The current user and session, or null when nobody is signed in. */
  async session() {
    const response = await this.fetch(this._url("/session"));
    if (response.status === 401) return null;
    if (!response.ok) throw await this._failure(response);
    return response.json();
  }

  /**
   * Sign in; resolves to {user, session}, or, for an account with a second factor, to
   * {mfa_required: true, factors, mfa_enrolment_required} with nobody signed in yet: finish with
   * `completeLogin`. Rejects with an AuthsvcError (401, 429, ...).
   */
  async login({ username, password, remember = false }) {
    await this._ensureCsrf();
    const response = await this._send("POST", "/login", { username, password, remember });
    if (!response.ok) throw await this._failure(response);
    const body = await response.json();
    if (!body.mfa_required) this._announce("signedin");
    return body;
  }

  /**
   * The second step of a login that answered `mfa_required`: a TOTP `code` or a `recoveryCode`.
   * Resolves to {user, session} (and `recovery_codes` when the step enrolled the first factor);
   * rejects with an AuthsvcError: invalid_mfa_code, mfa_code_reused, or mfa_step_* (sign in again).
   */
  async completeLogin({ code = null, recoveryCode = null } = {}) {
    const body = recoveryCode ? { recovery_code: recoveryCode } : { code };
    const response = await this._send("POST", "/login/mfa", body);
    if (!response.ok) throw await this._failure(response);
    const result = await response.json();
    this._announce("signedin");
    return result;
  }

  /** Sign out this browser, or with `everywhere` every device of the account. */
  async logout({ everywhere = false } = {}) {
    const response = await this._send("POST", everywhere ? "/logout?everywhere=true" : "/logout");
    if (!response.ok) throw await this._failure(response);
    this._announce("signedout");
    return response.json();
  }

  /**
   * `window.fetch` with the cookies, the CSRF header on unsafe methods, and one shared refresh
   * and retry when the access token has expired. A refusal that no refresh cures (revoked,
   * signed out elsewhere, a stolen refresh token) fires "signedout" and is returned as is.
   */
  async fetch(input, init = {}) {
    const marker = this._marker();
    const response = await this._fetchOnce(input, init);
    if (response.status !== 401) return response;
    const code = await errorCode(response);
    if (!REFRESHABLE.has(code)) {
      if (code !== null) this._announce("signedout");
      return response;
    }
    if (!(await this.refresh(marker))) return response;
    return this._fetchOnce(input, init);
  }

  /**
   * Refresh the access token unless another tab did since `seen` (the refresh marker read before
   * the request that failed); true when the cookies now hold a fresh access token.
   */
  refresh(seen = this._marker()) {
    // Every caller in this tab shares one refresh; tabs take turns holding the lock.
    if (!this._inflight) {
      this._inflight = this._locked(() => this._refreshUnlessDone(seen)).finally(() => {
        this._inflight = null;
      });
    }
    return this._inflight;
  }

  async _refreshUnlessDone(seen) {
    // Another tab refreshed while this one waited for the lock: the shared cookie jar already
    // holds a fresh access token. The marker says so quickly; storage reaches other tabs with
    // a delay, so an unchanged marker is confirmed with the server before refreshing.
    if (seen !== null && this._marker() !== seen) return true;
    const check = await this._fetchOnce(this._url("/session"), {});
    if (check.ok) return true;
    await this._ensureCsrf();
    const response = await this._send("POST", "/refresh");
    if (response.ok) {
      this._setMarker();
      this._announce("refreshed");
      return true;
    }
    if (response.status === 401) this._announce("signedout");
    return false;
  }

  _locked(task) {
    if (typeof navigator !== "undefined" && navigator.locks) {
      return navigator.locks.request(`${this.name}:refresh`, task);
    }
    // No Web Locks (an insecure origin): refreshes are shared within this tab only, and the
    // server's grace window keeps tabs that refresh together from looking like a theft.
    return task();
  }

  _marker() {
    try {
      return window.localStorage.getItem(MARKER_KEY) || "";
    } catch {
      return null;
    }
  }

  _setMarker() {
    try {
      window.localStorage.setItem(MARKER_KEY, `${Date.now()}-${Math.random()}`);
    } catch {
      // Without storage every tab refreshes for itself; the grace window covers the overlap.
    }
  }

  _fetchOnce(input, init) {
    const method = (init.method || (input instanceof Request ? input.method : "GET")).toUpperCase();
    const headers = new Headers(init.headers || (input instanceof Request ? input.headers : {}));
    const token = this.csrfToken();
    if (!SAFE_METHODS.has(method) && token && !headers.has(this.csrfHeader)) {
      headers.set(this.csrfHeader, token);
    }
    return window.fetch(input, { ...init, method, headers, credentials: "include" });
  }

  _send(method, path, body) {
    const init = { method };
    if (body !== undefined) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(body);
    }
    return this._fetchOnce(this._url(path), init);
  }

  /** The CSRF token from its cookie, or null before authsvc handed one out. */
  csrfToken() {
    const names = [this.csrfCookie, `__Host-${this.csrfCookie}`];
    for (const pair of document.cookie.split(";")) {
      const [name, ...rest] = pair.trim().split("=");
      if (names.includes(name)) return decodeURIComponent(rest.join("="));
    }
    return null;
  }

  async _ensureCsrf() {
    // GET /session hands a browser its first token (401 or not).
    if (this.csrfToken() === null) await this._fetchOnce(this._url("/session"), {});
  }

  async _failure(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return new AuthsvcError(response.status, body, response.headers.get("Retry-After"));
  }

  _url(path) {
    return `${this.baseUrl}${path}`;
  }

  _announce(type) {
    this.dispatchEvent(new Event(type));
    if (this._channel) this._channel.postMessage({ type });
  }

  _heard(message) {
    if (message && ["signedin", "refreshed", "signedout"].includes(message.type)) {
      this.dispatchEvent(new Event(message.type));
    }
  }
}

async function errorCode(response) {
  try {
    const body = await response.clone().json();
    return typeof body.error === "string" ? body.error : null;
  } catch {
    return null;
  }
}

/** A client for the authsvc at `options.baseUrl` (default: where this file was loaded from). */
export function createClient(options = {}) {
  return new AuthsvcClient(options);
}

let defaultClient = null;

function shared() {
  if (!defaultClient) defaultClient = new AuthsvcClient();
  return defaultClient;
}

// The functions of a client for the authsvc that served this file.
export const session = () => shared().session();
export const login = (credentials) => shared().login(credentials);
export const logout = (options) => shared().logout(options);
export const fetch = (input, init) => shared().fetch(input, init);
