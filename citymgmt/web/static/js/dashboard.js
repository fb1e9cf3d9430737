// The supervisor dashboard (大屏): the cell map (Leaflet), the department league table, the daily trends
// (ECharts), the live feed and a cell's cases, reloaded every config.refresh seconds. No string is written here:
// the page passes them, translated, in #dashboard-config with the API paths, the zone and the period's length.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const T = config.text;
  const api = window.citymgmt.api;
  const $ = (id) => document.getElementById(id);

  // -- text, times and numbers ------------------------------------------------------------------------------
  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, key) => (values[key] === undefined ? "" : String(values[key])));
  }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) node.append(child);
    return node;
  }
  const dayFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: config.timezone, year: "numeric", month: "2-digit", day: "2-digit",
  });
  const timeFormat = new Intl.DateTimeFormat(config.locale, {
    timeZone: config.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const stampFormat = new Intl.DateTimeFormat(config.locale, {
    timeZone: config.timezone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
  });
  const percent = (value) => (value === null || value === undefined ? "—" : (100 * value).toFixed(1) + "%");
  const time = (iso) => timeFormat.format(new Date(iso));
  const casePage = (id) => config.case_page.replace(/0$/, String(id));
  // The page's type scale: 1 at 1920×1080 (20 px), 2 on a 3840×2160 screen (css/dashboard.css sets the root size).
  const scaleOfType = () => parseFloat(getComputedStyle(document.documentElement).fontSize) / 20 || 1;
  const stamp = (iso) => stampFormat.format(new Date(iso));

  // The period: the last config.days days up to today, in the city's zone.
  function period() {
    const now = new Date();
    return {
      from: dayFormat.format(new Date(now.getTime() - (config.days - 1) * 86400000)),
      to: dayFormat.format(now),
    };
  }
  let indicator = config.indicator;

  // -- the map ------------------------------------------------------------------------------------------------
  const EMPTY = "#1b2636";
  const OUTLINE = "#33445f";
  const RATE_CLASSES = [
    { min: 0.9, color: "#1a9850", label: "≥ 90%" },
    { min: 0.75, color: "#91cf60", label: "75% – 90%" },
    { min: 0.6, color: "#fee08b", label: "60% – 75%" },
    { min: 0, color: "#d73027", label: "< 60%" },
  ];
  const COUNT_COLORS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];

  // The colour classes for the values shown: fixed bands for a rate, five equal steps up to the largest count.
  function scale(name, values) {
    if (name === "on_time_closing_rate") {
      return {
        classes: RATE_CLASSES,
        color: (v) => (v === null || v === undefined ? null : RATE_CLASSES.find((c) => v >= c.min).color),
      };
    }
    const largest = Math.max(0, ...values.filter((v) => v !== null));
    const integer = name === "overdue_open";
    const steps = integer ? Math.min(5, Math.max(1, largest)) : 5;
    const uppers = [];
    for (let i = 1; i <= steps; i++) {
      const upper = (largest * i) / steps;
      uppers.push(integer ? Math.ceil(upper) : Math.round(upper * 100) / 100);
    }
    const colors = COUNT_COLORS.slice(COUNT_COLORS.length - steps);
    const classes = uppers.map((upper, i) => {
      const lower = i === 0 ? 0 : uppers[i - 1];
      let label = i === 0 ? `≤ ${upper}` : `${lower} – ${upper}`; // above 0: a cell with 0 has no colour
      if (integer) label = upper - lower <= 1 ? String(upper) : `${lower + 1} – ${upper}`;
      return { color: colors[i], label };
    }).reverse();
    return {
      classes,
      color: (v) => {
        if (v === null || v === undefined || v <= 0 || largest <= 0) return null;
        const index = uppers.findIndex((upper) => v <= upper);
        return colors[index === -1 ? colors.length - 1 : index];
      },
    };
  }

  const map = L.map("map", { preferCanvas: true, attributionControl: false, zoomSnap: 0.25 });
  const districts = L.geoJSON(config.districts, {
    interactive: false,
    style: { color: "#5cc8ff", weight: 2.5, opacity: 0.9, fill: false },
  });
  if (config.districts.features.length && districts.getBounds().isValid()) map.fitBounds(districts.getBounds());
  else map.setView([20, 0], 2); // no city loaded yet: the world, not a guess
  let cells = null;
  const cellLayers = new Map();
  const cellProperties = new Map();

  function styleFor(colorOf) {
    return (feature) => {
      const color = colorOf(feature.properties.value);
      return {
        color: OUTLINE, weight: 0.4, opacity: 0.8,
        fillColor: color || EMPTY, fillOpacity: color ? 0.85 : 0.45,
      };
    };
  }

  function drawLegend(name, classes) {
    const list = el("ul", {}, classes.map((c) =>
      el("li", {}, [el("span", { className: "swatch", style: `background:${c.color}` }), c.label])));
    list.append(el("li", {}, [el("span", { className: "swatch", style: `background:${EMPTY}` }), T.no_data]));
    $("legend").replaceChildren(el("h3", { text: T.indicators[name] }), list);
  }

  // Below this zoom a 100 m cell is a few pixels: the map shows communities, their cells' figures added up.
  const CELLS_FROM_ZOOM = 15;
  const levelFor = () => (map.getZoom() < CELLS_FROM_ZOOM ? "community" : "cell");
  let loadSeq = 0;
  let loadedView = null; // the box last asked for (the view with a margin), at state.level
  const city = config.districts.features.length ? districts.getBounds() : null;

  // What the map asks for: the view with a margin around it (moving within it asks nothing new), cut to the world;
  // null when there is nothing to ask (a map without a size, or a view away from the city).
  function viewToAsk() {
    const size = map.getSize();
    if (!size.x || !size.y) return null;
    const view = map.getBounds();
    if (city && city.isValid() && !city.intersects(view)) return null;
    const b = view.pad(0.5);
    const west = Math.max(-180, b.getWest());
    const south = Math.max(-90, b.getSouth());
    const east = Math.min(180, b.getEast());
    const north = Math.min(90, b.getNorth());
    if (!(west < east && south < north)) return null;
    return L.latLngBounds([south, west], [north, east]);
  }

  async function loadCells() {
    const p = period();
    const name = indicator;
    const level = levelFor();
    const seq = ++loadSeq;
    const box = viewToAsk();
    let data = { type: "FeatureCollection", features: [] };
    if (box) {
      const bbox = [box.getWest(), box.getSouth(), box.getEast(), box.getNorth()].map((v) => v.toFixed(6)).join(",");
      ({ data } = await api("GET", config.api.cells, {
        query: { indicator: name, from: p.from, to: p.to, bbox, zoom: Math.round(map.getZoom()), level },
      }));
    }
    if (seq !== loadSeq) return; // a later load (another view, another indicator) is drawn instead
    const { classes, color } = scale(name, data.features.map((f) => f.properties.value));
    if (cells) map.removeLayer(cells);
    cellLayers.clear();
    cellProperties.clear();
    cells = L.geoJSON(data, {
      style: styleFor(color),
      onEachFeature: (feature, layer) => {
        const props = feature.properties;
        cellLayers.set(props.code, layer);
        cellProperties.set(props.code, props);
        const value = name === "on_time_closing_rate" ? percent(props.value) : props.value;
        layer.bindTooltip(`${props.code} · ${T.indicators[name]}: ${value === null ? T.no_data : value}`, {
          sticky: true,
        });
        layer.on("click", () => {
          drill(props.code);
          focusCell(props.code); // drawn: nothing to look up
        });
      },
    }).addTo(map);
    districts.removeFrom(map).addTo(map); // the outlines above the cells
    if (state.drilled && !$("drill").hidden) select(state.drilled);
    drawLegend(name, classes);
    loadedView = box;
    state.level = level;
    state.loaded.cells += 1;
  }
  // Another level, or a view beyond the box last asked for: ask for what is now in view.
  map.on("moveend", () => {
    if (!state.level) return; // the first load is still on its way
    if (levelFor() === state.level && loadedView && loadedView.contains(map.getBounds())) return;
    if (levelFor() === state.level && !loadedView && !viewToAsk()) return;
    loadCells().catch((err) => {
      $("status").textContent = fmt(T.failed, { message: err.message });
    });
  });

  // -- a cell's cases -------------------------------------------------------------------------------------
  // Bring a cell into view left of the list of its cases (which covers the map's right side), outlined; a cell
  // not drawn (out of view, or the map showing communities) is looked up by its code first.
  async function focusCell(code) {
    const layer = cellLayers.get(code) || (levelFor() === "community" ? cellLayers.get(code.slice(0, 12)) : null);
    let bounds = layer ? layer.getBounds() : null;
    if (!bounds && code.length === 15) {
      const { data } = await api("GET", config.api.cell.replace(/0$/, code));
      bounds = L.geoJSON(data.geometry).getBounds();
    }
    if (!bounds || !bounds.isValid()) return;
    const cover = $("drill").hidden ? 0 : $("drill").offsetWidth;
    map.fitBounds(bounds, { maxZoom: 17, animate: false, paddingBottomRight: [cover + 40, 0] });
  }
  let selected = null;
  function select(code) {
    if (selected && cells) cells.resetStyle(selected);
    selected = cellLayers.get(code) || null;
    if (selected) {
      selected.setStyle({ color: "#ffffff", weight: 3, opacity: 1 });
      selected.bringToFront();
    }
  }

  async function drill(code) {
    const box = $("drill");
    const props = cellProperties.get(code);
    $("drill-title").textContent = fmt(code.length === 12 ? T.community_title : T.cell_title, { code });
    $("drill-summary").textContent = T.loading;
    $("drill-cases").replaceChildren();
    box.hidden = false;
    select(code);
    state.drilled = null;
    try {
      const { data, headers } = await api("GET", config.api.cases, { query: { cell: code, page_size: 100 } });
      const paging = JSON.parse(headers.get("X-Pagination") || "{}");
      const value = props ? (indicator === "on_time_closing_rate" ? percent(props.value) : props.value) : null;
      $("drill-summary").textContent = [
        fmt(T.cell_cases, { count: paging.total !== undefined ? paging.total : data.length }),
        props ? `${T.indicators[indicator]}: ${value === null ? T.no_data : value}` : "",
      ].filter(Boolean).join(" · ");
      if (!data.length) {
        $("drill-cases").replaceChildren(el("tr", {}, [el("td", { colspan: "5", className: "empty", text: T.no_cases })]));
      } else {
        $("drill-cases").replaceChildren(...data.map((c) => el("tr", { "data-case": String(c.id) }, [
          el("td", {}, [el("a", { href: casePage(c.id), "aria-label": fmt(T.case_page, { code: c.code }), text: c.code })]),
          el("td", { text: c.category_code }),
          el("td", { text: T.states[c.status] || c.status }),
          el("td", {}, c.light ? [el("span", { className: `light light-${c.light}` }), " ", T.lights[c.light]] : []),
          el("td", { text: stamp(c.reported_at) }),
        ])));
      }
      state.drilled = code;
    } catch (err) {
      $("drill-summary").textContent = fmt(T.failed, { message: err.message });
    }
  }
  function closeDrill() {
    $("drill").hidden = true;
    select(null);
    state.drilled = null;
  }
  $("drill-close").addEventListener("click", closeDrill);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("drill").hidden) closeDrill();
  });

  // -- the league table -----------------------------------------------------------------------------------
  async function loadLeague() {
    const p = period();
    const { data } = await api("GET", config.api.metrics, { query: { group_by: "department", from: p.from, to: p.to } });
    const rows = data.groups.slice(0, 10).map((g, i) => el("tr", { "data-key": g.key }, [
      el("td", { className: "num", text: String(i + 1) }),
      el("td", { className: "name", title: g.name || g.key, text: g.name || g.key }),
      el("td", { className: "num", text: g.score === null ? "—" : g.score.toFixed(1) }),
      el("td", {}, g.grade ? [el("span", { className: `grade grade-${g.grade}`, text: g.grade })] : ["—"]),
      el("td", { className: "num", text: percent(g.rates.closing_rate) }),
      el("td", { className: "num", text: percent(g.rates.on_time_disposal_rate) }),
      el("td", { className: "num", text: String(g.counts.overdue_open) }),
    ]));
    if (!rows.length) rows.push(el("tr", {}, [el("td", { colspan: "7", className: "empty", text: T.no_rows })]));
    $("league").replaceChildren(...rows);
    state.asOf = data.as_of;
    state.loaded.league += 1;
  }

  // -- the trends -----------------------------------------------------------------------------------------
  const chart = echarts.init($("trend"), "dark", { renderer: "canvas" });
  window.addEventListener("resize", () => chart.resize());
  async function loadTrend() {
    const p = period();
    const { data } = await api("GET", config.api.daily, { query: { from: p.from, to: p.to } });
    const series = ["reported", "closed", "overdue"].map((key, i) => ({
      name: T.series[key],
      type: "line",
      showSymbol: false,
      lineStyle: { width: 3 * scaleOfType() },
      color: ["#5cc8ff", "#2fbf71", "#ff6b6b"][i],
      data: data.days.map((d) => d[key]),
    }));
    const k = scaleOfType(); // at least 18 px at 1920×1080, twice that on a 4K screen
    chart.setOption({
      animation: false, // redrawn every refresh: no motion on the big screen
      backgroundColor: "transparent",
      textStyle: { fontSize: 18 * k },
      tooltip: { trigger: "axis", textStyle: { fontSize: 18 * k } },
      legend: { top: 0, itemWidth: 25 * k, itemHeight: 14 * k, textStyle: { fontSize: 18 * k, color: "#e8eef7" } },
      grid: { left: 56 * k, right: 16 * k, top: 40 * k, bottom: 32 * k },
      xAxis: { type: "category", data: data.days.map((d) => d.day.slice(5)), axisLabel: { fontSize: 18 * k } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: 18 * k } },
      series,
    });
    state.trendDays = data.days;
    state.loaded.trend += 1;
  }

  // -- the live feed --------------------------------------------------------------------------------------
  async function loadFeed() {
    const { data } = await api("GET", config.api.feed, { query: { limit: 12 } });
    const items = data.map((item) => {
      const category = (config.locale === "en" ? item.category_name_en : item.category_name) || item.category_code;
      const code = el("a", { href: casePage(item.case_id), className: "code", text: item.code });
      const cell = el("a", { href: "#", text: item.cell_code });
      cell.addEventListener("click", (event) => {
        event.preventDefault();
        drill(item.cell_code);
        focusCell(item.cell_code).catch((err) => {
          $("status").textContent = fmt(T.failed, { message: err.message });
        });
      });
      return el("li", { "data-case": String(item.case_id) }, [
        el("time", { datetime: item.at, text: time(item.at).slice(0, 5) }),
        el("span", { className: `kind kind-${item.kind}`, text: T.feed_kinds[item.kind] || item.kind }),
        code,
        el("span", { className: "what", title: category, text: category }),
        cell,
        item.light ? el("span", { className: `light light-${item.light}`, title: T.lights[item.light] }) : "",
      ]);
    });
    if (!items.length) items.push(el("li", { className: "empty", text: T.no_data }));
    $("feed").replaceChildren(...items);
    fitFeed();
    state.loaded.feed += 1;
  }

  // Only whole rows: the rows that do not fit in the panel are left out rather than cut at its edge.
  function fitFeed() {
    const list = $("feed");
    const bottom = list.getBoundingClientRect().bottom;
    for (const row of Array.from(list.children)) row.hidden = false;
    for (const row of Array.from(list.children)) row.hidden = row.getBoundingClientRect().bottom > bottom + 0.5;
  }
  window.addEventListener("resize", fitFeed);

  // -- the headline: today's reported, closed and gone-overdue cases, and the period's on-time closing rate --------
  async function loadHeadline() {
    const p = period();
    const { data } = await api("GET", config.api.headline, { query: { from: p.from, to: p.to } });
    $("headline-reported").textContent = String(data.reported);
    $("headline-closed").textContent = String(data.closed);
    $("headline-overdue").textContent = String(data.overdue);
    $("headline-rate").textContent = percent(data.on_time_closing_rate);
    state.headline = data;
    state.loaded.headline += 1;
  }

  // -- exports, refreshing --------------------------------------------------------------------------------
  function exportLinks() {
    const p = period();
    const q = (base, args) => `${base}?${new URLSearchParams(args).toString()}`;
    $("export-cells-csv").href = q(config.api.cells, { indicator, from: p.from, to: p.to, format: "csv" });
    $("export-cells-geojson").href = q(config.api.cells, { indicator, from: p.from, to: p.to, format: "geojson" });
    $("export-table-csv").href = q(config.api.table, { group_by: "department", from: p.from, to: p.to, format: "csv" });
    $("period").textContent = fmt(T.period, { from: p.from, to: p.to });
  }

  async function refresh() {
    exportLinks();
    const results = await Promise.allSettled([loadHeadline(), loadCells(), loadLeague(), loadTrend(), loadFeed()]);
    const failed = results.find((r) => r.status === "rejected");
    const status = $("status");
    if (failed) {
      status.textContent = fmt(T.failed, { message: failed.reason && failed.reason.message });
      status.classList.add("error");
    } else {
      const parts = [fmt(T.updated, { time: time(new Date().toISOString()) })];
      if (state.asOf) parts.push(fmt(T.as_of, { time: stamp(state.asOf) }));
      status.textContent = parts.join(" · ");
      status.classList.remove("error");
    }
    if (state.drilled && !$("drill").hidden) drill(state.drilled);
    state.refreshes += 1;
  }

  $("indicator").addEventListener("change", (event) => {
    indicator = event.target.value;
    $("map-indicator").textContent = T.indicators[indicator];
    const url = new URL(window.location.href);
    url.searchParams.set("indicator", indicator);
    window.history.replaceState(null, "", url);
    exportLinks();
    loadCells().catch((err) => {
      $("status").textContent = fmt(T.failed, { message: err.message });
    });
  });

  // What the page shows, for anyone (and the browser tests) to read.
  const state = {
    level: null, // what the map shows now: "community" or "cell"
    map, chart, config, loaded: { headline: 0, cells: 0, league: 0, trend: 0, feed: 0 }, headline: null, trendDays: null, refreshes: 0, drilled: null, asOf: null,
    cellStyle: (code) => {
      const layer = cellLayers.get(code);
      return layer ? { fillColor: layer.options.fillColor, fillOpacity: layer.options.fillOpacity } : null;
    },
    cellValue: (code) => (cellProperties.has(code) ? cellProperties.get(code).value : undefined),
    emptyColor: EMPTY,
    drill,
    focusCell,
    // The code of the drawn area (cell or community) at a point of the map, for layers drawn above them.
    areaAt: (latlng) => {
      let found = null;
      let nearest = Infinity;
      for (const [code, layer] of cellLayers) {
        const bounds = layer.getBounds();
        if (!bounds.contains(latlng)) continue;
        const d = bounds.getCenter().distanceTo(latlng);
        if (d < nearest) [found, nearest] = [code, d];
      }
      return found;
    },
    // Where a cell's centre is on the screen (page pixels), for pointing at it.
    cellPoint: (code) => {
      const layer = cellLayers.get(code);
      if (!layer) return null;
      const point = map.latLngToContainerPoint(layer.getBounds().getCenter());
      const box = $("map").getBoundingClientRect();
      return { x: box.left + point.x, y: box.top + point.y };
    },
  };
  window.citymgmtDashboard = state;
  refresh();
  window.setInterval(refresh, config.refresh * 1000);
})();
