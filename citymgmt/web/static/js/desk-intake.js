// The desk's new-case form (templates/_desk_intake.html): a hotline or public report entered by the centre's
// operator, sent to POST /api/v1/cases as every report is (multipart, with an Idempotency-Key made once per form, so a
// second click or a retry after a lost answer makes no second case). The place is an address from the gazetteer
// (GET /api/v1/addresses) or a click on the map; once the category and the place are known, the open cases the
// report would be a suspected duplicate of are shown (GET /api/v1/cases/duplicates). The created case is announced
// to the desk (desk.js) with a "citymgmt:case-created" event. Every word comes from the page's #desk-config.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("desk-config").textContent);
  const T = config.strings.intake;
  const TEXT = config.strings.text;
  const { api, ApiError, newKey } = window.citymgmt;
  const $ = (id) => document.getElementById(id);
  const fmt = (template, values) => template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
  const timeFormat = new Intl.DateTimeFormat(config.locale, {
    timeZone: config.timezone,
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });

  const dialog = $("intake");
  const form = $("intake-form");
  const state = { key: null, point: null, map: null, marker: null, outline: null, found: [], timer: null };
  const controllers = {}; // the request in flight of each kind (search, place, duplicates): a newer one aborts it

  // -- categories: minor classes, found by name or code in the browser's list ------------------------------------

  const minors = Object.entries(config.categories).filter(([code]) => code.length === 5);
  const byLabel = new Map(minors.map(([code, name]) => [`${name} (${code})`, code]));
  $("intake-categories").replaceChildren(
    ...[...byLabel.keys()].map((text) => Object.assign(document.createElement("option"), { value: text }))
  );

  function categoryCode() {
    const given = $("intake-category").value.trim();
    if (byLabel.has(given)) return byLabel.get(given);
    const code = given.toUpperCase();
    return code.length === 5 && config.categories[code] ? code : null;
  }

  // -- requests: the latest of each kind wins ------------------------------------------------------------------------

  async function latest(kind, method, path, options) {
    if (controllers[kind]) controllers[kind].abort();
    const controller = new AbortController();
    controllers[kind] = controller;
    try {
      return await api(method, path, Object.assign({ signal: controller.signal }, options));
    } finally {
      if (controllers[kind] === controller) controllers[kind] = null;
    }
  }

  const aborted = (err) => err && err.name === "AbortError";

  function showError(text) {
    const box = $("intake-error");
    box.hidden = !text;
    box.textContent = text || "";
  }

  function describe(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    if (err.offline) return TEXT.offline;
    const details = err.details || {};
    if (err.code === "work_order_exists") {
      return fmt(T.work_order_exists, { order: $("intake-work-order").value.trim(), code: details.case });
    }
    const said = window.citymgmt.refusalText(err, config.refusals);
    if (said) return fmt(TEXT.error, { message: said });
    const fields = Object.entries(details).map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`);
    return fmt(TEXT.error, { message: err.message }) + (fields.length ? ` (${fields.join("; ")})` : "");
  }

  // -- the place: an address found in the gazetteer, or a click on the map -----------------------------------------

  function ensureMap() {
    if (state.map) {
      state.map.invalidateSize();
      return;
    }
    const map = window.L.map($("intake-map"), { attributionControl: false }).setView([39.918, 116.397], 13);
    map.on("click", (event) => setPoint(event.latlng.lng, event.latlng.lat));
    state.map = map;
  }

  async function setPoint(lon, lat) {
    state.point = { lon, lat };
    const map = state.map;
    if (state.marker) state.marker.remove();
    if (state.outline) state.outline.remove();
    state.outline = null;
    state.marker = window.L.circleMarker([lat, lon], { radius: 7, color: "#b42318", weight: 2, fillOpacity: 0.8 }).addTo(map);
    map.setView([lat, lon], Math.max(map.getZoom(), 16));
    $("intake-place").textContent = T.searching;
    try {
      const { data } = await latest("place", "GET", "/api/v1/grids/match", { query: { lon, lat } });
      state.outline = window.L.geoJSON(data.geometry, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.08 } }).addTo(map);
      $("intake-place").textContent = fmt(T.place_cell, { cell: data.code });
    } catch (err) {
      if (aborted(err)) return;
      $("intake-place").textContent = err instanceof ApiError && err.status === 422 ? T.outside : describe(err);
    }
    checkDuplicates();
  }

  function showAddresses(found) {
    state.found = found;
    const list = $("intake-addresses");
    list.replaceChildren(
      ...found.map((a, i) => {
        const item = document.createElement("li");
        item.id = `intake-address-${i}`;
        item.setAttribute("role", "option");
        item.tabIndex = -1;
        item.textContent = a.cell_code ? a.address : `${a.address} (${T.outside})`;
        item.addEventListener("click", () => chooseAddress(i));
        item.addEventListener("keydown", (event) => onOptionKey(event, i));
        return item;
      })
    );
    $("intake-address").setAttribute("aria-expanded", found.length ? "true" : "false");
  }

  async function searchAddresses() {
    const q = $("intake-address").value.trim();
    if (q.length < 2) {
      showAddresses([]);
      return;
    }
    try {
      const { data } = await latest("search", "GET", "/api/v1/addresses", { query: { q, limit: 8 } });
      showAddresses(data);
      if (!data.length) $("intake-place").textContent = T.no_address;
    } catch (err) {
      if (!aborted(err)) $("intake-place").textContent = describe(err);
    }
  }

  function chooseAddress(i) {
    const chosen = state.found[i];
    $("intake-address").value = chosen.address;
    showAddresses([]);
    $("intake-address").focus();
    setPoint(chosen.lon, chosen.lat);
  }

  function onOptionKey(event, i) {
    const items = $("intake-addresses").children;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = items[i + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) next.focus();
      else if (event.key === "ArrowUp") $("intake-address").focus();
    } else if (event.key === "Enter") {
      event.preventDefault();
      chooseAddress(i);
    }
  }

  $("intake-address").addEventListener("input", () => {
    clearTimeout(state.timer);
    state.timer = setTimeout(searchAddresses, 250);
  });
  $("intake-address").addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && $("intake-addresses").firstElementChild) {
      event.preventDefault();
      $("intake-addresses").firstElementChild.focus();
    }
  });

  // -- suspected duplicates, before sending ---------------------------------------------------------------------

  async function checkDuplicates() {
    const box = $("intake-duplicates");
    const category = categoryCode();
    if (!category || !state.point) {
      box.hidden = true;
      return;
    }
    try {
      const { data } = await latest("duplicates", "GET", "/api/v1/cases/duplicates", {
        query: { category_code: category, lon: state.point.lon, lat: state.point.lat },
      });
      box.hidden = false;
      if (!data.length) {
        box.className = "box";
        box.replaceChildren(T.no_duplicates);
        return;
      }
      box.className = "box notice";
      const list = document.createElement("ul");
      list.replaceChildren(
        ...data.map((c) => {
          const item = document.createElement("li");
          const at = timeFormat.format(new Date(c.reported_at));
          item.textContent = fmt(T.duplicate_line, { code: c.code, m: Math.round(c.distance_m), at });
          return item;
        })
      );
      box.replaceChildren(T.duplicates, list);
    } catch (err) {
      if (aborted(err)) return;
      box.hidden = true; // the place line already says why (outside every cell)
    }
  }

  $("intake-category").addEventListener("change", checkDuplicates);

  // -- sending -------------------------------------------------------------------------------------------------

  async function submit(event) {
    event.preventDefault();
    const category = categoryCode();
    if (!category) {
      showError(T.choose_category);
      $("intake-category").focus();
      return;
    }
    if (!state.point) {
      showError(T.choose_place);
      $("intake-address").focus();
      return;
    }
    const body = new FormData();
    const value = (id) => $(id).value.trim();
    body.append("category_code", category);
    body.append("lon", String(state.point.lon));
    body.append("lat", String(state.point.lat));
    body.append("source", value("intake-source"));
    body.append("request_kind", value("intake-kind"));
    for (const [name, id] of [
      ["work_order", "intake-work-order"],
      ["urgency", "intake-urgency"],
      ["description", "intake-description"],
      ["address", "intake-address"],
    ]) {
      if (value(id)) body.append(name, value(id));
    }
    const contact = {};
    if (value("intake-name")) contact.name = value("intake-name");
    if (value("intake-phone")) contact.phone = value("intake-phone");
    if (Object.keys(contact).length) body.append("contact", JSON.stringify(contact));
    for (const file of $("intake-photos").files) body.append("photos", file);
    const button = $("intake-submit");
    button.disabled = true;
    showError(T.sending);
    try {
      const { data } = await api("POST", "/api/v1/cases", { form: body, headers: { "Idempotency-Key": state.key } });
      showError("");
      dialog.close();
      document.dispatchEvent(new CustomEvent("citymgmt:case-created", { detail: { id: data.id, code: data.code, message: fmt(T.created, { code: data.code }) } }));
    } catch (err) {
      showError(describe(err));
    } finally {
      button.disabled = false;
    }
  }

  // -- opening and closing -------------------------------------------------------------------------------------

  function open() {
    form.reset();
    state.key = newKey(); // one report, one key: resending this form after a lost answer returns its case
    state.point = null;
    if (state.marker) state.marker.remove();
    if (state.outline) state.outline.remove();
    state.marker = state.outline = null;
    showAddresses([]);
    showError("");
    $("intake-place").textContent = T.choose_place;
    $("intake-duplicates").hidden = true;
    dialog.showModal();
    ensureMap();
    $("intake-work-order").focus();
  }

  form.addEventListener("submit", submit);
  $("intake-close").addEventListener("click", () => dialog.close());
  $("intake-button").addEventListener("click", open);
})();
