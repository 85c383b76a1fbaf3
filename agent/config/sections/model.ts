import { z } from 'zod';

export const modelConfigSchema = z
  .object({
    /** Path of the model manifest (file or folder), relative to the config file. */
    manifest: z.string().min(1),
    /** Folders besides the manifest's own where its model files may lie (relative to the config file). */
    allowedRoots: z.array(z.string().min(1)).default([]),
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
        /** The floor: a variant agreeing less than this (0..1) with its reference (agent/select/agreement.ts) is never selected. */
        minAgreement: z.number().min(0).max(1).default(0.95),
      })
      .strict()
      .default({ alpha: 100, beta: 1, minAgreement: 0.95 }),
    /** Run the manifest's known-answer check after loading (verifies the accelerator really computes the model). */
    verify: z.boolean().default(true),
    /**
     * Where the runtime's blocking inference call runs. worker: its own thread, so the frame loop reads, packs and
     * decodes the neighbouring frames meanwhile, and a call past its deadline can be abandoned. main: the agent's
     * thread: no hand-over between threads (lower latency, less CPU and ~9 MB less peak memory), but nothing else
     * in the agent runs during an inference (a stuck call is then caught by the systemd watchdog). auto: worker
     * on boards with more than 2 CPUs; on 2 CPUs worker for a file read in full (`--until-eof`, throughput) and
     * main for a camera (latency); main on 1 CPU.
     */
    inferenceThread: z.enum(['auto', 'worker', 'main']).default('auto'),
    /**
     * Pin the inference worker thread to one CPU so that it never migrates between cores (its caches stay warm and
     * the decoder cannot push it off a core). auto: the last online CPU the agent may use, when inference runs in an
     * ONNX Runtime worker with one intra-op thread (with more, ONNX Runtime's own pool spreads the work) and at least
     * 2 CPUs are allowed; off (several agents on one board would otherwise all take the same CPU); or a CPU number.
     * While the pinned thread is the bottleneck, the main thread (the frame loops) is kept off that CPU.
     */
    pinInferenceThread: z.union([z.enum(['auto', 'off']), z.number().int().min(0)]).default('auto'),
    /** Edge TPU device for edgetpu variants: usb, usb:N, pci, pci:N. */
    edgetpuDevice: z.string().regex(/^(usb|pci)(:\d+)?$/).optional(),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelConfigSchema>;
