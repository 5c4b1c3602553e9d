// "/bursts": one burst at a time as a filmstrip in capture order with sub-second times, the
// recommended best frame and why (sharpness, exposure), a side-by-side compare of two frames, keep
// one / keep several / apply every recommendation. Keyboard: j/k next/previous burst, 1-9 select
// frames, c compare the two selected, Enter keep the selection (or the recommended frame).
import { api, basename, cat, el, onKeys, qs, thumb } from "/static/app.js";

export async function render(app) {
  const params = new URLSearchParams(location.search);
  let report = await api(cat("/bursts"));
  let index = 0, selected = [];
  const remaining = el("span", { id: "remaining", class: "muted" });
  const body = el("section", { id: "burst" });
  const compare = el("div", { class: "compare", id: "compare" });
  const result = el("p", { id: "result", role: "status", class: "muted" });
  app.append(el("h1", {}, "Bursts ", remaining),
    el("div", { class: "review-head" },
      el("button", { id: "apply-all", text: "Apply every recommendation", onclick: applyAll }),
      el("span", { class: "kbd" }, el("kbd", { text: "j" }), "/", el("kbd", { text: "k" }), " next/previous · ",
         el("kbd", { text: "1-9" }), " select · ", el("kbd", { text: "c" }), " compare two · ", el("kbd", { text: "Enter" }), " keep")),
    result, body, compare);

  function count() {
    const left = report.bursts.filter((b) => !b.applied).length;
    remaining.textContent = `${left} of ${report.total} burst${report.total === 1 ? "" : "s"} not applied`;
  }

  function draw() {
    selected = []; compare.replaceChildren(); count();
    const b = report.bursts[index];
    history.replaceState(null, "", "/bursts" + qs({ burst: b?.id }));
    if (!b) { body.replaceChildren(el("p", { text: "No bursts in this catalog." })); return; }
    body.replaceChildren(
      el("h2", { text: `Burst ${b.id} (${index + 1} of ${report.bursts.length}) · ${b.camera || "unknown camera"} · ${b.frames.length} frames` }),
      el("p", { class: "muted", text: `${b.start} → ${b.end} · signals: ${Object.entries(b.signals || {}).map(([k, v]) => `${k} ${v}`).join(", ")}` +
                                      (b.applied ? " · applied" : "") }),
      el("p", {}, "Recommended: ", el("b", { text: basename(b.best.paths[0]) }), ` — ${b.best.reason}`),
      el("div", { class: "members filmstrip" }, ...b.frames.map((f, i) => frame(b, f, i))),
      el("div", { class: "review-head" },
        el("button", { class: "primary", id: "keep", text: "Keep selected / recommended (Enter)", onclick: keep }),
        el("button", { id: "compare-btn", text: "Compare two (c)", onclick: showCompare }),
        el("button", { text: "Previous (k)", onclick: () => move(-1) }), el("button", { text: "Next (j)", onclick: () => move(1) })));
  }

  function frame(b, f, i) {
    const best = f.asset_id === b.best.asset_id;
    const item = { asset_id: f.asset_id, paths: f.paths, thumbnail: {}, preview_url: `/api/images/${f.asset_id}/thumbnail?size=preview` };
    const q = f.quality || {};
    return el("div", { class: "member" + (best ? " keeper" : ""), "data-asset": f.asset_id, onclick: () => toggle(i) },
      el("div", { class: "frame" }, thumb(item, { preview: true })),
      el("p", {}, el("b", { text: `${i + 1}. ` }), best ? el("span", { class: "tag", text: "best" }) : null, ` ${basename(f.paths[0])}`),
      el("div", { class: "small", text: `${f.capture_time || "no time"} · ${f.status}` }),
      el("div", { class: "small muted", text: `sharpness ${q.sharpness ?? "?"} · exposure ${q.exposure ?? "?"} · score ${q.score ?? "?"}` }));
  }

  function toggle(i) {
    const b = report.bursts[index];
    if (!b || i >= b.frames.length) return;
    const id = b.frames[i].asset_id;
    selected = selected.includes(id) ? selected.filter((x) => x !== id) : [...selected, id];
    body.querySelectorAll(".member").forEach((node) => node.classList.toggle("picked", selected.includes(node.dataset.asset)));
    result.textContent = selected.length ? `${selected.length} frame${selected.length === 1 ? "" : "s"} selected to keep.` : "";
  }

  function showCompare() {
    if (selected.length !== 2) { result.textContent = "Select exactly two frames to compare."; return; }
    compare.replaceChildren(...selected.map((id) => el("figure", {},
      el("img", { src: `/api/images/${id}/thumbnail?size=preview`, alt: id }), el("figcaption", { class: "small", text: id.slice(0, 12) }))));
  }

  async function keep() {
    const b = report.bursts[index];
    if (!b) return;
    const keepIds = selected.length ? selected : [b.best.asset_id];
    const out = await api(cat(`/bursts/${b.id}/apply`), { method: "POST", body: { keep: keepIds[0] } });
    for (const extra of keepIds.slice(1))  // keep several: the frames chosen besides the first become active again
      await api(`/api/images/${extra}`, { method: "PATCH", body: { status: "active" } });
    const rejected = out.applied[0].rejected.filter((id) => !keepIds.includes(id));
    result.textContent = `Burst ${b.id}: kept ${keepIds.length}, ${rejected.length} marked rejected (files untouched).`;
    report = await api(cat("/bursts"));
    draw();
  }

  async function applyAll() {
    const out = await api(cat("/bursts/apply-recommended"), { method: "POST" });
    result.textContent = `Applied ${out.applied.length} burst${out.applied.length === 1 ? "" : "s"}: each keeps its recommended frame.`;
    report = await api(cat("/bursts"));
    draw();
  }

  function move(step) {
    if (!report.bursts.length) return;
    index = Math.max(0, Math.min(report.bursts.length - 1, index + step));
    draw();
  }

  onKeys({ j: () => move(1), ArrowRight: () => move(1), k: () => move(-1), ArrowLeft: () => move(-1), digit: toggle,
           c: showCompare, Enter: keep });

  const wanted = Number(params.get("burst"));
  if (wanted) { const i = report.bursts.findIndex((b) => b.id === wanted); if (i >= 0) index = i; }
  draw();
}
