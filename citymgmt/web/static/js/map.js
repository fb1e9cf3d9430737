// The maps of every screen (inspector app, desk, dashboard): a Leaflet map on the configured basemap, or on none
// (offline: the cell outlines alone are the map), and the grid cells of the current view as an overlay.
// Settings come from the page: templates/_map.html writes them to <script id="citymgmt-map-config">.
// A GCJ-02 basemap (AMap, Tencent) draws China shifted: the map then works in GCJ-02 throughout (the server sends
// the overlays in it, points sent to the server say crs=gcj02) and WGS-84 positions (the phone's) are shifted here
// with the published formula, the same as grids/crs.py's wgs84_to_gcj02 (tests/e2e/test_mobile.py compares them).
(function () {
  "use strict";

  // Krasovsky 1940 ellipsoid and the mainland box, as in grids/crs.py.
  const A = 6378245.0;
  const EE = 0.00669342162296594323;
  const PI = Math.PI;

  function outsideChina(lon, lat) {
    return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
  }

  function wgs84ToGcj02(lon, lat) {
    if (outsideChina(lon, lat)) return [lon, lat];
    const x = lon - 105.0;
    const y = lat - 35.0;
    const common = ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
    let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common;
    dLat += ((20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)) * 2.0) / 3.0;
    dLat += ((160.0 * Math.sin((y / 12.0) * PI) + 320.0 * Math.sin((y * PI) / 30.0)) * 2.0) / 3.0;
    let dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common;
    dLon += ((20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)) * 2.0) / 3.0;
    dLon += ((150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * 2.0) / 3.0;
    const radLat = (lat / 180.0) * PI;
    const magic = 1.0 - EE * Math.sin(radLat) ** 2;
    const sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / (((A * (1.0 - EE)) / (magic * sqrtMagic)) * PI);
    dLon = (dLon * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * PI);
    return [lon + dLon, lat + dLat];
  }

  let cached = null;
  // {basemap_url, basemap_crs: "wgs84"|"gcj02", attribution, timezone}
  function config() {
    if (cached) return cached;
    const element = document.getElementById("citymgmt-map-config");
    cached = element ? JSON.parse(element.textContent) : {};
    cached.basemap_crs = cached.basemap_url ? cached.basemap_crs || "wgs84" : "wgs84";
    return cached;
  }

  // The CRS the maps draw in, and that points read off them are in ("wgs84" or "gcj02"): send it as `crs`.
  function crs() {
    return config().basemap_crs;
  }

  // A WGS-84 position (a phone's, or the API's lon/lat) as a point on the map.
  function toMap(lon, lat) {
    const [x, y] = crs() === "gcj02" ? wgs84ToGcj02(lon, lat) : [lon, lat];
    return L.latLng(y, x);
  }

  // create(element, {lon, lat, zoom, zoomInTitle, zoomOutTitle, ...Leaflet map options}): a Leaflet map on the
  // basemap, or on none; lon/lat in WGS-84 (default: the whole loaded city, or the world when there is none); pass
  // the zoom buttons' titles translated.
  function create(element, options) {
    const placed = options && options.lon !== undefined && options.lat !== undefined;
    const opts = Object.assign({ zoom: 16 }, options || {});
    const { lon, lat, zoom, zoomInTitle, zoomOutTitle } = opts;
    for (const key of ["lon", "lat", "zoom", "zoomInTitle", "zoomOutTitle"]) delete opts[key];
    const cfg = config();
    const map = L.map(element, Object.assign({ attributionControl: !!cfg.basemap_url, zoomControl: false }, opts));
    L.control.zoom({ zoomInTitle: zoomInTitle || "+", zoomOutTitle: zoomOutTitle || "-" }).addTo(map);
    if (cfg.basemap_url) {
      L.tileLayer(cfg.basemap_url, { attribution: cfg.attribution || "", maxZoom: 19 }).addTo(map);
    } else {
      map.getContainer().classList.add("citymgmt-map-blank");
    }
    if (placed) map.setView(toMap(lon, lat), zoom);
    else if (cfg.extent) map.fitBounds(L.latLngBounds(toMap(cfg.extent[0], cfg.extent[1]), toMap(cfg.extent[2], cfg.extent[3])));
    else map.setView([20, 0], 2);
    return map;
  }

  // The features of an /api/v1/grids endpoint for the current view, in the map's CRS, reloaded when the view moves.
  function viewOverlay(map, path, extraQuery, options) {
    const opts = Object.assign({ minZoom: 0 }, options || {});
    const layer = L.geoJSON(null, { style: opts.style, onEachFeature: opts.onEachFeature, interactive: !!opts.interactive });
    layer.addTo(map);
    let controller = null;
    let asked = null; // the query last sent
    let seq = 0; // the number of the last request sent: only its answer is drawn

    async function refresh() {
      if (map.getZoom() < opts.minZoom) {
        seq += 1; // an answer still on its way is no longer wanted
        asked = null;
        layer.clearLayers();
        return;
      }
      // A hidden map has no size and so no view to ask for: it asks once shown (invalidateSize fires resize).
      const size = map.getSize();
      if (!size.x || !size.y) return;
      // The bbox is asked in WGS-84; a GCJ-02 view is a few hundred metres off, so ask a little more.
      const b = map.getBounds().pad(0.1);
      const margin = crs() === "gcj02" ? 0.01 : 0;
      const bbox = [
        Math.max(-180, b.getWest() - margin),
        Math.max(-90, b.getSouth() - margin),
        Math.min(180, b.getEast() + margin),
        Math.min(90, b.getNorth() + margin),
      ].map((v) => v.toFixed(6));
      const query = Object.assign({ bbox: bbox.join(","), zoom: Math.round(map.getZoom()), output_crs: crs() }, extraQuery);
      const key = JSON.stringify(query);
      if (key === asked) return; // a resize that moved nothing (shown again, or resize and moveend together)
      asked = key;
      // An earlier view's answer still on its way is dropped when it comes, not aborted (an aborted request is a
      // failed one in the browser's eyes, and the phone's first view is replaced as soon as its position is known).
      const mine = ++seq;
      controller = new AbortController();
      try {
        const result = await window.citymgmt.api("GET", path, {
          query,
          signal: controller.signal,
        });
        if (mine !== seq) return;
        layer.clearLayers();
        layer.addData(result.data);
        if (opts.onLoad) opts.onLoad(result.data);
      } catch (err) {
        if ((err && err.name === "AbortError") || mine !== seq) return;
        asked = null; // asked again at the next move
        if (opts.onError) opts.onError(err);
      }
    }

    map.on("moveend", refresh);
    map.on("resize", refresh);
    refresh();
    return {
      layer,
      refresh() {
        asked = null; // asked for: load again even if the view has not moved
        return refresh();
      },
      remove() {
        map.off("moveend", refresh);
        map.off("resize", refresh);
        if (controller) controller.abort();
        layer.remove();
      },
    };
  }

  // cellOverlay(map, {style, onEachFeature, interactive, onLoad, onError, minZoom}): the live cells of the current
  // view (GeoJSON from /api/v1/grids/cells; feature.properties: code, community_code), reloaded when the view moves;
  // below minZoom (default 14) none are drawn. Returns {layer (an L.GeoJSON), refresh(), remove()}.
  function cellOverlay(map, options) {
    const opts = Object.assign(
      { minZoom: 14, style: { color: "#0b5cad", weight: 1, opacity: 0.8, fillOpacity: 0.04 } },
      options || {}
    );
    return viewOverlay(map, "/api/v1/grids/cells", {}, opts);
  }

  // areaOverlay(map, {level: "district"|"street"|"community", style, ...as cellOverlay}): the outlines of the areas
  // in view (/api/v1/grids/areas; feature.properties: code, name, level). Same return value as cellOverlay.
  function areaOverlay(map, options) {
    const opts = Object.assign(
      { level: "district", minZoom: 0, style: { color: "#1d2733", weight: 3, opacity: 0.9, fill: false } },
      options || {}
    );
    return viewOverlay(map, "/api/v1/grids/areas", { level: opts.level }, opts);
  }

  window.citymgmt = Object.assign(window.citymgmt || {}, {
    map: { config, crs, create, toMap, cellOverlay, areaOverlay, wgs84ToGcj02 },
  });
})();
