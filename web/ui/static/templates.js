// The templates list: its dates in the one format (the rest is a server-rendered page).
"use strict";

(function () {
  dm.fillTimes();
})();
