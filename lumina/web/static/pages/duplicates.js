// "/duplicates": review one group at a time: members side by side at the same size, the keeper and
// why, distances to the keeper, paths, sizes, formats, pixels; keyboard: j/k or arrows next/previous,
// 1-9 pick a member, Enter accept, n "not duplicates", t resolve moving the others to the trash folder.
import { api, basename, cat, el, fmtBytes, onKeys, qs, thumb } from "/static/app.js";

export async function render(app) {
  const params = new URLSearchParams(location.search);
  let klass = params.get("class") || "", showResolved = params.get("resolved") === "1";
  let report = await api(cat("/duplicates"));
  let index = 0, picked = null, groups = [];
  const remaining = el("span", { id: "remaining", class: "muted" });
  const classSel = el("select", { name: "class", "aria-label": "class" },
    ...[["", "every class"], ["exact", "exact copies"], ["same_image", "same image"]].map(([v, t]) => el("option", { value: v, text: t, selected: v === klass })));
  const resolvedBox = el("input", { type: "checkbox", name: "resolved", checked: showResolved });
  const trashIn = el("input", { name: "trash", placeholder: "trash folder (for t)", value: localStorage.getItem("lumina.trash") || "" });
  const body = el("section", { id: "group" });
  const result = el("p", { id: "result", role: "status", class: "muted" });
  app.append(el("h1", {}, "Duplicates ", remaining),
    el("div", { class: "review-head" }, classSel, el("label", {}, resolvedBox, " show resolved"), trashIn,
       el("span", { class: "kbd" }, el("kbd", { text: "j" }), "/", el("kbd", { text: "k" }), " next/previous · ",
          el("kbd", { text: "1-9" }), " pick · ", el("kbd", { text: "Enter" }), " accept · ", el("kbd", { text: "n" }),
          " not duplicates · ", el("kbd", { text: "t" }), " accept + trash")),
    result, body);
  classSel.addEventListener("change", () => { klass = classSel.value; filter(); draw(); });
  resolvedBox.addEventListener("change", () => { showResolved = resolvedBox.checked; filter(); draw(); });
  trashIn.addEventListener("change", () => localStorage.setItem("lumina.trash", trashIn.value.trim()));

  function filter() {
    groups = report.groups.filter((g) => (!klass || g.class === klass) && (showResolved || !g.resolved));
    const left = report.groups.filter((g) => !g.resolved && (!klass || g.class === klass)).length;
    remaining.textContent = `${left} of ${report.total} group${report.total === 1 ? "" : "s"} to review`;
    index = Math.min(index, Math.max(groups.length - 1, 0));
  }

  async function draw() {
    picked = null;
    history.replaceState(null, "", "/duplicates" + qs({ group: groups[index]?.id, class: klass, resolved: showResolved ? "1" : "" }));
    const g = groups[index];
    if (!g) { body.replaceChildren(el("p", { text: "Nothing left to review." })); return; }
    const docs = await Promise.all(g.members.map((m) => api(`/api/images/${m.asset_id}`)));
    body.replaceChildren(
      el("h2", { text: `Group ${g.id} (${index + 1} of ${groups.length}) · ${g.class} · ${g.reason}` }),
      ...(g.resolved ? [el("p", { class: "resolved", text: `Resolved ${g.resolved}` })] : []),
      el("div", { class: "members" }, ...g.members.map((m, i) => member(g, m, docs[i], i))),
      el("div", { class: "review-head" },
        el("button", { class: "primary", id: "accept", text: "Accept keeper (Enter)", onclick: () => resolve(false) }),
        el("button", { id: "trash", text: "Accept + move others to trash (t)", onclick: () => resolve(true) }),
        el("button", { id: "not-duplicates", text: "Not duplicates (n)", onclick: notDuplicates }),
        el("button", { text: "Previous (k)", onclick: () => move(-1) }), el("button", { text: "Next (j)", onclick: () => move(1) })));
  }

  function member(g, m, doc, i) {
    const keeper = m.asset_id === g.keeper.asset_id;
    const d = m.distances || {};
    const item = { asset_id: m.asset_id, paths: m.paths, thumbnail: doc.thumbnails ? { thumbhash: doc.thumbnails.thumbhash } : { error: (doc.stages.thumbnails || {}).error },
                   preview_url: doc.thumbnails ? `/api/images/${m.asset_id}/thumbnail?size=preview` : null };
    return el("div", { class: "member" + (keeper ? " keeper" : ""), "data-asset": m.asset_id, "data-index": i + 1,
                       onclick: () => pick(i) },
      el("div", { class: "frame" }, thumb(item, { preview: true })),
      el("p", {}, el("b", { text: `${i + 1}. ` }), keeper ? el("span", { class: "tag", text: "keeper" }) : null,
         keeper ? ` ${g.keeper.reason}` : ""),
      ...m.paths.map((p) => el("div", { class: "path", text: p })),
      el("div", { class: "small", text: `${doc.file_type} · ${doc.width ?? "?"} × ${doc.height ?? "?"} px · ${fmtBytes(doc.size_bytes)} · ${doc.status}` }),
      el("div", { class: "small muted", text: doc.capture_time ? `taken ${doc.capture_time}` : "no capture time" }),
      keeper ? null : el("div", { class: "small", text:
        `hash distances (bits): a ${d.ahash ?? "?"} · d ${d.dhash ?? "?"} · p ${d.phash ?? "?"} · w ${d.whash ?? "?"}; ` +
        `pixel difference ${d.mad ?? "?"}${d.crop_mad !== null && d.crop_mad !== undefined ? ` (crop ${d.crop_mad})` : ""}; ` +
        `time gap ${d.capture_gap_s ?? "?"} s` }));
  }

  function pick(i) {
    const g = groups[index];
    if (!g || i >= g.members.length) return;
    picked = g.members[i].asset_id;
    body.querySelectorAll(".member").forEach((node, j) => node.classList.toggle("picked", j === i));
    result.textContent = `Picked ${basename(g.members[i].paths[0])} as the copy to keep: Enter to accept.`;
  }

  async function reload() { report = await api(cat("/duplicates")); filter(); }

  async function resolve(withTrash) {
    const g = groups[index];
    if (!g) return;
    const trash = trashIn.value.trim();
    if (withTrash && !trash) { result.textContent = "Give a trash folder first (the other files are moved there)."; trashIn.focus(); return; }
    const out = await api(cat(`/duplicates/${g.id}/resolve`), { method: "POST",
      body: withTrash ? { keep: picked || g.keeper.asset_id, trash } : { keep: picked || g.keeper.asset_id } });
    result.textContent = `Group ${g.id}: kept ${out.kept.slice(0, 12)}…, ${out.rejected.length} marked rejected` +
      (out.trashed && out.trashed.length ? `, ${out.trashed.length} moved to the trash` : " (files untouched)") + ".";
    await reload(); await draw();
  }

  async function notDuplicates() {
    const g = groups[index];
    if (!g) return;
    const ids = g.members.map((m) => m.asset_id);
    for (let a = 0; a < ids.length; a++) for (let b = a + 1; b < ids.length; b++)
      await api(cat("/duplicates/not-duplicates"), { method: "POST", body: { asset_a: ids[a], asset_b: ids[b] } });
    result.textContent = `Group ${g.id}: recorded as not duplicates; the next detection run will not group them.`;
    move(1);
  }

  function move(step) {
    if (!groups.length) return;
    index = Math.max(0, Math.min(groups.length - 1, index + step));
    draw();
  }

  onKeys({ j: () => move(1), ArrowRight: () => move(1), k: () => move(-1), ArrowLeft: () => move(-1), digit: pick,
           Enter: () => resolve(false), t: () => resolve(true), n: notDuplicates });

  filter();
  const wanted = Number(params.get("group"));
  if (wanted) { const i = groups.findIndex((g) => g.id === wanted); if (i >= 0) index = i; }
  await draw();
}
