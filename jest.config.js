/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  // The sandbox binds real HTTPS ports; two workers suit the 2-core machines.
  maxWorkers: 2,
  testTimeout: 30000,
};
