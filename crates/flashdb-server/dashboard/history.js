// The last 15 minutes of statistics, one sample a second from the event socket, kept
// while the tab is open (whichever page shows), for the monitoring charts.

import { events } from './lib.js';

/** Samples kept: 15 minutes at one a second. */
export const KEEP = 900;

const samples = [];
const listeners = new Set();
let unsubscribe = null;

/** Starts following the statistics (after login). */
export function start() {
  if (unsubscribe) return;
  unsubscribe = events.on('stats', (data) => {
    samples.push({ t: Date.now(), s: data });
    if (samples.length > KEEP) samples.splice(0, samples.length - KEEP);
    for (const fn of listeners) fn(samples);
  });
}

/** Stops, and forgets what was kept (at logout). */
export function stop() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  samples.length = 0;
}

/** Calls `fn(samples)` on each new sample (and now); returns the function that stops it. */
export function follow(fn) {
  listeners.add(fn);
  fn(samples);
  return () => listeners.delete(fn);
}
