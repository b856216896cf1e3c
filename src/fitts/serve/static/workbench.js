// fitts workbench: Cytoscape diagrams, loop highlighting, Vega-Lite charts, stressor rows.
// Runs on page load and on every part of the page htmx swaps in (htmx.onLoad).
(function () {
  "use strict";
  var PLUS = "#1f5fbf", MINUS = "#c62828", HOT = "#ff8f00";
  var graphs = {};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function edgeHtml(d) {
    var src = d.citation ? esc(d.citation) : "<i>no source given</i>";
    if (d.doi) src += ' <a href="' + esc(d.doi) + '" target="_blank" rel="noopener">DOI</a>';
    return "<b>" + esc(d.id) + "</b> (" + (d.sign === "+" ? "raises" : "lowers") + (d.mode === "gating" ? ", gating" : "") + ")" +
      "<br>" + esc(d.label) +
      "<br>weight prior: <code>" + esc(d.weight) + "</code>" +
      "<br>evidence grade: " + (d.grade ? esc(d.grade) : "<i>not graded</i>") +
      "<br>source: " + src +
      (d.differs ? '<br><b class="differs-note">differs from the other theory: ' + esc(d.differs) + "</b>" : "");
  }

  function drawGraph(div) {
    var data = JSON.parse(document.getElementById(div.dataset.graph).textContent);
    var cy = cytoscape({
      container: div, elements: data,
      layout: {name: "preset", fit: true, padding: 16},  // positions from the server: the layout of `fitts diagram`
      wheelSensitivity: 0.3, autoungrabify: false,
      style: [
        {selector: "node.state", style: {"label": "data(label)", "text-wrap": "wrap", "text-max-width": 118,
          "font-size": 15, "text-valign": "center", "background-color": "#fff", "border-width": 1.5,
          "border-color": "#333", "shape": "round-rectangle", "width": 124, "height": 54}},
        {selector: "node.input", style: {"label": "data(label)", "text-wrap": "wrap", "text-max-width": 100,
          "font-size": 13, "text-valign": "center", "background-color": "#e0e0e0", "shape": "rectangle",
          "width": 104, "height": 42, "border-width": 1, "border-color": "#777"}},
        {selector: "node.module", style: {"label": "data(label)", "text-valign": "top", "font-size": 15,
          "font-weight": "bold", "color": "#555", "background-color": "#f3f0e8", "background-opacity": 0.6,
          "border-color": "#c9c2b0", "border-width": 1, "shape": "round-rectangle", "padding": 12}},
        {selector: "edge", style: {"curve-style": "bezier", "width": 2, "target-arrow-shape": "triangle",
          "arrow-scale": 0.9, "opacity": 0.85}},
        {selector: "edge.plus", style: {"line-color": PLUS, "target-arrow-color": PLUS}},
        {selector: "edge.minus", style: {"line-color": MINUS, "target-arrow-color": MINUS, "target-arrow-shape": "tee"}},
        {selector: "edge.gate", style: {"line-style": "dashed", "width": 1.2}},
        {selector: "edge.differs", style: {"width": 4, "line-style": "dashed", "line-dash-pattern": [8, 4],
          "opacity": 1}},
        {selector: ".faded", style: {"opacity": 0.12}},
        {selector: "edge.hot", style: {"line-color": HOT, "target-arrow-color": HOT, "width": 4.5, "opacity": 1, "z-index": 10}},
        {selector: "node.hot", style: {"border-color": HOT, "border-width": 4}},
      ],
    });
    graphs[div.id] = cy;
    var tip = document.getElementById("tip");
    var details = document.getElementById(div.id.replace("cy-", "details-"));
    cy.on("mouseover", "edge", function (ev) {
      if (!tip) return;
      tip.innerHTML = edgeHtml(ev.target.data());
      var r = div.getBoundingClientRect();
      tip.style.left = (window.scrollX + r.left + ev.renderedPosition.x + 12) + "px";
      tip.style.top = (window.scrollY + r.top + ev.renderedPosition.y + 12) + "px";
      tip.hidden = false;
    });
    cy.on("mouseout", "edge", function () { if (tip) tip.hidden = true; });
    cy.on("tap", "edge", function (ev) { if (details) details.innerHTML = edgeHtml(ev.target.data()); });
    cy.on("tap", "node.state", function (ev) {
      var d = ev.target.data();
      if (details) details.innerHTML = "<b>" + esc(d.label) + "</b> (" + esc(d.id) + "), module " + esc(d.module) +
        (d.source ? "<br>source: " + esc(d.source) + (d.doi ? ' <a href="' + esc(d.doi) + '" target="_blank" rel="noopener">DOI</a>' : "") : "");
    });
    div.dataset.ready = "1";
  }

  function highlightLoop(li) {
    var list = li.closest("ol.loops");
    var cy = graphs[list.dataset.cy];
    if (!cy) return;
    var was = li.classList.contains("selected");
    list.querySelectorAll("li.selected").forEach(function (x) { x.classList.remove("selected"); });
    cy.elements().removeClass("hot faded");
    if (was) return;
    li.classList.add("selected");
    var edges = JSON.parse(li.dataset.edges), nodes = JSON.parse(li.dataset.nodes);
    cy.elements().not("node.module").addClass("faded");
    edges.forEach(function (id) { cy.getElementById(id).removeClass("faded").addClass("hot"); });
    nodes.forEach(function (id) { cy.getElementById(id).removeClass("faded").addClass("hot"); });
    var details = document.getElementById(list.dataset.cy.replace("cy-", "details-"));
    if (details) details.innerHTML = "<b>loop " + esc(li.id.split("-").pop()) + "</b>: " + esc(li.textContent.trim()) +
      " (" + (li.classList.contains("reinforcing") ? "reinforcing: the product of the signs is +" : "balancing: the product of the signs is −") + ")";
  }

  function drawVega(div) {
    var spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
    vegaEmbed(div, spec, {actions: {export: true, source: false, compiled: false, editor: false}, renderer: "svg"})
      .then(function () { div.dataset.ready = "1"; })
      .catch(function (err) { div.textContent = "could not draw the chart: " + err; });
  }

  function moveErrors(root) {
    // errors of a story come back in the result; show each next to its field
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-for]"));
    if (root.dataset && root.dataset.for) found.push(root);
    found.forEach(function (e) {
      var slot = document.getElementById(e.dataset.for);
      if (slot) { slot.textContent = e.textContent; e.hidden = true; }
    });
  }

  htmx.onLoad(function (root) {
    root.querySelectorAll(".cy[data-graph]").forEach(function (div) { if (!div.dataset.ready) drawGraph(div); });
    root.querySelectorAll(".vega[data-spec]").forEach(function (div) { if (!div.dataset.ready) drawVega(div); });
    moveErrors(root);
  });

  document.addEventListener("click", function (ev) {
    var li = ev.target.closest && ev.target.closest("ol.loops li");
    if (li) { highlightLoop(li); return; }
    if (ev.target.id === "add-stressor") {
      var rows = document.querySelectorAll("#stressors tr.stressor");
      var row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      rows[rows.length - 1].after(row);
      return;
    }
    if (ev.target.classList && ev.target.classList.contains("remove-row")) {
      var all = document.querySelectorAll("#stressors tr.stressor");
      var tr = ev.target.closest("tr");
      if (all.length > 1) tr.remove(); else tr.querySelectorAll("input").forEach(function (i) { i.value = ""; });
    }
  });

  document.addEventListener("htmx:beforeRequest", function (ev) {
    // clear the errors shown next to fields before a new run
    if (ev.target.id === "story-form") {
      document.querySelectorAll("#story-form .field-error").forEach(function (e) { e.textContent = ""; });
    }
  });
  // show 4xx answers (validation errors) instead of dropping them
  document.addEventListener("htmx:beforeSwap", function (ev) {
    if (ev.detail.xhr.status === 422 || ev.detail.xhr.status === 429) { ev.detail.shouldSwap = true; ev.detail.isError = false; }
  });
  window.fittsGraphs = graphs;
})();
