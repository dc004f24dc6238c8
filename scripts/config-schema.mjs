// Writes docs/config.schema.json, the JSON Schema of a newtos configuration file, from the
// validators in src/config (npm run schema). test/config/json-schema.test.ts checks it is current.
import { writeFileSync } from 'node:fs';
import { stackConfigJsonSchema } from '../dist/src/config/stack-config.js';

const file = new URL('../docs/config.schema.json', import.meta.url);
writeFileSync(file, `${JSON.stringify(stackConfigJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
