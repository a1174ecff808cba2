// Package demo is Dowser's demo: a made-up company's users, a thousand
// accounts with their owners and lifecycles, its content, the default
// signal pack, and a generator of its customers' behaviour that the pack's
// signals are written to catch.
//
// The demo's rules (who owns account i, its lifecycle, which product line
// its research is filed under) are written once, here, and read by
// everything that needs them: `dowser demo` ([Seed], [RunTraffic] with its
// back-dated [History], [PrintBanner]), `dowser signals generate` ([WriteEvents],
// [WriteAccountsCSV]) and the benchmark ([NewTraffic], [FillLifecycle],
// [ProductLine]). Everything is derived from account indexes and a seed,
// so the same seed gives the same events in every process.
//
// It imports only: dowser, deploy, detector, kafka, postgres, schema.
package demo
