// Progress bars of background jobs poll their JSON status until the job is done; forms with
// data-confirm ask first. Served locally (no CDN), loaded by base.html.
(function () {
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) { event.preventDefault(); }
    });
  });
  document.querySelectorAll('[data-job-url]').forEach(function (bar) {
    if (bar.getAttribute('data-done') === 'true') { return; }
    var inner = bar.querySelector('.progress-bar');
    var timer = setInterval(function () {
      fetch(bar.getAttribute('data-job-url'), {headers: {'Accept': 'application/json'}, credentials: 'same-origin'})
        .then(function (r) { return r.json(); })
        .then(function (job) {
          inner.style.width = job.progress + '%';
          inner.textContent = job.progress + '%';
          bar.setAttribute('aria-valuenow', job.progress);
          if (job.done) { clearInterval(timer); window.location.reload(); }
        })
        .catch(function () { clearInterval(timer); });
    }, 1500);
  });
})();
