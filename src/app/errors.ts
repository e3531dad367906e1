/** An error in what the user asked for (exit status 1), as opposed to a fault of Outpost's (exit status 2). */
export class UserError extends Error {
  constructor(message: string, readonly details: string[] = []) {
    super(message);
  }

  full(): string {
    return [this.message, ...this.details.map((d) => `  ${d}`)].join('\n');
  }
}

/** The thing named does not exist (HTTP 404; exit status 1). */
export class NotFoundError extends UserError {}

/** The thing to create exists already (HTTP 409; exit status 1). */
export class ConflictError extends UserError {}
