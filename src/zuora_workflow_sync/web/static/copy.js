// The one script of the dashboard: "Copy" buttons copy the text of the element they name.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  navigator.clipboard.writeText(source.textContent).then(() => { button.textContent = "Copied"; });
});
