// The big screen's analysis pieces, beside dashboard.js (whose map and state it uses): the "unusual today" panel
// (GET /api/v1/analysis/anomalies: places and categories far above their usual for this weekday, so far today) and
// the hot-spot layer (GET /api/v1/analysis/hotspots as GeoJSON over the page's period: hot cells outlined red, cold
// ones blue, clusters of cases dashed). Reloaded every config.refresh seconds; every string comes from the page.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const A = config.analysis;
  const T = A.text;
  const api = window.citymgmt.api;
  const dashboard = window.citymgmtDashboard;
  const $ = (id) => document.getElementById(id);
  const fmt = (template, values) =>
    template.replace(/%\((\w+)\)s/g, (_, key) => (values[key] === undefined ? "" : String(values[key])));
  const dayFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: config.timezone, year: "numeric", month: "2-digit", day: "2-digit",
  });

  const state = { unusual: [], hotspots: null, loaded: { unusual: 0, hotspots: 0 } };
  dashboard.analysis = state;

  function categoryName(item) {
    return (config.locale.startsWith("zh") ? item.category_name : item.category_name_en) || item.category_code;
  }

  async function loadUnusual() {
    const { data } = await api("GET", A.api.anomalies, { query: { by: "cell", limit: 10 } });
    state.unusual = data.anomalies;
    const items = data.anomalies.map((a) => {
      const place = document.createElement("button");
      place.type = "button";
      place.textContent = `${categoryName(a)} · ${fmt(T.cell, { code: a.place })}`;
      place.dataset.cell = a.place;
      place.addEventListener("click", () => dashboard.drill(a.place));
      const usual = document.createElement("span");
      usual.className = "usual";
      usual.textContent = " " + fmt(T.unusual_item, { count: a.count, usual: a.baseline_mean });
      const li = document.createElement("li");
      li.append(place, usual);
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = T.unusual_none;
      items.push(li);
    }
    $("unusual-list").replaceChildren(...items);
    state.loaded.unusual += 1;
  }

  let layer = null;
  function styleOf(feature) {
    const p = feature.properties;
    if (p.layer === "cluster") return { color: "#f2c94c", weight: 2, dashArray: "6 4", fillOpacity: 0.12 };
    const hot = p.kind === "hot";
    return { color: hot ? "#ff3b3b" : "#4aa3ff", weight: 3, fill: false };
  }
  function describe(p) {
    if (p.layer === "cluster") return fmt(T.cluster, { count: p.cases });
    const z = Number(p.z).toFixed(2);
    return `${p.kind === "hot" ? T.hot : T.cold} ${p.code}: ` +
      fmt(T.hot_spot_info, { cases: p.neighbourhood_cases, expected: p.expected, z });
  }

  async function loadHotspots() {
    const now = new Date();
    const from = dayFormat.format(new Date(now.getTime() - (config.days - 1) * 86400000));
    const { data } = await api("GET", A.api.hotspots, {
      query: { from, to: dayFormat.format(now), format: "geojson" },
    });
    state.hotspots = data;
    if (layer) layer.remove();
    layer = L.geoJSON(data, {
      style: styleOf,
      onEachFeature: (feature, l) => {
        l.bindTooltip(describe(feature.properties));
        // Above the cells, the layer takes their clicks: a click opens the cell (or community) under it, as there.
        l.on("click", (event) => {
          const code = dashboard.areaAt(event.latlng);
          if (code) {
            dashboard.drill(code);
            dashboard.focusCell(code);
          }
        });
      },
    });
    if ($("hotspot-layer").checked) layer.addTo(dashboard.map);
    state.loaded.hotspots += 1;
  }

  $("hotspot-layer").addEventListener("change", (event) => {
    if (!layer) return;
    if (event.target.checked) layer.addTo(dashboard.map);
    else layer.remove();
  });
  state.layerShown = () => Boolean(layer && dashboard.map.hasLayer(layer));
  // The cells are drawn again at each of the page's refreshes, over whatever was there: keep the layer on top.
  let raising = false;
  dashboard.map.on("layeradd", () => {
    if (raising || !layer || !dashboard.map.hasLayer(layer)) return;
    raising = true;
    window.requestAnimationFrame(() => {
      raising = false;
      if (layer && dashboard.map.hasLayer(layer)) layer.bringToFront();
    });
  });

  function refresh() {
    Promise.allSettled([loadUnusual(), loadHotspots()]).then((results) => {
      const failed = results.find((r) => r.status === "rejected");
      if (failed) {
        $("status").textContent = fmt(config.text.failed, { message: failed.reason && failed.reason.message });
        $("status").classList.add("error");
      }
    });
  }
  refresh();
  window.setInterval(refresh, config.refresh * 1000);
})();
