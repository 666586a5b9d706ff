// The development token page: asks /dev/token for a token (same-origin JSON POST) and
// hands the headers to GraphiQL through sessionStorage, which its bootstrap reads once.
"use strict";

(function () {
  const PENDING_HEADERS = "steward:dev-token-headers";

  const form = document.getElementById("dev-token");
  const staff = document.getElementById("staff");
  const customer = document.getElementById("customer");
  const error = document.getElementById("error");

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  // A customer's token has fixed scopes and no purpose: the staff choices do not apply.
  function toggleStaff() {
    staff.disabled = customer.value.trim() !== "";
  }

  customer.addEventListener("input", toggleStaff);
  toggleStaff();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    const choice = {
      scopes: data.getAll("scope"),
      purpose: data.get("purpose") || null,
      subject: data.get("subject") || null,
      customer: customer.value.trim() || null,
    };
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(choice),
        credentials: "same-origin",
      });
    } catch (_error) {
      showError("Steward did not answer.");
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      showError(answer.error || `Steward answered ${response.status}.`);
      return;
    }
    sessionStorage.setItem(PENDING_HEADERS, JSON.stringify(answer.headers));
    window.location.assign(form.dataset.graphiql);
  });
})();
