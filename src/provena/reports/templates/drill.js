/* The drill-down filter (drill.html.j2 filter_box): in the element named by the box's
   data-scope, every element with a data-filter attribute (space-separated keys: a rule, an
   entity type, a group) is hidden unless it has the key picked in each of the box's selects
   and holds the text typed in the search box; the box says how many are shown. Plain DOM, no
   network. */
(function () {
  "use strict";
  function setUp(box) {
    var scope = document.getElementById(box.getAttribute("data-scope")) || document.body;
    var selects = box.querySelectorAll("select");
    var search = box.querySelector("input[type=search]");
    var shown = box.querySelector("output");
    function apply() {
      var picked = [];
      for (var s = 0; s < selects.length; s++) {
        if (selects[s].value) { picked.push(selects[s].value); }
      }
      var text = search ? search.value.trim().toLowerCase() : "";
      var items = scope.querySelectorAll("[data-filter]");
      var n = 0;
      for (var i = 0; i < items.length; i++) {
        var el = items[i];
        var keys = el.getAttribute("data-filter").split(" ");
        var ok = !text || el.textContent.toLowerCase().indexOf(text) >= 0;
        for (var p = 0; ok && p < picked.length; p++) { ok = keys.indexOf(picked[p]) >= 0; }
        el.hidden = !ok;
        if (ok) { n++; }
      }
      if (shown) { shown.textContent = n + " of " + items.length + " shown"; }
    }
    for (var j = 0; j < selects.length; j++) { selects[j].addEventListener("change", apply); }
    if (search) { search.addEventListener("input", apply); }
    apply();
  }
  var boxes = document.querySelectorAll(".drill-filter");
  for (var i = 0; i < boxes.length; i++) { setUp(boxes[i]); }
})();
