// A login URL from `hivectl token` carries the token after '#': it never reaches the server's
// logs. Fill the form with it, forget it from the address bar, and submit.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const match = window.location.hash.match(/^#token=(.+)$/);
  if (!match) return;
  history.replaceState(null, "", window.location.pathname);
  document.getElementById("token").value = decodeURIComponent(match[1]);
  document.getElementById("login-form").submit();
});
