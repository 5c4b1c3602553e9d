// "/library": the grid. Justified rows (justified-layout), ThumbHash placeholders, cursor paging as
// the user scrolls and only the tiles near the viewport in the page (virtual scrolling), filters,
// the search box (text search when the catalog offers it), and a timeline of years and months.
import { api, ApiError, cat, el, hasEndpoint, qs, showError, thumb } from "/static/app.js";

const FILTERS = ["date_from", "date_to", "camera", "country", "city", "keyword", "file_type", "status", "has_gps",
                 "date_flag", "failed_stage"];
const PAGE = 200, ROW_PX = 180, SPACING_PX = 4, MARGIN_PX = 1200;
const justified = window.require("justified-layout");

export async function render(app) {
  const params = new URLSearchParams(location.search);
  const state = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) || ""]));
  const gap = params.get("gap"), reason = params.get("reason");
  let query = params.get("q") || "";
  const facets = { cameras: [], places: [], file_types: [], keywords: [] };  // filled once the grid is drawn

  const count = el("span", { id: "count", class: "muted" });
  const note = el("span", { id: "note", class: "muted small" });
  const grid = el("div", { class: "grid", id: "grid" });
  const timeline = el("nav", { class: "timeline", id: "timeline", "aria-label": "Timeline" });
  const search = el("input", { type: "search", id: "search", placeholder: "Search (text, or filters below)", value: query });
  const form = el("form", { class: "filters", id: "filters", onsubmit: (e) => { e.preventDefault(); query = search.value.trim(); apply(); } },
    search,
    field("date_from", el("input", { type: "date", title: "from" })), field("date_to", el("input", { type: "date", title: "to" })),
    choose("camera", "camera", facets.cameras.map((c) => [c.model || c.make, `${[c.make, c.model].filter(Boolean).join(" ")} (${c.count})`])),
    choose("country", "country", [...new Set(facets.places.map((p) => p.country_code))].map((c) => [c, c])),
    choose("city", "city", facets.places.filter((p) => p.city).map((p) => [p.city, `${p.city}, ${p.country_code} (${p.count})`])),
    choose("keyword", "tag", facets.keywords.map((k) => [k.value, `${k.value} (${k.count})`])),
    choose("file_type", "file type", facets.file_types.map((t) => [t.value, `${t.value} (${t.count})`])),
    choose("status", "status", [["active", "active"], ["rejected", "rejected"]]),
    choose("has_gps", "GPS", [["true", "has GPS"], ["false", "no GPS"]]),
    choose("date_flag", "date flag", [["estimated", "estimated date"], ["suspicious", "suspicious date"], ["conflicting", "conflicting dates"]]),
    choose("failed_stage", "failed stage", ["any", "metadata", "geo", "dates", "thumbnails", "hashes", "quality"].map((s) => [s, s])),
    el("button", { type: "submit", text: "Apply" }),
    el("button", { type: "button", text: "Clear", onclick: () => { location.href = "/library"; } }));
  const head = el("div", {}, el("h1", {}, "Library ", count), gap ? el("p", {}, `Assets counted by the gap “${gap}”: ${reason} `,
                   el("a", { href: "/library", text: "(show all)" })) : null, form, note);
  app.append(head, el("div", { class: "library" }, grid, timeline));

  function field(name, input) {
    input.name = name; input.value = state[name] ? state[name].slice(0, 10) : "";
    input.addEventListener("change", () => { state[name] = input.value; apply(); });
    return input;
  }
  function choose(name, label, options) {
    // a value from the address (typed or shared: ?camera=nikon) that is none of the choices is
    // still the active filter: shown as one, never as "any"
    if (state[name] && !options.some(([value]) => value === state[name])) options = [[state[name], `${label}: ${state[name]}`], ...options];
    const select = el("select", { name, "aria-label": label }, el("option", { value: "", text: `any ${label}` }),
      ...options.map(([value, text]) => el("option", { value, text, selected: state[name] === value })));
    select.addEventListener("change", () => { state[name] = select.value; apply(); });
    return select;
  }
  function apply() {
    const url = "/library" + qs({ ...state, q: query });
    history.replaceState(null, "", url);
    load();
  }

  // ---- paging and layout ---------------------------------------------------------------------
  let items = [], cursor = null, done = false, loading = false, source = null, generation = 0;
  let boxes = [], shown = new Map();

  function sourceUrl() {
    const filters = Object.fromEntries(Object.entries(state).filter(([, v]) => v));
    if (gap) return (c) => cat(`/gaps/${encodeURIComponent(gap)}/assets`) + qs({ reason, cursor: c, limit: PAGE });
    return (c) => cat("/images") + qs({ ...filters, cursor: c, limit: PAGE });
  }

  async function load() {
    generation++;
    items = []; cursor = null; done = false; boxes = []; layoutWidth = 0;
    shown.forEach((node) => node.remove()); shown = new Map();
    note.textContent = "";
    source = sourceUrl();
    if (query) {
      try {  // the embeddings issue adds text search; until then the filters alone
        if (!(await hasEndpoint("/api/catalogs/{catalog_id}/search"))) throw new ApiError(404, "not_found", "no text search");
        const found = await api(cat("/search") + qs({ q: query, limit: PAGE }));
        items = found.items || []; done = true; count.textContent = `${found.total ?? items.length} found`;
        layout(true); drawTimeline(); return;
      } catch (exc) {
        if (exc.status !== 404) throw exc;
        document.getElementById("error").hidden = true;
        note.textContent = `Text search is not available in this catalog yet: showing the filters' results, not “${query}”.`;
      }
    }
    await more();
    drawTimeline().catch((exc) => showError(exc.message));
  }

  async function more() {
    if (loading || done) return;
    loading = true;
    const mine = generation;
    try {
      const page = await api(source(cursor));
      if (mine !== generation) return;
      items.push(...page.items);
      cursor = page.next_cursor; done = !cursor;
      if (page.total !== null && page.total !== undefined) count.textContent = `${page.total} photo${page.total === 1 ? "" : "s"}`;
      layout();
    } finally { loading = false; }
  }

  // Incremental layout: justified-layout is fast for a few hundred boxes but takes seconds for tens of
  // thousands, so rows are laid out once and kept ("committed"); only the last, still open row is laid
  // out again with the next page. A resize lays everything out again, chunk by chunk.
  let committed = [], committedHeight = 0, pendingStart = 0, layoutWidth = 0;
  const CHUNK = 400;
  const ratio = (it) => (it.width && it.height ? it.width / it.height : 1.5);

  function layoutStep(upto) {
    const result = justified(items.slice(pendingStart, upto).map(ratio),
      { containerWidth: layoutWidth, targetRowHeight: ROW_PX, boxSpacing: SPACING_PX, containerPadding: 0, showWidows: true });
    const fresh = result.boxes.map((b) => ({ ...b, top: b.top + committedHeight }));
    const final = upto === items.length && done;
    const lastTop = fresh.length ? fresh[fresh.length - 1].top : committedHeight;
    const rows = final ? fresh : fresh.filter((b) => b.top < lastTop);  // all but the open last row
    committed.push(...rows);
    pendingStart += rows.length;
    if (!final && rows.length) committedHeight = lastTop;
    return { tail: fresh.slice(rows.length) };
  }

  function layout(reset = false) {
    const width = grid.clientWidth || 1000;
    if (reset || width !== layoutWidth) {
      committed = []; committedHeight = 0; pendingStart = 0; layoutWidth = width;
      for (let k = CHUNK; k < items.length; k += CHUNK) layoutStep(k);
    }
    const t0 = performance.now();
    const { tail } = layoutStep(items.length);
    boxes = committed.concat(tail);
    grid.dataset.loaded = String(items.length);  // for tests and benchmarks
    grid.dataset.layoutMs = (performance.now() - t0).toFixed(1);
    const last = boxes[boxes.length - 1];
    grid.style.height = `${last ? last.top + last.height : 0}px`;
    shown.forEach((node) => node.remove()); shown = new Map();
    if (!items.length) grid.replaceChildren(el("p", { class: "muted", text: "No photos match." }));
    else grid.querySelector("p")?.remove();
    paint();
  }

  function paint() {  // keep only tiles within MARGIN_PX of the viewport in the page
    const top = window.scrollY - grid.offsetTop - MARGIN_PX, bottom = top + window.innerHeight + 2 * MARGIN_PX;
    for (const [i, node] of shown) {
      const b = boxes[i];
      if (!b || b.top + b.height < top || b.top > bottom) { node.remove(); shown.delete(i); }
    }
    boxes.forEach((b, i) => {
      if (shown.has(i) || b.top + b.height < top || b.top > bottom) return;
      const item = items[i];
      const node = el("a", { class: "tile" + (item.status === "rejected" ? " rejected" : ""), href: `/photo/${item.asset_id}`,
                             "data-asset": item.asset_id, title: (item.paths[0] || "").split("/").pop(),
                             style: { top: `${b.top}px`, left: `${b.left}px`, width: `${b.width}px`, height: `${b.height}px` } },
                      thumb(item));
      grid.append(node); shown.set(i, node);
    });
    const last = boxes[boxes.length - 1];
    if (!done && last && last.top < bottom) more().catch((exc) => showError(exc.message));
  }

  async function drawTimeline() {
    if (gap) { timeline.replaceChildren(); return; }
    const filters = Object.fromEntries(Object.entries(state).filter(([k, v]) => v && k !== "date_from" && k !== "date_to"));
    const { months } = await api(cat("/timeline") + qs(filters));
    const years = new Map();
    for (const m of months) years.set(m.year, (years.get(m.year) || 0) + m.count);
    const pad = (n) => String(n).padStart(2, "0");
    const last = (y, m) => new Date(y, m, 0).getDate();
    timeline.replaceChildren(...[...years].reverse().flatMap(([year, n]) => [
      el("a", { class: "year", href: "#", onclick: (e) => { e.preventDefault(); pick(`${year}-01-01`, `${year}-12-31`); } },
         el("span", { text: String(year) }), el("span", { text: String(n) })),
      ...months.filter((m) => m.year === year).reverse().map((m) =>
        el("a", { class: "month", href: "#", onclick: (e) => { e.preventDefault(); pick(`${year}-${pad(m.month)}-01`, `${year}-${pad(m.month)}-${last(year, m.month)}`); } },
           el("span", { text: new Date(year, m.month - 1, 1).toLocaleString("en", { month: "short" }) }),
           el("span", { text: String(m.count) })))]));
  }

  function pick(from, to) {
    state.date_from = from; state.date_to = to;
    form.querySelector('[name="date_from"]').value = from; form.querySelector('[name="date_to"]').value = to;
    apply();
  }

  let pending = false;
  window.addEventListener("scroll", () => {
    if (pending) return; pending = true;
    requestAnimationFrame(() => { pending = false; paint(); });
  }, { passive: true });
  window.addEventListener("resize", () => layout());
  await load();
  const found = await api(cat("/facets"));
  const fill = (name, label, options) => form.querySelector(`[name="${name}"]`).replaceWith(choose(name, label, options));
  fill("camera", "camera", found.cameras.map((c) => [c.model || c.make, `${[c.make, c.model].filter(Boolean).join(" ")} (${c.count})`]));
  fill("country", "country", [...new Set(found.places.map((p) => p.country_code))].map((c) => [c, c]));
  fill("city", "city", found.places.filter((p) => p.city).map((p) => [p.city, `${p.city}, ${p.country_code} (${p.count})`]));
  fill("keyword", "tag", found.keywords.map((k) => [k.value, `${k.value} (${k.count})`]));
  fill("file_type", "file type", found.file_types.map((t) => [t.value, `${t.value} (${t.count})`]));
  form.dataset.ready = "1";
}
