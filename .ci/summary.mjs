// Prints the closing line CI reads, counted from vitest's JSON report: "N passed, N failed, N skipped".
// A run that executed no test fails here, so it cannot pass silently.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const passed = report.numPassedTests;
const failed = report.numFailedTests;
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed + failed === 0) {
  console.error('no test was executed');
  process.exit(1);
}
