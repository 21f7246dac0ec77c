// The launch page: follow the session once it is ready, say so in the title, and notify when asked.
(function () {
  const root = document.getElementById("launch");
  if (!root) return;
  let followed = false;

  function update() {
    const status = document.getElementById("launch-status");
    if (!status) return;
    const state = status.dataset.status;
    document.title = (state === "ready" ? "Ready" : state === "failed" ? "Failed" : status.dataset.phase) + " · ESAP";
    const url = status.dataset.url;
    if (state === "ready" && url && !followed) {
      followed = true;
      if (root.dataset.notify && window.Notification && Notification.permission === "granted") {
        new Notification("Your ESAP session is ready");
      }
      setTimeout(function () { window.location.assign(url); }, 1500);
    }
  }

  if (root.dataset.notify && window.Notification && Notification.permission === "default") {
    Notification.requestPermission();
  }
  document.body.addEventListener("htmx:afterSettle", update);
  update();
})();
