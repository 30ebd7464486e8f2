// `npm test` runs every project's tests in one Jest run.
module.exports = {
  // A global option: the projects' own (jest.preset.cjs) is not read.
  testTimeout: 30_000,
  projects: [
    '<rootDir>/apps/*/jest.config.cjs',
    '<rootDir>/libs/*/jest.config.cjs',
    '<rootDir>/tests/*/jest.config.cjs',
  ],
};
