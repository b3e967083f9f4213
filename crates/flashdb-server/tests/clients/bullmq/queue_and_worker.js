// BullMQ against FlashDB, as an application runs it: a queue, 1,000 jobs (some added in
// bulk, some one by one, some delayed, some with priorities), a worker with concurrency
// that completes them, one job that fails once and is retried. Prints one JSON line with
// what happened; tests/bullmq.rs checks it.
//
//   node queue_and_worker.js <port>
const { Queue, Worker, QueueEvents } = require('bullmq');

const port = Number(process.argv[2]);
const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
const name = 'flashdb-jobs';
const JOBS = 1000;

async function main() {
  const queue = new Queue(name, { connection });
  await queue.obliterate({ force: true }).catch(() => {});
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();

  let processed = 0;
  let failedOnce = false;
  const results = new Map();
  const worker = new Worker(
    name,
    async (job) => {
      processed += 1;
      if (job.name === 'flaky' && !failedOnce) {
        failedOnce = true;
        throw new Error('first attempt fails');
      }
      return job.data.n * 2;
    },
    { connection, concurrency: 10 },
  );
  let completed = 0;
  let failedEvents = 0;
  const done = new Promise((resolve) => {
    worker.on('completed', (job, value) => {
      results.set(job.data.n, value);
      completed += 1;
      if (completed === JOBS) resolve();
    });
  });
  worker.on('failed', () => { failedEvents += 1; });

  // 600 in bulk, 390 one by one (every tenth with a priority), 9 delayed, 1 flaky.
  const bulk = [];
  for (let n = 0; n < 600; n++) bulk.push({ name: 'bulk', data: { n } });
  await queue.addBulk(bulk);
  for (let n = 600; n < 990; n++) {
    await queue.add('single', { n }, n % 10 === 0 ? { priority: 1 + (n % 5) } : {});
  }
  for (let n = 990; n < 999; n++) await queue.add('delayed', { n }, { delay: 200 });
  await queue.add('flaky', { n: 999 }, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });

  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timed out with ${completed} of ${JOBS} completed`)), 60000));
  await Promise.race([done, timeout]);
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized');
  let wrong = 0;
  for (let n = 0; n < JOBS; n++) if (results.get(n) !== n * 2) wrong += 1;
  const flaky = await queue.getJobs(['completed'], 0, -1).then(
    (jobs) => jobs.find((j) => j.name === 'flaky'));
  console.log(JSON.stringify({
    completed, wrong, processed, failedEvents, counts,
    flakyAttempts: flaky ? flaky.attemptsMade : null,
  }));
  await worker.close();
  await events.close();
  await queue.close();
}

main().then(() => process.exit(0), (e) => { console.error(e && e.stack || e); process.exit(1); });
