// stackyard web UI: live updates by server-sent events and polling. No library, no network
// beyond this server. Text from the server is always set with textContent, never as HTML.
"use strict";

function liveRun(root) {
  const id = root.dataset.run;
  const badge = (s) => {
    const span = document.createElement("span");
    const cls = {Succeeded: "ok", Failed: "bad", Executing: "run"}[s] || "off";
    span.className = "badge " + cls;
    span.dataset.status = s;
    span.textContent = s;
    return span;
  };
  const live = document.getElementById("live");
  const events = new EventSource(`/ui/runs/${encodeURIComponent(id)}/events`);
  live.hidden = false;
  events.addEventListener("run", (e) => {
    const snap = JSON.parse(e.data);
    document.getElementById("run-status").replaceChildren(badge(snap.status));
    const failure = document.getElementById("run-failure");
    failure.textContent = snap.failure_reason || "";
    failure.hidden = !snap.failure_reason;
    for (const form of root.querySelectorAll("form[data-allowed]")) {
      form.hidden = !form.dataset.allowed.split(" ").includes(snap.status);
    }
    for (const [name, s] of Object.entries(snap.steps)) {
      for (const node of root.querySelectorAll(".dag .node")) {
        if (node.dataset.step !== name) continue;
        node.setAttribute("class", `node st-${s.status}`);
        const label = node.querySelector(".node-status");
        if (label) label.textContent = " · " + s.status;
      }
      const row = [...root.querySelectorAll("#steps-table tr[data-step]")]
        .find((r) => r.dataset.step === name);
      if (row) {
        row.querySelector(".st").replaceChildren(badge(s.status));
        row.querySelector(".att").textContent = s.attempts;
        row.querySelector(".cache").textContent = s.cache_hit ? "hit" : "";
      }
    }
  });
  events.addEventListener("end", () => { events.close(); live.textContent = "finished"; });
  events.onerror = () => { live.textContent = "reconnecting…"; };
}

function logs(pre) {
  const stepSel = document.getElementById("log-step");
  const search = document.getElementById("log-search");
  const count = document.getElementById("log-count");
  let source = null;
  let lines = [];          // [{step, attempt, text}]
  let partial = new Map(); // (step, attempt) -> unfinished last line

  function show() {
    const q = search.value.toLowerCase();
    const frag = document.createDocumentFragment();
    let shown = 0, last = null;
    for (const l of lines) {
      if (q && !l.text.toLowerCase().includes(q)) continue;
      const key = l.step + " " + l.attempt;
      if (key !== last) {
        const h = document.createElement("span");
        h.className = "hdr";
        h.textContent = `==> ${l.step} attempt ${l.attempt}\n`;
        frag.append(h);
        last = key;
      }
      if (q) {
        const i = l.text.toLowerCase().indexOf(q);
        const mark = document.createElement("mark");
        mark.textContent = l.text.slice(i, i + q.length);
        frag.append(l.text.slice(0, i), mark, l.text.slice(i + q.length) + "\n");
      } else {
        frag.append(l.text + "\n");
      }
      shown++;
    }
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.replaceChildren(frag);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
    count.textContent = q ? `${shown} of ${lines.length} lines match` : `${lines.length} lines`;
  }

  function open() {
    if (source) source.close();
    lines = []; partial = new Map();
    const step = stepSel.value;
    const url = pre.dataset.src + "?follow=true" + (step ? "&step=" + encodeURIComponent(step) : "");
    source = new EventSource(url);
    source.onmessage = (e) => {
      const chunk = JSON.parse(e.data);
      const key = chunk.step + " " + chunk.attempt;
      const parts = ((partial.get(key) || "") + chunk.text).split("\n");
      partial.set(key, parts.pop());
      for (const text of parts) lines.push({step: chunk.step, attempt: chunk.attempt, text});
      show();
    };
    source.addEventListener("end", () => {
      for (const [key, text] of partial) {
        if (text) {
          const [step, attempt] = [key.slice(0, key.lastIndexOf(" ")), key.slice(key.lastIndexOf(" ") + 1)];
          lines.push({step, attempt, text});
        }
      }
      partial = new Map();
      source.close();
      show();
    });
  }
  stepSel.addEventListener("change", open);
  search.addEventListener("input", show);
  open();
}

function showUpdates(updates) {
  // the steps of the update in progress and of the last one that ended, newest first
  const frag = document.createDocumentFragment();
  const cls = {Completed: "ok", RolledBack: "bad", Failed: "bad"};
  for (const u of updates) {
    const h = document.createElement("h3");
    const badge = document.createElement("span");
    badge.className = "badge " + (cls[u.status] || "run");
    badge.dataset.status = u.status;
    badge.textContent = u.status;
    h.append(`Update ${u.generation} `, badge);
    const ol = document.createElement("ol");
    ol.className = "update-steps";
    ol.dataset.generation = String(u.generation);
    for (const s of u.steps) {
      const li = document.createElement("li");
      li.dataset.step = s.step;
      const t = document.createElement("time");
      t.textContent = new Date(s.at * 1000).toISOString().slice(0, 19).replace("T", " ");
      li.append(t, " " + s.text);
      ol.append(li);
    }
    frag.append(h, ol);
  }
  document.getElementById("update-steps").replaceChildren(frag);
}

function liveEndpoint(root) {
  const name = root.dataset.name;
  let previous = null;
  async function tick() {
    try {
      const r = await fetch(`/ui/endpoints/${encodeURIComponent(name)}/live`, {cache: "no-store"});
      if (!r.ok) return;
      const d = await r.json();
      const now = performance.now() / 1000;
      document.getElementById("live-state").textContent = d.up ? "live" : "not answering";
      const posterior = {};
      for (const v of (d.routing && d.routing.live) || []) posterior[v.name] = v.posterior_mean;
      for (const row of root.querySelectorAll("#variants-table tr[data-variant]")) {
        const v = d.variants[row.dataset.variant];
        const w = d.weights[row.dataset.variant];
        if (w !== undefined) row.querySelector(".weight").textContent = String(w);
        if (posterior[row.dataset.variant] !== undefined) {
          row.querySelector(".posterior").textContent = posterior[row.dataset.variant].toFixed(3);
        }
        if (!v) continue;
        row.querySelector(".requests").textContent = String(v.requests);
        const errors = Object.values(v.errors).reduce((a, b) => a + b, 0);
        row.querySelector(".errors").textContent = String(errors);
        for (const q of ["p50", "p90", "p99"]) {
          row.querySelector("." + q).textContent = v[q] == null ? "–" : (v[q] * 1000).toPrecision(3);
        }
        if (previous && previous.variants[row.dataset.variant]) {
          const rate = (v.requests - previous.variants[row.dataset.variant].requests) / (now - previous.at);
          row.querySelector(".rate").textContent = rate.toFixed(1);
        }
      }
      const dep = d.deployment;
      if (dep) {
        const share = dep.share == null ? "" : `, ${(dep.share * 100).toFixed(1)}% on the new fleet`;
        document.getElementById("deployment").textContent =
          `${dep.status} traffic ${dep.traffic}${share}${dep.reason ? " · " + dep.reason : ""}`;
      }
      if (d.updates) showUpdates(d.updates);
      previous = {at: now, variants: d.variants};
    } catch (err) {
      document.getElementById("live-state").textContent = "not answering";
    }
  }
  tick();
  setInterval(tick, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run");
  if (run && run.dataset.finished === "false") liveRun(run);
  const pre = document.getElementById("logs");
  if (pre) logs(pre);
  const endpoint = document.getElementById("endpoint");
  if (endpoint) liveEndpoint(endpoint);
});
