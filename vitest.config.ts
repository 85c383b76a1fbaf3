import { defineConfig } from 'vitest/config';

// Integration tests spawn real ffmpeg, ONNX Runtime and mosquitto; on 2 cores they must not all run at once.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
