'use strict';
// newtos is an ES module; Node 20 cannot require() an ES module. This file only exists so that
// require('newtos') fails with a message saying what to do instead of ERR_REQUIRE_ESM's.
const err = new Error("newtos is an ES module: Node 20 cannot require() it. Use `import { createStack } from 'newtos'`, " +
  "or from CommonJS `const { createStack } = await import('newtos')`.");
err.code = 'ERR_REQUIRE_ESM';
throw err;
