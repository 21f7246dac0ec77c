// While a publication uploads (it can take minutes for large files), say so and keep the form from being sent twice.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("publish-form");
  if (!form) return;
  form.addEventListener("submit", () => {
    document.getElementById("publishing").hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
  });
});
