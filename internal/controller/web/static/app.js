// mxprobe dashboard: copy buttons and live updates (Server-Sent Events).
// No framework, no external resources; the pages work without it.
(function () {
  'use strict';

  function enhance(root) {
    root.querySelectorAll('button[data-copy]').forEach(function (b) { b.hidden = false; });
  }

  document.addEventListener('click', function (ev) {
    var b = ev.target.closest && ev.target.closest('button[data-copy]');
    if (!b) { return; }
    var el = document.getElementById(b.getAttribute('data-copy'));
    if (!el) { return; }
    var note = b.parentNode.querySelector('.copied');
    var text = el.textContent;
    function done(msg) { if (note) { note.textContent = msg; } }
    function fallback() {
      var r = document.createRange();
      r.selectNodeContents(el);
      var s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
      try { done(document.execCommand('copy') ? 'Copied' : 'Selected: press Ctrl+C'); } catch (e) { done('Selected: press Ctrl+C'); }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done('Copied'); }, fallback);
    } else {
      fallback();
    }
  });

  enhance(document);

  if (!document.body.hasAttribute('data-live') || !window.EventSource) { return; }
  var status = document.getElementById('live');
  function say(msg, on) {
    status = document.getElementById('live');
    if (status) { status.textContent = msg; status.classList.toggle('on', !!on); }
  }
  var pending = false, last = 0, busy = false;
  // Someone is filling in an action form: swapping <main> would lose it.
  function editing() {
    var a = document.activeElement;
    if (a && a.closest && a.closest('main form')) { return true; }
    var typed = false;
    document.querySelectorAll('main form input:not([type=hidden]), main form textarea').forEach(function (el) {
      if (el.value !== el.defaultValue) { typed = true; }
    });
    return typed;
  }
  function refresh() {
    if (busy) { pending = true; return; }
    var sel = window.getSelection && window.getSelection();
    if ((sel && !sel.isCollapsed) || editing()) { pending = true; setTimeout(refresh, 2000); return; }
    busy = true; pending = false; last = Date.now();
    var open = [];
    document.querySelectorAll('main details[open][id]').forEach(function (d) { open.push(d.id); });
    fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } }).then(function (r) {
      if (r.redirected || r.status === 401) { location.reload(); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var doc = new DOMParser().parseFromString(html, 'text/html');
      var main = document.getElementById('main'), nm = doc.getElementById('main');
      if (main && nm) { main.replaceChildren.apply(main, Array.prototype.slice.call(nm.childNodes)); }
      var a = document.getElementById('applied'), na = doc.getElementById('applied');
      if (a && na) { a.textContent = na.textContent; }
      var t = document.querySelector('#asof time'), nt = doc.querySelector('#asof time');
      if (t && nt) { t.replaceWith(nt); }
      open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
      enhance(document);
      say('Live: updated ' + new Date().toLocaleTimeString(), true);
    }).catch(function () { say('Live: update failed, retrying', false); }).then(function () {
      busy = false;
      if (pending) { setTimeout(refresh, 1000); }
    });
  }
  var es = new EventSource('/ui/events');
  es.addEventListener('hello', function () { say('Live updates on', true); });
  es.addEventListener('change', function () {
    // At most one refresh every 2 seconds.
    var wait = Math.max(0, 2000 - (Date.now() - last));
    if (!pending) { pending = true; setTimeout(refresh, wait); }
  });
  es.onerror = function () { say('Live updates: reconnecting…', false); };
})();
