// The strategy rules editor (allocation/strategy_form.html): add, remove and move rules in the page,
// renumbering the fields (r-<index>-<field>) so that the server reads them in their new order. Without
// this script the same buttons submit the form and the server does the move. Served locally (no CDN;
// the pages' Content-Security-Policy allows scripts from this site only).
(function () {
  var box = document.getElementById('rules');
  var template = document.getElementById('rule-template');
  if (!box || !template) { return; }
  var PREFIX = /^r-(?:\d+|__i__)-/;

  function renumber() {
    box.querySelectorAll('[data-rule]').forEach(function (card, i) {
      card.querySelectorAll('[name], [id], [for]').forEach(function (el) {
        ['name', 'id', 'for'].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value && PREFIX.test(value)) { el.setAttribute(attr, value.replace(PREFIX, 'r-' + i + '-')); }
        });
      });
      card.querySelectorAll('[data-rule-op]').forEach(function (button) {
        button.value = button.getAttribute('data-rule-op') + ':' + i;
      });
      var number = card.querySelector('.rule-no');
      if (number) { number.textContent = String(i + 1); }
    });
  }

  function showShares(card) {
    var method = card.querySelector('[data-rule-method]');
    var shares = card.querySelector('[data-rule-shares]');
    if (method && shares) { shares.hidden = method.value !== 'fixed_shares'; }
  }

  box.addEventListener('click', function (event) {
    var button = event.target.closest('[data-rule-op]');
    if (!button) { return; }
    event.preventDefault();
    var card = button.closest('[data-rule]');
    var op = button.getAttribute('data-rule-op');
    if (op === 'remove') {
      card.remove();
    } else if (op === 'up' && card.previousElementSibling) {
      box.insertBefore(card, card.previousElementSibling);
    } else if (op === 'down' && card.nextElementSibling) {
      box.insertBefore(card.nextElementSibling, card);
    }
    renumber();
  });

  box.addEventListener('change', function (event) {
    if (event.target.matches('[data-rule-method]')) { showShares(event.target.closest('[data-rule]')); }
  });

  document.querySelectorAll('[data-rule-add]').forEach(function (button) {
    button.addEventListener('click', function (event) {
      event.preventDefault();
      var card = template.content.firstElementChild.cloneNode(true);
      box.appendChild(card);
      renumber();
      showShares(card);
      var name = card.querySelector('input');
      if (name) { name.focus(); }
    });
  });

  box.querySelectorAll('[data-rule]').forEach(showShares);
})();
