// Package demo is Dowser's demo: a made-up company's users, a thousand
// accounts with their owners and lifecycles, its content, the default
// signal pack, and a generator of its customers' behaviour that the pack's
// signals are written to catch.
//
// [RunReps] plays the demo reps Ben and Cho (not Ana, rep-ana, whose
// alerts are left to the person who logs in as her): a few seconds after
// an alert reaches them they acknowledge it, judge it with the marketers'
// reasons and decide its handoff, or leave it unacted, each alert's fate
// fixed by a hash of its id, so that the team view, the feedback report
// and the handoff figures have something to show without clicks. It acts
// through the store, as the API does, and tells verdicts to open panels.
//
// The demo's rules (who owns account i, its lifecycle, which product line
// its research is filed under) are written once, here, and read by
// everything that needs them: `dowser demo` ([Seed], [RunTraffic] with its
// back-dated [History], [RunReps], [PrintBanner]), `dowser signals generate` ([WriteEvents],
// [WriteAccountsCSV]) and the benchmark ([NewTraffic], [FillLifecycle],
// [ProductLine]). Everything is derived from account indexes and a seed,
// so the same seed gives the same events in every process.
//
// It imports only: dowser, deploy, detector, kafka, postgres, schema.
package demo
