/* Pan and zoom for the flowcharts of hgl docs (compiler/docs/flowchart.py), copied to assets/flowchart.js.
   No library and no network.  The chart keeps a readable text size by default (never below
   MIN_TEXT px unless the reader zooms out); it pans sideways by dragging, by touch, with the
   arrow keys once focused, or with Shift and the wheel; it zooms with the buttons, the + and -
   keys, a pinch, or Ctrl (or Cmd) and the wheel.  A plain vertical wheel or swipe scrolls the
   page as usual.  Zooming changes the SVG's viewBox and size, nothing else: links stay links.
   Without this file the chart scrolls sideways at its natural size (flowchart.css). */
(function () {
  "use strict";
  var MIN_TEXT = 11, MAX_SCALE = 4, STEP = 1.25, PAN = 60;

  function setup(fig) {
    var view = fig.querySelector(".hgl-chart-view");
    var svg = view && view.querySelector("svg.hgl-flowchart");
    if (!svg || fig.getAttribute("data-hgl-pz")) return;
    fig.setAttribute("data-hgl-pz", "1");
    var box = svg.viewBox.baseVal, W = box.width, H = box.height;
    var font = parseFloat(svg.getAttribute("font-size")) || 12;
    var s = 1, x = 0, touched = false;

    fig.classList.add("hgl-pz");
    view.tabIndex = 0;
    view.setAttribute("role", "region");
    view.setAttribute("aria-label", (svg.getAttribute("aria-label") || "chart") +
      ": arrow keys pan, + and - zoom, 0 resets");

    var tools = document.createElement("div");
    tools.className = "hgl-chart-tools";
    function button(text, label, fn) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.title = label;
      b.addEventListener("click", fn);
      tools.appendChild(b);
      return b;
    }
    button("\u2212", "Zoom out", function () { zoom(1 / STEP); });
    var level = document.createElement("output");
    tools.appendChild(level);
    button("+", "Zoom in", function () { zoom(STEP); });
    button("Fit width", "Show the whole width of the chart", function () { touched = true; s = fit(); x = 0; draw(); });
    button("Reset", "Readable text size, left edge", function () { touched = false; s = initial(); x = 0; draw(); });
    var hint = document.createElement("span");
    hint.className = "hgl-hint";
    tools.appendChild(hint);
    fig.insertBefore(tools, view);

    function width() { return view.clientWidth || W; }
    function fit() { return Math.min(1, width() / W); }
    function initial() { var f = fit(); return f * font >= MIN_TEXT ? f : Math.max(1, MIN_TEXT / font); }
    function clamp() { x = Math.min(Math.max(0, x), Math.max(0, W - width() / s)); }
    function draw() {
      clamp();
      var shown = Math.min(W, width() / s);
      svg.setAttribute("viewBox", x.toFixed(1) + " 0 " + shown.toFixed(1) + " " + H);
      svg.setAttribute("width", Math.round(shown * s));
      svg.setAttribute("height", Math.round(H * s));
      level.textContent = Math.round(s * 100) + "%";
      hint.textContent = shown < W - 0.5 ? "drag sideways for more" : "";
    }
    function zoom(f, cx, cy) {
      var old = s;
      s = Math.min(MAX_SCALE, Math.max(Math.min(fit(), 1), s * f));
      if (s === old) return;
      touched = true;
      if (cx === undefined) cx = Math.min(width(), W * old) / 2;
      x += cx / old - cx / s;
      var top = svg.getBoundingClientRect().top;
      draw();
      if (cy !== undefined) window.scrollBy(0, (cy - top) * (s / old - 1));  // keep the point under the pointer
    }
    function pan(dx) { x += dx / s; draw(); }

    view.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      var k = e.key, done = true;
      if (k === "ArrowLeft") pan(-PAN);
      else if (k === "ArrowRight") pan(PAN);
      else if (k === "+" || k === "=") zoom(STEP);
      else if (k === "-" || k === "_") zoom(1 / STEP);
      else if (k === "0") { touched = false; s = initial(); x = 0; draw(); }
      else done = false;
      if (done) e.preventDefault();
    });

    view.addEventListener("wheel", function (e) {
      var r = view.getBoundingClientRect();
      if (e.ctrlKey || e.metaKey) {
        e.preventDefault();
        zoom(e.deltaY < 0 ? STEP : 1 / STEP, e.clientX - r.left, e.clientY);
      } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        var before = x;
        pan(e.deltaX || e.deltaY);
        if (x !== before) e.preventDefault();
      }
    }, { passive: false });

    // drag with a mouse or one finger, pinch with two; a drag is not a click on a box's link
    var pointers = {}, moved = 0, pinch = 0;
    function count() { return Object.keys(pointers).length; }
    function spread() {
      var p = Object.keys(pointers).map(function (k) { return pointers[k]; });
      return p.length < 2 ? 0 : Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y);
    }
    view.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      pointers[e.pointerId] = { x: e.clientX, y: e.clientY };
      moved = 0;
      pinch = spread();
      view.classList.add("hgl-dragging");
    });
    window.addEventListener("pointermove", function (e) {
      var p = pointers[e.pointerId];
      if (!p) return;
      var dx = e.clientX - p.x;
      p.x = e.clientX; p.y = e.clientY;
      if (count() >= 2) {
        var d = spread();
        if (pinch && d) {
          var r = view.getBoundingClientRect();
          zoom(d / pinch, e.clientX - r.left);
        }
        pinch = d;
      } else {
        moved += Math.abs(dx);
        pan(-dx);
      }
    });
    function up(e) {
      delete pointers[e.pointerId];
      pinch = spread();
      if (!count()) view.classList.remove("hgl-dragging");
    }
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", up);
    view.addEventListener("dragstart", function (e) { e.preventDefault(); });  // a box's link is not dragged away
    view.addEventListener("click", function (e) {
      if (moved > 5) { e.preventDefault(); e.stopPropagation(); }
      moved = 0;
    }, true);

    window.addEventListener("resize", function () { if (!touched) s = initial(); draw(); });
    s = initial();
    draw();
  }

  function all() {
    var figs = document.querySelectorAll("figure.hgl-chart");
    for (var i = 0; i < figs.length; i++) setup(figs[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
  // mkdocs-material's instant navigation swaps pages without a reload
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(all);
})();
