// cronwright dashboard: plain JavaScript, no build step, no outside network.
// The API key lives in sessionStorage (this tab only) and travels in the Authorization
// header of same-origin calls to /ui/api — never in a URL, so never in a log.
"use strict";

(function () {
  const KEY = "cronwright.apiKey";
  const REFRESH_MS = 5000;
  const RESULTS = ["Succeeded", "Failed", "Missed", "Skipped", "Cancelled", "Running"];
  const $ = (id) => document.getElementById(id);
  let session = null;
  let timer = null;
  let lastJob = null;

  // -- DOM helpers: text only, so nothing from the server is ever parsed as HTML ----------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A table cell whose content sits in one wrapper: on a phone the cell is a two-column
  // grid (its label, then its value), and several loose children would each take a column.
  function cell(tag, label, attrs, ...children) {
    return el(tag, { ...attrs, "data-label": label }, el("div", { class: "value" }, ...children));
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  // Replace a region's content, keeping keyboard focus on the element that had it.
  function replace(region, ...children) {
    const focused = document.activeElement;
    const focusKey = focused && region.contains(focused) ? focused.dataset.focus : null;
    region.replaceChildren(...children);
    if (focusKey) {
      const again = region.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  // -- formatting ---------------------------------------------------------------------------
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const dateTimeSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

  function when(iso, seconds) {
    if (!iso) return "—";
    return (seconds ? dateTimeSeconds : dateTime).format(new Date(iso));
  }

  function relative(iso, now) {
    if (!iso) return "";
    const minutes = Math.round((new Date(iso) - new Date(now)) / 60000);
    if (Math.abs(minutes) < 1) return "now";
    const [value, unit] = Math.abs(minutes) < 90 ? [minutes, "minute"]
      : Math.abs(minutes) < 36 * 60 ? [Math.round(minutes / 60), "hour"] : [Math.round(minutes / 1440), "day"];
    return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(value, unit);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 1000) return `${ms} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)}%`;
  }

  function badge(result) {
    if (!result) return el("span", { class: "muted", text: "—" });
    return el("span", { class: `badge ${result.toLowerCase()}`, text: result });
  }

  function stateBadge(state) {
    return el("span", { class: `badge state-${state.toLowerCase()}`, text: state });
  }

  // -- the API ------------------------------------------------------------------------------
  class Refused extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function call(path, method) {
    const key = sessionStorage.getItem(KEY);
    if (!key) throw new Refused(401, "Sign in first");
    const response = await fetch(`/ui/api${path}`, {
      method: method || "GET",
      headers: { Authorization: `Bearer ${key}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = (body && body.error && body.error.message) || `The server answered ${response.status}`;
      throw new Refused(response.status, message);
    }
    return body;
  }

  // -- views --------------------------------------------------------------------------------
  function show(id) {
    for (const section of ["sign-in", "jobs", "job"]) $(section).hidden = section !== id;
    $("load-error").hidden = true;
  }

  function signedOut(message) {
    sessionStorage.removeItem(KEY);
    session = null;
    stopRefresh();
    $("who").hidden = true;
    $("sign-out").hidden = true;
    show("sign-in");
    $("sign-in-error").textContent = message || "";
    $("api-key").setAttribute("aria-invalid", message ? "true" : "false");
    $("api-key").value = "";
    $("api-key").focus();
    document.title = "Sign in · cronwright";
  }

  function failed(error) {
    if (error instanceof Refused && error.status === 401) {
      signedOut("That API key was refused. Check it and sign in again.");
      return;
    }
    const box = $("load-error");
    box.textContent = `Could not load: ${error.message}. Retrying…`;
    box.hidden = false;
  }

  function strip(recent) {
    if (!recent.length) return el("span", { class: "muted nowrap", text: "No runs yet" });
    const counts = {};
    for (const run of recent) counts[run.result] = (counts[run.result] || 0) + 1;
    const words = Object.entries(counts).map(([result, n]) => `${n} ${result.toLowerCase()}`).join(", ");
    return el(
      "span",
      { class: "strip", role: "img", "aria-label": `Last ${recent.length} runs, oldest first: ${words}` },
      recent.map((run) =>
        el("span", {
          class: `tick ${(run.result || "none").toLowerCase()}`,
          title: `${run.result} · ${when(run.time, true)}`,
        }),
      ),
    );
  }

  async function renderJobs() {
    const data = await call("/jobs");
    document.title = `Jobs · ${data.namespace} · cronwright`;
    $("jobs-meta").textContent = `${data.jobs.length} job${data.jobs.length === 1 ? "" : "s"} in ${data.namespace}` +
      ` · updated ${timeOnly.format(new Date(data.now))}`;
    if (!data.jobs.length) {
      replace($("jobs-body"), el("p", { text: "No jobs in this namespace yet." }));
      return;
    }
    const head = ["Job", "Made with", "Schedule", "Next run", "Last result", "Success", "Recent runs"];
    const rows = data.jobs.map((job) =>
      el(
        "tr",
        {},
        cell("th", "Job", { scope: "row" },
          el("a", { href: `#/job/${encodeURIComponent(job.name)}`, "data-focus": `job:${job.name}`, text: job.title || job.name }),
          job.title ? el("span", { class: "sub", text: job.name }) : null),
        cell("td", "Made with", {}, job.dialect),
        cell("td", "Schedule", {}, job.schedule, el("span", { class: "zone", text: job.zone })),
        cell("td", "Next run", {},
          job.state === "Paused" ? stateBadge("Paused")
            : job.nextRun ? [el("time", { datetime: job.nextRun, text: when(job.nextRun) }),
              el("span", { class: "sub", text: relative(job.nextRun, data.now) })]
              : el("span", { class: "muted", text: "None" })),
        cell("td", "Last result", {}, badge(job.lastResult)),
        cell("td", "Success", {}, percent(job.successRate)),
        cell("td", "Recent runs", {}, strip(job.recent)),
      ),
    );
    replace(
      $("jobs-body"),
      el("table", { class: "jobs" },
        el("caption", { class: "visually-hidden", text: `Jobs in ${data.namespace}` }),
        el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, rows)),
    );
  }

  function timeline(data) {
    const runs = data.timeline.runs;
    const start = new Date(data.timeline.from).getTime();
    const end = new Date(data.timeline.to).getTime();
    const figure = el("figure", { class: "timeline" });
    const picture = svg("svg", { viewBox: "0 0 1000 48", preserveAspectRatio: "none", "aria-hidden": "true" });
    picture.append(svg("line", { x1: 0, y1: 24, x2: 1000, y2: 24, class: "axis" }));
    for (let hour = 0; hour <= 24; hour += 6) {
      const x = (hour / 24) * 1000;
      picture.append(svg("line", { x1: x, y1: 14, x2: x, y2: 34, class: "hour" }));
    }
    for (const run of runs) {
      const x = ((new Date(run.at).getTime() - start) / (end - start)) * 1000;
      picture.append(svg("rect", { x: x - 2, y: 8, width: 4, height: 32, class: run.dst ? "run dst" : "run" }));
    }
    figure.append(picture);
    figure.append(el("div", { class: "hours", "aria-hidden": "true" },
      [0, 6, 12, 18, 24].map((hour) => el("span", { text: hour === 0 ? "now" : timeOnly.format(new Date(start + hour * 3600000)) }))));
    const summary = runs.length === 0
      ? (data.state === "Paused" ? "Paused: no runs in the next 24 hours." : "No runs in the next 24 hours.")
      : `${runs.length}${data.timeline.more ? "+" : ""} run${runs.length === 1 ? "" : "s"} in the next 24 hours.`;
    figure.append(el("figcaption", { text: summary }));
    const list = el("ol", { class: "upcoming" },
      runs.slice(0, 8).map((run) =>
        el("li", {}, el("time", { datetime: run.at, text: when(run.at) }),
          run.dst ? el("span", { class: "dst-note", text: ` — ${run.dst}` }) : null)));
    const more = runs.length > 8 ? el("p", { class: "muted", text: `…and ${runs.length - 8}${data.timeline.more ? "+" : ""} more` }) : null;
    return [figure, list, more];
  }

  function historyTable(data) {
    const wanted = $("history-filter").value;
    const runs = data.history.filter((run) => !wanted || run.result === wanted);
    if (!runs.length) {
      return el("p", { text: data.history.length ? `No ${wanted.toLowerCase()} runs in the kept history.` : "No runs yet." });
    }
    const head = ["Scheduled", "Started", "Duration", "Result", "Code", "Attempts", "Trigger"];
    return el("table", { class: "history" },
      el("caption", { class: "visually-hidden", text: `Runs of ${data.name}, newest first` }),
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, runs.map((run) =>
        el("tr", { "data-run": run.id },
          cell("td", "Scheduled", {}, when(run.scheduled, true)),
          cell("td", "Started", {}, when(run.started, true)),
          cell("td", "Duration", {}, duration(run.durationMs)),
          cell("td", "Result", {}, badge(run.result), run.error ? el("span", { class: "muted", text: ` ${run.error}` }) : null),
          cell("td", "Code", {}, run.code ?? "—"),
          cell("td", "Attempts", {}, run.attempts),
          cell("td", "Trigger", {}, run.trigger)))));
  }

  function actions(data) {
    if (!session || !session.canWrite) {
      return el("p", { class: "muted", text: "This key can read only: run now, pause and resume need the write scope." });
    }
    const paused = data.state === "Paused";
    return [
      el("button", { type: "button", "data-focus": "run", onclick: () => act(data.name, "run") }, "Run now"),
      el("button", { type: "button", class: "secondary", "data-focus": "toggle",
        onclick: () => act(data.name, paused ? "resume" : "pause") }, paused ? "Resume" : "Pause"),
    ];
  }

  async function act(name, verb) {
    const message = $("job-message");
    message.textContent = verb === "run" ? "Asking for a run…" : verb === "pause" ? "Pausing…" : "Resuming…";
    try {
      const answer = await call(`/jobs/${encodeURIComponent(name)}/${verb}`, "POST");
      message.textContent = verb === "run" ? `Run requested (run ${answer.runId}); it appears in the history when it finishes.`
        : verb === "pause" ? "Paused: no scheduled run fires until you resume." : "Resumed.";
      await renderJob(name);
    } catch (error) {
      if (error instanceof Refused && error.status === 401) return failed(error);
      message.textContent = `Could not ${verb === "run" ? "run" : verb} ${name}: ${error.message}`;
    }
  }

  async function renderJob(name) {
    const data = await call(`/jobs/${encodeURIComponent(name)}`);
    lastJob = data;
    document.title = `${data.title || data.name} · cronwright`;
    $("job-title").textContent = data.title || data.name;
    replace($("job-summary"), el("dl", { class: "facts" },
      el("dt", { text: "State" }), el("dd", {}, stateBadge(data.state)),
      el("dt", { text: "Schedule" }), el("dd", {}, data.schedule, el("span", { class: "zone", text: data.zone })),
      el("dt", { text: "Next run" }), el("dd", {}, data.nextRun ? [el("time", { datetime: data.nextRun, text: when(data.nextRun) }),
        el("span", { class: "muted", text: ` (${relative(data.nextRun, data.now)})` })] : "None"),
      el("dt", { text: "Last result" }), el("dd", {}, badge(data.lastResult)),
      el("dt", { text: "Success" }), el("dd", { text: data.successRate === null ? "— (no finished runs kept)" : `${percent(data.successRate)} of the kept runs` }),
      el("dt", { text: "Target" }), el("dd", { class: "target", text: data.target }),
      el("dt", { text: "Made with" }), el("dd", { text: data.dialect }),
      el("dt", { text: "Resource" }), el("dd", {}, el("code", { text: `cronjobspec/${data.name}` }))));
    replace($("job-actions"), ...[actions(data)].flat());
    replace($("job-timeline"), ...timeline(data).filter(Boolean));
    replace($("job-history"), historyTable(data));
  }

  // -- routing and refresh ------------------------------------------------------------------
  function route() {
    const match = location.hash.match(/^#\/job\/(.+)$/);
    return match ? { view: "job", name: decodeURIComponent(match[1]) } : { view: "jobs" };
  }

  async function refresh() {
    if (!session) return;
    const where = route();
    try {
      if (where.view === "job") await renderJob(where.name);
      else await renderJobs();
      $("load-error").hidden = true;
    } catch (error) {
      if (error instanceof Refused && error.status === 404 && where.view === "job") {
        $("job-title").textContent = where.name;
        replace($("job-summary"), el("p", { class: "error", text: `No job named ${where.name} in ${session.namespace}.` }));
        replace($("job-actions"));
        replace($("job-timeline"));
        replace($("job-history"));
        return;
      }
      failed(error);
    }
  }

  function stopRefresh() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  function startRefresh() {
    stopRefresh();
    timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  }

  async function navigate(focusHeading) {
    if (!session) return;
    const where = route();
    show(where.view);
    $("job-message").textContent = "";
    if (where.view === "job") $("history-filter").value = "";
    await refresh();
    if (focusHeading) (where.view === "job" ? $("job-title") : $("jobs-title")).focus();
  }

  async function begin() {
    try {
      session = await call("/session");
    } catch (error) {
      if (error instanceof Refused && error.status === 401) return signedOut(sessionStorage.getItem(KEY) ? "That API key was refused. Check it and sign in again." : "");
      if (error instanceof Refused && error.status === 403) return signedOut("That API key lacks the read scope.");
      signedOut(`Could not reach cronwright: ${error.message}`);
      return;
    }
    $("who").textContent = `Namespace ${session.namespace} · key ${session.keyId}${session.canWrite ? "" : " (read only)"}`;
    $("who").hidden = false;
    $("sign-out").hidden = false;
    await navigate(false);
    startRefresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const heading of [$("jobs-title"), $("job-title")]) heading.setAttribute("tabindex", "-1");
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) {
        $("sign-in-error").textContent = "Enter an API key.";
        $("api-key").setAttribute("aria-invalid", "true");
        $("api-key").focus();
        return;
      }
      sessionStorage.setItem(KEY, key);
      $("api-key").value = "";
      begin();
    });
    $("sign-out").addEventListener("click", () => signedOut(""));
    $("history-filter").addEventListener("change", () => { if (lastJob) replace($("job-history"), historyTable(lastJob)); });
    window.addEventListener("hashchange", () => navigate(true));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    if (sessionStorage.getItem(KEY)) begin();
    else signedOut("");
  });
})();
