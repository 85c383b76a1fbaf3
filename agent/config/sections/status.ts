import { z } from 'zod';

/**
 * The local status page (served on health.listen, next to /healthz). Bound to 127.0.0.1 by default; when
 * health.listen is opened to the network, the page answers nothing until passwordHash is set. Actions (test an
 * output, save a zone) always need the password.
 */
export const statusSchema = z
  .object({
    enabled: z.boolean().default(true),
    /**
     * scrypt hash of the operator password, "scrypt$N$r$p$salt$hash" (base64url), made with
     * `node dist/agent/status/password.js` (reads the password on stdin). Never the password itself.
     */
    passwordHash: z
      .string()
      .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{32,}$/, 'an scrypt hash as printed by `node dist/agent/status/password.js`, not the password itself')
      .optional(),
    /** Live picture frames per second at most, per camera (JPEG encoding costs CPU only while someone watches). */
    maxFps: z.number().positive().max(30).default(3),
    /** How many recent events the page keeps and shows. */
    recentEvents: z.number().int().positive().max(500).default(50),
    /** A login lasts this long. */
    sessionHours: z.number().positive().max(24 * 30).default(12),
  })
  .strict()
  .default({ enabled: true, maxFps: 3, recentEvents: 50, sessionHours: 12 });

export type StatusConfig = z.infer<typeof statusSchema>;
