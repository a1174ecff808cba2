// Package detector turns customer-behaviour events into alerts. It holds the
// signal definitions marketers write (parsing, defaults, validation: see
// [ParseSignal]) and the per-partition evaluation state that decides when a
// signal fires (see [Engine]).
//
// The package is pure: it does no I/O, reads no clock (all time comes from
// the events it is given, and from the caller's [Engine.Advance] for a
// partition gone quiet, so that a silence can fire) and starts no
// goroutines. Events go in, alerts come out; everything else is wired in
// cmd/dowser. Besides the shared contracts
// it uses gopkg.in/yaml.v3 (to read definitions) and cel-go (the `where`
// expressions).
//
// Evaluation state (per signal and subject, recent event ids, identity
// links) is plain data with no references into compiled signals, so that
// it can be checkpointed and restored. Checkpoints are incremental: the
// engine marks what each call changes, and [Engine.Changes] encodes only
// the rows of those subjects and ring chunks, plus a small meta blob;
// [Engine.BeginRestore] rebuilds an engine from the meta and its rows in
// any order. Subjects not in use are kept as those rows, encoded, and
// decoded when needed (see [Engine.SetColdAfter]), so that the garbage
// collector does not mark millions of idle states.
// It is the only package that imports github.com/google/cel-go.
// It imports only: schema.
package detector
