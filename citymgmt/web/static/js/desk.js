// The desk (/desk/): the centre's intake, dispatch and approvals, a department's queue. A plain script on the API
// (window.citymgmt.api); every word it shows comes from the page's #desk-config JSON, in the user's language.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("desk-config").textContent);
  const S = config.strings;
  const T = S.text;
  const { api, ApiError } = window.citymgmt;

  // One key per main action (the help dialog lists them); approve and reject share a key across their kinds.
  const ACTION_KEYS = {
    file: "f",
    cancel: "x",
    request_verification: "v",
    dispatch: "d",
    merge: "m",
    approve_return: "a",
    approve_extension: "a",
    reject_return: "r",
    reject_extension: "r",
    resume: "r",
    suspend: "s",
    request_check: "q",
    close: "c",
    callback: "l",
    handle: "h",
    return: "b",
    request_extension: "e",
    reply: "y",
    comment: "n",
  };
  // The events that ask the dispatcher something, and those that answer.
  const REQUESTS = ["return", "request_extension", "suspend"];
  const ANSWERS = ["approve_return", "reject_return", "approve_extension", "reject_extension", "suspend", "resume"];

  const state = { tab: config.tabs[0], items: [], current: null, etag: null, map: null, form: null, loading: null };
  const departments = new Map(config.departments.map((d) => [d.code, d.name]));
  // Whose photos: the stage of the event each came with.
  const PHOTO_STAGES = { report: "photos_report", verify: "photos_verify", handle: "photos_handle", check: "photos_check" };
  const CALLBACK_RESULTS = ["satisfied", "basically_satisfied", "unsatisfied"];
  const needsNote = new Set(config.needs_note);

  const $ = (id) => document.getElementById(id);
  const fmt = (template, values) => template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
  const timeFormat = new Intl.DateTimeFormat(config.locale, {
    timeZone: config.timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const lv = (label, value) => fmt(T.label_value, { label, value });
  const when = (iso) => (iso ? timeFormat.format(new Date(iso)) : "—");
  const departmentName = (code) => (code ? (departments.has(code) ? `${departments.get(code)} (${code})` : code) : "—");
  const categoryName = (code) => (config.categories[code] ? `${config.categories[code]} (${code})` : code);
  const actionName = (action) => S.actions[action] || action;

  // -- lights and countdowns ---------------------------------------------------------------------------------

  function span(seconds) {
    const s = Math.floor(Math.abs(seconds));
    const days = Math.floor(s / 86400);
    const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60]
      .map((n, i) => (i === 0 ? String(n) : String(n).padStart(2, "0")))
      .join(":");
    return days ? `${fmt(T.days, { n: days })} ${hms}` : hms;
  }

  function countdown(due) {
    return el("span", { class: "countdown", "data-due": due || "" }, countdownText(due));
  }

  function countdownText(due) {
    if (!due) return T.no_clock;
    const left = (new Date(due).getTime() - Date.now()) / 1000;
    return left >= 0 ? fmt(T.left, { time: span(left) }) : fmt(T.overdue, { time: span(left) });
  }

  function light(color, due) {
    // The server's light; a deadline passed since it was set shows red at once.
    const shown = due && new Date(due).getTime() < Date.now() ? "red" : color;
    const label = shown ? S.lights[shown] : T.no_clock;
    return el("span", { class: `light light-${shown || "none"}`, "data-light": shown || "" }, label);
  }

  function tick() {
    for (const node of document.querySelectorAll(".countdown[data-due]")) {
      const due = node.dataset.due;
      node.textContent = countdownText(due);
      node.classList.toggle("overdue", Boolean(due) && new Date(due).getTime() < Date.now());
    }
  }

  // -- messages ------------------------------------------------------------------------------------------------

  function say(text, isError) {
    const box = $("message");
    box.hidden = false;
    box.className = isError ? "message error" : "message";
    box.setAttribute("role", isError ? "alert" : "status");
    box.textContent = text;
  }

  function describe(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    if (err.offline) return T.offline;
    const details = err.details || {};
    if (err.status === 422 && Array.isArray(details.allowed_actions)) {
      const allowed = details.allowed_actions.map(actionName).join(config.locale === "en" ? ", " : "、");
      const why =
        config.locale === "en" || !details.action
          ? fmt(T.not_allowed, { message: err.message }) // the domain's own reason, in English
          : fmt(T.cannot_now, { action: actionName(details.action), status: S.statuses[details.status] || details.status });
      return `${why} ${fmt(T.allowed_now, { actions: allowed || T.none })}`;
    }
    const said = window.citymgmt.refusalText(err, config.refusals);
    if (said) return fmt(T.error, { message: said }) + (err.requestId ? ` ${fmt(T.request_id, { id: err.requestId })}` : "");
    let text = fmt(T.error, { message: err.message });
    const fields = Object.entries(details)
      .filter(([key]) => key !== "allowed_actions")
      .map(([key, value]) => lv(key, typeof value === "object" ? JSON.stringify(value) : value));
    if (fields.length) text += ` (${fields.join("; ")})`;
    if (err.requestId) text += ` ${fmt(T.request_id, { id: err.requestId })}`;
    return text;
  }

  // -- the list --------------------------------------------------------------------------------------------------

  function renderTabs() {
    const tabs = $("tabs");
    tabs.replaceChildren(
      ...config.tabs.map((tab, i) =>
        el(
          "button",
          {
            type: "button",
            role: "tab",
            id: `tab-${tab.id}`,
            "aria-selected": String(tab === state.tab),
            "aria-controls": "items",
            "aria-keyshortcuts": i < 9 ? String(i + 1) : null,
            onclick: () => switchTab(tab),
          },
          tab.label,
          " ",
          el("kbd", { "aria-hidden": "true" }, String(i + 1))
        )
      )
    );
  }

  function switchTab(tab) {
    state.tab = tab;
    renderTabs();
    loadList();
  }

  async function loadList() {
    const tab = state.tab;
    $("count").textContent = T.loading;
    try {
      const response =
        tab.source === "queue"
          ? await api("GET", "/api/v1/queues/mine", { query: { page_size: 500 } })
          : await api("GET", "/api/v1/cases", { query: Object.assign({ page_size: 500 }, tab.query) });
      if (tab !== state.tab) return;
      const items = response.data;
      if (tab.source !== "queue") {
        // By due time, soonest first; cases without a clock last.
        const due = (c) => (c.due_at ? new Date(c.due_at).getTime() : Infinity);
        items.sort((a, b) => due(a) - due(b) || a.id - b.id);
      }
      state.items = items;
      renderList();
    } catch (err) {
      say(describe(err), true);
    }
  }

  function renderList() {
    const list = $("items");
    const n = state.items.length;
    $("count").textContent = n ? fmt(n === 1 ? T.count_one : T.count, { n }) : T.empty;
    const currentId = state.current ? state.current.id : null;
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    list.replaceChildren(
      ...state.items.map((c) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "item",
              "data-id": c.id,
              "aria-current": String(c.id === currentId),
              onclick: () => openCase(c.id, true),
            },
            light(c.light, c.due_at),
            el("span", { class: "code" }, c.code),
            countdown(c.due_at),
            el(
              "span",
              { class: "sub" },
              categoryName(c.category_code),
              " · ",
              c.task ? S.tasks[c.task] || c.task : c.duplicate_of ? T.merged : S.statuses[c.status] || c.status,
              c.department_code ? ` · ${departmentName(c.department_code)}` : "",
              c.pending_request ? ` · ${S.requests[c.pending_request.kind] || c.pending_request.kind}` : "",
              c.suspected_duplicate ? ` · ${T.duplicates}` : ""
            )
          )
        )
      )
    );
    if (focused) {
      const again = list.querySelector(`.item[data-id="${focused}"]`);
      if (again) again.focus();
    }
    tick();
  }

  function itemButtons() {
    return Array.from(document.querySelectorAll("#items .item"));
  }

  function moveInList(step) {
    const buttons = itemButtons();
    if (!buttons.length) return;
    let index = buttons.indexOf(document.activeElement);
    if (index < 0) index = buttons.findIndex((b) => b.getAttribute("aria-current") === "true");
    index = index < 0 ? (step > 0 ? 0 : buttons.length - 1) : Math.min(Math.max(index + step, 0), buttons.length - 1);
    buttons[index].focus();
    buttons[index].scrollIntoView({ block: "nearest" });
  }

  // -- one case --------------------------------------------------------------------------------------------------

  async function openCase(id, focusDetail) {
    const ticket = (state.asked = (state.asked || 0) + 1);
    state.loading = ticket; // until it is shown, action keys wait (they would act on the case shown before)
    try {
      const response = await api("GET", `/api/v1/cases/${id}`);
      if (state.loading !== ticket) return; // asked again meanwhile: the last answer is shown
      state.loading = null;
      showCase(response.data, response.etag);
      if (focusDetail) {
        const first = document.querySelector("#detail .actions button") || $("detail");
        first.focus();
      }
    } catch (err) {
      if (state.loading === ticket) state.loading = null;
      say(describe(err), true);
    }
  }

  function showCase(data, etag) {
    state.current = data;
    state.etag = etag || `"${data.version}"`;
    state.form = null;
    for (const button of itemButtons()) {
      button.setAttribute("aria-current", String(Number(button.dataset.id) === data.id));
    }
    renderDetail();
    if (data.allowed_actions.includes("dispatch")) loadExplanation(data);
  }

  function renderDetail() {
    const c = state.current;
    if (state.map) {
      state.map.remove();
      state.map = null;
    }
    const detail = $("detail");
    const parts = [
      el("h2", { id: "detail-title", class: "visually-hidden" }, c.code),
      el(
        "div",
        { class: "case-head" },
        el("h3", {}, c.code),
        el("span", { class: "badge" }, c.duplicate_of ? T.merged : S.statuses[c.status] || c.status),
        light(c.light, c.due_at),
        el("span", {}, lv(T.due, ""), el("time", { datetime: c.due_at || "" }, when(c.due_at)), " · ", countdown(c.due_at)),
        c.escalated ? el("span", { class: "badge warn" }, T.escalated) : null
      ),
      pendingBox(c),
      duplicateBox(c),
      suggestionBox(c),
      el(
        "section",
        { "aria-labelledby": "actions-title" },
        el("h4", { id: "actions-title" }, T.actions),
        actionButtons(c),
        el("div", { id: "action-form-slot" })
      ),
      requestsBox(c),
      el(
        "div",
        { class: "grid2" },
        el(
          "div",
          {},
          el(
            "dl",
            { class: "facts" },
            fact(T.category, categoryName(c.category_code)),
            fact(T.urgency, S.urgencies[c.urgency] || c.urgency),
            fact(T.source, S.sources[c.source] || c.source),
            c.contact ? fact(T.caller, [c.contact.name, c.contact.phone, c.contact.email].filter(Boolean).join(" · ") || "—") : null,
            fact(T.reported_at, when(c.reported_at)),
            fact(T.department, departmentName(c.department_code)),
            fact(T.cell, c.cell_code),
            c.address ? fact(T.address, c.address) : null,
            fact(T.description, c.description || "—"),
            c.extensions_granted ? fact(T.extensions_granted, c.extensions_granted) : null
          ),
          el("h4", {}, T.photos),
          photoList(c)
        ),
        el("div", {}, el("h4", { id: "map-title" }, T.map), el("div", { id: "case-map", class: "map", role: "region", "aria-labelledby": "map-title" }))
      ),
      el("h4", {}, T.history),
      history(c),
    ];
    detail.replaceChildren(...parts.filter((part) => part));
    drawMap(c);
    tick();
  }

  function fact(label, value) {
    return [el("dt", {}, label), el("dd", {}, value)];
  }

  function photoList(c) {
    if (!c.photos.length) return el("p", { class: "muted" }, T.no_photos);
    // Grouped by the stage they were sent at: the report's, the verification's, the handler's, the check's.
    const actions = new Map(c.events.map((e) => [e.id, e.action]));
    const groups = new Map();
    c.photos.forEach((p, i) => {
      const stage = PHOTO_STAGES[actions.get(p.event_id)] || "photos_other";
      if (!groups.has(stage)) groups.set(stage, []);
      groups.get(stage).push(
        el(
          "a",
          { href: p.url, target: "_blank", rel: "noopener" },
          el("img", { src: p.thumb_url, alt: fmt(T.photo, { n: i + 1 }), loading: "lazy" })
        )
      );
    });
    const order = ["photos_report", "photos_verify", "photos_handle", "photos_check", "photos_other"];
    return el(
      "div",
      {},
      order
        .filter((stage) => groups.has(stage))
        .flatMap((stage) => [
          el("h5", { class: "photo-stage" }, T[stage]),
          el("div", { class: "photos", id: stage.replace("_", "-") }, groups.get(stage)),
        ])
    );
  }

  function lastEvent(c, actions) {
    for (let i = c.events.length - 1; i >= 0; i--) if (actions.includes(c.events[i].action)) return c.events[i];
    return null;
  }

  function pendingBox(c) {
    const pending = c.pending_request;
    if (!pending) return null;
    const asked = lastEvent(c, REQUESTS);
    return el(
      "div",
      { class: "box notice", id: "pending" },
      el("h4", {}, lv(T.pending, S.requests[pending.kind] || pending.kind)),
      pending.hours ? el("p", {}, lv(T.hours, fmt(T.hours_n, { n: pending.hours }))) : null,
      asked && asked.payload.note ? el("p", {}, lv(T.note, asked.payload.note)) : null,
      el("p", { class: "muted" }, when(pending.at))
    );
  }

  function duplicateBox(c) {
    if (c.duplicate_of) {
      const merge = lastEvent(c, ["merge"]);
      const code = merge && merge.payload.original_code;
      return el(
        "div",
        { class: "box", id: "merged-into" },
        fmt(T.duplicate_of, { code: code || "—" }),
        " ",
        el("button", { type: "button", class: "link-button", onclick: () => openCase(c.duplicate_of, true) }, `${T.open_original} ${code || ""}`)
      );
    }
    if (!c.duplicate_candidates.length) return null;
    return el(
      "div",
      { class: "box notice", id: "duplicates" },
      el("h4", {}, T.duplicates),
      el(
        "ul",
        {},
        c.duplicate_candidates.map((d) => {
          const preview = el("div", { class: "original", "data-original": d.id });
          loadOriginal(d.id, preview);
          return el(
            "li",
            {},
            `${d.code} · ${fmt(T.distance, { m: Math.round(d.distance_m) })} `,
            el("button", { type: "button", class: "link-button", onclick: () => openCase(d.id, true) }, `${T.open_original} ${d.code}`),
            preview
          );
        })
      )
    );
  }

  async function loadOriginal(id, node) {
    // The original beside the suspected duplicate: its state, description and first photo.
    try {
      const { data } = await api("GET", `/api/v1/cases/${id}`);
      const photo = data.photos[0];
      node.replaceChildren(
        photo ? el("img", { src: photo.thumb_url, alt: fmt(T.photo, { n: 1 }) + ` · ${data.code}` }) : "",
        el("span", {}, `${S.statuses[data.status] || data.status} · ${when(data.reported_at)} · ${data.description || "—"}`)
      );
    } catch (err) {
      node.textContent = describe(err);
    }
  }

  function suggestionBox(c) {
    if (!c.allowed_actions.includes("dispatch")) return null;
    return el(
      "div",
      { class: "box", id: "suggestion" },
      el("h4", {}, T.suggestion),
      el(
        "p",
        { class: "suggested" },
        c.suggested_department_code ? el("strong", {}, departmentName(c.suggested_department_code)) : T.no_suggestion
      ),
      el("details", { class: "explain", id: "explain" }, el("summary", {}, T.explain), el("p", { class: "muted" }, T.loading))
    );
  }

  // A reason of the routing explanation in the page's language (its English as the server wrote it otherwise).
  const reason = (why, args, english) => (why && S.reasons[why] ? fmt(S.reasons[why], args || {}) : english);

  async function loadExplanation(c) {
    try {
      const { data } = await api("GET", "/api/v1/rules/explain", {
        query: {
          category_code: c.category_code,
          lon: c.lon,
          lat: c.lat,
          urgency: c.urgency,
          description: c.description,
          source: c.source,
          // the asset the reporter named; a suggested one the explanation finds again, as intake found it
          component_id: c.component && c.component.source === "named" ? c.component.id : null,
        },
      });
      const box = $("explain");
      if (!box || state.current !== c) return;
      const rules = data.considered.map((r) =>
        el(
          "li",
          { class: r.matched ? "hit" : null },
          lv(`${r.rule} ${r.name}`, r.matched ? T.rule_matched : T.rule_not_matched),
          r.department ? ` → ${departmentName(r.department)}` : "",
          r.note ? ` (${reason(r.why, r.args, r.note)})` : "",
          r.checks && r.checks.length
            ? el(
                "ul",
                {},
                r.checks.map((check) =>
                  el("li", {}, `${check.ok ? "✓" : "✗"} ` + lv(S.conditions[check.condition] || check.condition, reason(check.why, check.args, check.detail)))
                )
              )
            : null
        )
      );
      box.replaceChildren(
        el("summary", {}, T.explain, data.rule ? ` · ${fmt(T.suggested_by, { rule: data.rule })}` : ""),
        el("ol", {}, rules)
      );
    } catch (err) {
      const box = $("explain");
      if (box) box.replaceChildren(el("summary", {}, T.explain), el("p", { class: "muted" }, describe(err)));
    }
  }

  function requestsBox(c) {
    const events = c.events.filter((e) => REQUESTS.includes(e.action) || ANSWERS.includes(e.action));
    if (!events.length) return null;
    return el(
      "div",
      { class: "box", id: "requests" },
      el("h4", {}, T.requests),
      el("ul", {}, events.map((e) => el("li", {}, eventLine(e))))
    );
  }

  function eventLine(e) {
    const p = e.payload || {};
    const bits = [];
    if (p.department) bits.push(departmentName(p.department));
    if (p.hours) bits.push(fmt(T.hours_n, { n: p.hours }));
    if (p.result) bits.push(T[p.result] || p.result);
    if (p.resolved === true || p.resolved === false) bits.push(p.resolved ? T.resolved_yes : T.resolved_no);
    if (p.rework) bits.push(T.rework);
    if (p.rule) bits.push(fmt(T.suggested_by, { rule: p.rule }));
    if (p.original_code) bits.push(p.original_code);
    if (p.duplicate_code) bits.push(p.duplicate_code);
    if (p.note) bits.push(lv(T.note, p.note));
    return [
      el("time", { datetime: e.at }, when(e.at)),
      " ",
      el("span", { class: "actor" }, actorName(e)),
      " ",
      el("strong", {}, actionName(e.action)),
      bits.length ? ` · ${bits.join(" · ")}` : "",
    ];
  }

  function actorName(e) {
    // Who acted: their name and role (the role of the move where they hold several), or the system.
    if (e.actor_id === null || e.actor_id === undefined) return T.by_system;
    const actor = (state.current.actors || []).find((a) => a.id === e.actor_id);
    if (!actor) return "—";
    const role = actor.roles.length ? S.roles[actor.roles[0]] || actor.roles[0] : "";
    return role ? fmt(T.by_actor, { name: actor.display_name, role }) : actor.display_name;
  }

  function history(c) {
    return el("ol", { class: "history", id: "history" }, c.events.map((e) => el("li", {}, eventLine(e))));
  }

  // -- the map: the point and its cell's outline (no basemap needed) ----------------------------------------------

  async function drawMap(c) {
    const node = $("case-map");
    if (!node || !window.L) return;
    const map = window.L.map(node, { attributionControl: false, zoomControl: true }).setView([c.lat, c.lon], 17);
    state.map = map;
    window.L.circleMarker([c.lat, c.lon], { radius: 7, color: "#b42318", weight: 2, fillOpacity: 0.8 }).addTo(map);
    try {
      const { data } = await api("GET", "/api/v1/grids/match", { query: { lon: c.lon, lat: c.lat } });
      if (state.map !== map) return;
      const outline = window.L.geoJSON(data.geometry, { style: { color: "#0b5cad", weight: 2, fillOpacity: 0.08 } });
      outline.addTo(map);
      map.fitBounds(outline.getBounds(), { padding: [12, 12], maxZoom: 18 });
      node.removeAttribute("aria-labelledby");
      node.setAttribute("aria-label", lv(T.map, `${T.cell} ${data.code}`));
    } catch (err) {
      // The point alone is still the map.
    }
  }

  // -- actions ----------------------------------------------------------------------------------------------------

  function actionButtons(c) {
    if (!c.allowed_actions.length) return el("p", { class: "muted" }, T.no_actions);
    return el(
      "div",
      { class: "actions" },
      ordered(c.allowed_actions).map((action) => {
        const key = keyOf(action, c);
        return el(
          "button",
          {
            type: "button",
            class: action === "comment" ? "secondary" : null,
            "data-action": action,
            "aria-keyshortcuts": key,
            onclick: () => openForm(action),
          },
          actionLabel(action, c),
          key ? " " : "",
          key ? el("kbd", { "aria-hidden": "true" }, key) : null
        );
      })
    );
  }

  // The step forward first, the side paths after it, cancelling and comments last (the first one gets the focus).
  const ORDER = [
    "dispatch", "file", "approve_return", "approve_extension", "handle", "close", "callback", "request_check", "verify", "check",
    "request_verification", "verify_by_phone", "merge", "reply", "request_extension", "return", "suspend", "resume", "reject_return",
    "reject_extension", "escalate", "cancel", "comment",
  ];
  const ordered = (actions) =>
    actions.slice().sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));

  function actionLabel(action, c) {
    // The dispatcher's answers to a suspension request are `suspend` (approve) and `resume` (reject).
    if (c.pending_request && c.pending_request.kind === "suspension") {
      if (action === "suspend") return T.approve_suspension;
      if (action === "resume") return T.reject_suspension;
    }
    return actionName(action);
  }

  function keyOf(action, c) {
    if (action === "suspend" && c.pending_request && c.pending_request.kind === "suspension") return "a";
    return ACTION_KEYS[action] || null;
  }

  function openForm(action) {
    const c = state.current;
    state.form = action;
    const fields = [];
    if (action === "dispatch") {
      const select = el(
        "select",
        { id: "f-department", name: "department", required: true },
        config.departments.map((d) =>
          el("option", { value: d.code, selected: d.code === c.suggested_department_code }, `${d.name} (${d.code})`)
        )
      );
      if (!c.suggested_department_code) select.prepend(el("option", { value: "", selected: true }, "—"));
      fields.push(el("label", { for: "f-department" }, T.department), select);
    }
    if (action === "merge") {
      const candidates = c.duplicate_candidates;
      fields.push(el("label", { for: "f-original" }, T.original));
      fields.push(
        candidates.length
          ? el(
              "select",
              { id: "f-original", name: "original", required: true },
              candidates.map((d) => el("option", { value: d.id }, `${d.code} · ${fmt(T.distance, { m: Math.round(d.distance_m) })}`))
            )
          : el("input", { id: "f-original", name: "original", type: "number", min: 1, required: true })
      );
    }
    if (action === "request_extension") {
      fields.push(el("label", { for: "f-hours" }, T.hours), el("input", { id: "f-hours", name: "hours", type: "number", min: 0.5, step: 0.5, required: true }));
    }
    if (action === "verify" || action === "check") {
      fields.push(
        el("label", { for: "f-result" }, T.result),
        el("select", { id: "f-result", name: "result" }, el("option", { value: "pass" }, T.pass), el("option", { value: "fail" }, T.fail))
      );
    }
    if (action === "callback") {
      // The call-back (回访): whom to call, whether the problem was solved, and one button per answer.
      if (c.contact) fields.push(el("p", { class: "caller" }, lv(T.caller, [c.contact.name, c.contact.phone].filter(Boolean).join(" · "))));
      fields.push(
        el("label", { class: "check", for: "f-resolved" }, el("input", { id: "f-resolved", name: "resolved", type: "checkbox", checked: true }), " ", T.resolved)
      );
    }
    if (action === "handle") {
      fields.push(
        el("label", { for: "f-photos" }, T.result_photos),
        el("input", { id: "f-photos", name: "photos", type: "file", accept: "image/jpeg,image/png,image/webp", multiple: true })
      );
    }
    const required = needsNote.has(action);
    fields.push(
      el("label", { for: "f-note" }, required ? T.note_required : T.note),
      el("textarea", { id: "f-note", name: "note", rows: 3, required, maxlength: 2000 })
    );
    const form = el(
      "form",
      { class: "action-form", id: "action-form", "aria-labelledby": "action-form-title", onsubmit: submitForm },
      el("h4", { id: "action-form-title" }, actionLabel(action, c)),
      fields,
      el(
        "div",
        { class: "buttons" },
        action === "callback"
          ? CALLBACK_RESULTS.map((result) =>
              el("button", { type: "submit", id: `f-${result.replace("_", "-")}`, name: "result", value: result, class: "f-send" }, T[result])
            )
          : el("button", { type: "submit", id: "f-send", class: "f-send" }, lv(T.send, actionLabel(action, c))),
        el("button", { type: "button", class: "secondary", onclick: closeForm }, T.cancel_form)
      )
    );
    $("action-form-slot").replaceChildren(form);
    // Focus what needs filling in; when nothing does (a dispatch to the suggestion), the send button: Enter sends.
    const firstEmpty = Array.from(form.querySelectorAll("[required]")).find((f) => !f.value);
    (firstEmpty || (action === "dispatch" || !required ? form.querySelector(".f-send") : form.querySelector("#f-note"))).focus();
  }

  function closeForm() {
    state.form = null;
    $("action-form-slot").replaceChildren();
    const button = document.querySelector("#detail .actions button");
    if (button) button.focus();
  }

  async function submitForm(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const c = state.current;
    const action = state.form;
    const values = new FormData(form);
    const files = form.querySelector("#f-photos");
    let options;
    if (files && files.files.length) {
      options = { form: values };
    } else {
      const json = {};
      for (const [key, value] of values.entries()) {
        if (key === "photos" || key === "resolved" || value === "") continue;
        json[key] = key === "hours" || key === "original" ? Number(value) : value;
      }
      if (action === "callback") {
        // The caller's answer is the button pressed; sending the form another way asks for one.
        const answer = event.submitter && event.submitter.name === "result" ? event.submitter.value : null;
        if (!answer) {
          form.querySelector(".f-send").focus();
          return;
        }
        json.result = answer;
        json.resolved = form.querySelector("#f-resolved").checked;
      }
      options = { json };
    }
    options.headers = { "If-Match": state.etag };
    const send = event.submitter && event.submitter.type === "submit" ? event.submitter : form.querySelector(".f-send");
    send.disabled = true;
    try {
      const response = await api("POST", `/api/v1/cases/${c.id}/actions/${action}`, options);
      say(fmt(T.done, { action: actionLabel(action, c) }), false);
      showCase(response.data, response.etag);
      await loadList();
      const button = document.querySelector(`#items .item[data-id="${c.id}"]`) || itemButtons()[0];
      if (button) button.focus();
    } catch (err) {
      send.disabled = false;
      if (err instanceof ApiError && err.status === 409) {
        say(T.stale, true);
        await openCase(c.id, false);
        loadList();
      } else {
        say(describe(err), true);
      }
    }
  }

  // -- the keyboard -----------------------------------------------------------------------------------------------

  function renderHelp() {
    const rows = [
      ["j / k", T.key_move],
      ["Enter", T.key_open],
      [`1–${Math.min(config.tabs.length, 9)}`, T.key_tab],
      ["u", T.key_reload],
      ["?", T.key_help],
      ["Esc", T.key_escape],
      ["Ctrl+Enter", T.key_submit],
    ];
    const seen = new Map();
    for (const [action, key] of Object.entries(ACTION_KEYS)) {
      seen.set(key, (seen.get(key) || []).concat(actionName(action)));
    }
    for (const [key, names] of seen) rows.push([key, names.join(" / ")]);
    $("help-keys").replaceChildren(...rows.flatMap(([key, text]) => [el("dt", {}, el("kbd", {}, key)), el("dd", {}, text)]));
  }

  function toggleHelp() {
    const dialog = $("help");
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  function onKey(event) {
    const target = event.target;
    const typing = target instanceof HTMLElement && (target.matches("input, textarea, select") || target.isContentEditable);
    if (event.key === "Escape" && state.form) {
      event.preventDefault();
      closeForm();
      return;
    }
    if (event.key === "Escape" && !$("help").open && $("detail").contains(target)) {
      // Back from the case to its place in the list.
      const current = itemButtons().find((b) => b.getAttribute("aria-current") === "true") || itemButtons()[0];
      if (current) {
        event.preventDefault();
        current.focus();
      }
      return;
    }
    if (typing) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.form) {
        event.preventDefault();
        target.form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || $("help").open || ($("intake") && $("intake").open)) return;
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      toggleHelp();
    } else if (key === "j" || key === "ArrowDown") {
      event.preventDefault();
      moveInList(1);
    } else if (key === "k" || key === "ArrowUp") {
      event.preventDefault();
      moveInList(-1);
    } else if (key === "Enter" && !(target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement)) {
      const current = itemButtons().find((b) => b.getAttribute("aria-current") === "true");
      if (current) {
        event.preventDefault();
        current.click();
      }
    } else if (key === "u") {
      event.preventDefault();
      loadList();
    } else if (/^[1-9]$/.test(key) && config.tabs[Number(key) - 1]) {
      event.preventDefault();
      switchTab(config.tabs[Number(key) - 1]);
    } else if (state.current && !state.loading && /^[a-z]$/.test(key)) {
      const action = state.current.allowed_actions.find((a) => keyOf(a, state.current) === key);
      if (action) {
        event.preventDefault();
        openForm(action);
      }
    }
  }

  // -- start --------------------------------------------------------------------------------------------------------

  $("placeholder").textContent = T.choose;
  $("help-button").addEventListener("click", toggleHelp);
  document.addEventListener("keydown", onKey);
  // A case made by the new-case form (desk-intake.js): said, the list read again, the case opened.
  document.addEventListener("citymgmt:case-created", (event) => {
    say(event.detail.message);
    loadList();
    openCase(event.detail.id, true);
  });
  renderTabs();
  renderHelp();
  loadList();
  setInterval(tick, 1000);
  // New work arrives by itself: the list is read again every minute while the page is in view.
  setInterval(() => {
    if (document.visibilityState === "visible" && !state.form) loadList();
  }, 60000);
})();
