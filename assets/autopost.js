// Submits the SAML response form as soon as the page loads; the button is the fallback without JavaScript.
document.getElementById("saml-post").submit();
