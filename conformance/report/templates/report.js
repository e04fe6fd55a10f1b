// segur-conformance report: filters, search, print unfolding. Offline: no request, no external code.
// The report is complete without this script; it only hides, shows and unfolds what is already there.
(function () {
  "use strict";
  var I = JSON.parse(document.getElementById("segur-i18n").textContent);
  var form = document.getElementById("toolbar");
  var reqs = Array.prototype.slice.call(document.querySelectorAll("details.req:not(.copy)"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.sec"));
  var count = document.getElementById("f-count");
  var noneShown = document.getElementById("none-shown");
  var search = document.getElementById("f-search");
  var sectionSel = document.getElementById("f-section");
  var mandatory = document.getElementById("f-mandatory");
  var texts = null; // lower-cased text of each requirement, built on the first search
  var timer = null;

  function fmt(s, params) {
    return s.replace(/\{(\w+)\}/g, function (m, k) { return k in params ? params[k] : m; });
  }

  function fold(s) {
    // case- and accent-insensitive ("securite" finds "sécurité"); punctuation separates words, so a term
    // matches at word starts only (not inside a word; an id such as DUI.MSS.02 matches as its words)
    return " " + s.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^a-z0-9]+/g, " ").trim() + " ";
  }

  function indexed(r) {
    // the requirement's content only (id, title, statement, scenario and proof ids, rule, finding message,
    // XPath), never the interface labels around it
    var parts = [];
    r.querySelectorAll(".q").forEach(function (el) { parts.push(el.textContent); });
    return fold(parts.join(" \n "));
  }

  function wantedVerdicts() {
    var out = {};
    form.querySelectorAll("input[name=verdict]").forEach(function (box) { out[box.value] = box.checked; });
    return out;
  }

  function apply() {
    var verdicts = wantedVerdicts();
    var section = sectionSel.value;
    var onlyMandatory = mandatory.checked;
    var terms = search.value.trim().split(/\s+/).map(function (w) { return fold(w).trim(); })
      .filter(Boolean).map(function (w) { return " " + w; });
    if (terms.length && texts === null) {
      texts = reqs.map(indexed);
    }
    var shown = 0;
    var perSection = {};
    reqs.forEach(function (r, i) {
      var ok = verdicts[r.dataset.v] !== false &&
        (!section || r.dataset.s === section) &&
        (!onlyMandatory || r.dataset.m === "1") &&
        terms.every(function (term) { return texts[i].indexOf(term) !== -1; });
      r.hidden = !ok;
      if (ok) {
        shown += 1;
        perSection[r.dataset.s] = true;
        if (terms.length) { r.open = true; }
      }
    });
    sections.forEach(function (s) { s.hidden = !perSection[s.dataset.s]; });
    count.textContent = fmt(I["shown"], { n: shown, total: reqs.length });
    noneShown.hidden = shown !== 0;
    document.body.dataset.filtered = shown === reqs.length ? "no" : "yes";
  }

  function schedule() {
    if (timer !== null) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; apply(); }, 120);
  }

  function setOpen(open) {
    reqs.forEach(function (r) { if (!r.hidden) { r.open = open; } });
  }

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.hidden = false; el.open = true; el.scrollIntoView(); }
  }

  // print: unfold everything, then restore what the reader had folded
  var folded = [];
  window.addEventListener("beforeprint", function () {
    folded = document.querySelectorAll("details:not([open])");
    folded.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    folded.forEach(function (d) { d.open = false; });
    folded = [];
  });

  form.addEventListener("change", apply);
  search.addEventListener("input", schedule);
  form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  document.getElementById("b-expand").addEventListener("click", function () { setOpen(true); });
  document.getElementById("b-collapse").addEventListener("click", function () { setOpen(false); });
  window.addEventListener("hashchange", openTarget);
  form.hidden = false;
  apply();
  openTarget();
  document.documentElement.dataset.ready = "1";
})();
