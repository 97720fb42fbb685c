// Keeps what a person types into a request form in this browser tab (sessionStorage), so that a form
// that comes back empty can be filled again: the session ended while they wrote (idle timeout) and the
// login brought them back to an empty form, or the tab reloaded. Progressive enhancement: without
// JavaScript every form works as before; nothing leaves the browser; the tab's storage ends with it.
(function () {
  "use strict";
  var prefix = "freigabe:form:";
  // A page that confirms a saved or sent request: what was kept has arrived.
  if (document.querySelector("[data-clear-kept]")) {
    try {
      for (var i = sessionStorage.length - 1; i >= 0; i--) {
        var name = sessionStorage.key(i);
        if (name && name.indexOf(prefix) === 0) sessionStorage.removeItem(name);
      }
    } catch (ignored) {}
  }
  var form = document.querySelector("form[data-keep]");
  if (!form) return;
  var key = prefix + form.getAttribute("data-keep");
  function fields() {
    return Array.prototype.filter.call(form.elements, function (element) {
      return element.name && element.name.charAt(0) !== "_" && element.name !== "idempotency_key"
        && ["hidden", "password", "submit", "button"].indexOf(element.type) < 0;
    });
  }
  function save() {
    var values = {};
    fields().forEach(function (element) {
      if (element.type === "radio") {
        if (element.checked) values[element.name] = element.value;
      } else if (element.value) {
        values[element.name] = element.value;
      }
    });
    try { sessionStorage.setItem(key, JSON.stringify(values)); } catch (ignored) {}
  }
  var kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(key) || "null"); } catch (ignored) {}
  var empty = fields().every(function (element) {
    return element.type === "radio" ? !element.checked : !element.value;
  });
  if (kept && empty && Object.keys(kept).length > 0) {
    fields().forEach(function (element) {
      if (!Object.prototype.hasOwnProperty.call(kept, element.name)) return;
      if (element.type === "radio") element.checked = element.value === kept[element.name];
      else element.value = kept[element.name];
    });
    var notice = document.querySelector("[data-kept-notice]");
    if (notice) notice.hidden = false;
  }
  form.addEventListener("input", save);
  form.addEventListener("change", save);
})();
