// "/jobs": jobs of every catalog with status, counts, failures grouped by kind with their files,
// cancel, and live progress (server-sent events) for the ones queued or running.
import { api, el, follow, progressText, qs } from "/static/app.js";

const LIVE = new Set(["queued", "running"]);

export async function render(app) {
  const status = el("select", { name: "status", "aria-label": "status" },
    ...["", "queued", "running", "succeeded", "failed", "cancelled", "interrupted"].map((s) => el("option", { value: s, text: s || "every status" })));
  const table = el("table", { id: "jobs" });
  const total = el("span", { class: "muted", id: "total" });
  app.append(el("h1", {}, "Jobs ", total), el("div", { class: "filters" }, status), table);
  status.addEventListener("change", draw);
  const watching = new Set();

  async function draw() {
    const page = await api("/api/jobs" + qs({ status: status.value, limit: 100 }));
    total.textContent = `${page.total} job${page.total === 1 ? "" : "s"}`;
    table.replaceChildren(el("tr", {}, ...["Job", "Type", "Status", "Progress", "Created", "Failures", ""].map((h) => el("th", { text: h }))),
      ...page.items.map(row));
    for (const job of page.items) if (LIVE.has(job.status) && !watching.has(job.id)) {
      watching.add(job.id);
      follow(job.id, (doc) => {
        const line = table.querySelector(`tr[data-job="${CSS.escape(doc.id)}"] .progress`);
        if (line) line.textContent = progressText(doc);
      }).then(() => { watching.delete(job.id); draw(); });
    }
  }

  function row(job) {
    const kinds = {};
    for (const f of job.failures || []) (kinds[f.kind || "error"] = kinds[f.kind || "error"] || []).push(f);
    return el("tr", { "data-job": job.id },
      el("td", { text: job.id }), el("td", { text: job.type }),
      el("td", { class: `status-${job.status}`, text: job.status + (job.cancel_requested && LIVE.has(job.status) ? " (cancelling)" : "") }),
      el("td", { class: "progress", text: progressText(job) }),
      el("td", { class: "small", text: job.created_at }),
      el("td", {}, job.error ? el("div", { class: "status-failed", text: job.error }) : null,
        ...Object.entries(kinds).map(([kind, list]) => el("details", {}, el("summary", { text: `${kind}: ${list.length}` }),
          ...list.slice(0, 200).map((f) => el("div", { class: "small path", text: `${f.path} · ${f.stage || ""} · ${f.message || ""}` }))))),
      el("td", {}, LIVE.has(job.status) ? el("button", { class: "cancel", text: "Cancel", onclick: async (e) => {
        e.target.disabled = true;
        await api(`/api/jobs/${encodeURIComponent(job.id)}`, { method: "DELETE" });
        await draw();
      } }) : null));
  }

  await draw();
}
