// Package backtest runs signal definitions over recorded events with the
// real detector, outside the live service: it is what `dowser signals lint`,
// `dowser signals test` and `dowser signals backtest` are made of.
//
//   - [Lint] and [LoadSignals] read signal files (YAML or JSON, one signal per
//     document, several documents per file allowed).
//   - [LoadFixture] and [Fixture.Run] check a signal against a fixture:
//     events in, exactly the expected alerts out, in order.
//   - [Runner] evaluates signals over a large history (a JSONL file, or
//     records read from Kafka by the caller) and counts what would have
//     fired in a [Summary]. Events are decoded in parallel and evaluated in
//     their original order, one engine per partition, like the live service.
//   - [Report] is a whole `dowser signals backtest`: a [Runner] over an
//     [Input], with a progress bar, writing the summary or one alert a line.
//
// The package reads files but does no network I/O: Kafka history is read by
// kafka and handed in by cmd/dowser.
//
// It imports only: dowser, detector, formats, schema.
package backtest
