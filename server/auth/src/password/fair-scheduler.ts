export interface FairSchedulerOptions {
  /** Tasks running at once across all clients: bcrypt's threads, so about the cores it may use. */
  concurrency: number;
  /** Tasks one client may have waiting; the next one is refused (ClientQueueFull). */
  maxQueuedPerClient: number;
}

/** The client already has its fill of waiting tasks: it should try again later. */
export class ClientQueueFull extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many tasks queued for this client');
  }
}

interface Waiting {
  start(): void;
}

/**
 * Runs CPU-heavy tasks (bcrypt) so that one client cannot starve the others: at most
 * `concurrency` run at once, a free slot goes to the waiting clients in turn (round
 * robin: the one served longest ago), and one client holds at most all but one of the
 * slots, so a newcomer never waits behind a flood. A client is whatever key the caller
 * gives (auth uses the client's address).
 */
export class FairScheduler {
  private running = 0;
  private readonly runningPerClient = new Map<string, number>();
  /** Waiting tasks per client, oldest first. */
  private readonly waiting = new Map<string, Waiting[]>();
  /** When each client (running or waiting) last started a task, in turns. */
  private readonly lastServed = new Map<string, number>();
  private turns = 0;
  private readonly maxRunningPerClient: number;
  private averageTaskMs = 100;

  constructor(private readonly options: FairSchedulerOptions) {
    if (options.concurrency < 1) throw new Error('concurrency must be at least 1');
    if (options.maxQueuedPerClient < 0) throw new Error('maxQueuedPerClient must not be negative');
    this.maxRunningPerClient = Math.max(1, options.concurrency - 1);
  }

  /** Runs `task` for `client` when its turn comes; throws ClientQueueFull when the client's queue is full. */
  run<T>(client: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.claimSlot(client);
        const startedAt = performance.now();
        const finish = () => {
          this.recordDuration(performance.now() - startedAt);
          this.releaseSlot(client);
          this.dispatch();
        };
        // Through a promise, so that a task throwing at once still frees its slot.
        Promise.resolve()
          .then(task)
          .then(
            (value) => (finish(), resolve(value)),
            (err: unknown) => (finish(), reject(err)),
          );
      };
      if (!this.waiting.has(client) && this.canStart(client)) return start();
      const queue = this.waiting.get(client) ?? [];
      if (queue.length >= this.options.maxQueuedPerClient) return reject(new ClientQueueFull(this.retryAfterSeconds(queue.length)));
      queue.push({ start });
      this.waiting.set(client, queue);
    });
  }

  /** For metrics and tests: tasks running and waiting now. */
  get load(): { running: number; waiting: number } {
    let waiting = 0;
    for (const queue of this.waiting.values()) waiting += queue.length;
    return { running: this.running, waiting };
  }

  private canStart(client: string): boolean {
    return this.running < this.options.concurrency && (this.runningPerClient.get(client) ?? 0) < this.maxRunningPerClient;
  }

  /** Fills free slots, each with the next task of the waiting client served longest ago. */
  private dispatch(): void {
    for (let client = this.nextTurn(); client !== undefined; client = this.nextTurn()) {
      const queue = this.waiting.get(client)!;
      const next = queue.shift()!;
      if (queue.length === 0) this.waiting.delete(client);
      next.start();
    }
  }

  /** Round robin: of the clients that wait and may start, the one least recently served (never served first). */
  private nextTurn(): string | undefined {
    if (this.running >= this.options.concurrency) return undefined;
    let chosen: string | undefined;
    for (const client of this.waiting.keys()) {
      if (!this.canStart(client)) continue;
      if (chosen === undefined || (this.lastServed.get(client) ?? 0) < (this.lastServed.get(chosen) ?? 0)) chosen = client;
    }
    return chosen;
  }

  private claimSlot(client: string): void {
    this.running++;
    this.runningPerClient.set(client, (this.runningPerClient.get(client) ?? 0) + 1);
    this.lastServed.set(client, ++this.turns);
  }

  private releaseSlot(client: string): void {
    this.running--;
    const left = (this.runningPerClient.get(client) ?? 1) - 1;
    if (left > 0) return void this.runningPerClient.set(client, left);
    this.runningPerClient.delete(client);
    // A client with nothing running or waiting is forgotten: memory follows the load.
    if (!this.waiting.has(client)) this.lastServed.delete(client);
  }

  private recordDuration(ms: number): void {
    this.averageTaskMs = 0.8 * this.averageTaskMs + 0.2 * ms;
  }

  /** About when the client's queue will have room again: it is served one task at a time in the worst case. */
  private retryAfterSeconds(queued: number): number {
    return Math.max(1, Math.ceil((queued * this.averageTaskMs) / 1000));
  }
}
