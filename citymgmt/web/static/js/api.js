// The pages' one way to call /api/v1 with the signed-in session: JSON in and out, the CSRF token on every write,
// the API's one error shape turned into an ApiError. No build step: a plain script that defines window.citymgmt.
(function () {
  "use strict";

  class ApiError extends Error {
    // status: the HTTP status (0 when the network failed); code, details: from {"error": {...}}.
    constructor(status, code, message, details, requestId) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code;
      this.details = details || null;
      this.requestId = requestId || null;
      this.retryAfter = null; // seconds, from a Retry-After header
    }
    get offline() {
      return this.status === 0;
    }
  }

  // Whether the server can be reached, judged by the pages' own requests, never by navigator.onLine: a page opened
  // from a service worker's cache with no network, or a phone on a weak signal, says "online" there. Every call of
  // api() tells it what happened (an answer of any status: reachable; no answer: not). While the server cannot be
  // reached it asks again by itself (probe, backing off from 2 s to 30 s) and says so when it answers again;
  // the browser's online/offline events only make it ask at once.
  const network = (function () {
    let state = "unknown"; // "unknown" until the first request ends, then "online" or "offline"
    let probeUrl = null;
    let timer = null;
    let delay = 0;
    const listeners = [];

    function set(next) {
      if (next === "offline") schedule();
      else {
        clearTimeout(timer);
        timer = null;
        delay = 0;
      }
      if (next === state) return;
      state = next;
      listeners.forEach((fn) => fn(state));
    }

    function schedule() {
      if (!probeUrl || timer) return;
      delay = delay ? Math.min(delay * 2, 30000) : 2000;
      timer = setTimeout(() => {
        timer = null;
        probe();
      }, delay);
    }

    // One request that only asks whether the server answers (any status will do), within 10 s.
    async function probe() {
      if (!probeUrl) return state;
      try {
        await fetch(probeUrl, {
          method: "GET",
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
          signal: AbortSignal.timeout(10000),
        });
        set("online");
      } catch (err) {
        set("offline");
      }
      return state;
    }

    window.addEventListener("online", () => probe());
    window.addEventListener("offline", () => probe());

    return {
      get state() {
        return state;
      },
      // watch(url): probe this URL (a cheap GET the service worker never answers) while the server is unreachable.
      watch(url) {
        probeUrl = url;
      },
      probe,
      saw(reachable) {
        set(reachable ? "online" : "offline");
      },
      onChange(fn) {
        listeners.push(fn);
      },
    };
  })();

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // api("GET", "/api/v1/cases", {query: {state: "filed"}})
  // api("POST", "/api/v1/cases/7/actions/dispatch", {json: {...}, headers: {"If-Match": etag}})
  // api("POST", "/api/v1/cases", {form: formData}) for multipart bodies (photos).
  // Resolves to {status, data, etag, headers}; rejects with an ApiError.
  async function api(method, path, options) {
    const opts = options || {};
    let url = path;
    if (opts.query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(opts.query)) {
        if (value === undefined || value === null || value === "") continue;
        if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
        else params.append(key, value);
      }
      const text = params.toString();
      if (text) url += (url.includes("?") ? "&" : "?") + text;
    }
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    let body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.form !== undefined) {
      body = opts.form; // the browser sets the multipart boundary
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    let response;
    try {
      response = await fetch(url, { method, headers, body, credentials: "same-origin", signal: opts.signal });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      network.saw(false);
      throw new ApiError(0, "network", "network unreachable");
    }
    network.saw(true);
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      const failure = new ApiError(
        response.status,
        error.code || "http_error",
        error.message || response.statusText,
        error.details,
        error.id
      );
      const wait = Number(response.headers.get("Retry-After")); // seconds (429, 503): when to try again
      failure.retryAfter = Number.isFinite(wait) && wait >= 0 ? wait : null;
      throw failure;
    }
    return { status: response.status, data, etag: response.headers.get("ETag"), headers: response.headers };
  }

  // A new idempotency key for a report (sent as the Idempotency-Key header; kept with an offline report).
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // A refusal in the page's language from the server's table of texts (citymgmt/web/refusals.py, given to the page
  // as config.refusals, keyed "code field", or "code" for a refusal that names several fields): the text of each
  // field the error names, or null when the table has none for it (then the page shows the API's English).
  function refusalText(err, table) {
    if (!(err instanceof ApiError) || !table || !err.code) return null;
    const details = err.details && typeof err.details === "object" && !Array.isArray(err.details) ? err.details : {};
    const fields = Object.entries(details).filter(([key]) => key !== "allowed_actions");
    const text = (key, value) =>
      key in table ? table[key].split("%(value)s").join(String(typeof value === "object" ? "" : value).slice(0, 200)) : null;
    if (fields.length === 1) return text(`${err.code} ${fields[0][0]}`, fields[0][1]);
    if (fields.length > 1) {
      const each = fields.map(([key, value]) => text(`${err.code} ${key}`, value));
      return each.every((said) => said !== null) ? each.join("; ") : text(err.code, null);
    }
    return null;
  }

  window.citymgmt = Object.assign(window.citymgmt || {}, { api, ApiError, csrfToken, network, newKey, refusalText });
})();
