// Asking before a destructive step (apply, retention apply), Terraform style: only "yes" goes
// ahead. Without a terminal there is nobody to ask, so the command refuses and says which flag
// makes the intent explicit.
import { createInterface } from 'node:readline/promises';
import { ArborError } from '../errors.js';

export async function confirm(question: string, whatWithoutTty: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new ArborError(`${whatWithoutTty} and stdin is not a terminal to ask: pass --auto-approve`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} Only "yes" is accepted: `);
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}
