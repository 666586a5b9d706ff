// The development token page: mints a token for the chosen scopes and purpose (or for a
// customer) through dev-session.js, which keeps it for GraphiQL, then opens GraphiQL.
// Globals: StewardDevSession.
"use strict";

(function () {
  const form = document.getElementById("dev-token");
  const staff = document.getElementById("staff");
  const purpose = document.getElementById("purpose");
  const legal = document.getElementById("legal");
  const customer = document.getElementById("customer");
  const error = document.getElementById("error");
  const session = new StewardDevSession.Session(form.action, null);

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  // A customer's token has fixed scopes and no purpose: the staff choices do not apply.
  function toggleStaff() {
    staff.disabled = customer.value.trim() !== "";
  }

  // The legal reference goes with legal_order only.
  function toggleLegal() {
    legal.hidden = purpose.value !== "legal_order";
  }

  customer.addEventListener("input", toggleStaff);
  purpose.addEventListener("change", toggleLegal);
  toggleStaff();
  toggleLegal();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const data = new FormData(form);
    const choice = {
      scopes: data.getAll("scope"),
      purpose: data.get("purpose") || null,
      legal_reference: (data.get("legal_reference") || "").trim() || null,
      subject: data.get("subject") || null,
      customer: customer.value.trim() || null,
    };
    try {
      await session.mint(choice);
    } catch (failure) {
      showError(
        failure instanceof StewardDevSession.MintError ? failure.message : "Steward did not answer.",
      );
      return;
    }
    window.location.assign(form.dataset.graphiql);
  });
})();
