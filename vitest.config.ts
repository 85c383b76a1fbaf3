import { defineConfig } from 'vitest/config';

// Integration tests spawn real ffmpeg, ONNX Runtime and mosquitto; on 2 cores they must not all run at once.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for an outcome; 1 s (vitest's default) is too short on a 2-core machine running a second
    // suite beside this one. A longer wait only delays a failure: what is asserted is unchanged.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
