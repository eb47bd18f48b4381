// gitops-hive dashboard: confirm before decisions, and live updates over server-sent events.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function wireConfirms(root) {
  root.querySelectorAll("form[data-confirm]").forEach((form) => {
    if (form.dataset.wired) return;
    form.dataset.wired = "1";
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

function openDetails() {
  const state = {};
  document.querySelectorAll("details.file").forEach((d) => { state[d.id] = d.open; });
  return state;
}

async function refresh(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } });
  if (response.status === 401 || response.redirected) { window.location.href = "/login"; return; }
  if (!response.ok) return;
  const html = await response.text();
  const root = document.getElementById("live-root");
  const open = openDetails();
  root.innerHTML = html;
  document.querySelectorAll("details.file").forEach((d) => { if (d.id in open) d.open = open[d.id]; });
  wireConfirms(root);
}

function startLive() {
  const url = document.body.dataset.live;
  const dot = document.getElementById("live-dot");
  if (!url || !window.EventSource) return;
  let timer = null;
  const source = new EventSource("/api/events");
  source.onopen = () => { if (dot) dot.classList.add("on"); };
  source.onerror = () => { if (dot) dot.classList.remove("on"); };
  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; refresh(url); }, 150);
  };
  ["approval", "agent", "question"].forEach((kind) => source.addEventListener(kind, schedule));
}

document.addEventListener("DOMContentLoaded", () => {
  wireConfirms(document);
  startLive();
});
