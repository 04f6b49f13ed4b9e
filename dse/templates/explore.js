// dse explore: draws the designs embedded in #data with Plotly (inlined above); no network.
// Data layout: dse/explore.py (columns encoded as num / bool / cat codes into levels).
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const R = D.run, C = D.columns, N = D.n, DET = D.detail || { designs: {} };
  const PALETTE = ["#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                   "#F0E442", "#000000", "#882255", "#44AA99", "#999933", "#332288"];
  // the precisions' colours of the PNG figures (dse/plots/common.py, Okabe-Ito)
  const PRECISION_COLORS = { FP32: "#0072B2", BF16: "#009E73", INT8: "#D55E00", INT4: "#CC79A7" };
  const CLASS_COLORS = { embed: "#AA3377", proj: "#4477AA", attention: "#EE6677", mlp: "#228833",
                         vector: "#CCBB44", connector: "#66CCEE", classifier: "#66CCEE",
                         pooling: "#66CCEE" };
  const NAMES = { latency_ms: "latency per policy call (ms)",
                  utilization: "utilization (fullest SLR's most used resource)",
                  quality_loss: "quality loss (precision proxy)",
                  images_per_s: "throughput (images/s)", achieved_tops: "achieved TOPS",
                  energy_mj: "energy per policy call (mJ, board power x latency)",
                  power_w: "board power while running (W)" };
  const SKIP_HOVER = new Set(["set", "label", "board", "source_file", "design_id", "selection"]);

  function has(name) { return Object.prototype.hasOwnProperty.call(C, name); }
  function val(name, i) {
    const c = C[name];
    if (!c) return null;
    const v = c.values[i];
    if (c.kind === "cat") return v < 0 ? null : c.levels[v];
    if (c.kind === "bool") return v ? "true" : "false";
    return v;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : v.toPrecision(4);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                  '"': "&quot;" })[c]);
  }
  function axisName(c) { return NAMES[c] || c; }

  // ---- summary and notes ----------------------------------------------------------------
  const setCol = C.set;
  const isFront = (i) => setCol.levels[setCol.values[i]] === "front";
  const nFront = [...Array(N).keys()].filter(isFront).length;
  const objectives = R.objectives.map((o) => o[0]);
  const budgetText = R.budget_ms === null ? "no latency budget (" + R.budget_key + ")"
    : "latency budget " + fmt(R.budget_ms) + " ms per call (" + R.budget_key + ")";
  const tierText = R.quality_max === null ? "no quality tier"
    : "quality tier: quality_loss ≤ " + fmt(R.quality_max) + " (uniform " +
      R.quality_reference + ")";
  document.getElementById("summary").textContent =
    R.model + " on " + R.board + ", " + R.cameras + " camera(s) per call: " +
    R.evaluated.toLocaleString("en") + " designs evaluated, " +
    R.feasible.toLocaleString("en") + " feasible (" + (N - nFront).toLocaleString("en") +
    " of them drawn as the cloud), " + nFront.toLocaleString("en") +
    " on the front over " + objectives.join(", ") + ". " + budgetText + "; " + tierText + ".";
  document.getElementById("note").textContent =
    "The front is non-dominated over all of " + objectives.join(", ") + ". Drawn over two of " +
    "them, a front design may sit inside the cloud: it is there because it is better in the " +
    "third (e.g. a lower quality loss). Set y to quality_loss to see why. Filled markers: " +
    "front designs inside the quality tier (dse select picks from these); open markers: front " +
    "designs outside it. The dashed line is the latency budget; the shaded band (when an axis " +
    "shows quality_loss) is the quality tier.";

  // ---- controls -------------------------------------------------------------------------
  const numCols = Object.keys(C).filter((k) => C[k].kind === "num");
  const first = ["latency_ms", "utilization", "quality_loss", "energy_mj", "images_per_s",
                 "achieved_tops", "power_w"];
  const axisCols = first.filter(has).concat(numCols.filter((k) => !first.includes(k)).sort());
  const colourCols = ["weight_precision", "act_precision", "per_class", "precision",
                      "compute_units", "clock_mhz", "bound", "binding", "board",
                      "set"].filter(has).concat(first.filter(has));
  function fill(id, options, chosen) {
    const s = document.getElementById(id);
    for (const o of options) {
      const e = document.createElement("option");
      e.value = o; e.textContent = o; if (o === chosen) e.selected = true; s.appendChild(e);
    }
    s.addEventListener("change", draw);
  }
  fill("xcol", axisCols, "latency_ms");
  fill("ycol", axisCols, has("utilization") ? "utilization" : axisCols[1]);
  fill("ccol", colourCols, colourCols[0]);
  document.getElementById("showcloud").addEventListener("change", draw);

  const FILTERS = ["weight_precision", "act_precision", "per_class", "compute_units", "board"]
    .filter(has);
  const allowed = {};
  for (const f of FILTERS) {
    const box = document.getElementById("f-" + f);
    const levels = [...new Set([...Array(N).keys()].map((i) => String(val(f, i))))];
    const rank = (v) => C[f].kind === "cat" ? C[f].levels.indexOf(v) : Number(v);
    levels.sort((a, b) => rank(a) - rank(b));
    allowed[f] = new Set(levels);
    for (const lv of levels) {
      const lab = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox"; cb.checked = true; cb.value = lv; cb.dataset.filter = f;
      cb.addEventListener("change", () => {
        if (cb.checked) allowed[f].add(lv); else allowed[f].delete(lv);
        draw();
      });
      lab.appendChild(cb); lab.appendChild(document.createTextNode(" " + lv));
      box.appendChild(lab);
    }
  }
  function passes(i) {
    for (const f of FILTERS) if (!allowed[f].has(String(val(f, i)))) return false;
    return true;
  }

  // ---- hover text: every parameter and figure of a design --------------------------------
  const hoverCols = Object.keys(C).filter((k) => !SKIP_HOVER.has(k));
  const hover = new Array(N);
  for (let i = 0; i < N; i++) {
    const parts = hoverCols.map((k) => k + " " + fmt(val(k, i)));
    const lines = [];
    for (let j = 0; j < parts.length; j += 4) lines.push(parts.slice(j, j + 4).join("   "));
    const why = val("selection", i);
    hover[i] = "<b>" + esc(val("label", i)) + "</b>   " + esc(val("design_id", i)) +
      (why ? "   <b>selected: " + esc(why) + "</b>" : "") + "<br>" +
      "board " + esc(val("board", i)) + "   " + (isFront(i) ? "on the front" : "cloud") +
      (has("energy_mj") ? "<br><b>" + esc("latency " + fmt(val("latency_ms", i)) + " ms   energy " +
        fmt(val("energy_mj", i)) + " mJ/call   board " + fmt(val("power_w", i)) + " W") +
        "</b>" : "") +
      "<br>" + lines.map(esc).join("<br>");
  }

  // ---- the figure ------------------------------------------------------------------------
  const inTier = (i) => R.quality_max === null || !has("quality_loss") ||
    (val("quality_loss", i) !== null && val("quality_loss", i) <= R.quality_max * (1 + 1e-5));

  function colours(idx, ccol) {
    const c = C[ccol];
    if (c.kind === "num") {
      const v = idx.map((i) => val(ccol, i));
      return { color: v, colorscale: "Viridis", showscale: false, cmin: cmin, cmax: cmax };
    }
    return { color: idx.map((i) => levelColour[String(val(ccol, i))]) };
  }
  let levelColour = {}, cmin = 0, cmax = 1;

  function logAxis(col, idx) {
    const v = idx.map((i) => val(col, i)).filter((x) => x !== null);
    if (!v.length) return false;
    const lo = Math.min(...v), hi = Math.max(...v);
    return lo > 0 && hi / lo > 30;
  }

  function draw() {
    const x = document.getElementById("xcol").value;
    const y = document.getElementById("ycol").value;
    const ccol = document.getElementById("ccol").value;
    const showCloud = document.getElementById("showcloud").checked;
    const idx = [...Array(N).keys()].filter(passes);
    const cloud = showCloud ? idx.filter((i) => !isFront(i)) : [];
    // a selected design is drawn once, as a star (a circle beneath would take its hover)
    const frontIn = idx.filter((i) => isFront(i) && inTier(i) && !val("selection", i));
    const frontOut = idx.filter((i) => isFront(i) && !inTier(i) && !val("selection", i));
    const chosen = idx.filter((i) => isFront(i) && val("selection", i));
    const c = C[ccol];
    levelColour = {};
    const traces = [];
    if (c.kind !== "num") {
      const present = new Set([...Array(N).keys()].map((i) => String(val(ccol, i))));
      const levels = c.kind === "cat" ? c.levels.filter((lv) => present.has(lv))
        : [...present].sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
      const spare = PALETTE.filter((p) => !Object.values(PRECISION_COLORS).includes(p));
      let k = 0;
      for (const lv of levels) {
        levelColour[lv] = PRECISION_COLORS[lv] || spare[k++ % spare.length];
      }
      for (const lv of levels) {  // legend swatches for the colour levels
        traces.push({ x: [null], y: [null], type: "scatter", mode: "markers", name: lv,
                      marker: { color: levelColour[lv], size: 9 }, legendgroup: "c",
                      legendgrouptitle: { text: ccol }, hoverinfo: "skip" });
      }
    } else {
      const v = idx.map((i) => val(ccol, i)).filter((q) => q !== null);
      cmin = v.length ? Math.min(...v) : 0; cmax = v.length ? Math.max(...v) : 1;
    }
    function trace(rows, name, marker, extra) {
      return Object.assign({
        x: rows.map((i) => val(x, i)), y: rows.map((i) => val(y, i)),
        customdata: rows, text: rows.map((i) => hover[i]),
        hovertemplate: "%{text}<extra></extra>", type: "scatter", mode: "markers", name: name,
        marker: Object.assign(colours(rows, ccol), marker),
      }, extra || {});
    }
    traces.push(trace(cloud, "cloud: " + cloud.length.toLocaleString("en") + " of " +
                      R.feasible.toLocaleString("en") + " feasible (binned sample)",
                      { size: 4, opacity: 0.45, line: { width: 0 } }));
    traces.push(trace(frontIn, "front, in the quality tier: " + frontIn.length,
                      { size: 8, line: { color: "black", width: 1 } }));
    traces.push(trace(frontOut, "front, outside the tier: " + frontOut.length,
                      { size: 8, symbol: "circle-open", line: { width: 1.6 } }));
    traces.push(trace(chosen, "selected (on the front)", { size: 20, symbol: "star", color: "gold",
                                           line: { color: "black", width: 1 } },
                      { mode: "markers+text", textposition: "top center",
                        texttemplate: chosen.map((i) => val("selection", i)), textfont: { size: 11 } }));
    if (c.kind === "num") {  // one colour bar, on the cloud trace
      const t = traces[traces.length - 4];
      t.marker.showscale = true;
      t.marker.colorbar = { title: { text: ccol }, len: 0.6, y: 0.3 };
    }
    const shapes = [], annotations = [];
    if (R.budget_ms !== null && (x === "latency_ms" || y === "latency_ms")) {
      const vertical = x === "latency_ms";
      shapes.push(vertical
        ? { type: "line", xref: "x", yref: "paper", x0: R.budget_ms, x1: R.budget_ms, y0: 0,
            y1: 1, line: { color: "#C00000", width: 2, dash: "dash" } }
        : { type: "line", xref: "paper", yref: "y", y0: R.budget_ms, y1: R.budget_ms, x0: 0,
            x1: 1, line: { color: "#C00000", width: 2, dash: "dash" } });
      annotations.push(Object.assign(
        { text: "budget " + fmt(R.budget_ms) + " ms", showarrow: false,
          font: { color: "#C00000", size: 11 } },
        vertical ? { xref: "x", yref: "paper", x: Math.log10(R.budget_ms), y: 1.02,
                     xanchor: "left" }
          : { xref: "paper", yref: "y", x: 1, y: R.budget_ms, xanchor: "right",
              yanchor: "bottom" }));
    }
    if (R.quality_max !== null && (x === "quality_loss" || y === "quality_loss")) {
      const onX = x === "quality_loss";
      shapes.push(onX
        ? { type: "rect", xref: "x", yref: "paper", x0: 0, x1: R.quality_max, y0: 0, y1: 1,
            fillcolor: "rgba(0,158,115,0.10)", line: { width: 0 }, layer: "below" }
        : { type: "rect", xref: "paper", yref: "y", y0: 0, y1: R.quality_max, x0: 0, x1: 1,
            fillcolor: "rgba(0,158,115,0.10)", line: { width: 0 }, layer: "below" });
      annotations.push(Object.assign(
        { text: "quality tier (≤ uniform " + R.quality_reference + ")", showarrow: false,
          font: { color: "#007A55", size: 11 } },
        onX ? { xref: "paper", yref: "paper", x: 0.01, y: 0.99, xanchor: "left" }
          : { xref: "paper", yref: "y", x: 0.99, y: R.quality_max, xanchor: "right",
              yanchor: "top" }));
    }
    const xlog = logAxis(x, idx), ylog = logAxis(y, idx);
    if (!xlog) for (const a of annotations) if (a.xref === "x") a.x = Math.pow(10, a.x);
    const layout = {
      margin: { l: 70, r: 20, t: 30, b: 40 },
      xaxis: { title: { text: axisName(x) + (xlog ? " (log)" : "") }, type: xlog ? "log" : "linear" },
      yaxis: { title: { text: axisName(y) + (ylog ? " (log)" : "") }, type: ylog ? "log" : "linear" },
      hovermode: "closest", hoverlabel: { align: "left", font: { size: 11 } },
      legend: { orientation: "h", x: 0, xanchor: "left", y: -0.14, yanchor: "top",
                font: { size: 10 } },
      shapes: shapes, annotations: annotations, uirevision: x + "|" + y,
    };
    Plotly.react("plot", traces, layout, { responsive: true, displaylogo: false });
  }

  // ---- click: the design's breakdown, resources per SLR and export command ----------------
  function shellQuote(s) { return "'" + String(s).replace(/'/g, "'\\''") + "'"; }
  function showDetail(i) {
    const id = val("design_id", i);
    const det = DET.designs[id];
    const box = document.getElementById("detail");
    let h = "<h3>" + esc(val("label", i)) + "</h3><p><code>" + esc(id) + "</code> on " +
      esc(val("board", i)) + ", " + (isFront(i) ? "on the front" : "in the cloud") +
      (val("selection", i) ? ", <b>selected: " + esc(val("selection", i)) + "</b>" : "") +
      "</p>";
    h += "<p><b>What binds:</b> time is " + esc(val("bound", i) || "–") +
      "-bound; utilization " + fmt(val("utilization", i)) + " is set by " +
      esc(val("binding", i) || "–") + ".</p>";
    const src = isFront(i) ? R.front_file : val("source_file", i);
    h += "<p><b>Export it</b> (HLS kernel, host, v++ configs):</p><pre id=\"export-cmd\">dse export --config " +
      esc(shellQuote(R.config)) + " --in " + esc(shellQuote(src)) + " --design-id " + esc(id) +
      " --out " + esc(shellQuote("results/hls-" + id)) + "</pre>";
    if (det) {
      h += "<p><b>Time per policy call by kernel</b> (ms; colour: kernel class)</p>" +
        "<div id=\"kernels\"></div>";
      h += "<p><b>Resources per SLR</b> (used / available after shell and margin)</p><table>" +
        "<tr><th class=\"k\">SLR</th>" + DET.resources.map((r) => "<th>" + esc(r) + "</th>").join("") +
        "</tr>";
      DET.slrs.forEach((s, si) => {
        h += "<tr><td class=\"k\">" + esc(s) + "</td>";
        DET.resources.forEach((r, ri) => {
          const u = det.used[si][ri], a = DET.available[si][ri];
          const f = a > 0 ? u / a : 0;
          h += "<td" + (f > 0.9 ? " class=\"hot\"" : "") + ">" + fmt(u) + " / " + fmt(Math.floor(a)) +
            " (" + (100 * f).toFixed(0) + "%)</td>";
        });
        h += "</tr>";
      });
      h += "</table>";
    } else {
      const params = {};
      for (const p of D.params || []) {
        const v = val(p, i);
        params[p] = C[p].kind === "bool" ? v === "true" : v;
      }
      h += "<p>Per-kernel detail is embedded for front designs; for this one, this prints it " +
        "(JSON: figures, <code>kernels</code>, <code>slr_resources</code>):</p>" +
        "<pre id=\"evaluate-cmd\">dse evaluate --config " + esc(shellQuote(R.config)) +
        " --design " + esc(shellQuote(JSON.stringify(params))) + "</pre>";
    }
    h += "<p><b>Every parameter and figure</b></p><table>";
    for (const k of Object.keys(C)) {
      if (k === "set") continue;
      h += "<tr><td class=\"k\">" + esc(k) + "</td><td class=\"k\">" + esc(fmt(val(k, i))) +
        "</td></tr>";
    }
    h += "</table>";
    box.innerHTML = h;
    if (det) {
      const order = DET.kernels.map((k, j) => j).filter((j) => det.ms[j] > 0)
        .sort((a, b) => det.ms[a] - det.ms[b]);
      Plotly.newPlot("kernels", [{
        type: "bar", orientation: "h", y: order.map((j) => DET.kernels[j]),
        x: order.map((j) => det.ms[j]),
        marker: { color: order.map((j) => CLASS_COLORS[DET.classes[j]] || "#999") },
        customdata: order.map((j) => DET.classes[j] + ", " + (DET.bounds[det.bound[j]] || "–") +
                              "-bound"),
        textposition: "none",
        hovertemplate: "%{y}: %{x:.4g} ms<br>%{customdata}<extra></extra>",
      }], { margin: { l: 110, r: 10, t: 5, b: 40 }, xaxis: { title: { text: "ms per policy call" } },
            yaxis: { automargin: true, tickfont: { size: 10 } } },
      { displaylogo: false, responsive: true });
    }
  }

  draw();
  document.getElementById("plot").on("plotly_click", (ev) => {
    const p = ev.points && ev.points[0];
    if (p && typeof p.customdata === "number") showDetail(p.customdata);
  });
  window.dseExplore = { showDetail: showDetail, n: N };
})();
