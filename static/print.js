// The "Print" button of the backup-codes page (an external script: the CSP allows no inline code).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
