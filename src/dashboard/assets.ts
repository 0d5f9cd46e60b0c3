/**
 * The dashboard's stylesheet and its one small script, shipped inside the package (no CDN, no build
 * step): served from /assets/ so the Content-Security-Policy can forbid inline script.
 *
 * The script only enhances server-rendered pages: it follows the page's live stream (Server-Sent Events)
 * and swaps the fragments it names, filters the offers table as you type, and keeps a followed log
 * scrolled to its end. Every page works without it, from the keyboard.
 */

// Light scheme by default, dark when the system asks; text ≥ 7:1 and muted text ≥ 4.5:1 on both grounds.
export const STYLESHEET = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#555;--line:#d6d6d6;--panel:#f6f7f9;--link:#0b57d0;--focus:#b35900;
--ok:#1b5e20;--ok-bg:#e3f1e4;--bad:#a4161a;--bad-bg:#fbe4e4;--run:#0b4fa8;--run-bg:#e2ecfb;--warn:#7a4100;--warn-bg:#fff0d6}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e8e8e8;--muted:#b3b3b3;--line:#3a3f47;--panel:#1a1e24;--link:#8ab4ff;--focus:#ffb060;
--ok:#9be29f;--ok-bg:#16301a;--bad:#ff9c9c;--bad-bg:#3a1517;--run:#9cc2ff;--run-bg:#14263f;--warn:#ffc97a;--warn-bg:#3a2a10}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
a{color:var(--link)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--panel);padding:6px 10px;z-index:2}.skip:focus{left:8px}
header.top{display:flex;gap:24px;align-items:center;padding:10px 20px;border-bottom:1px solid var(--line);background:var(--panel)}
header.top .brand{font-weight:700;font-size:17px}
nav ul{display:flex;gap:16px;list-style:none;margin:0;padding:0}
nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
main{padding:16px 20px 40px;max-width:1500px}
h1{font-size:22px;margin:6px 0 12px}h2{font-size:18px;margin:26px 0 8px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:14px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
.sha{word-break:break-all}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600;border:1px solid currentColor}
.s-succeeded{color:var(--ok);background:var(--ok-bg)}.s-failed,.s-lost{color:var(--bad);background:var(--bad-bg)}
.s-running,.s-created,.s-stopping{color:var(--run);background:var(--run-bg)}.s-stopped,.s-interrupted,.s-preempted{color:var(--warn);background:var(--warn-bg)}
.flag{color:var(--bad);font-weight:700}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 4px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:150px}
.card .v{font-size:20px;font-weight:700;font-variant-numeric:tabular-nums}.card .k{color:var(--muted);font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:10px}
.charts figure{margin:0;border:1px solid var(--line);border-radius:6px;overflow:hidden;line-height:0}
.kiln-chart{max-width:100%;height:auto}
.steps{display:flex;flex-wrap:wrap;gap:4px;list-style:none;padding:0;margin:6px 0}
.steps li{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:4px 8px;font-size:13px}
.steps li.err{border-color:var(--bad)}.steps li.now{border-color:var(--run);border-width:2px}
.steps .d{color:var(--muted)}
.errors{color:var(--bad);margin:2px 0 0 0;padding-left:18px;font-size:13px}
pre.log{background:var(--panel);border:1px solid var(--line);padding:8px;max-height:360px;overflow:auto;font-size:12.5px;white-space:pre-wrap;word-break:break-word}
.actions{display:flex;gap:10px;margin:10px 0}
.button,button{display:inline-block;font:inherit;font-weight:600;padding:6px 14px;border-radius:6px;border:2px solid var(--link);background:var(--bg);color:var(--link);cursor:pointer;text-decoration:none}
.button.danger,button.danger{border-color:var(--bad);color:var(--bad)}
form.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;margin:8px 0}
form.filters label{display:flex;flex-direction:column;font-size:13px;gap:2px}
input,select{font:inherit;padding:4px 6px;border:1px solid var(--muted);border-radius:4px;background:var(--bg);color:var(--fg)}
.notice{border-left:4px solid var(--run);background:var(--panel);padding:6px 12px;margin:8px 0}
.notice.failed{border-color:var(--bad)}.notice.done{border-color:var(--ok)}
.pager{display:flex;gap:12px;margin:6px 0}
`;

export const SCRIPT = `"use strict";
(function () {
  var root = document.querySelector("[data-live-src]");
  if (root && "EventSource" in window) {
    var es = new EventSource(root.getAttribute("data-live-src"));
    es.addEventListener("update", function (ev) {
      var parts = JSON.parse(ev.data);
      Object.keys(parts).forEach(function (id) {
        var el = document.querySelector('[data-live="' + id + '"]');
        if (!el) return;
        var log = el.querySelector("pre.log");
        var atEnd = !log || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        // Keep the keyboard where it was: re-focus the same link or control in the new fragment.
        var focused = el.contains(document.activeElement) ? document.activeElement : null;
        var key = focused && (focused.getAttribute("href") || focused.id);
        el.innerHTML = parts[id];
        if (key) {
          var again = Array.prototype.find.call(el.querySelectorAll("[href],[id]"), function (n) { return n.getAttribute("href") === key || n.id === key; });
          if (again) again.focus();
        }
        var fresh = el.querySelector("pre.log");
        if (fresh && atEnd) fresh.scrollTop = fresh.scrollHeight;
      });
      root.setAttribute("data-live-updates", String(Number(root.getAttribute("data-live-updates") || "0") + 1));
    });
    es.addEventListener("end", function () { es.close(); root.setAttribute("data-live-ended", "true"); });
  }
  var filter = document.getElementById("row-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.toLowerCase();
      document.querySelectorAll("[data-filter-rows] tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
  document.querySelectorAll("pre.log").forEach(function (p) { p.scrollTop = p.scrollHeight; });
})();
`;
