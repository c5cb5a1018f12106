// The admin console's one script: "Copy" buttons next to values (the metadata URL). Without JavaScript the value
// stays visible and selectable; the button is hidden until this script shows it.
document.querySelectorAll("[data-copy]").forEach(function (button) {
  var target = document.getElementById(button.getAttribute("data-copy"));
  if (!target || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = target.value !== undefined ? target.value : target.textContent;
    navigator.clipboard.writeText(text).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    }, function () {
      target.select && target.select();
    });
  });
});
