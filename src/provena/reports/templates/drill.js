/* The drill-down filter (drill.html.j2 filter_box): in the element named by the box's
   data-scope, every element with a data-filter attribute (space-separated keys: a rule, an
   entity type) is hidden unless it has the key picked in the select and holds the text typed
   in the search box; the box says how many are shown. Plain DOM, no network. */
(function () {
  "use strict";
  function setUp(box) {
    var scope = document.getElementById(box.getAttribute("data-scope")) || document.body;
    var select = box.querySelector("select");
    var search = box.querySelector("input[type=search]");
    var shown = box.querySelector("output");
    function apply() {
      var key = select ? select.value : "";
      var text = search ? search.value.trim().toLowerCase() : "";
      var items = scope.querySelectorAll("[data-filter]");
      var n = 0;
      for (var i = 0; i < items.length; i++) {
        var el = items[i];
        var keys = el.getAttribute("data-filter").split(" ");
        var ok = (!key || keys.indexOf(key) >= 0) &&
          (!text || el.textContent.toLowerCase().indexOf(text) >= 0);
        el.hidden = !ok;
        if (ok) { n++; }
      }
      if (shown) { shown.textContent = n + " of " + items.length + " shown"; }
    }
    if (select) { select.addEventListener("change", apply); }
    if (search) { search.addEventListener("input", apply); }
    apply();
  }
  var boxes = document.querySelectorAll(".drill-filter");
  for (var i = 0; i < boxes.length; i++) { setUp(boxes[i]); }
})();
