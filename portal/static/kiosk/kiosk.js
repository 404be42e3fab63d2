/*
 * 惠民惠农补贴 自助查询终端 — touch UI (served at /kiosk). No framework, no CDN.
 *
 * ID-card reader bridge (docs/kiosk.md): the terminal vendor's reader plugin calls
 *   window.YikatongKiosk.onIdCardRead({id_number, name})   a resident ID card was read
 *   window.YikatongKiosk.onSocialCardRead({card_number})   a social security card was read (optional)
 *   window.YikatongKiosk.readerStatus(status, message)     "ready" | "reading" | "error" | "absent"
 *   window.YikatongKiosk.reset()                           clear the screen now
 * and may listen for the window events "yikatong:ready" and "yikatong:reset" (clear its own buffers).
 *
 * Privacy: nothing is stored in the browser (no localStorage, no cookies from JS, no history
 * entries: every screen change uses history.replaceState); the server answers no-store; the DOM
 * is emptied on reset, after printing and after the idle timeout.
 */
(function () {
  "use strict";

  var body = document.body;
  var IDLE_SECONDS = Math.max(2, parseInt(body.getAttribute("data-idle-seconds"), 10) || 60);
  var WARN_SECONDS = Math.min(10, Math.floor(IDLE_SECONDS / 2));
  var CSRF = body.getAttribute("data-csrf") || "";
  var LOOKUP_URL = body.getAttribute("data-lookup-url") || "/kiosk/lookup";
  var DEMO_URL = body.getAttribute("data-demo-people-url") || "/kiosk/demo-people";
  var DEMO_READER = body.getAttribute("data-demo-reader") === "1";
  var START_URL = location.pathname + location.search;

  var STATUS_TEXT = {
    ready: "读卡器已就绪，请放身份证。",
    reading: "正在读卡，请不要移动身份证。",
    error: "读卡没有成功，请把身份证放平，再试一次。",
    absent: "没有连接读卡器。请点“输入号码查询”。"
  };

  var state = emptyState();
  var lastActivity = Date.now();
  var readerReported = false;
  var demoIndex = 0;

  function emptyState() {
    return { idNumber: "", name: "", cardNumber: "", mode: "", data: null };
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function maskName(name) {
    if (!name) { return ""; }
    var chars = Array.from(name);
    return chars[0] + (chars.length > 1 ? "*".repeat(chars.length - 1) : "");
  }

  function yuan(amount) {
    var parts = String(amount || "0.00").split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return whole + "." + (parts[1] || "00") + " 元";
  }

  // --- screens -------------------------------------------------------------------------

  function show(name) {
    var screens = document.querySelectorAll(".screen");
    for (var i = 0; i < screens.length; i++) {
      screens[i].hidden = screens[i].getAttribute("data-screen") !== name;
    }
    body.setAttribute("data-screen", name);
    history.replaceState(null, "", START_URL);
    window.scrollTo(0, 0);
  }

  function current() { return body.getAttribute("data-screen") || "start"; }

  function reset() {
    state = emptyState();
    $("entry-input").value = "";
    $("entry-error").textContent = "";
    $("entry-who").textContent = "";
    $("results").replaceChildren();
    $("statement").replaceChildren();
    $("message-text").textContent = "";
    var hint = $("demo-hint");
    if (hint) { hint.textContent = ""; }
    hideIdleNotice();
    show("start");
    lastActivity = Date.now();
    window.dispatchEvent(new CustomEvent("yikatong:reset"));
  }

  function message(title, text) {
    $("message-title").textContent = title;
    $("message-text").textContent = text;
    show("message");
  }

  // --- entry with the number pad ---------------------------------------------------------

  var MODES = {
    digits: { title: "请输入社保卡卡号后4位", hint: "社保卡正面卡号的最后4位数字。输完请点“确定”。",
              label: "社保卡卡号后4位", max: 4, x: false },
    "manual-id": { title: "请输入身份证号码", hint: "18位，最后一位是X请按X键。输完请点“确定”。",
                   label: "身份证号码", max: 18, x: true },
    "manual-card": { title: "请输入社保卡卡号", hint: "社保卡正面的完整卡号。输完请点“确定”。",
                     label: "社保卡卡号", max: 19, x: false }
  };

  function enter(mode) {
    var spec = MODES[mode];
    state.mode = mode;
    $("entry-title").textContent = spec.title;
    $("entry-hint").textContent = spec.hint;
    $("entry-label").textContent = spec.label;
    $("entry-input").value = "";
    $("entry-input").setAttribute("maxlength", String(spec.max));
    $("entry-error").textContent = "";
    $("key-x").hidden = !spec.x;
    $("entry-who").textContent = state.name ? "姓名：" + maskName(state.name) : "";
    show("entry");
  }

  function press(key) {
    var input = $("entry-input");
    var spec = MODES[state.mode];
    if (!spec) { return; }
    $("entry-error").textContent = "";
    if (key === "back") { input.value = input.value.slice(0, -1); return; }
    if (key === "clear") { input.value = ""; return; }
    if (key === "X" && !spec.x) { return; }
    if (input.value.length >= spec.max) { return; }
    input.value += key;
  }

  function confirmEntry() {
    var value = $("entry-input").value;
    if (state.mode === "digits") {
      if (!/^\d{4}$/.test(value)) { $("entry-error").textContent = "请输入4位数字。"; return; }
      lookup({ id_number: state.idNumber, name: state.name, card_digits: value });
    } else if (state.mode === "manual-id") {
      if (!/^\d{17}[\dX]$/.test(value)) { $("entry-error").textContent = "身份证号码是18位，请输完整。"; return; }
      state.idNumber = value;
      if (state.cardNumber) {
        lookup({ id_number: state.idNumber, card_number: state.cardNumber });
      } else {
        enter("manual-card");
      }
    } else if (state.mode === "manual-card") {
      if (!/^\d{12,19}$/.test(value)) { $("entry-error").textContent = "社保卡卡号是12到19位数字，请输完整。"; return; }
      lookup({ id_number: state.idNumber, card_number: value });
    }
  }

  // --- talking to the server -------------------------------------------------------------

  function lookup(payload) {
    show("busy");
    fetch(LOOKUP_URL, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-Kiosk-CSRF": CSRF, "Accept": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; },
                                  function () { return { status: response.status, data: null }; });
    }).then(function (reply) {
      payload = null;
      if (reply.status === 200 && reply.data) {
        state.idNumber = "";
        state.cardNumber = "";
        state.data = reply.data;
        renderResults(reply.data);
        return;
      }
      var text = reply.data && reply.data.error ? reply.data.error.message : "查询没有成功，请稍后再试。";
      var titles = { 404: "没有查到", 429: "查询太频繁", 400: "号码有误", 422: "信息不完整",
                     401: "终端需要重新启动", 403: "终端需要重新启动" };
      state.idNumber = "";
      state.cardNumber = "";
      message(titles[reply.status] || "查询没有成功", text);
    }).catch(function () {
      state.idNumber = "";
      message("网络不通", "暂时连不上查询服务，请稍后再试，或到乡镇（街道）咨询。");
    });
  }

  // --- results and statement -------------------------------------------------------------

  function lineItem(item) {
    var li = el("li", "line state-" + item.state);
    var head = el("div", "line-head");
    head.appendChild(el("span", "project", item.project_name));
    head.appendChild(el("span", "badge badge-" + item.state, item.state_label));
    li.appendChild(head);
    var facts = el("p", "facts");
    facts.appendChild(el("span", "amount", yuan(item.amount)));
    var when = item.date ? item.date.replace(/^(\d{4})-0?(\d+)-0?(\d+)$/, "$1年$2月$3日") : "";
    if (when) { facts.appendChild(el("span", "date", when)); }
    if (item.period) { facts.appendChild(el("span", "period", item.period)); }
    li.appendChild(facts);
    if (item.state === "pending" && item.stage) {
      li.appendChild(el("p", "stage", "办理进度：" + item.stage));
    }
    if (item.state === "withdrawn" && item.stage) {
      li.appendChild(el("p", "stage", "审核结果：" + item.stage));
    }
    if (item.failure_reason) {
      li.appendChild(el("p", "reason", "原因：" + item.failure_reason));
    }
    if (item.advice) {
      li.appendChild(el("p", "advice", "怎么办：" + item.advice));
    }
    return li;
  }

  function renderResults(data) {
    var box = $("results");
    box.replaceChildren();
    var name = data.person && data.person.name ? data.person.name : "";
    box.appendChild(el("p", "greeting", (name ? name + "，" : "") + "您好。下面是您的补贴发放情况。"));
    if (!data.years || !data.years.length) {
      box.appendChild(el("p", "message", "暂时没有公开的发放记录。"));
    }
    var statements = {};
    (data.statements || []).forEach(function (s) { statements[s.year] = s; });
    (data.years || []).forEach(function (year) {
      var section = el("section", "year");
      section.appendChild(el("h2", null, year.year + "年"));
      var totals = el("p", "totals");
      totals.appendChild(el("span", "total-paid", "已发放 " + yuan(year.total_paid)));
      if (year.pending.length) { totals.appendChild(el("span", "total-pending", "待发放 " + yuan(year.total_pending))); }
      if (year.failed.length) { totals.appendChild(el("span", "total-failed", "发放失败 " + yuan(year.total_failed))); }
      section.appendChild(totals);
      var list = el("ul", "lines");
      year.failed.concat(year.withdrawn || [], year.pending, year.paid).forEach(function (item) {
        list.appendChild(lineItem(item));
      });
      section.appendChild(list);
      if (statements[year.year]) {
        var button = el("button", "big secondary no-print", "看" + year.year + "年明白条");
        button.type = "button";
        button.setAttribute("data-action", "statement");
        button.setAttribute("data-year", String(year.year));
        section.appendChild(button);
      }
      box.appendChild(section);
    });
    show("results");
  }

  function renderStatement(year) {
    var data = state.data;
    if (!data) { reset(); return; }
    var statement = (data.statements || []).filter(function (s) { return String(s.year) === String(year); })[0];
    if (!statement) { return; }
    var box = $("statement");
    box.replaceChildren();
    var title = el("h1", "statement-title", "惠民惠农财政补贴资金明白条");
    title.id = "statement-title";
    box.appendChild(title);
    var who = el("p", "statement-who");
    if (statement.name) { who.appendChild(el("span", null, "姓名：" + statement.name)); }
    who.appendChild(el("span", null, "年度：" + statement.year + "年"));
    box.appendChild(who);
    var table = el("table", "statement-table");
    var head = el("tr");
    ["补贴项目", "主管部门", "期间", "发放日期", "金额（元）"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var tbody = el("tbody");
    statement.lines.forEach(function (line) {
      var tr = el("tr");
      [line.project_name, line.department, line.period, line.date_zh, line.amount].forEach(function (cell, i) {
        tr.appendChild(el("td", i === 4 ? "num" : null, cell));
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    var tfoot = el("tfoot");
    var total = el("tr");
    var label = el("td", null, "合计");
    label.colSpan = 4;
    total.appendChild(label);
    total.appendChild(el("td", "num statement-total", statement.total));
    tfoot.appendChild(total);
    table.appendChild(tfoot);
    box.appendChild(table);
    var kiosk = data.kiosk || {};
    box.appendChild(el("p", "statement-foot", "打印时间：" + (data.printed_at || "") + "　查询终端：" +
                       (kiosk.name || "") + "（" + (kiosk.location || "") + "）"));
    box.appendChild(el("p", "statement-foot", "如有疑问，请咨询户籍所在乡镇（街道）或村（社区），也可以拨打当地财政部门电话。"));
    show("statement");
  }

  function printNow() {
    var done = false;
    function finish() {
      if (done) { return; }
      done = true;
      window.removeEventListener("afterprint", finish);
      setTimeout(reset, 500);
    }
    window.addEventListener("afterprint", finish);
    window.print();
    // print() returns once the job is handed over (or at once where printing is silent).
    setTimeout(finish, 1500);
  }

  // --- idle ------------------------------------------------------------------------------

  function hideIdleNotice() {
    var notice = $("idle-notice");
    notice.hidden = true;
    notice.textContent = "";
  }

  function touched() {
    lastActivity = Date.now();
    hideIdleNotice();
  }

  function tick() {
    if (current() === "start" && !state.idNumber) { return; }
    var idle = (Date.now() - lastActivity) / 1000;
    var left = Math.ceil(IDLE_SECONDS - idle);
    if (left <= 0) {
      reset();
    } else if (left <= WARN_SECONDS) {
      var notice = $("idle-notice");
      notice.hidden = false;
      notice.textContent = left + "秒后自动返回首页，点屏幕可以继续。";
    }
  }

  // --- simulated reader (demo mode) --------------------------------------------------------

  function simulate() {
    var hint = $("demo-hint");
    fetch(DEMO_URL, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { people: [] }; })
      .then(function (data) {
        var people = data.people || [];
        if (!people.length) {
          hint.textContent = "没有读卡器，也没有可用的演示人员。请点“输入号码查询”。";
          return;
        }
        var person = people[demoIndex % people.length];
        demoIndex += 1;
        api.onIdCardRead({ id_number: person.id_number, name: person.name });
        var who = $("entry-who");
        if (person.card_last4) {
          who.textContent += "（演示：卡号后4位是 " + person.card_last4 + "）";
        }
      })
      .catch(function () { hint.textContent = "没有读卡器。请点“输入号码查询”。"; });
  }

  // --- the bridge the vendor's reader plugin calls ----------------------------------------

  var api = {
    version: 1,
    config: Object.freeze({ idleSeconds: IDLE_SECONDS, paper: body.getAttribute("data-paper") || "a4" }),
    onIdCardRead: function (card) {
      if (!card || typeof card.id_number !== "string" || typeof card.name !== "string") { return false; }
      var id = card.id_number.replace(/\s+/g, "").toUpperCase();
      var name = card.name.replace(/\s+/g, "");
      if (!/^\d{17}[\dX]$/.test(id) || !name) {
        api.readerStatus("error");
        return false;
      }
      var pendingCard = state.mode === "manual-id" ? state.cardNumber : "";
      reset();
      state.idNumber = id;
      state.name = name;
      touched();
      if (pendingCard) {
        lookup({ id_number: id, name: name, card_number: pendingCard });
      } else {
        enter("digits");
      }
      return true;
    },
    onSocialCardRead: function (card) {
      if (!card || typeof card.card_number !== "string") { return false; }
      var number = card.card_number.replace(/\D/g, "");
      if (number.length < 12 || number.length > 19) { api.readerStatus("error"); return false; }
      touched();
      if (state.idNumber) {
        lookup({ id_number: state.idNumber, name: state.name, card_number: number });
      } else {
        reset();
        state.cardNumber = number;
        enter("manual-id");
        $("entry-hint").textContent = "已读到社保卡。请刷身份证，或输入身份证号码。";
      }
      return true;
    },
    readerStatus: function (status, text) {
      readerReported = true;
      var node = $("reader-status");
      node.setAttribute("data-status", String(status));
      node.textContent = text ? String(text) : (STATUS_TEXT[status] || "");
    },
    reset: reset
  };
  window.YikatongKiosk = api;

  // --- wiring ----------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-action], [data-key]");
    if (!target) { return; }
    var key = target.getAttribute("data-key");
    if (key) { press(key); return; }
    var action = target.getAttribute("data-action");
    if (action === "home") { reset(); }
    else if (action === "manual") { reset(); enter("manual-id"); }
    else if (action === "confirm") { confirmEntry(); }
    else if (action === "simulate") { simulate(); }
    else if (action === "statement") { renderStatement(target.getAttribute("data-year")); }
    else if (action === "back-to-results") { show("results"); }
    else if (action === "print") { printNow(); }
  });
  $("entry-form").addEventListener("submit", function (event) { event.preventDefault(); confirmEntry(); });
  ["pointerdown", "keydown", "touchstart", "wheel"].forEach(function (type) {
    document.addEventListener(type, touched, { passive: true });
  });
  document.addEventListener("keydown", function (event) {
    if (current() !== "entry") { return; }
    if (/^[0-9]$/.test(event.key)) { press(event.key); }
    else if (event.key === "x" || event.key === "X") { press("X"); }
    else if (event.key === "Backspace") { press("back"); }
    else if (event.key === "Enter") { event.preventDefault(); confirmEntry(); }
  });
  // Leaving the page (reload, shell navigation) drops everything too.
  window.addEventListener("pagehide", function () { $("results").replaceChildren(); $("statement").replaceChildren(); });

  setInterval(tick, 1000);
  setTimeout(function () {
    if (!readerReported) {
      api.readerStatus("absent", DEMO_READER ? "演示模式：没有连接读卡器，请点“模拟刷身份证”。" : STATUS_TEXT.absent);
      readerReported = false;
    }
  }, 2000);
  reset();
  window.dispatchEvent(new CustomEvent("yikatong:ready"));
})();
