// "/photo/<asset id>": a large preview (PhotoSwipe: keyboard, zoom, swipe), everything `lumina show`
// knows, the duplicate group and burst it belongs to, and catalog-only edits.
import { api, ApiError, basename, cat, el, fmtBytes, hasEndpoint, showError } from "/static/app.js";
import { smallMap } from "/static/pages/map.js";

export async function render(app) {
  const assetId = location.pathname.split("/").pop();
  const doc = await api(`/api/images/${encodeURIComponent(assetId)}`);
  const t = doc.thumbnails;
  const name = basename(doc.paths[0] || (doc.files[0] || {}).path);
  const preview = t ? el("img", { id: "preview", src: `/api/images/${doc.asset_id}/thumbnail?size=preview`, alt: name })
                    : el("p", { class: "why", text: "No preview: " + ((doc.stages.thumbnails || {}).error || "thumbnails stage not run yet") });
  if (t) preview.addEventListener("click", () => {
    const pswp = new window.PhotoSwipe({ dataSource: [{ src: preview.src, width: t.preview_width, height: t.preview_height, alt: name }],
                                         index: 0, bgOpacity: 0.95 });
    pswp.init();
  });
  const side = el("aside", {});
  app.append(el("h1", { id: "title", text: name }), el("div", { class: "photo" }, el("div", { class: "preview" }, preview), side));

  const dl = (rows) => el("dl", {}, ...rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v))]));
  const m = doc.metadata || {};
  side.append(
    el("h2", { text: "File" }),
    dl([["paths", el("div", {}, ...doc.files.map((f) => el("div", { class: "path", text: `${f.path} (${f.status})` })))],
        ["asset id", doc.asset_id], ["type", `${doc.file_type} ${doc.media_kind}`], ["size", fmtBytes(doc.size_bytes)],
        ["pixels", doc.width && `${doc.width} × ${doc.height}`], ["status", doc.status],
        ["rating", doc.rating], ["keywords", (doc.keywords || []).join(", ")]]),
    el("h2", { text: "Capture time" }),
    dl([["chosen", doc.capture_time], ["source", doc.capture_time_source], ["confidence", doc.capture_time_confidence],
        ["UTC offset", doc.utc_offset_minutes === null ? "unknown" : `${doc.utc_offset_minutes} min`],
        ["flags", (doc.date_flags || []).join(", ")]]),
    el("table", { id: "candidates" }, el("tr", {}, ...["source", "value", "kind", "status", "why"].map((h) => el("th", { text: h }))),
      ...(doc.date_candidates || []).map((c) => el("tr", { class: c.status === "chosen" ? "chosen" : "" },
        el("td", { text: c.source }), el("td", { text: c.value ?? "" }), el("td", { text: c.kind ?? "" }),
        el("td", { text: c.status }), el("td", { text: [c.reason, ...(c.flags || [])].filter(Boolean).join("; ") })))),
    el("h2", { text: "Camera" }),
    dl([["camera", [doc.camera_make, doc.camera_model].filter(Boolean).join(" ")], ["lens", m.lens], ["focal length", m.focal_length_mm && `${m.focal_length_mm} mm`],
        ["aperture", m.f_number && `f/${m.f_number}`], ["exposure", m.exposure_time_s && `${m.exposure_time_s} s`], ["ISO", m.iso]]),
    el("h2", { text: "Place" }),
    doc.gps_latitude !== null ? el("div", {}, dl([["position", `${doc.gps_latitude.toFixed(5)}, ${doc.gps_longitude.toFixed(5)}`],
        ["place", [doc.city, doc.country_code].filter(Boolean).join(", ")], ["time zone", doc.timezone], ["geohash", doc.geohash]]),
      el("div", { id: "minimap", class: "minimap" })) : el("p", { class: "muted", text: "No position." }),
    el("h2", { text: "Tags by source" }),
    dl([...["auto", "file", "manual"].map((source) => [`${source} tags`, (doc.tags || []).filter((t) => t.source === source)
          .map((t) => (source === "auto" ? `${t.tag} ${Math.round(t.score * 100)} %` : t.tag)).join(", ")]),
        ["file keywords", (m.keywords || []).join(", ")], ["your keywords", ((doc.overrides || {}).keywords || []).join(", ")],
        ["title", m.title], ["description", m.description],
        ["generated description", doc.description && `${doc.description.text} (${doc.description.source}` +
          `${doc.description.model_id ? `, ${doc.description.model_id}` : ""})`],
        ["tag model", ((doc.tags || []).find((t) => t.model_id) || {}).model_id]]),
    el("h2", { text: "Stages" }),
    el("table", { id: "stages" }, ...Object.entries(doc.stages).map(([s, r]) => el("tr", {},
      el("td", { text: s }), el("td", { class: r.status === "failed" ? "status-failed" : "", text: r.status }),
      el("td", { text: r.error || "" })))),
    el("h2", { text: "Duplicates, burst, similar" }), el("div", { id: "related" }),
    el("h2", { text: "Edit (stored in the catalog only)" }), editForm(doc));
  if (doc.gps_latitude !== null) smallMap(document.getElementById("minimap"), doc.gps_latitude, doc.gps_longitude);
  related(doc).catch((exc) => showError(exc.message));
}

function editForm(doc) {
  const time = el("input", { name: "capture_time", value: (doc.overrides || {}).capture_time ? doc.capture_time : "",
                             placeholder: doc.capture_time || "YYYY-MM-DDTHH:MM:SS[+HH:MM]" });
  const rating = el("select", { name: "rating" }, el("option", { value: "", text: "rating unchanged" }),
    ...[0, 1, 2, 3, 4, 5].map((n) => el("option", { value: n, text: "★".repeat(n) || "no stars", selected: doc.rating === n })));
  const keywords = el("input", { name: "keywords", value: (doc.keywords || []).join(", "), placeholder: "keywords, comma separated" });
  const status = el("select", { name: "status" }, ...["active", "rejected"].map((s) => el("option", { value: s, text: s, selected: doc.status === s })));
  const result = el("p", { class: "muted", id: "edit-result", role: "status" });
  const form = el("form", { class: "edit", id: "edit", onsubmit: async (e) => {
    e.preventDefault();
    const body = { status: status.value };
    if (time.value.trim()) body.capture_time = time.value.trim();
    if (rating.value !== "") body.rating = Number(rating.value);
    body.keywords = keywords.value.split(",").map((k) => k.trim()).filter(Boolean);
    try {
      const out = await api(`/api/images/${doc.asset_id}`, { method: "PATCH", body });
      result.textContent = `Saved in the catalog (${out.changed.join(", ")}); capture time now ${out.image.capture_time} from ${out.image.capture_time_source}.`;
    } catch (exc) { result.textContent = "Not saved: " + exc.message; }
  } },
  el("label", {}, "Capture time ", time), el("label", {}, "Rating ", rating), el("label", {}, "Keywords ", keywords),
  el("label", {}, "Status ", status), el("button", { type: "submit", class: "primary", text: "Save" }), result);
  return form;
}

async function related(doc) {
  const box = document.getElementById("related");
  const [dups, bursts] = await Promise.all([api(cat("/duplicates")), api(cat("/bursts"))]);
  const group = dups.groups.find((g) => g.members.some((x) => x.asset_id === doc.asset_id));
  const burst = bursts.bursts.find((b) => b.frames.some((x) => x.asset_id === doc.asset_id));
  box.append(group ? el("p", {}, el("a", { href: `/duplicates?group=${group.id}`, text: `Duplicate group ${group.id}` }),
                        ` (${group.class}, ${group.members.length} members; keeper ${basename(group.keeper.paths[0])}: ${group.keeper.reason})`)
                   : el("p", { class: "muted", text: "In no duplicate group." }),
             burst ? el("p", {}, el("a", { href: `/bursts?burst=${burst.id}`, text: `Burst ${burst.id}` }),
                        ` (${burst.frames.length} frames; best ${basename(burst.best.paths[0])})`)
                   : el("p", { class: "muted", text: "In no burst." }));
  try {
    if (!(await hasEndpoint("/api/images/{asset_id}/similar"))) throw new ApiError(404, "not_found", "no similar search");
    const similar = await api(`/api/images/${doc.asset_id}/similar`);
    box.append(el("p", { text: "Similar photos:" }), el("div", { class: "picked-photos" }, ...(similar.items || []).map((s) =>
      el("a", { href: `/photo/${s.asset_id}` }, el("img", { src: `/api/images/${s.asset_id}/thumbnail`, alt: basename((s.paths || [])[0]) })))));
  } catch (exc) {
    if (exc.status !== 404) throw exc;
    document.getElementById("error").hidden = true;
    box.append(el("p", { class: "muted", text: "Similar photos appear once the catalog has embeddings." }));
  }
}
