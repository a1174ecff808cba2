// Package loop runs the background rounds of a component (sending the
// channel outbox, escalating, writing digests, renewing presence) the same
// way: a round every interval, at once again after a round that filled its
// batch, and after failed rounds in a row a wait that doubles up to a cap.
// Each loop counts its failed rounds and items set aside, and keeps the
// time of its last successful round, as metrics labelled with its name,
// so that a loop that fails for good is told from one that hiccupped.
// [Retry] is the same patience for a step taken once, at start.
//
// It imports no other Dowser package.
package loop
