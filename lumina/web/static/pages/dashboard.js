// "/": the gap report: coverage per metadata type, reasons linking to their assets, the job order,
// a Fill button per gap, live progress of running jobs (SSE), coverage redrawn when a job ends.
import { api, cat, catalogId, el, follow, progressText, qs } from "/static/app.js";

const following = new Set();

export async function render(app) {
  const summary = el("section", { class: "cards" });
  const table = el("table", { id: "gaps" });
  const order = el("ol", { id: "job-order" });
  const running = el("div", { id: "running" });
  const failures = el("div", { id: "failures" });
  app.append(el("h1", { text: "Gaps" }), summary, running,
             el("button", { id: "fill-all", class: "primary", text: "Fill every gap in order", onclick: fillAll }),
             table, el("h2", { text: "Recommended job order" }), order, el("h2", { text: "Failures by kind" }), failures);

  async function draw() {
    const report = await api(cat("/gaps"));
    const pending = Object.fromEntries(report.job_order.map((j) => [j.stage, j]));
    summary.replaceChildren(
      card("assets", report.total_assets), card("files present", report.files.present),
      card("missing files", report.files.missing), card("failed files", report.files.failed),
      card("duplicate groups", report.duplicates.groups), card("bursts", report.bursts.bursts));
    table.replaceChildren(el("tr", {}, ...["Metadata", "Coverage", "Have", "Gap", "Why missing", ""].map((t) => el("th", { text: t }))));
    for (const row of report.metadata) {
      const step = pending[row.fill_job] || {};
      // a Fill button where a job can change something: pending work, or failed / not-run records
      // ("no GPS in file" is not a gap any job fills)
      const fillable = Object.keys(row.reasons).some((r) => r.includes("failed") || r.startsWith("stage not run"));
      const canFill = step.available && (step.pending > 0 || fillable);
      const pct = Math.round(row.coverage * 100);
      const status = el("span", { class: "progress", "data-stage": row.fill_job });
      table.append(el("tr", { "data-type": row.type },
        el("td", { text: row.type.replaceAll("_", " ") }),
        el("td", {}, el("span", { class: "bar " + (pct === 100 ? "" : pct === 0 ? "none" : "partial"), title: `${pct} %` },
                        el("span", { style: { width: `${pct}%` } })), ` ${pct} %`),
        el("td", { text: `${row.count} / ${row.applicable}` }),
        el("td", { class: "gap", text: String(row.gap) }),
        el("td", { class: "reasons" }, ...Object.entries(row.reasons).map(([reason, n]) =>
          el("a", { href: "/library" + qs({ gap: row.type, reason }), text: `${reason}: ${n}` }))),
        el("td", {}, canFill ? el("button", { class: "fill", "data-stage": row.fill_job, text: `Fill (${row.fill_job})`,
                                              onclick: (e) => fill(row, e.target) }) :
                               el("span", { class: "muted", text: step.available === false ? "stage not available" : "" }),
           " ", status)));
    }
    order.replaceChildren(...report.job_order.map((j) => el("li", {},
      `${j.stage}`, el("span", { class: "muted", text: ` (after ${j.requires.join(", ") || "nothing"}; ${j.scope})` }),
      j.available ? ` — ${j.pending} pending` : el("span", { class: "muted", text: " — not available yet" }))));
    const kinds = Object.entries(report.failures.by_kind);
    failures.replaceChildren(kinds.length ? el("ul", {}, ...kinds.map(([k, n]) => el("li", { text: `${k}: ${n}` })))
                                          : el("p", { class: "muted", text: "No failures." }));
  }

  async function fill(row, button) {
    button.disabled = true;
    const retry = Object.keys(row.reasons).some((r) => r.includes("failed"));  // a failed record reruns only when asked
    const job = await api(`/api/jobs/${encodeURIComponent(row.fill_job)}`, { method: "POST",
      body: { catalog_id: catalogId(), retry_failed: retry } });
    await watch(job);
  }

  async function fillAll(e) {
    e.target.disabled = true;
    const out = await api(cat("/gaps/fill"), { method: "POST" });
    await Promise.all(out.jobs.map(watch));
    e.target.disabled = false;
  }

  async function watch(job) {
    if (following.has(job.id)) return;
    following.add(job.id);
    const line = el("p", { class: "progress", "data-job": job.id, text: progressText(job) });
    running.append(line);
    const last = await follow(job.id, (doc) => { line.textContent = progressText(doc); });
    line.textContent = last ? progressText(last) : `${job.id}: ended`;
    following.delete(job.id);
    await draw();
  }

  await draw();
  const active = await api("/api/jobs" + qs({ status: "running" }));
  const queued = await api("/api/jobs" + qs({ status: "queued" }));
  for (const job of [...active.items, ...queued.items]) watch(job);
}

function card(label, value) { return el("div", { class: "card" }, el("b", { text: String(value) }), label); }
