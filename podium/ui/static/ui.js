// podium ui: the page's only script (a static file: the Content-Security-Policy allows no inline one).
// It redraws a page whose runs are moving, and submits the filters when one changes. It never
// builds markup from data: a redraw swaps in what the server rendered (and escaped) for this page.
"use strict";

(function () {
  const body = document.body;

  function busy() {
    const focused = document.activeElement;
    return focused && focused.closest("form") && focused.closest("#content");
  }

  async function redraw() {
    const answer = await fetch(window.location.href, { credentials: "same-origin" });
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    const content = fresh.getElementById("content");
    if (!content) return;
    // keep the event log and output panels as the reader left them
    const open = new Set([...document.querySelectorAll("#content details[open]")].map(pathOf));
    document.getElementById("content").replaceWith(content);
    content.querySelectorAll("details").forEach((d) => { if (open.has(pathOf(d))) d.open = true; });
    const live = fresh.body.dataset.live;
    if (live) body.dataset.live = live; else delete body.dataset.live;
    body.dataset.version = fresh.body.dataset.version || "";
  }

  function pathOf(node) {
    const row = node.closest("[data-step], section");
    return (row && (row.dataset.step || row.id)) || "";
  }

  async function poll() {
    const url = body.dataset.live;
    if (!url) return;
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.ok) {
        const now = await answer.json();
        if (now.version && now.version !== body.dataset.version && !busy()) {
          await redraw();
        }
      }
    } catch (e) {
      // the server may be restarting: try again at the next tick
    }
    window.setTimeout(poll, 1500);
  }

  document.addEventListener("change", (event) => {
    const form = event.target.closest && event.target.closest("form#filters");
    if (form && event.target.tagName === "SELECT") form.requestSubmit();
  });

  if (body.dataset.live) window.setTimeout(poll, 1500);
  body.dataset.ready = "1";
})();
