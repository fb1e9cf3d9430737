// The inspector app (/m/): report in three screens (place, category, photos and description), offline too, and my
// tasks (verify, check). Every string it shows comes translated from the page (#m-config); nothing is written here.
// Reports are first kept in IndexedDB with their Idempotency-Key and photos, then sent; one that cannot be sent
// (no network, a server error, 408/429, a session ended) stays there and is sent again, with the same key: after a
// wait that doubles from 2 s to 2 min (or what a Retry-After asks), when the server answers again, when the app
// starts, or at once with "send now"; one the server refuses (another 4xx) is marked not accepted, with why.
// "My reports" follows what became of the inspector's reports (state, department, deadline) until they close.
(function () {
  "use strict";

  const { api, network, newKey } = window.citymgmt;
  const maps = window.citymgmt.map;
  const CONFIG = JSON.parse(document.getElementById("m-config").textContent);
  const T = CONFIG.strings;
  const LANG = document.documentElement.lang || "zh-CN";
  const RECENT_KEY = "citymgmt.m.recent-categories";
  const CATEGORIES_KEY = "citymgmt.m.categories";
  const $ = (id) => document.getElementById(id);

  function t(name, values) {
    let text = T[name] || name;
    for (const [key, value] of Object.entries(values || {})) text = text.split("{" + key + "}").join(String(value));
    return text;
  }

  // A length of time in the page's language, its two largest units: "2天3小时", "3 hr, 20 min".
  function duration(ms) {
    const unit = (name, n) => new Intl.NumberFormat(LANG, { style: "unit", unit: name, unitDisplay: "short" }).format(n);
    if (ms < 60000) return unit("second", Math.max(0, Math.ceil(ms / 1000)));
    const minutes = Math.round(ms / 60000);
    const parts = [
      ["day", Math.floor(minutes / 1440)],
      ["hour", Math.floor((minutes % 1440) / 60)],
      ["minute", minutes % 60],
    ].filter(([, n]) => n > 0);
    return new Intl.ListFormat(LANG, { style: "narrow", type: "unit" }).format(parts.slice(0, 2).map(([u, n]) => unit(u, n)));
  }

  // A deadline as a countdown: "剩余 3小时20分钟", "已超时 1天2小时" (kept current by tick() below).
  function countdown(iso) {
    if (!iso) return t("no_deadline");
    const left = new Date(iso).getTime() - Date.now();
    return left >= 0 ? t("left", { time: duration(left) }) : t("overdue_by", { time: duration(-left) });
  }

  function countdownNode(iso) {
    const span = document.createElement("span");
    span.className = "m-countdown";
    if (iso) span.dataset.due = iso;
    span.textContent = countdown(iso);
    return span;
  }

  window.setInterval(function tick() {
    document.querySelectorAll(".m-countdown[data-due]").forEach((n) => (n.textContent = countdown(n.dataset.due)));
  }, 30000);

  function errorText(err) {
    if (!err) return "";
    if (LANG !== "en" && err.code === "action_not_allowed" && err.details) {
      return t("cannot_now", { status: t("status_" + err.details.status) });
    }
    const said = window.citymgmt.refusalText(err, CONFIG.refusals);
    if (said) return said;
    const details = err.details && typeof err.details === "object" ? Object.entries(err.details) : [];
    const named = details.map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join("; ");
    return named ? err.message + " (" + named + ")" : err.message;
  }

  // -- screens ---------------------------------------------------------------------------------------------------

  const screens = document.querySelectorAll(".m-screen");
  let currentScreen = null;

  function show(name) {
    const first = currentScreen === null;
    currentScreen = name;
    screens.forEach((s) => (s.hidden = s.dataset.screen !== name));
    const tab = name === "tasks" || name === "task" ? "tasks" : name === "reports" ? "reports" : "report";
    document.querySelectorAll(".m-tabs a").forEach((a) => {
      if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    if (name === "place" && map) setTimeout(() => map.invalidateSize(), 0);
    if (name === "tasks") loadTasks();
    if (name === "reports") loadReports();
    if (name === "category") showCategories();
    const heading = document.querySelector('[data-screen="' + name + '"] h1');
    if (heading && !first) {
      // Screen readers and keyboards start at the new screen's heading.
      heading.tabIndex = -1;
      heading.focus({ preventScroll: false });
    }
  }

  function route() {
    const hash = location.hash.replace(/^#/, "") || "place";
    const [name, arg] = hash.split("/");
    if (name === "task" && arg) openTask(Number(arg));
    else if (["place", "category", "details", "sent", "tasks", "reports"].includes(name)) {
      if (name === "category" && !draft.point) return go("place");
      if (name === "details" && !draft.category) return go(draft.point ? "category" : "place");
      show(name);
    } else show("place");
  }

  function go(name) {
    if (location.hash === "#" + name) route();
    else location.hash = name;
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-go]");
    if (target) go(target.dataset.go);
  });
  window.addEventListener("hashchange", route);

  // -- the report being made ---------------------------------------------------------------------------------------

  const draft = { point: null, category: null, photos: [] }; // point: {lon, lat, crs}; photos: [{blob, url}]

  // -- screen 1: place -------------------------------------------------------------------------------------------

  let map = null;
  let cells = null;
  let pinCell = null; // the code of the cell the pin is in, drawn stronger than the others
  let pin = null;
  let accuracyCircle = null;
  let pinMoved = false; // once the inspector drags the pin, the phone's position no longer moves it
  let lastFix = null;
  let matchSeq = 0;

  function setupMap() {
    map = maps.create($("m-map"), { zoom: 17, zoomInTitle: t("zoom_in"), zoomOutTitle: t("zoom_out") });
    maps.areaOverlay(map, { level: "district" });
    cells = maps.cellOverlay(map, { style: cellStyle, onLoad: () => highlightCell(pinCell) });
    pin = L.marker(map.getCenter(), { draggable: true, autoPan: true, title: t("pin"), alt: t("pin") });
    pin.on("dragend", () => {
      pinMoved = true;
      placeDraft(pin.getLatLng());
    });
    map.on("click", (e) => {
      pinMoved = true;
      pin.setLatLng(e.latlng).addTo(map);
      placeDraft(e.latlng);
    });
  }

  function cellStyle(feature) {
    return feature.properties.code === pinCell
      ? { color: "#b42318", weight: 3, opacity: 1, fillColor: "#b42318", fillOpacity: 0.15 }
      : { color: "#0b5cad", weight: 1, opacity: 0.8, fillOpacity: 0.04 };
  }

  function highlightCell(code) {
    pinCell = code;
    if (!cells || !cells.layer) return;
    cells.layer.setStyle(cellStyle);
    cells.layer.eachLayer((layer) => {
      if (layer.feature && layer.feature.properties.code === code) layer.bringToFront(); // its whole outline shows
    });
  }

  function placeDraft(latlng) {
    draft.point = { lon: +latlng.lng.toFixed(7), lat: +latlng.lat.toFixed(7), crs: maps.crs() };
    matchCell();
  }

  async function matchCell() {
    const seq = ++matchSeq;
    const out = $("m-cell");
    out.textContent = t("matching");
    const p = draft.point;
    try {
      const { data } = await api("GET", "/api/v1/grids/match", { query: { lon: p.lon, lat: p.lat, crs: p.crs } });
      if (seq !== matchSeq) return;
      out.textContent = t("cell", { code: data.code, community: (data.community && data.community.name) || "" });
      out.dataset.code = data.code;
      highlightCell(data.code);
    } catch (err) {
      if (seq !== matchSeq) return;
      delete out.dataset.code;
      highlightCell(null);
      out.textContent = err.offline ? t("cell_later") : errorText(err);
    }
  }

  function onPosition(position) {
    const { longitude, latitude, accuracy } = position.coords;
    lastFix = position.coords;
    $("m-accuracy").textContent = t("accuracy", { metres: Math.round(accuracy) });
    const where = maps.toMap(longitude, latitude);
    if (!accuracyCircle) {
      accuracyCircle = L.circle(where, {
        radius: accuracy,
        color: "#0b5cad",
        weight: 1,
        fillOpacity: 0.1,
        interactive: false,
        className: "m-pin-accuracy",
      }).addTo(map);
    } else accuracyCircle.setLatLng(where).setRadius(accuracy);
    if (!pinMoved) {
      pin.setLatLng(where).addTo(map);
      map.setView(where, Math.max(map.getZoom(), 17));
      placeDraft(where);
    }
  }

  function onNoPosition() {
    if (!lastFix) $("m-accuracy").textContent = t("no_location");
  }

  function locate() {
    if (!navigator.geolocation) return onNoPosition();
    navigator.geolocation.watchPosition(onPosition, onNoPosition, {
      enableHighAccuracy: true,
      maximumAge: 10000,
      timeout: 20000,
    });
  }

  $("m-locate").addEventListener("click", () => {
    pinMoved = false;
    if (lastFix) onPosition({ coords: lastFix });
    else locate();
  });

  $("m-to-category").addEventListener("click", () => {
    if (!draft.point) {
      $("m-cell").textContent = t("no_pin");
      return;
    }
    go("category");
  });

  // -- screen 2: category ----------------------------------------------------------------------------------------

  let categories = [];

  async function loadCategories() {
    try {
      const { data } = await api("GET", "/api/v1/categories");
      categories = data
        .filter((c) => c.level === "minor")
        .map((c) => ({ code: c.code, name: c.name, name_en: c.name_en, keywords: c.keywords || [] }));
      localStorage.setItem(CATEGORIES_KEY, JSON.stringify(categories));
    } catch (err) {
      categories = JSON.parse(localStorage.getItem(CATEGORIES_KEY) || "[]");
      if (!categories.length) $("m-category-message").textContent = t("categories_offline");
    }
    if (currentScreen === "category") showCategories();
  }

  function categoryName(c) {
    return LANG === "en" && c.name_en ? c.name_en : c.name;
  }

  function recentCodes() {
    try {
      return JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    } catch (err) {
      return [];
    }
  }

  function remember(code) {
    const codes = [code, ...recentCodes().filter((c) => c !== code)].slice(0, 6);
    localStorage.setItem(RECENT_KEY, JSON.stringify(codes));
  }

  function categoryButton(c) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = categoryName(c);
    const small = document.createElement("small");
    small.textContent = c.code;
    button.append(small);
    button.addEventListener("click", () => {
      draft.category = c;
      remember(c.code);
      $("m-chosen-category").textContent = t("chosen_category", { name: categoryName(c), code: c.code });
      go("details");
    });
    li.append(button);
    return li;
  }

  function showCategories() {
    const q = $("m-category-search").value.trim().toLowerCase();
    const matches = (c) =>
      !q ||
      c.code.toLowerCase().startsWith(q) ||
      (c.name || "").toLowerCase().includes(q) ||
      (c.name_en || "").toLowerCase().includes(q) ||
      c.keywords.some((k) => k.toLowerCase().includes(q));
    const byCode = new Map(categories.map((c) => [c.code, c]));
    const recent = recentCodes()
      .map((code) => byCode.get(code))
      .filter((c) => c && matches(c));
    $("m-recent").replaceChildren(...recent.map(categoryButton));
    $("m-h-recent").hidden = !recent.length;
    const rest = categories.filter((c) => matches(c) && !recent.includes(c));
    $("m-categories").replaceChildren(...rest.slice(0, 60).map(categoryButton));
    if (categories.length) $("m-category-message").textContent = recent.length || rest.length ? "" : t("no_categories");
  }

  $("m-category-search").addEventListener("input", showCategories);

  // -- screen 3: photos, description, send -------------------------------------------------------------------------

  // A photo made smaller on the phone before it is sent: JPEG, the longest side at most photo_longest_side.
  async function resize(file) {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, CONFIG.photo_longest_side / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return new Promise((resolve, reject) =>
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("toBlob"))), "image/jpeg", 0.85)
    );
  }

  // Photos chosen in `input` join `list` (resized), shown in `previews`; too many or unreadable ones are said.
  function photoPicker(input, list, previews, message) {
    function render() {
      previews.replaceChildren(
        ...list.map((photo, i) => {
          const li = document.createElement("li");
          const img = document.createElement("img");
          img.src = photo.url;
          img.alt = t("photo_alt", { number: i + 1 });
          const remove = document.createElement("button");
          remove.type = "button";
          remove.textContent = "×";
          remove.setAttribute("aria-label", t("remove_photo", { number: i + 1 }));
          remove.addEventListener("click", () => {
            URL.revokeObjectURL(photo.url);
            list.splice(i, 1);
            render();
          });
          li.append(img, remove);
          return li;
        })
      );
    }
    input.addEventListener("change", async () => {
      message.textContent = "";
      const problems = [];
      for (const file of Array.from(input.files || [])) {
        if (list.length >= CONFIG.max_photos) {
          problems.push(t("too_many_photos"));
          break;
        }
        try {
          const blob = await resize(file);
          list.push({ blob, url: URL.createObjectURL(blob) });
        } catch (err) {
          problems.push(t("photo_unreadable", { name: file.name }));
        }
      }
      input.value = "";
      message.textContent = problems.join(" ");
      render();
      input.dispatchEvent(new CustomEvent("m-photos-ready"));
    });
    return {
      clear() {
        list.forEach((p) => URL.revokeObjectURL(p.url));
        list.length = 0;
        render();
      },
    };
  }

  const reportPhotos = photoPicker($("m-photos"), draft.photos, $("m-previews"), $("m-photo-message"));

  $("m-send").addEventListener("click", async () => {
    if (!draft.point) return go("place");
    if (!draft.category) return go("category");
    const report = {
      key: newKey(),
      created_at: Date.now(),
      status: "pending",
      fields: {
        category_code: draft.category.code,
        lon: String(draft.point.lon),
        lat: String(draft.point.lat),
        crs: draft.point.crs,
        description: $("m-description").value.trim(),
      },
      photos: draft.photos.map((p) => p.blob),
      label: categoryName(draft.category),
    };
    $("m-send").disabled = true;
    $("m-result").textContent = t("sending");
    sendingNow.add(report.key); // sync() leaves it alone meanwhile: one POST at a time per key
    try {
      await store.put(report); // kept first: whatever happens next, the report is not lost
      const outcome = await send(report);
      $("m-result").textContent =
        outcome.sent
          ? t("sent", { code: outcome.data.code, cell: outcome.data.cell_code })
          : outcome.failed
            ? t("failed", { message: outcome.message })
            : t("queued");
      $("m-result").dataset.outcome = outcome.sent ? "sent" : outcome.failed ? "failed" : "queued";
      if (outcome.waiting) retryLater(outcome.retryAfter);
      $("m-description").value = "";
      reportPhotos.clear();
      draft.category = null;
      go("sent");
    } catch (err) {
      $("m-result").textContent = t("error", { message: errorText(err) });
    } finally {
      sendingNow.delete(report.key);
      $("m-send").disabled = false;
      refreshPending();
    }
  });

  // -- the reports kept on the phone (IndexedDB) -----------------------------------------------------------------

  const store = (function () {
    let opened = null;
    function db() {
      if (!opened) {
        opened = new Promise((resolve, reject) => {
          const request = indexedDB.open("citymgmt-m", 1);
          request.onupgradeneeded = () => request.result.createObjectStore("reports", { keyPath: "key" });
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
      }
      return opened;
    }
    async function run(mode, work) {
      const database = await db();
      return new Promise((resolve, reject) => {
        const tx = database.transaction("reports", mode);
        const request = work(tx.objectStore("reports"));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    }
    return {
      put: (report) => run("readwrite", (s) => s.put(report)),
      remove: (key) => run("readwrite", (s) => s.delete(key)),
      all: () => run("readonly", (s) => s.getAll()).then((list) => list.sort((a, b) => a.created_at - b.created_at)),
    };
  })();

  async function refreshCsrf() {
    const response = await fetch(CONFIG.token_url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || response.redirected || !type.includes("json")) return false;
    const { csrf_token: token } = await response.json();
    document.querySelector('meta[name="csrf-token"]').setAttribute("content", token);
    return true;
  }

  // Send one kept report. {sent, data} | {failed, message} | {waiting} (to be tried again later).
  async function send(report, retried) {
    const form = new FormData();
    for (const [name, value] of Object.entries(report.fields)) form.append(name, value);
    report.photos.forEach((blob, i) => form.append("photos", blob, "photo-" + (i + 1) + ".jpg"));
    try {
      const { data } = await api("POST", "/api/v1/cases", { form, headers: { "Idempotency-Key": report.key } });
      await store.remove(report.key);
      return { sent: true, data };
    } catch (err) {
      if (!(err instanceof window.citymgmt.ApiError)) throw err;
      if (err.status === 403 && err.code === "csrf_failed" && !retried) {
        // The shell came from the cache and its token is old: get this session's and try once more.
        if (await refreshCsrf()) return send(report, true);
        signedOut(true);
        return { waiting: true };
      }
      if (err.status === 401 || (err.status === 403 && err.code === "csrf_failed")) {
        signedOut(true);
        return { waiting: true };
      }
      if (err.status === 0 || err.status >= 500 || err.status === 408 || err.status === 429) {
        return { waiting: true, retryAfter: err.retryAfter };
      }
      report.status = "failed";
      report.error = errorText(err);
      await store.put(report);
      return { failed: true, message: report.error };
    }
  }

  function signedOut(yes) {
    const element = $("m-signed-out");
    element.hidden = !yes;
    if (yes) {
      const link = document.createElement("a");
      link.href = CONFIG.login_url;
      link.textContent = t("signed_out");
      element.replaceChildren(link);
    }
  }

  const sendingNow = new Set(); // keys of reports being sent from the Send button
  let syncing = null;
  // Send every waiting report, oldest first; stop at the first that still cannot go (no network, the server busy
  // or failing) and try again later: after the Retry-After the server asked for, else after a wait that doubles
  // from 2 s to 2 min, and at once when the network is seen back or "send now" is pressed.
  function sync() {
    if (syncing) return syncing;
    syncing = (async () => {
      let waiting = null;
      try {
        for (const report of await store.all()) {
          if (report.status !== "pending" || sendingNow.has(report.key)) continue;
          const outcome = await send(report);
          if (outcome.waiting) {
            waiting = outcome;
            break;
          }
        }
      } finally {
        syncing = null;
        if (waiting) retryLater(waiting.retryAfter);
        else retry.delay = 0;
        await refreshPending();
      }
    })();
    return syncing;
  }

  const retry = { timer: null, delay: 0, at: null }; // the next try of the waiting reports
  function retryLater(seconds) {
    clearTimeout(retry.timer);
    retry.delay = retry.delay ? Math.min(retry.delay * 2, 120000) : 2000;
    const wait = seconds !== null && seconds !== undefined ? seconds * 1000 : retry.delay;
    retry.at = Date.now() + wait;
    retry.timer = setTimeout(() => {
      retry.timer = null;
      retry.at = null;
      sync();
    }, wait);
  }

  function sendNow() {
    clearTimeout(retry.timer);
    retry.timer = null;
    retry.at = null;
    retry.delay = 0;
    return sync();
  }
  $("m-send-now").addEventListener("click", sendNow);

  async function refreshPending() {
    const reports = await store.all();
    const pending = reports.filter((r) => r.status === "pending");
    const badge = $("m-pending");
    $("m-pending-line").hidden = !pending.length;
    badge.textContent = t("pending", { count: pending.length });
    $("m-retry").textContent =
      pending.length && retry.at ? t("retry_in", { time: duration(retry.at - Date.now()) }) : "";
    badge.dataset.count = String(pending.length);
    const failed = reports.filter((r) => r.status === "failed");
    $("m-failed").replaceChildren(
      ...failed.map((r) => {
        const li = document.createElement("li");
        li.textContent = r.label + " · " + t("failed", { message: r.error });
        const discard = document.createElement("button");
        discard.type = "button";
        discard.className = "secondary";
        discard.textContent = t("discard");
        discard.addEventListener("click", async () => {
          await store.remove(r.key);
          refreshPending();
        });
        li.append(document.createElement("br"), discard);
        return li;
      })
    );
  }

  // The badge and the sending of waiting reports follow whether the server answers (citymgmt.network), not
  // navigator.onLine, which says "online" when the app was opened from the cache with no network.
  function networkState(state) {
    $("m-offline").hidden = state !== "offline";
    if (state === "online") sync();
  }
  network.onChange(networkState);

  // -- my tasks --------------------------------------------------------------------------------------------------

  let flash = ""; // what the last action did, said above the list it returns to

  async function loadTasks() {
    const list = $("m-tasks");
    const message = $("m-tasks-message");
    try {
      const { data } = await api("GET", "/api/v1/queues/mine", { query: { page_size: 100 } });
      const tasks = data.filter((item) => item.task === "verify" || item.task === "check");
      list.replaceChildren(...tasks.map(taskItem));
      message.textContent = [flash, tasks.length ? "" : t("no_tasks")].filter(Boolean).join(" ");
      flash = "";
    } catch (err) {
      message.textContent = err.offline ? t("tasks_offline") : t("error", { message: errorText(err) });
    }
  }

  function light(value) {
    const span = document.createElement("span");
    span.className = "m-light m-light-" + value;
    span.setAttribute("role", "img");
    span.setAttribute("aria-label", t("light_" + value));
    return span;
  }

  function taskItem(item) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    if (item.light) button.append(light(item.light));
    button.append(t("task_" + item.task) + " · " + item.code);
    const meta = document.createElement("span");
    meta.className = "m-meta";
    meta.append(categoryOf(item.category_code) + " · " + item.cell_code + " · ", countdownNode(item.due_at));
    button.append(meta);
    button.addEventListener("click", () => (location.hash = "task/" + item.id));
    li.append(button);
    return li;
  }

  function categoryOf(code) {
    const known = categories.find((c) => c.code === code);
    return known ? categoryName(known) : code;
  }

  function reportState(item) {
    const department = item.department_code
      ? CONFIG.departments[item.department_code] || item.department_code
      : t("not_dispatched");
    return t("status_" + item.status) + " · " + department;
  }

  // -- my reports: what became of them ------------------------------------------------------------------------------

  async function loadReports() {
    const list = $("m-reports");
    const message = $("m-reports-message");
    try {
      const { data } = await api("GET", "/api/v1/cases", { query: { mine: "true", page_size: 50 } });
      list.replaceChildren(
        ...data.map((item) => {
          const li = document.createElement("li");
          li.dataset.case = String(item.id);
          li.dataset.status = item.status;
          const button = document.createElement("button");
          button.type = "button";
          if (item.light && item.status !== "closed") button.append(light(item.light));
          button.append(categoryOf(item.category_code) + " · " + item.code);
          const meta = document.createElement("span");
          meta.className = "m-meta";
          const open = !["closed", "cancelled"].includes(item.status);
          meta.append(reportState(item) + (open ? " · " : ""), open ? countdownNode(item.due_at) : "");
          button.append(meta);
          button.addEventListener("click", () => (location.hash = "task/" + item.id));
          li.append(button);
          return li;
        })
      );
      message.textContent = data.length ? "" : t("no_reports");
    } catch (err) {
      message.textContent = err.offline ? t("reports_offline") : t("error", { message: errorText(err) });
    }
  }

  // Signing out: the shell may come from the cache with an older session's token, so this session's is asked for.
  $("m-signout").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await refreshCsrf();
    } catch (err) {
      // offline: the token the page has is tried
    }
    form.elements.csrf_token.value = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
    form.submit();
  });

  let openCase = null; // {data, etag, task}
  const actPhotos = [];
  const actPicker = photoPicker($("m-act-photos"), actPhotos, $("m-act-previews"), $("m-act-message"));

  function photoLinks(photos) {
    if (!photos.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = t("no_photos");
      return [p];
    }
    return photos.map((photo, i) => {
      const a = document.createElement("a");
      a.href = photo.url;
      a.target = "_blank";
      const img = document.createElement("img");
      img.src = photo.thumb_url;
      img.alt = t("photo_alt", { number: i + 1 });
      a.append(img);
      return a;
    });
  }

  async function openTask(id) {
    show("task");
    $("m-act-message").textContent = "";
    try {
      const result = await api("GET", "/api/v1/cases/" + id);
      const data = result.data;
      openCase = { data, etag: result.etag };
      $("m-h-task").textContent = data.code;
      $("m-task-summary").replaceChildren(
        categoryOf(data.category_code) + " · " + data.cell_code + " · ",
        data.status === "closed" ? t("closed") : countdownNode(data.due_at)
      );
      $("m-task-state").textContent = reportState(data);
      $("m-task-description").textContent = data.description || "";
      $("m-navigate").href = "geo:" + data.lat + "," + data.lon + "?q=" + data.lat + "," + data.lon + "(" + encodeURIComponent(data.code) + ")";
      const actionOf = new Map(data.events.map((e) => [e.id, e.action]));
      const reported = data.photos.filter((p) => actionOf.get(p.event_id) === "report");
      // The latest handling's photos: after a rework, the new result is what is checked.
      const handles = data.events.filter((e) => e.action === "handle").map((e) => e.id);
      const lastHandle = handles.length ? handles[handles.length - 1] : null;
      const handled = data.photos.filter((p) => p.event_id === lastHandle);
      $("m-photos-report").replaceChildren(...photoLinks(reported));
      $("m-photos-result").replaceChildren(...photoLinks(handled));
      $("m-verify-buttons").hidden = !data.allowed_actions.includes("verify");
      $("m-check-buttons").hidden = !data.allowed_actions.includes("check");
      // A report followed from "my reports" with nothing for the inspector to do: no form, only what became of it.
      $("m-act").hidden = !data.allowed_actions.includes("verify") && !data.allowed_actions.includes("check");
    } catch (err) {
      $("m-act-message").textContent = t("error", { message: errorText(err) });
    }
  }

  document.querySelectorAll("#m-act [data-action]").forEach((button) =>
    button.addEventListener("click", async () => {
      if (!openCase) return;
      const { action, result } = button.dataset;
      const form = new FormData();
      form.append("result", result);
      const note = $("m-act-note").value.trim();
      if (note) form.append("note", note);
      actPhotos.forEach((p, i) => form.append("photos", p.blob, "photo-" + (i + 1) + ".jpg"));
      const buttons = document.querySelectorAll("#m-act [data-action]");
      buttons.forEach((b) => (b.disabled = true));
      try {
        await api("POST", "/api/v1/cases/" + openCase.data.id + "/actions/" + action, {
          form,
          headers: { "If-Match": openCase.etag },
        });
        actPicker.clear();
        $("m-act-note").value = "";
        flash = t(action === "verify" ? "done_verify" : "done_check");
        go("tasks");
      } catch (err) {
        if (err.status === 409) {
          await openTask(openCase.data.id);
          $("m-act-message").textContent = t("stale");
        } else {
          $("m-act-message").textContent = t("error", { message: errorText(err) });
        }
      } finally {
        buttons.forEach((b) => (b.disabled = false));
      }
    })
  );

  // -- start -----------------------------------------------------------------------------------------------------

  setupMap();
  locate();
  loadCategories();
  route();
  network.watch(CONFIG.token_url);
  network.probe();
  refreshPending();
  window.citymgmtMobile = { retry, sync, sendNow };
  if ("serviceWorker" in navigator) navigator.serviceWorker.register(CONFIG.sw, { scope: "./" }).catch(() => {});
})();
