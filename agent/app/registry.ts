import { AgentError } from '../errors.js';

/**
 * Lazy factories by `type`. The import of a driver (and its native module) happens only when its type is used,
 * so a runtime that cannot load here (no libedgetpu, no ONNX Runtime binary) disables only its own entry, with a
 * reason `doctor` can print.
 */
export class Registry<T> {
  private readonly entries = new Map<string, () => Promise<T>>();
  private readonly loaded = new Map<string, Promise<T>>();

  constructor(private readonly role: string) {}

  register(type: string, load: () => Promise<T>): this {
    this.entries.set(type, load);
    this.loaded.delete(type);
    return this;
  }

  types(): string[] {
    return [...this.entries.keys()];
  }

  has(type: string): boolean {
    return this.entries.has(type);
  }

  /** The factory for `type` (imported once); a typed error naming the known types when there is none. */
  get(type: string): Promise<T> {
    const load = this.entries.get(type);
    if (!load) return Promise.reject(new AgentError('CONFIG_INVALID', `${this.role} type "${type}" is not known`, { fix: `use one of: ${this.types().join(', ')}` }));
    let p = this.loaded.get(type);
    if (!p) {
      p = load();
      // A failed import is not cached: the next try (after installing the library) loads it again.
      p.catch(() => this.loaded.delete(type));
      this.loaded.set(type, p);
    }
    return p;
  }
}
