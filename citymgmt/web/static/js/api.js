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
    }
    get offline() {
      return this.status === 0;
    }
  }

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
      throw new ApiError(0, "network", "network unreachable");
    }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      throw new ApiError(
        response.status,
        error.code || "http_error",
        error.message || response.statusText,
        error.details,
        error.id
      );
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

  window.citymgmt = Object.assign(window.citymgmt || {}, { api, ApiError, csrfToken, newKey });
})();
