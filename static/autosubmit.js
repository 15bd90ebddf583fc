// Submit the protocol hand-off form at once; the button stays for browsers without script.
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
