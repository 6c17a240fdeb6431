/* Campaign dashboard: draws the funnel and timeline charts, then polls the JSON while the campaign runs. */
(function () {
  "use strict";
  const POLL_MS = 5000;
  const root = document.getElementById("analytics-dashboard");
  const initial = document.getElementById("analytics-payload");
  if (!root || !initial || typeof Chart === "undefined") return;

  const style = getComputedStyle(document.documentElement);
  const color = (name, fallback) => (style.getPropertyValue(name) || "").trim() || fallback;
  const colors = {
    sent: color("--primary", "#79aec8"),
    delivered: color("--secondary", "#417690"),
    read: "#2e8b57",
  };

  const funnel = new Chart(document.getElementById("funnel-chart"), {
    type: "bar",
    data: { labels: [], datasets: [{ label: "Messages", data: [], backgroundColor: colors.delivered }] },
    options: { indexAxis: "y", animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
  });
  const timeline = new Chart(document.getElementById("timeline-chart"), {
    type: "bar",
    data: {
      labels: [],
      datasets: ["sent", "delivered", "read"].map((name) => ({
        label: name[0].toUpperCase() + name.slice(1), data: [], borderColor: colors[name],
        backgroundColor: colors[name],
      })),
    },
    options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
  });

  function timeLabel(iso, unit) {
    const moment = new Date(iso);
    const options = unit === "hour"
      ? { month: "short", day: "numeric", hour: "2-digit" }
      : { hour: "2-digit", minute: "2-digit" };
    return moment.toLocaleString(undefined, options);
  }

  function render(payload) {
    funnel.data.labels = payload.funnel.labels;
    funnel.data.datasets[0].data = payload.funnel.counts;
    funnel.update();
    timeline.data.labels = payload.timeline.labels.map((iso) => timeLabel(iso, payload.timeline.unit));
    ["sent", "delivered", "read"].forEach((name, index) => { timeline.data.datasets[index].data = payload.timeline[name]; });
    timeline.update();
    document.getElementById("timeline-unit").textContent = "per " + payload.timeline.unit;
    Object.entries(payload.figures).forEach(([key, figure]) => {
      const count = root.querySelector(`[data-figure="${CSS.escape(key)}"]`);
      if (count) count.textContent = figure.count;
      const rate = root.querySelector(`[data-rate="${CSS.escape(key)}"]`);
      if (rate) rate.textContent = figure.rate === null ? "–" : figure.rate + "%";
    });
  }

  render(JSON.parse(initial.textContent));
  root.dataset.rendered = "true";

  async function poll() {
    try {
      const response = await fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.status);
      const payload = await response.json();
      render(payload);
      // A new key (a first failure code or skip reason) needs the server-rendered tables: reload once.
      const missing = Object.keys(payload.figures).some((key) => !root.querySelector(`[data-figure="${CSS.escape(key)}"]`));
      if (missing || !payload.live) { window.location.reload(); return; }
    } catch (error) {
      console.warn("dashboard refresh failed", error);
    }
    window.setTimeout(poll, POLL_MS);
  }
  if (root.dataset.live === "true") window.setTimeout(poll, POLL_MS);
})();
