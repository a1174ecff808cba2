// Package bench is `dowser bench`: it measures, in one run, producing and
// raw consuming the demo's traffic, the event pipeline without PostgreSQL,
// the detector engine alone, the whole service end to end with websocket
// clients and the memory they cost, and the detector's state per subject
// ([Run]); docs/benchmarks.md says what each figure means.
//
// It must run inside the dowser binary: it starts that binary as `dowser
// broker` when it is given no brokers, and as `dowser bench __clients`
// ([ClientsArg], [RunClients]) for the websocket clients, so that what
// they cost is not counted as the service's. The service it measures end
// to end is built by the caller ([Config.NewService]), which keeps the
// wiring in cmd/dowser.
//
// It also imports github.com/gorilla/websocket, the one exception to
// notify having it alone: the clients play the reps' browsers, reading
// alert frames from the service's stream, and a websocket client has no
// other place in Dowser. It reaches PostgreSQL only through postgres, and
// Kafka only through kafka.
//
// It imports only: dowser, demo, deploy, detector, kafka, postgres, schema.
package bench
