/* The console's small behaviours (Django admin pages). Each acts only where its elements
   are on the page, and every page works without JavaScript. */
(function () {
  "use strict";

  /* Register hardware: offer only the chosen employee's orders. Without JavaScript all are
     listed and the form refuses another employee's order with a message. */
  function offerOwnOrders() {
    var owner = document.getElementById("id_owner");
    var order = document.getElementById("id_order");
    if (!owner || !order) return;
    function filter() {
      Array.prototype.forEach.call(order.options, function (o) {
        var mine = !o.value || !owner.value || o.dataset.owner === owner.value;
        o.hidden = !mine;
        o.disabled = !mine;
        if (!mine && o.selected) order.value = "";
      });
    }
    owner.addEventListener("change", filter);
    filter();
  }

  document.addEventListener("DOMContentLoaded", offerOwnOrders);
})();
