/** HTTP Basic authentication for the API: `admin:<password>`, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function checkBasic(header: string | undefined, password: string): boolean {
  if (!header?.startsWith('Basic ') || !password) return false;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), digest('admin'));
  const passOk = timingSafeEqual(digest(decoded.slice(colon + 1)), digest(password));
  return userOk && passOk;
}

export function basicAuth(password: () => string, onFailure: (req: Request) => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (checkBasic(req.headers.authorization, password())) return next();
    onFailure(req);
    res.set('WWW-Authenticate', 'Basic realm="Outpost", charset="UTF-8"').status(401).json({ error: 'authentication required: HTTP Basic admin:<admin password>' });
  };
}
