// Sorts a table.sortable by one of its columns when that column's header is pressed; pressed again, the other way
// round. A header with data-sort ("text" or "number") can be pressed; a cell sorts by its data-key if it has one,
// else by its text. Rows with equal keys keep the order the page listed them in. The page's only script: its
// Content-Security-Policy lets this exact text run and nothing else.
"use strict";
for (const table of document.querySelectorAll("table.sortable")) {
  const body = table.tBodies[0];
  Array.from(body.rows).forEach((row, index) => { row.dataset.listed = index; });
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((header, column) => {
    if (!header.dataset.sort) {
      return;
    }
    const numeric = header.dataset.sort === "number";
    const key = (row) => {
      const cell = row.cells[column];
      const raw = cell.dataset.key ?? cell.textContent.trim();
      return numeric ? Number(raw) : raw;
    };
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.append(...header.childNodes);
    header.append(button);
    button.addEventListener("click", () => {
      const ascending = header.getAttribute("aria-sort") !== "ascending";
      const order = ascending ? 1 : -1;
      const compare = (a, b) => (numeric ? key(a) - key(b) : key(a).localeCompare(key(b), undefined, {numeric: true}));
      const rows = Array.from(body.rows).sort((a, b) => order * compare(a, b) || a.dataset.listed - b.dataset.listed);
      body.append(...rows);
      for (const other of headers) {
        other.removeAttribute("aria-sort");
      }
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    });
  });
}
