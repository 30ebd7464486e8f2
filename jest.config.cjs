// `npm test` runs every project's tests in one Jest run.
module.exports = {
  projects: [
    '<rootDir>/apps/*/jest.config.cjs',
    '<rootDir>/libs/*/jest.config.cjs',
    '<rootDir>/tests/*/jest.config.cjs',
  ],
};
