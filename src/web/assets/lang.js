// Loaded before the body (a classic script, not a module) so a visitor who chose English
// never sees the page laid out right-to-left first. i18n.js owns the choice afterwards.
(function () {
  try {
    if (localStorage.getItem('wasit.lang') === 'en') {
      document.documentElement.lang = 'en';
      document.documentElement.dir = 'ltr';
    }
  } catch (e) {
    // Storage may be off; Arabic it is.
  }
}());
