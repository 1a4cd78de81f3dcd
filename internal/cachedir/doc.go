// Package cachedir is where gitlab-kaniko-tenant keeps generated and built artifacts between runs, and how they are
// written so that several processes may fill the cache at once and a run may be killed halfway.
//
// Every entry under the root is published the same way (Dir, File):
//   - a reader only trusts a complete entry: a directory holding .complete, or a file that exists;
//   - a writer takes the entry's lock (flock on <entry>.lock), so two processes never build the same entry twice:
//     the second one waits, then finds it complete;
//   - the writer builds into its own temporary path (<entry>.tmp-<random>) and publishes with one rename;
//   - a complete entry is never removed: only the leftovers of killed writers (temporary paths, or an incomplete
//     entry of an older layout) are, and only by the lock holder.
package cachedir
