// starlabel serve: catalogue and star pages over the JSON API (no framework, no network).
"use strict";

const state = { path: null, meta: null, offset: 0, limit: 50, sort: null, desc: false, star: null };
const $ = (id) => document.getElementById(id);
const LABEL_ORDER = ["teff", "logg", "fe_h", "mg_fe"];
// not processed, unlike the training set, outside the training range, fit not converged or on a bound
const SERIOUS = 1 | 64 | 128 | 512 | 1024;

function status(text, error) {
  $("status").textContent = text || "";
  $("status").className = error ? "error" : "";
}

async function api(url, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== null && v !== undefined && v !== "") q.append(k, v);
  }
  const r = await fetch(url + "?" + q.toString());
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

function labelColumns(meta) {
  const cols = meta.columns.filter((c) => !c.includes("_err") && !["id", "source", "flag", "_row"].includes(c)
    && !c.endsWith("_start") && !["fit_iter", "fit_converged"].includes(c));
  return cols.sort((a, b) => (LABEL_ORDER.indexOf(a) + 1 || 99) - (LABEL_ORDER.indexOf(b) + 1 || 99));
}

function filterParams() {
  const ranges = [];
  document.querySelectorAll("#ranges .rng").forEach((el) => {
    const lo = el.querySelector(".lo").value, hi = el.querySelector(".hi").value;
    if (lo !== "" || hi !== "") ranges.push(`${el.dataset.col}:${lo}:${hi}`);
  });
  let none = 0;
  if ($("hide-ood").checked) none |= 64;
  if ($("hide-range").checked) none |= 128;
  if ($("hide-dead").checked) none |= 1;
  return { path: state.path, range: ranges, flag_none: none || null, q: $("q").value };
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number" && !Number.isInteger(v)) return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
  return esc(v);
}

async function loadCatalogue(path) {
  state.path = path; state.offset = 0; state.sort = null;
  $("map-color").innerHTML = "";
  status("reading " + path + " …");
  try {
    state.meta = await api("/api/catalogue/meta", { path });
  } catch (e) { status(e.message, true); return; }
  const labels = labelColumns(state.meta);
  $("ranges").innerHTML = labels.map((c) =>
    `<span class="rng" data-col="${esc(c)}">${esc(c)} <input class="lo" placeholder="min"> – <input class="hi" placeholder="max"></span>`).join(" ");
  status("");
  await refresh();
}

async function refresh() {
  await Promise.all([loadPage(), loadPlots()]);
}

async function loadPage() {
  const p = Object.assign(filterParams(), { offset: state.offset, limit: state.limit, sort: state.sort, descending: state.desc });
  let page;
  try { page = await api("/api/catalogue", p); } catch (e) { status(e.message, true); return; }
  const labels = labelColumns(state.meta);
  const cols = ["id", ...labels.flatMap((c) => (page.columns.includes(c + "_err") ? [c, c + "_err"] : [c])), "flag"]
    .filter((c) => page.columns.includes(c));
  $("stars").querySelector("thead").innerHTML = "<tr>" + cols.map((c) => {
    const unit = page.units[c] ? ` [${page.units[c]}]` : "";
    return `<th data-col="${esc(c)}" title="${esc(page.descriptions[c] || "")}" class="${state.sort === c ? "sorted" : ""}">${esc(c)}${esc(unit)}</th>`;
  }).join("") + "</tr>";
  $("stars").querySelector("tbody").innerHTML = page.rows.map((r) =>
    `<tr data-id="${esc(r.id)}" class="${r.flag & SERIOUS ? "flagged" : ""}">` + cols.map((c) => `<td>${fmt(r[c])}</td>`).join("") + "</tr>").join("");
  $("count").textContent = `${page.total.toLocaleString()} of ${page.n_rows.toLocaleString()} stars`;
  $("pageinfo").textContent = `${page.total ? state.offset + 1 : 0}–${Math.min(state.offset + state.limit, page.total)}`;
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + state.limit >= page.total;
}

async function loadPlots() {
  const cols = state.meta.columns;
  const p = filterParams();
  const draw = async (div, x, y, title, reverse) => {
    if (!cols.includes(x) || !cols.includes(y)) { $(div).innerHTML = `<p>no ${x} / ${y} in this catalogue</p>`; return; }
    let pts;
    try { pts = await api("/api/catalogue/points", Object.assign({}, p, { columns: [x, y], max_points: 20000 })); }
    catch (e) { status(e.message, true); return; }
    const many = pts[x].length > 3000;
    const traces = [{ x: pts[x], y: pts[y], type: "scattergl", mode: "markers", name: "stars",
      marker: { size: many ? 2 : 4, opacity: many ? 0.35 : 0.8, color: "#24384f" } }];
    if (many) traces.unshift({ x: pts[x], y: pts[y], type: "histogram2dcontour", colorscale: "Blues",
      showscale: false, ncontours: 12, contours: { coloring: "fill", showlines: false }, name: "density" });
    const unit = (c) => (state.meta.units[c] ? ` [${state.meta.units[c]}]` : "");
    Plotly.react(div, traces, {
      uirevision: state.path,
      title: { text: title, font: { size: 13 } }, margin: { l: 55, r: 10, t: 30, b: 40 }, dragmode: "select",
      xaxis: { title: { text: x + unit(x) }, autorange: reverse ? "reversed" : true },
      yaxis: { title: { text: y + unit(y) }, autorange: reverse ? "reversed" : true }, showlegend: false,
    }, { displaylogo: false, responsive: true });
    $(div).removeAllListeners && $(div).removeAllListeners("plotly_selected");
    $(div).on("plotly_selected", (ev) => {
      if (!ev || !ev.range) return;
      const [x0, x1] = ev.range.x.slice().sort((a, b) => a - b), [y0, y1] = ev.range.y.slice().sort((a, b) => a - b);
      setRange(x, x0, x1); setRange(y, y0, y1); state.offset = 0; refresh();
    });
  };
  await Promise.all([
    draw("kiel", "teff", "logg", "Kiel diagram (box-select to filter)", true),
    draw("abund", "fe_h", "mg_fe", "[Mg/Fe] – [Fe/H]", false),
  ]);
}

function setRange(col, lo, hi) {
  const el = document.querySelector(`#ranges .rng[data-col="${col}"]`);
  if (!el) return;
  el.querySelector(".lo").value = lo.toPrecision(5);
  el.querySelector(".hi").value = hi.toPrecision(5);
}

async function openStar(id) {
  state.star = id;
  showTab("star");
  $("star-title").textContent = `${id} (${state.path})`;
  let row;
  try { row = await api("/api/catalogue/star", { path: state.path, id }); } catch (e) { status(e.message, true); return; }
  const flags = Object.entries(state.meta.flags).filter(([, v]) => row.flag & v).map(([k]) => k);
  $("star-row").querySelector("tbody").innerHTML = Object.entries(row).filter(([k]) => !k.startsWith("_")).map(([k, v]) => {
    const unit = state.meta.units[k] ? ` ${state.meta.units[k]}` : "";
    const desc = k === "flag" ? (flags.join(", ") || "no flag set") : (state.meta.descriptions[k] || "");
    return `<tr><td>${esc(k)}</td><td>${fmt(v)}${esc(unit)}</td><td class="desc">${esc(desc)}</td></tr>`;
  }).join("");
  if (!row._dataset) {
    $("star-note").textContent = "the dataset this catalogue was made from is not under the served folder: no spectrum to show";
    Plotly.purge("spectrum");
    return;
  }
  let sp;
  try { sp = await api("/api/dataset/star", { path: row._dataset, id }); } catch (e) { status(e.message, true); return; }
  state.row = row; state.spectrum = sp;
  setTimeout(chooseModel, 0);
  $("star-note").textContent = `spectrum from ${row._dataset} (row ${sp.row + 1}${sp.snr ? ", S/N " + sp.snr.toFixed(0) : ""}); shaded: masked pixels; band: ±1σ from the ivar`;
  // the ±1σ band, one filled polygon per stretch of unmasked pixels (a fill would
  // otherwise bridge chip gaps and masked stretches)
  const band = [];
  let start = null;
  for (let i = 0; i <= sp.flux.length; i++) {
    const ok = i < sp.flux.length && sp.flux[i] !== null && sp.sigma[i] !== null;
    if (ok && start === null) start = i;
    if (!ok && start !== null) {
      const idx = [...Array(i - start).keys()].map((k) => k + start);
      if (idx.length > 1) band.push(idx);
      start = null;
    }
  }
  const bandTraces = band.length > 200 ? [] : band.map((idx, n) => ({
    x: idx.map((i) => sp.wavelength[i]).concat(idx.slice().reverse().map((i) => sp.wavelength[i])),
    y: idx.map((i) => sp.flux[i] + sp.sigma[i]).concat(idx.slice().reverse().map((i) => sp.flux[i] - sp.sigma[i])),
    fill: "toself", fillcolor: "rgba(36,56,79,0.2)", line: { width: 0 }, hoverinfo: "skip",
    name: "±1σ", legendgroup: "band", showlegend: n === 0,
  }));
  const masked = sp.masked.map((m) => (m ? 1.25 : null));
  Plotly.react("spectrum", [
    { x: sp.wavelength, y: masked, type: "bar", marker: { color: "rgba(200,60,60,0.18)" }, name: "masked", hoverinfo: "skip" },
    ...bandTraces,
    { x: sp.wavelength, y: sp.flux, mode: "lines", line: { color: "#24384f", width: 1 }, name: "observed" },
  ], {
    margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "wavelength [Å]" } },
    yaxis: { title: { text: "normalised flux" }, range: [0, 1.25] }, bargap: 0, legend: { orientation: "h" },
  }, { displaylogo: false, responsive: true });
  const w = sp.wavelength.filter((v) => v !== null);
  markLines(w[0], w[w.length - 1]);
  $("spectrum").removeAllListeners && $("spectrum").removeAllListeners("plotly_relayout");
  $("spectrum").on("plotly_relayout", (ev) => {
    if (ev["xaxis.range[0]"] !== undefined) markLines(ev["xaxis.range[0]"], ev["xaxis.range[1]"]);
    else if (ev["xaxis.autorange"]) markLines(w[0], w[w.length - 1]);
  });
}

// Line markers: the strongest lines of the package line list in the shown range.
async function markLines(lo, hi) {
  let lines;
  try { lines = await api("/api/lines", { lo, hi, n: 40 }); } catch (e) { return; }
  Plotly.relayout("spectrum", {
    shapes: lines.map((l) => ({ type: "line", x0: l.wavelength, x1: l.wavelength, yref: "paper", y0: 0.93, y1: 1,
      line: { color: "#888", width: 1 } })),
    annotations: lines.map((l) => ({ x: l.wavelength, y: 1, yref: "paper", text: l.name, showarrow: false,
      textangle: -90, font: { size: 9, color: "#666" }, yanchor: "bottom" })),
  });
}

// ------------------------------------------------------------------ models
async function chooseModel() {
  const path = $("model").value;
  $("editor").innerHTML = ""; $("model-note").textContent = "";
  $("saliency-bar").hidden = true; $("saliency-plot").hidden = true;
  $("model-plot").hidden = true; $("posterior").hidden = true;
  if (!path || !state.row || !state.row._dataset) return;
  let info;
  try { info = await api("/api/model/info", { path }); } catch (e) { status(e.message, true); return; }
  state.model = { path, info };
  $("saliency-bar").hidden = info.kind === "emulator";
  $("saliency-plot").hidden = true;
  $("saliency-label").innerHTML = info.labels.map((n) => `<option>${esc(n)}</option>`).join("");
  if (info.can.emulate) return drawEmulated(info);
  if (info.can.edit) return buildEditor(info);
  if (info.can.sample) {
    $("editor").innerHTML = '<button id="draw-posterior">draw the posterior (2000 samples)</button>';
    $("draw-posterior").addEventListener("click", drawPosterior);
    return;
  }
  $("model-note").textContent = `a ${info.kind} model: no spectrum or posterior to show`;
}

async function drawSaliency() {
  const label = $("saliency-label").value;
  let g;
  try {
    g = await api("/api/model/saliency", { path: state.model.path, dataset: state.row._dataset, id: state.row.id, label });
  } catch (e) { status(e.message, true); return; }
  $("saliency-plot").hidden = false;
  $("saliency-note").textContent = `d ${label} / d flux${g.unit ? " [" + g.unit + " per unit flux]" : ""}: the pixels the model's ${label} relies on for this star`;
  Plotly.react("saliency-plot", [{ x: g.wavelength, y: g.curves[0], mode: "lines", line: { color: "#5b3d8a", width: 1 } }], {
    margin: { l: 60, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "wavelength [Å]" } }, yaxis: { title: { text: `d ${label} / d flux` } },
  }, { displaylogo: false, responsive: true });
}

function catalogueLabels(info) {
  const out = {};
  info.labels.forEach((n) => { if (state.row[n] !== null && state.row[n] !== undefined) out[n] = state.row[n]; });
  return out;
}

function modelPlot(traces, yTitle2) {
  $("model-plot").hidden = false;
  Plotly.react("model-plot", traces, {
    margin: { l: 50, r: 10, t: 10, b: 40 }, grid: { rows: 2, columns: 1, roworder: "top to bottom" },
    xaxis: { title: { text: "wavelength [Å]" }, matches: "x2" }, xaxis2: { matches: "x" },
    yaxis: { title: { text: "normalised flux" }, domain: [0.35, 1] },
    yaxis2: { title: { text: yTitle2 }, domain: [0, 0.28] }, legend: { orientation: "h" },
  }, { displaylogo: false, responsive: true });
}

async function drawEmulated(info) {
  const labels = catalogueLabels(info);
  const set = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  let m;
  try { m = await api("/api/model/emulate", { path: state.model.path, set }); } catch (e) { status(e.message, true); return; }
  const sp = state.spectrum;
  // where the star has no data the emulator was never trained: not drawn
  const model = m.curves[0].map((v, i) => (sp.flux[i] === null ? null : v));
  const resid = sp.flux.map((f, i) => (f === null || model[i] === null ? null : f - model[i]));
  $("model-note").textContent = "the emulator's spectrum at this star's catalogue labels; below: observed − model";
  modelPlot([
    { x: sp.wavelength, y: sp.flux, mode: "lines", line: { color: "#24384f", width: 1 }, name: "observed" },
    { x: m.wavelength, y: model, mode: "lines", line: { color: "#d9534f", width: 1 }, name: "model" },
    { x: sp.wavelength, y: resid, mode: "lines", line: { color: "#555", width: 1 }, name: "residual", xaxis: "x2", yaxis: "y2" },
  ], "obs − model");
}

function buildEditor(info) {
  const labels = catalogueLabels(info);
  $("editor").innerHTML = info.labels.map((n) => {
    const [lo, hi] = info.ranges[n] || [0, 1];
    const v = labels[n] !== undefined ? labels[n] : (lo + hi) / 2;
    const step = (hi - lo) / 200;
    return `<label>${esc(n)} <input type="range" data-label="${esc(n)}" min="${lo}" max="${hi}" step="${step}" value="${v}">
      <output>${fmt(v)}</output></label>`;
  }).join("") + '<button id="editor-reset">reset</button>';
  state.editorStart = null;
  let timer = null;
  $("editor").querySelectorAll("input[type=range]").forEach((el) => el.addEventListener("input", () => {
    el.nextElementSibling.textContent = fmt(Number(el.value));
    clearTimeout(timer); timer = setTimeout(drawEdited, 60);
  }));
  $("editor-reset").addEventListener("click", () => { buildEditor(info); });
  $("model-note").textContent = "move a slider: the autoencoder redraws the spectrum with that label changed";
  drawEdited();
}

async function drawEdited() {
  const changes = [];
  $("editor").querySelectorAll("input[type=range]").forEach((el) => changes.push(`${el.dataset.label}=${el.value}`));
  let m;
  const t0 = performance.now();
  try {
    m = await api("/api/model/edit", { path: state.model.path, dataset: state.row._dataset, id: state.row.id, set: changes });
  } catch (e) { status(e.message, true); return; }
  const [original, recon, edit] = m.curves;
  const diff = edit.map((v, i) => (v === null || recon[i] === null ? null : v - recon[i]));
  modelPlot([
    { x: m.wavelength, y: original, mode: "lines", line: { color: "#999", width: 1 }, name: "observed" },
    { x: m.wavelength, y: recon, mode: "lines", line: { color: "#24384f", width: 1 }, name: "reconstruction" },
    { x: m.wavelength, y: edit, mode: "lines", line: { color: "#d9534f", width: 1 }, name: "edited" },
    { x: m.wavelength, y: diff, mode: "lines", line: { color: "#d9534f", width: 1 }, name: "edited − reconstruction", xaxis: "x2", yaxis: "y2" },
  ], "edited − recon.");
  $("model-plot").dataset.ms = String(Math.round(performance.now() - t0));
}

async function drawPosterior() {
  let post;
  status("drawing the posterior …");
  try {
    post = await api("/api/model/posterior", { path: state.model.path, dataset: state.row._dataset, id: state.row.id, n: 2000 });
  } catch (e) { status(e.message, true); return; }
  status("");
  const names = post.labels;
  const q = (arr, p) => { const a = arr.filter((v) => v !== null).sort((x, y) => x - y); return a[Math.floor(p * (a.length - 1))]; };
  $("model-note").textContent = names.map((n) => {
    const s = post.samples[n];
    return `${n}: ${fmt(q(s, 0.5))} (68 %: ${fmt(q(s, 0.16))} – ${fmt(q(s, 0.84))}; catalogue ${fmt(state.row[n])})`;
  }).join("; ");
  $("posterior").hidden = false;
  corner("posterior", names, post.samples, state.row);
}

// A corner plot: histograms of each label on the diagonal, pairs below (SVG, at
// most 1500 points a panel), the catalogue's value as a red line.
function corner(div, names, samples, row) {
  const n = names.length, gap = 0.03, size = (1 - gap * (n - 1)) / n;
  const traces = [], shapes = [];
  const layout = { margin: { l: 60, r: 10, t: 10, b: 50 }, showlegend: false, bargap: 0 };
  const thin = (a) => a.filter((_, k) => k % Math.ceil(a.length / 1500) === 0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const k = i * n + j + 1, ax = k === 1 ? "" : String(k);
      layout["xaxis" + ax] = { domain: [j * (size + gap), j * (size + gap) + size], anchor: "y" + ax,
        showticklabels: i === n - 1, title: i === n - 1 ? { text: names[j] } : undefined };
      layout["yaxis" + ax] = { domain: [1 - (i + 1) * size - i * gap, 1 - i * (size + gap)], anchor: "x" + ax,
        showticklabels: j === 0 && i > 0, title: j === 0 && i > 0 ? { text: names[i] } : undefined };
      const ref = { xaxis: "x" + ax, yaxis: "y" + ax };
      if (i === j) {
        traces.push(Object.assign({ x: samples[names[i]], type: "histogram", nbinsx: 30, marker: { color: "#24384f" } }, ref));
      } else {
        traces.push(Object.assign({ x: thin(samples[names[j]]), y: thin(samples[names[i]]), type: "scatter", mode: "markers",
          marker: { size: 2, color: "#24384f", opacity: 0.35 } }, ref));
      }
      const v = row && row[names[j]];
      if (v !== null && v !== undefined) {
        shapes.push({ type: "line", xref: "x" + ax, yref: "y" + ax + " domain", x0: v, x1: v, y0: 0, y1: 1, line: { color: "#d9534f", width: 1 } });
      }
    }
  }
  layout.shapes = shapes;
  Plotly.react(div, traces, layout, { displaylogo: false, responsive: true });
}

function showTab(name) {
  for (const tab of ["catalogue", "star", "map"]) {
    $("page-" + tab).hidden = name !== tab;
    $("tab-" + tab).className = name === tab ? "active" : "";
  }
  if (name === "map") drawMap();
  window.dispatchEvent(new Event("resize"));
}

// ------------------------------------------------------------------ the map
async function drawMap() {
  const path = $("map").value;
  if (!path) { $("map-note").textContent = "no similarity map under the served folder (starlabel map)"; return; }
  const cols = state.meta ? labelColumns(state.meta) : [];
  if (!$("map-color").options.length) {
    $("map-color").innerHTML = cols.map((c) => `<option>${esc(c)}</option>`).join("");
    if (cols.includes("ood_score")) $("map-color").value = "ood_score";
  }
  let m;
  try { m = await api("/api/map", { path, catalogue: state.path, color: $("map-color").value }); }
  catch (e) { status(e.message, true); return; }
  const train = m.set.map((s) => s === "train");
  const pick = (arr, want) => arr.filter((_, i) => train[i] === want);
  const placed = { x: pick(m.x, false), y: pick(m.y, false), id: pick(m.id, false), c: m.color ? pick(m.color, false) : null };
  Plotly.react("map-plot", [
    { x: pick(m.x, true), y: pick(m.y, true), type: "scattergl", mode: "markers", name: "training",
      marker: { size: 3, color: "#bbb" }, hoverinfo: "skip" },
    { x: placed.x, y: placed.y, text: placed.id, customdata: placed.id, type: "scatter", mode: "markers",
      name: "this catalogue", hovertemplate: "%{text}<extra></extra>",
      marker: { size: 6, color: placed.c || "#24384f", colorscale: "Viridis", showscale: !!placed.c,
        colorbar: { title: { text: $("map-color").value } } } },
    ...(() => {  // the star open on the Star page, if it is in the map
      const k = state.star ? m.id.indexOf(state.star) : -1;
      return k < 0 ? [] : [{ x: [m.x[k]], y: [m.y[k]], type: "scatter", mode: "markers", name: state.star,
        marker: { size: 16, symbol: "star", color: "#d9534f", line: { color: "#fff", width: 1 } }, hoverinfo: "name" }];
    })(),
  ], { margin: { l: 40, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "t-SNE 1" } }, yaxis: { title: { text: "t-SNE 2" } }, legend: { orientation: "h" } },
  { displaylogo: false, responsive: true });
  $("map-plot").removeAllListeners && $("map-plot").removeAllListeners("plotly_click");
  $("map-plot").on("plotly_click", (ev) => {
    const p = ev.points.find((q) => q.customdata);
    if (p) openStar(p.customdata);
  });
}

async function main() {
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); state.offset = 0; refresh(); });
  $("reset").addEventListener("click", () => { $("filters").reset(); state.offset = 0; refresh(); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadPage(); });
  $("next").addEventListener("click", () => { state.offset += state.limit; loadPage(); });
  $("stars").querySelector("thead").addEventListener("click", (e) => {
    const col = e.target.dataset.col; if (!col) return;
    state.desc = state.sort === col ? !state.desc : false; state.sort = col; state.offset = 0; loadPage();
  });
  $("stars").querySelector("tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr"); if (tr) openStar(tr.dataset.id);
  });
  $("tab-catalogue").addEventListener("click", (e) => { e.preventDefault(); showTab("catalogue"); });
  $("tab-star").addEventListener("click", (e) => { e.preventDefault(); showTab("star"); });
  $("tab-map").addEventListener("click", (e) => { e.preventDefault(); showTab("map"); });
  $("map").addEventListener("change", drawMap);
  $("map-color").addEventListener("change", drawMap);
  $("catalogue").addEventListener("change", () => loadCatalogue($("catalogue").value));
  $("model").addEventListener("change", chooseModel);
  $("saliency-draw").addEventListener("click", drawSaliency);
  let files;
  try { files = await api("/api/files"); } catch (e) { status(e.message, true); return; }
  $("catalogue").innerHTML = files.catalogues.map((c) => `<option>${esc(c)}</option>`).join("");
  $("model").innerHTML = '<option value="">(none)</option>' + files.models.map((m) => `<option>${esc(m)}</option>`).join("");
  $("map").innerHTML = files.maps.map((m) => `<option>${esc(m)}</option>`).join("");
  const wanted = new URLSearchParams(location.search).get("catalogue");
  if (wanted && files.catalogues.includes(wanted)) $("catalogue").value = wanted;
  if (files.catalogues.length) await loadCatalogue($("catalogue").value);
  else status("no catalogue under the served folder");
}

main();
