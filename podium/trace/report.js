"use strict";
// The report's timeline: reads the spans from #trace-data and draws only the rows in view, so that
// a run of any size opens at once. Everything an agent said is put on screen with textContent:
// nothing from the data is ever parsed as HTML.
(() => {
  const DATA = JSON.parse(document.getElementById("trace-data").textContent);
  const S = DATA.spans;
  const END = Math.max(DATA.end || 0, 0.001);
  const ROW = 24;
  const OVERSCAN = 10;
  const CONTENT = new Set(["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "podium.inputs", "podium.output",
    "podium.outputs", "podium.approval.fields", "podium.bedrock.rationale"]);

  const $ = (id) => document.getElementById(id);
  const viewport = $("viewport"), rowsEl = $("rows"), detail = $("detail"), body = $("detail-body");

  // the tree: the run's children (steps, run-level budget stops, orphans) are the top rows
  const kids = S.map(() => []);
  const tops = [];
  S.forEach((s, i) => {
    if (s.k === "run") return;
    if (s.p >= 0 && S[s.p].k !== "run") kids[s.p].push(i);
    else tops.push(i);
  });
  const byStart = (a, b) => S[a].s - S[b].s || a - b;
  tops.sort(byStart);
  kids.forEach((list) => list.sort(byStart));

  const open = new Set();
  let rows = [];  // [span index, depth] of every row currently shown, in order
  let selected = -1;
  let drawn = "";

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  const num = (n) => Number(n || 0).toLocaleString("en-US");
  const money = (c) => (c === null || c === undefined ? null : "$" + c);
  const running = (s) => s.e === null;
  // an open step whose approval is still open waits for a person; it is not running
  const state = (s, i) => (s.st === "error" ? "error" : !running(s) ? s.st
    : i !== undefined && kids[i].some((c) => S[c].k === "approval" && running(S[c])) ? "waiting" : "running");
  const attr = (s, name) => (s.a && s.a[name] !== undefined && s.a[name] !== null ? s.a[name] : null);

  function duration(ms) {
    if (ms === null || ms === undefined) return "";
    if (ms < 1) return "<1 ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 120000) return (ms / 1000).toFixed(2) + " s";
    const m = Math.floor(ms / 60000), h = Math.floor(m / 60);
    return h ? h + "h " + (m % 60) + "m" : m + "m " + Math.round((ms % 60000) / 1000) + "s";
  }

  const calls = (r) => r.calls + " call" + (r.calls === 1 ? "" : "s") + (r.failed ? " (" + r.failed + " failed)" : "");

  function label(i) {
    const s = S[i];
    if (s.k === "step") return attr(s, "podium.step") || s.n;
    if (s.k === "item") return "item " + attr(s, "podium.item");
    return s.n;
  }

  function summary(i) {
    const s = S[i], a = s.a || {}, r = s.r, parts = [];
    const took = running(s) ? state(s, i) : duration(s.e - s.s);
    if (s.k === "step") {
      if (!running(s)) parts.push(attr(s, "podium.status") || s.st);
      if (a["podium.agent"]) parts.push(a["podium.agent"]);
      if (a["podium.provider"]) parts.push(a["podium.provider"]);
      const items = kids[i].filter((c) => S[c].k === "item").length;
      if (items || a["podium.items"] !== undefined) parts.push((a["podium.items"] ?? items) + " items");
      const attempts = kids[i].filter((c) => S[c].k === "attempt").length;
      if (attempts > 1) parts.push(attempts + " attempts");
    } else if (s.k === "call") {
      parts.push(a["podium.provider"] || a["gen_ai.provider.name"] || "?");
      const model = a["gen_ai.response.model"] || a["gen_ai.request.model"];
      if (model) parts.push(model);
      // what a call cost comes before how it went: the column is narrow
      if (r && (r.in || r.out)) parts.push(num(r.in) + "→" + num(r.out) + " tok");
      parts.push(r && r.cost !== null ? money(r.cost) : r && r.unpriced ? "unpriced" : null);
      if (a["podium.attempt"] !== undefined) parts.push("attempt " + a["podium.attempt"]);
      const tools = kids[i].filter((c) => S[c].k === "tool").length;
      if (tools) parts.push(tools + " tool call" + (tools > 1 ? "s" : ""));
    } else if (s.k === "tool") {
      parts.push("tool " + (a["gen_ai.tool.name"] || "?"));
    } else if (s.k === "approval") {
      if (a["podium.approval.decision"]) parts.push(a["podium.approval.decision"] + (a["podium.approval.by"] ? " by " + a["podium.approval.by"] : ""));
      else parts.push("waiting for a person");
    }
    if (r && (r.calls || r.failed) && s.k !== "call") parts.push(calls(r));
    if (s.k !== "call") {
      if (r && (r.in || r.out)) parts.push(num(r.in) + "→" + num(r.out) + " tok");
      parts.push(r && r.cost !== null ? money(r.cost) : r && r.unpriced ? "unpriced" : null);
    }
    parts.push(took);
    return parts.filter((p) => p !== "" && p !== null && p !== undefined).join(" · ");
  }

  // --- which rows are shown ------------------------------------------------------------------
  const filterBox = $("filter"), statusBox = $("status");

  function matches(i) {
    const text = filterBox.value.trim().toLowerCase();
    const want = statusBox.value;
    if (text && !String(label(i)).toLowerCase().includes(text) && !S[i].n.toLowerCase().includes(text)) return false;
    if (want && state(S[i], i) !== want) return false;
    return true;
  }

  function flatten() {
    rows = [];
    const walk = (i, depth) => {
      rows.push([i, depth]);
      if (open.has(i)) for (const c of kids[i]) walk(c, depth + 1);
    };
    let shown = 0;
    for (const i of tops) if (matches(i)) { walk(i, 0); shown += 1; }
    $("count").textContent = shown + " of " + tops.length + " top rows · " + rows.length + " rows";
    drawn = "";
    rowsEl.style.height = rows.length * ROW + "px";
  }

  // --- drawing only the rows in view -----------------------------------------------------------
  function drawRow(n) {
    const [i, depth] = rows[n], s = S[i], st = state(s, i);
    const row = el("div", "row k-" + s.k + (st === "error" ? " error" : "") + (i === selected ? " selected" : ""));
    row.style.top = n * ROW + "px";
    row.dataset.span = String(i);
    const lab = el("div", "label");
    lab.style.paddingLeft = 8 + depth * 16 + "px";
    const caret = el("span", "caret" + (open.has(i) ? " open" : ""), kids[i].length ? "▸" : "");
    if (kids[i].length) caret.dataset.toggle = String(i);
    lab.append(caret, el("span", "name", label(i)));
    if (st === "error") lab.append(el("span", "meta why", s.m || "failed"));
    lab.append(el("span", "meta", summary(i)));
    row.title = label(i) + (s.m ? " — " + s.m : "");
    const lane = el("div", "lane");
    const bar = el("div", "bar " + (st === "waiting" ? "running" : st));
    const end = running(s) ? END : s.e;
    bar.style.left = (100 * s.s) / END + "%";
    bar.style.width = Math.max(0, (100 * (end - s.s)) / END) + "%";
    lane.append(bar);
    row.append(lab, lane);
    return row;
  }

  function draw() {
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW) + OVERSCAN);
    const key = first + ":" + last + ":" + selected;
    if (key === drawn) return;
    drawn = key;
    const frag = document.createDocumentFragment();
    for (let n = first; n < last; n += 1) frag.append(drawRow(n));
    rowsEl.replaceChildren(frag);
    // the axis sits over the lanes: leave room for the rows' scrollbar
    $("axis").style.paddingRight = viewport.offsetWidth - viewport.clientWidth + "px";
  }

  // steps a person reads on a clock: 1, 2, 5 ms … 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, hours
  const SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN;
  const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, SEC, 2 * SEC, 5 * SEC, 10 * SEC, 15 * SEC, 30 * SEC,
    MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR];

  function ticks() {
    const box = $("ticks");
    const step = STEPS.find((v) => v >= END / 8) || Math.ceil(END / 8 / (24 * HOUR)) * 24 * HOUR;
    const unit = END < 2 * SEC ? [1, "ms"] : END < 2 * MIN ? [SEC, "s"] : END < 2 * HOUR ? [MIN, "min"] : [HOUR, "h"];
    for (let n = 0; n * step <= END + 1e-9; n += 1) {
      const tick = el("div", "tick", +((n * step) / unit[0]).toFixed(3) + " " + unit[1]);
      tick.style.left = (100 * n * step) / END + "%";
      box.append(tick);
    }
  }

  function toggle(i) {
    if (open.has(i)) open.delete(i);
    else open.add(i);
    flatten();
    draw();
  }

  // --- details of one span ---------------------------------------------------------------------
  function table(pairs) {
    const t = el("table");
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "") continue;
      const tr = el("tr");
      tr.append(el("td", "", k), el("td", "", typeof v === "string" ? v : JSON.stringify(v)));
      t.append(tr);
    }
    return t;
  }

  function messages(title, raw, cls) {
    const box = el("section", cls);
    box.append(el("h4", "", title));
    let list = null;
    try { list = JSON.parse(raw); } catch (e) { list = null; }
    if (!Array.isArray(list)) { box.append(el("pre", "", raw)); return box; }
    for (const m of list) {
      if (m && m.role) box.append(el("div", "role", m.role));
      const parts = m && Array.isArray(m.parts) ? m.parts : [m];
      for (const p of parts) {
        const text = p && typeof p.content === "string" ? p.content : JSON.stringify(p && p.content !== undefined ? p.content : p, null, 2);
        box.append(el("pre", "", text));
      }
    }
    return box;
  }

  function show(i) {
    selected = i;
    const s = S[i], a = s.a || {}, r = s.r;
    body.replaceChildren();
    body.append(el("h3", "", s.k + ": " + label(i)));
    const st = state(s, i);
    body.append(el("span", "badge s-" + st, st === "unset" ? attr(s, "podium.status") || "unset" : st));
    if (s.m) body.append(el("p", st === "error" ? "cause" : "", s.m));
    if (a["podium.fix"]) body.append(el("p", "", "fix: " + a["podium.fix"]));
    body.append(table([
      ["name", s.n],
      ["provider", a["podium.provider"] || a["gen_ai.provider.name"]],
      ["model", a["gen_ai.response.model"] || a["gen_ai.request.model"]],
      ["attempt", a["podium.attempt"]],
      ["tokens in / out", r && (r.in || r.out) ? num(r.in) + " / " + num(r.out) : null],
      ["cost", r && r.cost !== null ? money(r.cost) : r && r.unpriced ? "unpriced" : null],
      ["calls", r && (r.calls || r.failed) && s.k !== "call" ? calls(r) : null],
      ["start", "+" + duration(s.s)],
      ["duration", running(s) ? state(s, i) + " (so far " + duration(END - s.s) + ")" : duration(s.e - s.s)],
    ]));
    if (a["gen_ai.input.messages"]) body.append(messages("Prompt", a["gen_ai.input.messages"], "prompt"));
    if (a["gen_ai.output.messages"]) body.append(messages("Reply", a["gen_ai.output.messages"], "reply"));
    if (a["podium.output"]) body.append(messages("Output", a["podium.output"], "output"));
    const tools = kids[i].filter((c) => S[c].k === "tool");
    if (tools.length) {
      body.append(el("h4", "", "Tool calls"));
      for (const c of tools) {
        const t = S[c];
        body.append(table([
          ["tool", attr(t, "gen_ai.tool.name") || t.n],
          ["status", state(t) + (t.m ? ": " + t.m : "")],
          ["arguments", attr(t, "gen_ai.tool.call.arguments")],
          ["result", attr(t, "gen_ai.tool.call.result")],
        ]));
      }
    }
    if (s.ev && s.ev.length) {
      body.append(el("h4", "", "Events"));
      body.append(table(s.ev.map((e) => ["+" + duration(e.t) + " " + e.n, e.a && Object.keys(e.a).length ? e.a : ""])));
    }
    body.append(el("h4", "", "Attributes"));
    body.append(table(Object.keys(a).filter((k) => !CONTENT.has(k) || k === "podium.inputs" || k === "podium.outputs").sort().map((k) => [k, a[k]])));
    detail.hidden = false;
    drawn = "";
    draw();
  }

  function reveal(i) {
    for (let p = S[i].p; p >= 0 && S[p].k !== "run"; p = S[p].p) open.add(p);
    filterBox.value = "";
    statusBox.value = "";
    flatten();
    const n = rows.findIndex((row) => row[0] === i);
    if (n >= 0) viewport.scrollTop = Math.max(0, n * ROW - viewport.clientHeight / 2);
    show(i);
  }

  // --- failures, with their cause ------------------------------------------------------------
  function failures() {
    const failed = [];
    S.forEach((s, i) => { if (s.st === "error" && s.k !== "run" && s.k !== "attempt") failed.push(i); });
    if (!failed.length) return;
    const list = $("failure-list"), LIMIT = 50;
    for (const i of failed.slice(0, LIMIT)) {
      const s = S[i];
      let where = label(i);
      if (s.k !== "step") {
        const step = attr(s, "podium.step");
        where = (step ? step + " › " : "") + label(i) + (attr(s, "podium.attempt") ? " (attempt " + attr(s, "podium.attempt") + ")" : "");
      }
      const then = attr(s, "podium.then");
      const li = el("li", "", where + ": " + (s.m || "failed") + (then ? " → " + then : ""));
      li.dataset.span = String(i);
      list.append(li);
    }
    if (failed.length > LIMIT) list.append(el("li", "more", "… and " + (failed.length - LIMIT) + " more (filter by status: failed)"));
    $("failures").hidden = false;
    list.addEventListener("click", (ev) => {
      const li = ev.target.closest("li[data-span]");
      if (li) reveal(Number(li.dataset.span));
    });
  }

  // --- wiring ------------------------------------------------------------------------------------
  rowsEl.addEventListener("click", (ev) => {
    const caret = ev.target.closest("[data-toggle]");
    if (caret) { toggle(Number(caret.dataset.toggle)); return; }
    const row = ev.target.closest(".row");
    if (row) show(Number(row.dataset.span));
  });
  let pending = false;
  viewport.addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  });
  window.addEventListener("resize", () => { drawn = ""; draw(); });
  let typing = 0;
  filterBox.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { viewport.scrollTop = 0; flatten(); draw(); }, 120);
  });
  statusBox.addEventListener("change", () => { viewport.scrollTop = 0; flatten(); draw(); });
  $("expand").addEventListener("click", () => { S.forEach((s, i) => { if (kids[i].length) open.add(i); }); flatten(); draw(); });
  $("collapse").addEventListener("click", () => { open.clear(); flatten(); draw(); });
  $("close").addEventListener("click", () => { detail.hidden = true; selected = -1; drawn = ""; draw(); });
  const runId = $("run-id");
  if (DATA.run >= 0) {
    runId.classList.add("link");
    runId.title = "show the run's details";
    runId.addEventListener("click", () => show(DATA.run));
  }

  ticks();
  failures();
  flatten();
  draw();
  document.body.dataset.ready = "1";
})();
