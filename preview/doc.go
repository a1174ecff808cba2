// Package preview answers the console's "what if" questions without
// touching the service's state: what a signal would have fired on the
// events topic's recent history, and whose alerts a content change would
// reroute. It runs per request, beside the event path, never in it.
//
// It imports only: dowser, backtest, detector, formats, kafka, notify, schema.
package preview
