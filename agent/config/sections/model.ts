import { z } from 'zod';

export const modelConfigSchema = z
  .object({
    /** Path of the model manifest (file or folder), relative to the config file. */
    manifest: z.string().min(1),
    /** Force one variant by name instead of selecting. */
    variant: z.string().optional(),
    /** Inference threads (1 gives the steadiest latency on a 2-core board with a camera decoder running). */
    threads: z.number().int().positive().max(64).default(1),
    /** The seed's utility U = alpha*accuracy - beta*latency_ms, and the latency budget per inference. */
    selection: z
      .object({
        alpha: z.number().nonnegative().default(100),
        beta: z.number().nonnegative().default(1),
        latencyBudgetMs: z.number().positive().optional(),
      })
      .strict()
      .default({ alpha: 100, beta: 1 }),
    /** Run the manifest's known-answer check after loading (verifies the accelerator really computes the model). */
    verify: z.boolean().default(true),
    /** Edge TPU device for edgetpu variants: usb, usb:N, pci, pci:N. */
    edgetpuDevice: z.string().regex(/^(usb|pci)(:\d+)?$/).optional(),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelConfigSchema>;
