// Small glue around htmx. The ws extension swaps pushed panels by id and reconnects by
// itself after abnormal closes (a server restart closes with 1006/1012); this shows the
// connection state and repaints a form's panels after its decision was posted, so the one
// who clicked sees the outcome even before the pushed update arrives.
(function () {
  "use strict";
  function badge(text, cls) {
    var el = document.getElementById("live-state");
    if (!el) return;
    el.textContent = text;
    el.className = "status " + cls;
  }
  document.addEventListener("htmx:wsOpen", function () { badge("live", "status-ok"); });
  document.addEventListener("htmx:wsClose", function () { badge("reconnecting", "status-warn"); });
  document.addEventListener("htmx:wsError", function () { badge("reconnecting", "status-warn"); });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest && event.target.closest("form[data-refresh]");
    if (!form) return;
    form.getAttribute("data-refresh").split(" ").forEach(function (name) {
      if (!document.getElementById("panel-" + name)) return;
      htmx.ajax("GET", "/panels/" + name + "/", { target: "#panel-" + name, swap: "outerHTML" });
    });
  });
})();
