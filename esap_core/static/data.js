// Data pages: a header checkbox selects or clears every row of its results table.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.matches("input[data-select-all]")) return;
  const table = box.closest("table");
  if (!table) return;
  for (const row of table.querySelectorAll('tbody input[type="checkbox"][name="row"]')) {
    row.checked = box.checked;
  }
});
