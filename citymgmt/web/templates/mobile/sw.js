// The inspector app's service worker (scope /m/): keeps the app shell and its scripts so the app opens offline.
// The shell (a page) is fetched from the network first, falling back to the kept copy; the static files are served
// from the cache, which is replaced whenever one of them changes (the version below). The API is never cached here:
// reports made offline wait in IndexedDB (static/js/mobile.js).
"use strict";
const CACHE = "citymgmt-m-" + {{ version | tojson }};
const SHELL = {{ shell | tojson }};
const ASSETS = {{ assets | tojson }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll([SHELL, ...ASSETS])).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("citymgmt-m-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

async function shellFirstFromNetwork(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) await cache.put(SHELL, response.clone());
    return response;
  } catch (err) {
    const kept = await cache.match(SHELL);
    if (kept) return kept;
    throw err;
  }
}

async function fromCache(request) {
  const kept = await caches.match(request, { ignoreSearch: true });
  return kept || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === SHELL) {
    event.respondWith(shellFirstFromNetwork(request));
  } else if (ASSETS.includes(url.pathname)) {
    event.respondWith(fromCache(request));
  }
});
