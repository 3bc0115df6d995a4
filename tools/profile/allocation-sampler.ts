/**
 * Preloaded into a server by `measure allocations` (`node --import <this> … serve`): V8's
 * sampling heap profiler, objects collected by the young and old generation collectors
 * included, so that it counts what is allocated, not what survives. The first SIGUSR2 starts
 * sampling; the second stops it and writes the profile (a .heapprofile, as DevTools saves it)
 * to $PKGINDEX_ALLOCATION_PROFILE. Not for production: a measurement aid.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env.PKGINDEX_ALLOCATION_PROFILE;
if (out !== undefined) {
  const session = new Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.enable', () => {
        session.post('HeapProfiler.startSampling', {
          // Bytes between samples on average: small enough for a few seconds of load to give
          // tens of thousands of samples.
          samplingInterval: 1024,
          includeObjectsCollectedByMinorGC: true,
          includeObjectsCollectedByMajorGC: true,
        });
      });
      return;
    }
    session.post('HeapProfiler.stopSampling', (err, result) => {
      // Whole or not at all: the tool reads it as soon as it exists.
      writeFileSync(`${out}.partial`, JSON.stringify(err === null ? result.profile : { error: String(err) }));
      renameSync(`${out}.partial`, out);
    });
  });
}
