/* The case gallery of a guideline's worked-cases page: filter by text and by result, client-side
   (copied to assets/gallery.js by hgl docs; no library, no network).  Pages without a gallery are left alone. */
(function () {
  "use strict";

  function norm(text) {
    return (text || "").toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/\s+/g, " ");
  }

  function setup() {
    var input = document.getElementById("hgl-case-filter");
    var kind = document.getElementById("hgl-case-kind");
    var count = document.getElementById("hgl-case-count");
    if (!input || !kind || !count) return;
    var cases = Array.prototype.slice.call(document.querySelectorAll(".hgl-case"));
    var groups = Array.prototype.slice.call(document.querySelectorAll(".hgl-case-group"));
    var texts = cases.map(function (c) { return norm(c.textContent); });

    function apply() {
      var words = norm(input.value).trim().split(" ").filter(Boolean);
      var want = kind.value;
      var shown = 0;
      cases.forEach(function (c, i) {
        var ok = (!want || c.getAttribute("data-kind") === want) &&
          words.every(function (w) { return texts[i].indexOf(w) !== -1; });
        c.hidden = !ok;
        if (ok) shown += 1;
      });
      var filtering = words.length > 0 || want !== "";
      groups.forEach(function (g) {
        var visible = g.querySelectorAll(".hgl-case:not([hidden])").length;
        g.hidden = filtering && visible === 0;
        var list = g.querySelector("details.hgl-case-list");
        if (list && filtering) list.open = visible > 0;
      });
      count.textContent = filtering ? shown + " of " + cases.length + " cases" : cases.length + " cases";
      count.setAttribute("data-shown", String(shown));
    }

    function openTarget() {  // a link to a section's cases (#cases-<section>) or to one case opens it
      var id = decodeURIComponent(location.hash.slice(1));
      var target = id && document.getElementById(id);
      if (!target) return;
      var group = target.closest(".hgl-case-group");
      var list = group && group.querySelector("details.hgl-case-list");
      if (list) list.open = true;
      target.scrollIntoView();
    }

    input.addEventListener("input", apply);
    kind.addEventListener("change", apply);
    window.addEventListener("hashchange", openTarget);
    apply();
    openTarget();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
