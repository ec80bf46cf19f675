// The lineage graph's clicks: a click on a node shows its facts and links (centre the graph on it, open its page)
// in the panel beside the graph. ui.js draws the figure and marks it data-drawn; the handler is attached then.
(function () {
  "use strict";
  function select(id) {
    var found = false;
    document.querySelectorAll(".lineage-node").forEach(function (section) {
      var match = section.getAttribute("data-node") === id;
      section.hidden = !match;
      found = found || match;
    });
    document.getElementById("lineage-hint").hidden = found;
    document.querySelectorAll("tr[data-node]").forEach(function (row) {
      row.classList.toggle("selected", row.getAttribute("data-node") === id);
    });
  }
  function attach(element) {
    element.on("plotly_click", function (event) {
      var point = event.points && event.points[0];
      if (point && typeof point.customdata === "string") select(point.customdata);
    });
    element.setAttribute("data-clickable", "true");
  }
  function start() {
    var element = document.getElementById("lineage-graph");
    if (!element) return;
    var root = document.querySelector("tr.root[data-node]");
    if (root) select(root.getAttribute("data-node"));
    if (element.getAttribute("data-drawn")) return attach(element);
    new MutationObserver(function (_, observer) {
      if (!element.getAttribute("data-drawn")) return;
      observer.disconnect();
      attach(element);
    }).observe(element, { attributes: true, attributeFilter: ["data-drawn"] });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
