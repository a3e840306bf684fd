/* Provena: what Great Expectations' Data Docs did with jQuery and Bootstrap (loaded from CDNs),
   in plain JavaScript, so the pages work with no network: tabs, "Show more info" collapses,
   the "Show All / Failed Only" filter and clickable index rows. See provena/validate/docs.py. */
(function () {
  "use strict";
  function target(link) {
    var id = (link.getAttribute("href") || "").replace(/^#/, "");
    return id ? document.getElementById(id) : null;
  }
  function showTab(link) {
    var nav = link.closest(".nav");
    nav.querySelectorAll('[data-toggle="tab"]').forEach(function (other) {
      other.classList.remove("active");
      other.setAttribute("aria-selected", "false");
      var pane = target(other);
      if (pane) pane.classList.remove("active", "show");
    });
    link.classList.add("active");
    link.setAttribute("aria-selected", "true");
    var pane = target(link);
    if (pane) pane.classList.add("active", "show");
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest('[data-toggle="tab"], [data-toggle="collapse"]');
    if (link) {
      event.preventDefault();
      if (link.getAttribute("data-toggle") === "tab") {
        showTab(link);
      } else {
        var body = target(link);
        if (body) {
          var open = body.classList.toggle("show");
          link.setAttribute("aria-expanded", open ? "true" : "false");
        }
      }
      return;
    }
    var label = event.target.closest(".btn-group-toggle .btn");
    if (label) {
      label.parentNode.querySelectorAll(".btn").forEach(function (b) {
        b.classList.toggle("active", b === label);
      });
    }
    var row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a")) window.location.href = row.getAttribute("data-href");
  });
  function setHidden(hide) {
    document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (el) {
      el.parentNode.classList.toggle("pv-hidden", hide);
    });
    document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) {
      el.classList.toggle("pv-hidden", hide);
    });
    document
      .querySelectorAll(".hide-succeeded-validations-column-section-target-child")
      .forEach(function (el) {
        var section = el.parentNode.parentNode;
        section.classList.toggle("pv-hidden", hide);
        if (section.id) {
          document.querySelectorAll('a[href$="' + section.id + '"]').forEach(function (a) {
            a.classList.toggle("pv-hidden", hide);
          });
        }
      });
  }
  window.showAllValidations = function () { setHidden(false); };
  window.hideSucceededValidations = function () { setHidden(true); };
})();
