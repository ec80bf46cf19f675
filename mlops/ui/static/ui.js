// Draws every chart of the page (elements with data-figure: a Plotly figure as JSON). Plotly's bundle is served by
// the app (/vendor/plotly.min.js, from the plotly package) and loaded only on pages that have a chart.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (element) {
      var figure = JSON.parse(element.getAttribute("data-figure"));
      var layout = Object.assign({ margin: { t: 30, r: 10, b: 40, l: 50 }, height: 300 }, figure.layout || {});
      window.Plotly.newPlot(element, figure.data, layout, { displaylogo: false, responsive: true }).then(function () {
        element.setAttribute("data-drawn", "true");
      });
    });
  }
  function start() {
    if (!document.querySelector("[data-figure]")) return;
    if (window.Plotly) return draw();
    var script = document.createElement("script");
    script.src = "/vendor/plotly.min.js";
    script.onload = draw;
    document.head.appendChild(script);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
