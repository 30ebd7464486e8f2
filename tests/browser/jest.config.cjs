// The dashboard in a real browser (Debian's Chromium through playwright-core)
// against the five built services, as tests/e2e starts them.
module.exports = { ...require('../../jest.preset.cjs')(__dirname, 'browser'), testTimeout: 180000 };
