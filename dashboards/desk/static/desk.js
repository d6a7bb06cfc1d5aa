// Live desk pages: listen to /events and refresh just what changed. No framework, no build step.
"use strict";

(function () {
  const page = document.body.dataset.page;
  if (!page) return;
  const live = document.getElementById("live");
  const latest = new Map(); // alert id -> sequence number of the newest request

  function setLive(on) {
    if (!live) return;
    live.classList.toggle("off", !on);
    live.textContent = on ? live.dataset.on : live.dataset.off;
  }

  async function fetchHtml(url) {
    const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (response.status === 204) return "";
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.text();
  }

  function rowFrom(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    return holder.content.firstElementChild;
  }

  async function refreshRow(alertId) {
    const seq = (latest.get(alertId) || 0) + 1;
    latest.set(alertId, seq);
    const html = await fetchHtml("/alerts/" + encodeURIComponent(alertId) + "/row" + window.location.search);
    if (latest.get(alertId) !== seq) return; // a newer refresh of this row is on its way
    const tbody = document.querySelector("#alerts tbody");
    const old = document.getElementById("a-" + alertId);
    if (!html) {
      if (old) old.remove();
    } else {
      const row = rowFrom(html);
      const picked = old && old.querySelector("input[type=checkbox]:checked");
      if (picked) { const box = row.querySelector("input[type=checkbox]"); if (box) box.checked = true; }
      row.dataset.arrived = String(Date.now());
      row.classList.add("flash");
      if (old) old.replaceWith(row); else tbody.insertBefore(row, tbody.firstElementChild);
    }
    const rows = tbody.querySelectorAll("tr[data-alert]").length;
    tbody.querySelector("tr.empty").hidden = rows > 0;
    const count = document.getElementById("alert-count");
    if (count) count.textContent = String(rows);
  }

  async function refreshPanel(alertId) {
    const seq = (latest.get(alertId) || 0) + 1;
    latest.set(alertId, seq);
    const html = await fetchHtml("/alerts/" + encodeURIComponent(alertId) + "/panel");
    if (latest.get(alertId) !== seq) return;
    const panel = document.getElementById("panel");
    const focused = document.activeElement && panel.contains(document.activeElement) && document.activeElement.name === "note";
    if (focused && document.activeElement.value) return; // do not wipe what an operator is typing
    panel.innerHTML = html;
    panel.dataset.arrived = String(Date.now());
  }

  function onChange(change) {
    if (change.resync) { window.location.reload(); return; }
    if (page === "list") refreshRow(change.alert_id).catch(() => setLive(false));
    else if (page === "alert" && change.alert_id === document.body.dataset.alert) refreshPanel(change.alert_id).catch(() => setLive(false));
  }

  let hadError = false;
  const source = new EventSource("/events");
  source.addEventListener("open", () => {
    setLive(true);
    if (hadError) { window.location.reload(); return; }
    // A change announced between this page's render and its subscription would otherwise be missed.
    if (page === "alert") refreshPanel(document.body.dataset.alert).catch(() => setLive(false));
  });
  source.addEventListener("error", () => { hadError = true; setLive(false); });
  source.addEventListener("alert", (event) => onChange(JSON.parse(event.data)));

  const all = document.getElementById("pick-all");
  if (all) all.addEventListener("change", () => {
    document.querySelectorAll("#alerts tbody input[type=checkbox]").forEach((box) => { box.checked = all.checked; });
  });
})();
